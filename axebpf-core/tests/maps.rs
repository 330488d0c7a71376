//! The eBPF maps: every kind's operations, flags, errors and bounds; per-CPU isolation; the
//! host view; concurrent stress; lookup pointers surviving concurrent deletes; and the
//! kbpf-basic behaviour our design choices rest on.

use std::collections::BTreeMap;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axebpf_core::maps::{
    BPF_ANY, BPF_EXIST, BPF_NOEXIST, MAX_MAP_BYTES, Map, MapError, MapSpec, MapType, errno,
};
use kbpf_basic::linux_bpf::BpfMapType;

#[path = "maps/kbpf.rs"]
mod kbpf;

fn spec(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> MapSpec {
    MapSpec {
        map_type,
        key_size,
        value_size,
        max_entries,
        flags: 0,
    }
}

fn map(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32, cpus: usize) -> Map {
    Map::new(spec(map_type, key_size, value_size, max_entries), cpus).unwrap()
}

fn k(i: u32) -> [u8; 4] {
    i.to_ne_bytes()
}

fn v(x: u64) -> [u8; 8] {
    x.to_ne_bytes()
}

/// Reads the u64 at a lookup pointer (values are 8-byte aligned `AtomicU64` words).
fn read_u64(ptr: NonNull<u8>) -> u64 {
    // SAFETY: lookup pointers are 8-aligned, point at live map storage made of `AtomicU64`s, and
    // the map outlives this call.
    unsafe { AtomicU64::from_ptr(ptr.as_ptr().cast()) }.load(Ordering::Relaxed)
}

/// Writes the u64 at a lookup pointer, as a handler does.
fn write_u64(ptr: NonNull<u8>, x: u64) {
    // SAFETY: as in `read_u64`.
    unsafe { AtomicU64::from_ptr(ptr.as_ptr().cast()) }.store(x, Ordering::Relaxed);
}

fn u64_of(bytes: &[u8]) -> u64 {
    u64::from_ne_bytes(bytes[..8].try_into().unwrap())
}

// ---------------------------------------------------------------------------------------------
// Types and specs

#[test]
fn map_type_ids_are_linux_and_kbpf_ids() {
    let all = [
        (MapType::Hash, 1, BpfMapType::BPF_MAP_TYPE_HASH),
        (MapType::Array, 2, BpfMapType::BPF_MAP_TYPE_ARRAY),
        (
            MapType::PerfEventArray,
            4,
            BpfMapType::BPF_MAP_TYPE_PERF_EVENT_ARRAY,
        ),
        (MapType::PercpuHash, 5, BpfMapType::BPF_MAP_TYPE_PERCPU_HASH),
        (
            MapType::PercpuArray,
            6,
            BpfMapType::BPF_MAP_TYPE_PERCPU_ARRAY,
        ),
        (MapType::LruHash, 9, BpfMapType::BPF_MAP_TYPE_LRU_HASH),
    ];
    for (kind, id, kbpf) in all {
        assert_eq!(u32::from(kind), id);
        assert_eq!(MapType::try_from(id).unwrap(), kind);
        assert_eq!(kind.to_kbpf(), kbpf);
        assert_eq!(kbpf as u32, id, "kbpf-basic's id for {kind}");
        assert_eq!(MapType::try_from(kbpf).unwrap(), kind);
    }
    let err = MapType::try_from(27).unwrap_err();
    assert_eq!(err, MapError::UnsupportedType(27));
    assert!(err.to_string().contains("27"), "{err}");
    assert_eq!(err.errno(), -errno::EINVAL);
    assert!(MapType::try_from(BpfMapType::BPF_MAP_TYPE_RINGBUF).is_err());
}

#[test]
fn invalid_specs_are_rejected_with_clear_messages() {
    let bad = |s: MapSpec, cpus: usize| Map::new(s, cpus).unwrap_err();

    let e = bad(spec(MapType::Hash, 0, 8, 16), 1);
    assert_eq!(e.to_string(), "hash map: key_size must not be 0");
    assert_eq!(e.errno(), -errno::EINVAL);
    let e = bad(spec(MapType::PercpuHash, 4, 0, 16), 1);
    assert_eq!(e.to_string(), "percpu_hash map: value_size must not be 0");
    let e = bad(spec(MapType::Array, 4, 8, 0), 1);
    assert_eq!(e.to_string(), "array map: max_entries must not be 0");
    let e = bad(spec(MapType::PercpuArray, 8, 8, 16), 1);
    assert_eq!(e.to_string(), "percpu_array map: key_size is 8, must be 4");
    assert_eq!(e.errno(), -errno::EINVAL);
    let e = bad(spec(MapType::PerfEventArray, 4, 8, 2), 2);
    assert_eq!(
        e.to_string(),
        "perf_event_array map: value_size is 8, must be 4"
    );

    let e = bad(spec(MapType::Hash, 513, 8, 16), 1);
    assert_eq!(e.to_string(), "hash map: key_size is 513, the limit is 512");
    assert_eq!(e.errno(), -errno::E2BIG);
    let e = bad(spec(MapType::PercpuArray, 4, 32 * 1024 + 1, 1), 1);
    assert_eq!(e.errno(), -errno::E2BIG);
    let e = bad(spec(MapType::Hash, 8, 8, u32::MAX), 1);
    assert!(e.to_string().starts_with("hash map: memory is "), "{e}");
    assert!(
        e.to_string()
            .ends_with(&format!("the limit is {MAX_MAP_BYTES}")),
        "{e}"
    );
    assert_eq!(e.errno(), -errno::E2BIG);
    // Fits for one CPU, not for 4096.
    assert!(Map::new(spec(MapType::PercpuArray, 4, 1024, 1024), 1).is_ok());
    assert_eq!(
        bad(spec(MapType::PercpuArray, 4, 1024, 1024), 4096).errno(),
        -errno::E2BIG
    );

    let e = bad(spec(MapType::Hash, 4, 8, 16), 0);
    assert_eq!(e, MapError::NoCpus);
    let mut flagged = spec(MapType::Hash, 4, 8, 16);
    flagged.flags = 1 << 10; // BPF_F_MMAPABLE
    let e = bad(flagged, 1);
    assert_eq!(e.to_string(), "hash map: unsupported creation flags 0x400");
    flagged.flags = axebpf_core::maps::BPF_F_NO_PREALLOC;
    assert!(Map::new(flagged, 1).is_ok());
}

#[test]
fn errno_values_are_linux_and_negative() {
    assert_eq!(MapError::NotFound.errno(), -2);
    assert_eq!(MapError::Full { max_entries: 1 }.errno(), -7);
    assert_eq!(MapError::OutOfMemory { bytes: 1 }.errno(), -12);
    assert_eq!(MapError::Busy { cpu: 0 }.errno(), -16);
    assert_eq!(MapError::Exists.errno(), -17);
    assert_eq!(MapError::BadUpdateFlags(4).errno(), -22);
}

// ---------------------------------------------------------------------------------------------
// Arrays

#[test]
fn array_lookup_update_flags_bounds() {
    let m = map(MapType::Array, 4, 12, 4, 2);
    // Every index exists, zeroed.
    for i in 0..4 {
        let p = m.lookup(&k(i), 0).unwrap();
        assert_eq!(p.as_ptr() as usize % 8, 0, "values are 8-byte aligned");
        assert_eq!(m.read_per_cpu(&k(i)).unwrap(), vec![vec![0; 12]]);
    }
    assert!(m.lookup(&k(4), 0).is_none(), "index out of range");
    assert!(m.lookup(&[0; 8], 0).is_none(), "key of the wrong size");
    assert!(m.lookup(&k(0), 2).is_none(), "CPU out of range");

    let value: Vec<u8> = (1..=12).collect();
    m.update(&k(3), &value, BPF_ANY, 1).unwrap();
    // Shared: the same value on every CPU.
    assert_eq!(m.read_per_cpu(&k(3)).unwrap(), vec![value.clone()]);
    let p = m.lookup(&k(3), 0).unwrap();
    assert_eq!(read_u64(p), u64_of(&value));
    m.update(&k(3), &[9; 12], BPF_EXIST, 0).unwrap();
    assert_eq!(m.read_per_cpu(&k(3)).unwrap(), vec![vec![9; 12]]);

    assert_eq!(
        m.update(&k(3), &[0; 12], BPF_NOEXIST, 0),
        Err(MapError::Exists)
    );
    assert_eq!(
        m.update(&k(4), &[0; 12], BPF_ANY, 0),
        Err(MapError::IndexOutOfRange {
            index: 4,
            max_entries: 4
        })
    );
    assert_eq!(
        m.update(&k(4), &[0; 12], BPF_ANY, 0).unwrap_err().errno(),
        -errno::E2BIG
    );
    assert_eq!(
        m.update(&k(0), &[0; 8], BPF_ANY, 0).unwrap_err().errno(),
        -errno::EINVAL
    );
    assert_eq!(
        m.update(&[0; 2], &[0; 12], BPF_ANY, 0).unwrap_err().errno(),
        -errno::EINVAL
    );
    assert_eq!(
        m.update(&k(0), &[0; 12], 4, 0),
        Err(MapError::BadUpdateFlags(4))
    );
    assert_eq!(
        m.update(&k(0), &[0; 12], BPF_ANY, 2),
        Err(MapError::CpuOutOfRange {
            cpu: 2,
            possible: 2
        })
    );
    assert_eq!(m.delete(&k(0), 0).unwrap_err().errno(), -errno::EINVAL);

    // A handler writing through its pointer is seen by the host.
    write_u64(m.lookup(&k(1), 0).unwrap(), 77);
    assert_eq!(u64_of(&m.read_per_cpu(&k(1)).unwrap()[0]), 77);

    assert_eq!(m.keys(), (0..4).map(|i| k(i).to_vec()).collect::<Vec<_>>());
    m.clear();
    for i in 0..4 {
        assert_eq!(m.read_per_cpu(&k(i)).unwrap(), vec![vec![0; 12]]);
    }
}

#[test]
fn percpu_array_values_are_per_cpu() {
    let m = map(MapType::PercpuArray, 4, 8, 3, 3);
    m.update(&k(2), &v(10), BPF_ANY, 0).unwrap();
    m.update(&k(2), &v(11), BPF_ANY, 1).unwrap();
    assert_eq!(read_u64(m.lookup(&k(2), 0).unwrap()), 10);
    assert_eq!(read_u64(m.lookup(&k(2), 1).unwrap()), 11);
    assert_eq!(
        read_u64(m.lookup(&k(2), 2).unwrap()),
        0,
        "CPU 2 never wrote"
    );
    assert_eq!(
        m.read_per_cpu(&k(2)).unwrap(),
        vec![v(10).to_vec(), v(11).to_vec(), v(0).to_vec()]
    );
    // Each CPU's block starts on its own 128-byte boundary.
    let p0 = m.lookup(&k(0), 0).unwrap().as_ptr() as usize;
    let p1 = m.lookup(&k(0), 1).unwrap().as_ptr() as usize;
    assert_eq!(p0 % 128, 0);
    assert_eq!(p1 % 128, 0);
    assert!(p1 - p0 >= 128);

    write_u64(m.lookup(&k(0), 2).unwrap(), 5);
    assert_eq!(u64_of(&m.read_per_cpu(&k(0)).unwrap()[2]), 5);
    assert_eq!(u64_of(&m.read_per_cpu(&k(0)).unwrap()[0]), 0);
    assert!(m.read_per_cpu(&k(3)).is_none());
    assert_eq!(
        m.update(&k(0), &v(1), BPF_NOEXIST, 0),
        Err(MapError::Exists)
    );
    assert_eq!(m.delete(&k(0), 0).unwrap_err().errno(), -errno::EINVAL);
    assert!(m.lookup(&k(0), 3).is_none());
    m.clear();
    assert_eq!(m.read_per_cpu(&k(2)).unwrap(), vec![v(0).to_vec(); 3]);
}

// ---------------------------------------------------------------------------------------------
// Hash maps

fn hash_basics(map_type: MapType) {
    let m = map(map_type, 4, 8, 4, 2);
    assert!(m.lookup(&k(1), 0).is_none());
    assert_eq!(m.delete(&k(1), 0), Err(MapError::NotFound));
    assert_eq!(m.delete(&k(1), 0).unwrap_err().errno(), -errno::ENOENT);
    assert_eq!(
        m.update(&k(1), &v(1), BPF_EXIST, 0),
        Err(MapError::NotFound)
    );
    m.update(&k(1), &v(1), BPF_NOEXIST, 0).unwrap();
    assert_eq!(
        m.update(&k(1), &v(2), BPF_NOEXIST, 0),
        Err(MapError::Exists)
    );
    assert_eq!(
        m.update(&k(1), &v(2), BPF_NOEXIST, 0).unwrap_err().errno(),
        -errno::EEXIST
    );
    m.update(&k(1), &v(3), BPF_EXIST, 0).unwrap();
    let p = m.lookup(&k(1), 0).unwrap();
    assert_eq!(p.as_ptr() as usize % 8, 0);
    assert_eq!(read_u64(p), 3);
    write_u64(p, 4);
    assert_eq!(u64_of(&m.read_per_cpu(&k(1)).unwrap()[0]), 4);
    m.update(&k(1), &v(5), BPF_ANY, 0).unwrap();
    assert_eq!(read_u64(p), 5, "updates write in place");

    assert_eq!(
        m.update(&k(1), &v(5), 3, 0),
        Err(MapError::BadUpdateFlags(3))
    );
    assert_eq!(
        m.update(&[1; 3], &v(5), BPF_ANY, 0).unwrap_err().errno(),
        -errno::EINVAL
    );
    assert_eq!(
        m.update(&k(1), &[1; 4], BPF_ANY, 0).unwrap_err().errno(),
        -errno::EINVAL
    );
    assert!(m.lookup(&[1; 3], 0).is_none());

    m.delete(&k(1), 0).unwrap();
    assert!(m.lookup(&k(1), 0).is_none());
    assert!(m.read_per_cpu(&k(1)).is_none());
    assert_eq!(m.delete(&k(1), 0), Err(MapError::NotFound));
}

#[test]
fn hash_lookup_update_delete_flags() {
    hash_basics(MapType::Hash);
}

#[test]
fn lru_hash_lookup_update_delete_flags() {
    hash_basics(MapType::LruHash);
}

#[test]
fn percpu_hash_lookup_update_delete_flags() {
    hash_basics(MapType::PercpuHash);
}

#[test]
fn hash_full_is_e2big_and_shared_across_cpus() {
    let m = map(MapType::Hash, 4, 8, 3, 2);
    for i in 0..3 {
        m.update(&k(i), &v(u64::from(i)), BPF_ANY, (i % 2) as usize)
            .unwrap();
    }
    assert_eq!(
        m.update(&k(9), &v(9), BPF_ANY, 0),
        Err(MapError::Full { max_entries: 3 })
    );
    assert_eq!(
        m.update(&k(9), &v(9), BPF_ANY, 0).unwrap_err().errno(),
        -errno::E2BIG
    );
    // Replacing a present key still works when full.
    m.update(&k(2), &v(20), BPF_ANY, 1).unwrap();
    // One key set: CPU 1 sees CPU 0's key.
    assert_eq!(read_u64(m.lookup(&k(0), 1).unwrap()), 0);
    assert_eq!(read_u64(m.lookup(&k(2), 0).unwrap()), 20);
    let mut keys = m.keys();
    keys.sort();
    assert_eq!(keys, vec![k(0).to_vec(), k(1).to_vec(), k(2).to_vec()]);
    m.delete(&k(0), 1).unwrap();
    m.update(&k(9), &v(9), BPF_ANY, 0).unwrap();
    m.clear();
    assert!(m.keys().is_empty());
    assert!(m.lookup(&k(9), 0).is_none());
    for i in 10..13 {
        m.update(&k(i), &v(1), BPF_NOEXIST, 0).unwrap();
    }
}

/// A small deterministic PRNG (xorshift64*), so the model tests are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Random inserts, updates and deletes against a `BTreeMap` model: exercises probing,
/// tombstones, their cleanup and reuse, and the capacity count.
fn hash_matches_model(map_type: MapType, key_size: u32, max_entries: u32) {
    let m = map(map_type, key_size, 16, max_entries, 1);
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(key_size));
    let key_space = u64::from(max_entries) * 3 / 2 + 1;
    for step in 0..20_000u64 {
        let key_id = rng.next() % key_space;
        let mut key = vec![0u8; key_size as usize];
        for (i, b) in key.iter_mut().enumerate() {
            *b = (key_id >> (8 * (i % 8))) as u8 ^ (i as u8 / 8);
        }
        let mut value = [0u8; 16];
        value[..8].copy_from_slice(&step.to_ne_bytes());
        value[8..].copy_from_slice(&key_id.to_ne_bytes());
        match rng.next() % 4 {
            0 => {
                let got = m.delete(&key, 0);
                let want = model.remove(&key).map(|_| ()).ok_or(MapError::NotFound);
                assert_eq!(got, want, "delete at step {step}");
            }
            op => {
                let flags = [BPF_ANY, BPF_NOEXIST, BPF_EXIST][op as usize - 1];
                let present = model.contains_key(&key);
                let want = match flags {
                    BPF_NOEXIST if present => Err(MapError::Exists),
                    BPF_EXIST if !present => Err(MapError::NotFound),
                    _ if !present && model.len() == max_entries as usize => {
                        Err(MapError::Full { max_entries })
                    }
                    _ => Ok(()),
                };
                assert_eq!(
                    m.update(&key, &value, flags, 0),
                    want,
                    "update at step {step}"
                );
                if want.is_ok() {
                    model.insert(key.clone(), value.to_vec());
                }
            }
        }
        if step % 1000 == 0 {
            let mut keys = m.keys();
            keys.sort();
            assert_eq!(
                keys,
                model.keys().cloned().collect::<Vec<_>>(),
                "keys at step {step}"
            );
        }
    }
    for (key, value) in &model {
        assert_eq!(&m.read_per_cpu(key).unwrap()[0], value);
        assert!(m.lookup(key, 0).is_some());
    }
}

#[test]
fn hash_matches_a_model_under_random_operations() {
    hash_matches_model(MapType::Hash, 4, 64);
    hash_matches_model(MapType::Hash, 13, 100);
    hash_matches_model(MapType::PercpuHash, 8, 1);
    hash_matches_model(MapType::PercpuHash, 40, 37);
}

#[test]
fn lru_hash_evicts_when_full_and_keeps_recently_used_keys() {
    let m = map(MapType::LruHash, 4, 8, 4, 2);
    for i in 0..4 {
        m.update(&k(i), &v(u64::from(i)), BPF_NOEXIST, 0).unwrap();
    }
    // Key 2 is used before every insert; every insert of a new key evicts something else.
    for i in 100..200 {
        assert!(
            m.lookup(&k(2), 1).is_some(),
            "hot key evicted before insert {i}"
        );
        m.update(&k(i), &v(u64::from(i)), BPF_ANY, 0).unwrap();
        assert_eq!(m.keys().len(), 4);
        // `read_per_cpu` is a host read: it does not count as a use.
        assert!(m.read_per_cpu(&k(i)).is_some());
    }
    assert_eq!(read_u64(m.lookup(&k(2), 0).unwrap()), 2);
    // Flags still apply.
    assert_eq!(
        m.update(&k(2), &v(0), BPF_NOEXIST, 0),
        Err(MapError::Exists)
    );
    assert_eq!(
        m.update(&k(7), &v(0), BPF_EXIST, 0),
        Err(MapError::NotFound)
    );
}

#[test]
fn percpu_hash_keys_and_values_are_per_cpu() {
    let m = map(MapType::PercpuHash, 4, 8, 2, 3);
    m.update(&k(1), &v(10), BPF_NOEXIST, 0).unwrap();
    // CPU 1 has its own key set: the key is new there.
    assert!(m.lookup(&k(1), 1).is_none());
    m.update(&k(1), &v(11), BPF_NOEXIST, 1).unwrap();
    assert_eq!(read_u64(m.lookup(&k(1), 0).unwrap()), 10);
    assert_eq!(read_u64(m.lookup(&k(1), 1).unwrap()), 11);
    assert_ne!(m.lookup(&k(1), 0), m.lookup(&k(1), 1));
    // Host view: values per CPU, zeros where a CPU lacks the key.
    assert_eq!(
        m.read_per_cpu(&k(1)).unwrap(),
        vec![v(10).to_vec(), v(11).to_vec(), v(0).to_vec()]
    );
    // max_entries is per CPU.
    m.update(&k(2), &v(20), BPF_ANY, 0).unwrap();
    assert_eq!(
        m.update(&k(3), &v(30), BPF_ANY, 0),
        Err(MapError::Full { max_entries: 2 })
    );
    m.update(&k(3), &v(32), BPF_ANY, 2).unwrap();
    let keys = m.keys();
    assert_eq!(keys, vec![k(1).to_vec(), k(2).to_vec(), k(3).to_vec()]);
    // Delete is per CPU.
    m.delete(&k(1), 0).unwrap();
    assert!(m.lookup(&k(1), 0).is_none());
    assert_eq!(read_u64(m.lookup(&k(1), 1).unwrap()), 11);
    assert_eq!(m.delete(&k(1), 2), Err(MapError::NotFound));
    assert_eq!(
        m.read_per_cpu(&k(1)).unwrap(),
        vec![v(0).to_vec(), v(11).to_vec(), v(0).to_vec()]
    );
    assert!(m.lookup(&k(1), 3).is_none());
    assert_eq!(
        m.update(&k(1), &v(0), BPF_ANY, 3).unwrap_err().errno(),
        -errno::EINVAL
    );
}

#[test]
fn percpu_hash_clear_is_seen_at_once_and_done_by_each_cpu() {
    let m = map(MapType::PercpuHash, 4, 8, 2, 2);
    m.update(&k(1), &v(1), BPF_ANY, 0).unwrap();
    m.update(&k(2), &v(2), BPF_ANY, 0).unwrap();
    m.update(&k(1), &v(3), BPF_ANY, 1).unwrap();
    m.clear();
    assert!(m.keys().is_empty());
    assert!(m.read_per_cpu(&k(1)).is_none());
    // CPU 0 clears its table at its next operation: its old keys are gone, capacity is back.
    assert!(m.lookup(&k(1), 0).is_none());
    m.update(&k(5), &v(5), BPF_NOEXIST, 0).unwrap();
    m.update(&k(6), &v(6), BPF_NOEXIST, 0).unwrap();
    assert_eq!(m.keys(), vec![k(5).to_vec(), k(6).to_vec()]);
    // CPU 1 has not run since: its table still reads as empty.
    assert_eq!(u64_of(&m.read_per_cpu(&k(5)).unwrap()[1]), 0);
    assert_eq!(
        m.update(&k(1), &v(9), BPF_EXIST, 1),
        Err(MapError::NotFound)
    );
    m.clear();
    m.clear();
    assert!(m.keys().is_empty());
}

#[test]
fn perf_event_array_is_a_map_without_program_side_operations() {
    let m = Map::new(spec(MapType::PerfEventArray, 4, 4, 0), 4).unwrap();
    assert_eq!(m.spec().max_entries, 4, "max_entries 0 means one per CPU");
    assert!(m.lookup(&k(0), 0).is_none());
    let e = m.update(&k(0), &[0; 4], BPF_ANY, 0).unwrap_err();
    assert_eq!(e.errno(), -errno::EINVAL);
    assert_eq!(
        e.to_string(),
        "perf_event_array map does not support update"
    );
    assert_eq!(m.delete(&k(0), 0).unwrap_err().errno(), -errno::EINVAL);
    assert!(m.read_per_cpu(&k(0)).is_none());
    assert!(m.keys().is_empty());
    m.clear();
    assert_eq!(
        Map::new(spec(MapType::PerfEventArray, 4, 4, 8), 4)
            .unwrap()
            .spec()
            .max_entries,
        8
    );
}

// ---------------------------------------------------------------------------------------------
// Concurrency

const STRESS_UPDATES: u64 = 1_000_000;
const HOT_KEYS: u32 = 64;
/// Transient keys (inserted then deleted) start here; their value is always `key * 7`.
const CHURN_BASE: u32 = 1_000;

/// CPU `cpu`'s work: counts every hot key up through update and lookup pointers, and churns
/// transient keys so slots are deleted and refilled while the reader looks.
fn stress_writer(m: &Map, cpu: usize) -> BTreeMap<u32, u64> {
    let mut counts = BTreeMap::new();
    for i in 0..STRESS_UPDATES {
        let key = (i % u64::from(HOT_KEYS)) as u32;
        let count = counts.entry(key).or_insert(0u64);
        *count += 1;
        // The first round inserts every key; then updates and in-place writes alternate.
        if i % 2 == 0 || i < u64::from(HOT_KEYS) {
            m.update(&k(key), &v(*count), BPF_ANY, cpu).unwrap();
        } else {
            write_u64(m.lookup(&k(key), cpu).unwrap(), *count);
        }
        if m.map_type() == MapType::PercpuHash && i % 16 == 0 {
            let churn = CHURN_BASE + (i / 16 % 32) as u32;
            let _ = m.update(&k(churn), &v(u64::from(churn) * 7), BPF_NOEXIST, cpu);
            if i % 48 == 0 {
                let _ = m.delete(&k(churn), cpu);
            }
        }
    }
    counts
}

/// Reads keys and values until `done`, checking that nothing half-written or foreign shows.
fn stress_reader(m: &Map, done: &AtomicBool) -> u64 {
    let mut last = BTreeMap::new();
    let mut reads = 0;
    while !done.load(Ordering::Acquire) {
        for key in m.keys() {
            let id = u32::from_ne_bytes(key.as_slice().try_into().unwrap());
            assert!(
                id < HOT_KEYS || (m.map_type() == MapType::PercpuHash && id >= CHURN_BASE),
                "a key never inserted: {id}"
            );
            let Some(values) = m.read_per_cpu(&key) else {
                continue; // deleted since `keys`
            };
            for (cpu, value) in values.iter().enumerate() {
                let x = u64_of(value);
                if id >= CHURN_BASE {
                    assert!(x == 0 || x == u64::from(id) * 7, "key {id} shows {x}");
                } else if id < HOT_KEYS {
                    let previous = last.insert((id, cpu), x).unwrap_or(0);
                    assert!(
                        x >= previous,
                        "key {id} CPU {cpu} went back: {previous} → {x}"
                    );
                }
            }
            reads += 1;
        }
    }
    reads
}

fn stress(map_type: MapType) {
    let m = map(
        map_type,
        4,
        8,
        if map_type == MapType::PercpuArray {
            HOT_KEYS
        } else {
            128
        },
        2,
    );
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| stress_reader(&m, &done));
        let writers: Vec<_> = (0..2)
            .map(|cpu| {
                let m = &m;
                scope.spawn(move || stress_writer(m, cpu))
            })
            .collect();
        // Join every writer before unwrapping, so a failing writer stops the reader too.
        let results: Vec<_> = writers.into_iter().map(|w| w.join()).collect();
        done.store(true, Ordering::Release);
        let counts: Vec<_> = results.into_iter().map(Result::unwrap).collect();
        assert!(reader.join().unwrap() > 0);
        for key in 0..HOT_KEYS {
            let values = m.read_per_cpu(&k(key)).unwrap();
            for cpu in 0..2 {
                assert_eq!(
                    u64_of(&values[cpu]),
                    counts[cpu][&key],
                    "key {key} CPU {cpu}"
                );
            }
        }
    });
}

#[test]
fn percpu_hash_two_writers_and_a_reader() {
    stress(MapType::PercpuHash);
}

#[test]
fn percpu_array_two_writers_and_a_reader() {
    stress(MapType::PercpuArray);
}

/// A pointer from `lookup` on CPU 0 stays readable while CPU 1 deletes its key and refills the
/// map (slots reused, LRU evictions).
fn pointer_survives_concurrent_delete(map_type: MapType) {
    let m = map(map_type, 4, 8, 8, 2);
    m.update(&k(1), &v(42), BPF_ANY, 0).unwrap();
    let p = m.lookup(&k(1), 0).unwrap();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            m.delete(&k(1), 1).unwrap();
            for round in 0..1000u32 {
                for key in 0..8 {
                    let _ = m.update(&k(100 + key + round % 3), &v(7), BPF_ANY, 1);
                }
                for key in 0..8 {
                    let _ = m.delete(&k(100 + key + round % 3), 1);
                }
            }
        });
        let mut sum = 0u64;
        for _ in 0..100_000 {
            sum = sum.wrapping_add(read_u64(p));
        }
        std::hint::black_box(sum);
    });
    // Still inside the map's storage: readable and writable.
    let x = read_u64(p);
    assert!(x == 42 || x == 7 || x == 0, "{x}");
    write_u64(p, 1);
    assert!(m.lookup(&k(1), 0).is_none());
}

#[test]
fn hash_pointer_survives_concurrent_delete() {
    pointer_survives_concurrent_delete(MapType::Hash);
}

#[test]
fn lru_hash_pointer_survives_concurrent_delete() {
    pointer_survives_concurrent_delete(MapType::LruHash);
}

#[test]
fn shared_hash_concurrent_updates_from_two_cpus_are_all_kept() {
    let m = map(MapType::Hash, 4, 8, 2048, 2);
    std::thread::scope(|scope| {
        for cpu in 0..2u32 {
            let m = &m;
            scope.spawn(move || {
                for i in 0..1000 {
                    let key = i * 2 + cpu;
                    m.update(&k(key), &v(u64::from(key)), BPF_NOEXIST, cpu as usize)
                        .unwrap();
                    assert_eq!(
                        read_u64(m.lookup(&k(key), 1 - cpu as usize).unwrap()),
                        u64::from(key)
                    );
                    if i % 3 == 0 {
                        m.delete(&k(key), cpu as usize).unwrap();
                    }
                }
            });
        }
    });
    let keys = m.keys();
    assert_eq!(keys.len(), 2000 - 2 * 334);
    for key in keys {
        let id = u32::from_ne_bytes(key.as_slice().try_into().unwrap());
        assert_ne!((id / 2) % 3, 0);
        assert_eq!(u64_of(&m.read_per_cpu(&key).unwrap()[0]), u64::from(id));
    }
}

// ---------------------------------------------------------------------------------------------
// kbpf-basic: the behaviour behind our choices (see the README's notes on dependencies)

fn kbpf_lookup_ptr(m: &kbpf::KbpfMap, key: &[u8]) -> Option<*const u8> {
    m.map_mut().lookup_elem(key).unwrap().map(<[u8]>::as_ptr)
}

#[test]
fn kbpf_hash_update_moves_the_value_so_its_lookup_pointer_dangles() {
    let m = kbpf::create(BpfMapType::BPF_MAP_TYPE_HASH, 4, 8, 4, 1).unwrap();
    m.map_mut().update_elem(&k(1), &v(1), 0).unwrap();
    let before = kbpf_lookup_ptr(&m, &k(1)).unwrap();
    m.map_mut().update_elem(&k(1), &v(2), 0).unwrap();
    let after = kbpf_lookup_ptr(&m, &k(1)).unwrap();
    // The new value is a new `Vec`, allocated while the old one was alive: the pointer a handler
    // got before the update pointed into freed memory after it.
    assert_ne!(before, after);
}

#[test]
fn kbpf_hash_errors_differ_from_linux() {
    let m = kbpf::create(BpfMapType::BPF_MAP_TYPE_HASH, 4, 8, 1, 1).unwrap();
    // Linux: deleting an absent key is ENOENT; kbpf-basic says Ok.
    assert_eq!(m.map_mut().delete_elem(&k(9)), Ok(()));
    m.map_mut().update_elem(&k(1), &v(1), 0).unwrap();
    // Linux: a full hash map is E2BIG; kbpf-basic says ENOMEM.
    assert_eq!(
        m.map_mut().update_elem(&k(2), &v(2), 0),
        Err(kbpf_basic::BpfError::ENOMEM)
    );
}

#[test]
fn kbpf_array_values_are_not_8_byte_aligned_and_delete_is_eperm() {
    let m = kbpf::create(BpfMapType::BPF_MAP_TYPE_ARRAY, 4, 4, 4, 1).unwrap();
    let first = kbpf_lookup_ptr(&m, &k(0)).unwrap();
    let second = kbpf_lookup_ptr(&m, &k(1)).unwrap();
    // Linux rounds array elements up to 8 bytes; kbpf-basic packs them.
    assert_eq!(second as usize - first as usize, 4);
    // Linux: EINVAL.
    assert_eq!(
        m.map_mut().delete_elem(&k(0)),
        Err(kbpf_basic::BpfError::EPERM)
    );
}

#[test]
fn kbpf_percpu_hash_works_with_our_glue() {
    let m = kbpf::create(BpfMapType::BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 4, 2).unwrap();
    kbpf::set_current_cpu(1);
    m.map_mut().update_elem(&k(1), &v(11), 0).unwrap();
    kbpf::set_current_cpu(0);
    assert!(kbpf_lookup_ptr(&m, &k(1)).is_none());
    m.map_mut().update_elem(&k(1), &v(10), 0).unwrap();
    let on_cpu1 = m
        .map_mut()
        .lookup_percpu_elem(&k(1), 1)
        .unwrap()
        .unwrap()
        .to_vec();
    assert_eq!(on_cpu1, v(11));
}

#[test]
fn lookup_pointers_fall_in_the_storage_ranges() {
    for map_type in [
        MapType::Array,
        MapType::PercpuArray,
        MapType::Hash,
        MapType::LruHash,
        MapType::PercpuHash,
    ] {
        let m = map(map_type, 4, 24, 8, 3);
        let ranges = m.storage_ranges();
        assert_eq!(
            ranges.len(),
            if map_type == MapType::PercpuHash {
                3
            } else {
                1
            }
        );
        for cpu in 0..3 {
            for i in 0..8 {
                m.update(&k(i), &[1; 24], BPF_ANY, cpu).unwrap();
                let p = m.lookup(&k(i), cpu).unwrap().as_ptr() as usize;
                assert!(
                    ranges.iter().any(|r| r.start <= p && p + 24 <= r.end),
                    "{map_type}"
                );
            }
        }
    }
    assert!(
        Map::new(spec(MapType::PerfEventArray, 4, 4, 2), 2)
            .unwrap()
            .storage_ranges()
            .is_empty()
    );
}
