//! eBPF maps: the kinds handlers use, created from an object's definitions.
//!
//! A [`Map`] is made from a [`MapSpec`] for a number of possible CPUs. Handlers reach it
//! through the helpers (`bpf_map_lookup_elem`, `bpf_map_update_elem`, `bpf_map_delete_elem`),
//! which call [`Map::lookup`], [`Map::update`] and [`Map::delete`] with the current CPU; the host
//! reads it with [`Map::read_per_cpu`], [`Map::keys`] and [`Map::clear`].
//!
//! | kind | storage | program side | lookup pointer |
//! | --- | --- | --- | --- |
//! | `PERCPU_ARRAY` | one cache-aligned block per CPU | lock-free, CPU `c` writes block `c` | into the block: valid while the map lives |
//! | `PERCPU_HASH` | one open-addressing table per CPU | lock-free, allocation-free, CPU `c` writes table `c` | into CPU `c`'s slots: valid while the map lives |
//! | `ARRAY` | one block | lock-free, word-copy updates | into the block: valid while the map lives |
//! | `HASH`, `LRU_HASH` | one open-addressing table | lookups lock-free, updates under a spinlock | into the slots: valid while the map lives |
//! | `PERF_EVENT_ARRAY` | none | lookup/update/delete are `EINVAL`, as in Linux | — |
//!
//! No storage is ever freed or moved before the map is dropped (hash slots are preallocated and
//! reused in place), so a pointer returned by `lookup` can be read and written for as long as
//! the handler runs, whatever other CPUs do meanwhile. A deleted key's slot can be reused by a
//! later insert, after which an old pointer shows the new key's value — Linux's preallocated
//! hash maps behave the same way. All storage is `AtomicU64` words touched by Rust only through
//! atomic loads and stores, so racing host reads give possibly torn values, never undefined
//! behaviour.
//!
//! Per-CPU maps rely on the caller passing the CPU it runs on, with handlers not nesting on one
//! CPU (as Linux guarantees with `bpf_prog_active`): then each per-CPU copy has one writer.
//!
//! From kbpf-basic we take the UAPI (map type ids via [`MapType::to_kbpf`]); its maps are the
//! baseline of the benchmarks but not used here: see `README.md`, "Notes on dependencies".

mod array;
mod error;
mod percpu_hash;
mod shared;
mod spec;
mod table;
mod words;

use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;
use core::ptr::NonNull;

pub use error::{MapError, errno};
pub use spec::{
    BPF_ANY, BPF_EXIST, BPF_F_NO_COMMON_LRU, BPF_F_NO_PREALLOC, BPF_F_NUMA_NODE, BPF_F_ZERO_SEED,
    BPF_NOEXIST, MAX_CPUS, MAX_KEY_SIZE, MAX_MAP_BYTES, MAX_PERCPU_VALUE_SIZE, MAX_VALUE_SIZE,
    MapSpec, MapType,
};

use array::ArrayStore;
use percpu_hash::PercpuHash;
use shared::SharedHash;

/// The storage of each kind.
enum Kind {
    Array(ArrayStore),
    PercpuArray(ArrayStore),
    Hash(SharedHash),
    PercpuHash(PercpuHash),
    PerfEventArray,
}

/// An eBPF map (see the module docs). `Send + Sync`: share it by reference or `Arc`.
pub struct Map {
    spec: MapSpec,
    possible_cpus: usize,
    kind: Kind,
}

impl core::fmt::Debug for Map {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Map")
            .field("spec", &self.spec)
            .field("possible_cpus", &self.possible_cpus)
            .finish_non_exhaustive()
    }
}

impl Map {
    /// Creates a map for CPUs `0..possible_cpus`, preallocating all its storage. A spec that is
    /// invalid or too big is an error saying which field and why.
    pub fn new(spec: MapSpec, possible_cpus: usize) -> Result<Map, MapError> {
        let mut spec = spec;
        spec.validate(possible_cpus)?;
        let MapSpec {
            key_size,
            value_size,
            max_entries,
            ..
        } = spec;
        let kind = match spec.map_type {
            MapType::Array => Kind::Array(ArrayStore::new(max_entries, value_size, 1)?),
            MapType::PercpuArray => {
                Kind::PercpuArray(ArrayStore::new(max_entries, value_size, possible_cpus)?)
            }
            MapType::Hash | MapType::LruHash => Kind::Hash(SharedHash::new(
                key_size,
                value_size,
                max_entries,
                spec.map_type == MapType::LruHash,
            )?),
            MapType::PercpuHash => Kind::PercpuHash(PercpuHash::new(
                key_size,
                value_size,
                max_entries,
                possible_cpus,
            )?),
            MapType::PerfEventArray => {
                if spec.max_entries == 0 {
                    // libbpf's convention: one entry per CPU.
                    spec.max_entries = possible_cpus as u32;
                }
                Kind::PerfEventArray
            }
        };
        Ok(Map {
            spec,
            possible_cpus,
            kind,
        })
    }

    /// The spec the map was made from (for `PERF_EVENT_ARRAY`, `max_entries` 0 replaced by the
    /// number of CPUs).
    pub fn spec(&self) -> &MapSpec {
        &self.spec
    }

    /// The map's type.
    pub fn map_type(&self) -> MapType {
        self.spec.map_type
    }

    /// The CPUs the map was made for.
    pub fn possible_cpus(&self) -> usize {
        self.possible_cpus
    }

    #[inline]
    fn check_cpu(&self, cpu: usize) -> Result<(), MapError> {
        if cpu < self.possible_cpus {
            Ok(())
        } else {
            Err(MapError::CpuOutOfRange {
                cpu,
                possible: self.possible_cpus,
            })
        }
    }

    fn not_supported(&self, op: &'static str) -> MapError {
        MapError::NotSupported {
            map_type: self.spec.map_type,
            op,
        }
    }

    /// Whether the map keeps one copy per CPU (so lookups need the current CPU).
    #[inline]
    pub fn is_per_cpu(&self) -> bool {
        matches!(self.kind, Kind::PercpuHash(_) | Kind::PercpuArray(_))
    }

    /// `bpf_map_lookup_elem` on CPU `cpu`: a pointer to the `value_size` value bytes (8-byte
    /// aligned; for a per-CPU map, CPU `cpu`'s copy), or `None` (NULL) if the key is absent,
    /// the key has the wrong length, or `cpu` is out of range. The pointer stays valid while the
    /// map lives (see the module docs).
    #[inline]
    pub fn lookup(&self, key: &[u8], cpu: usize) -> Option<NonNull<u8>> {
        if cpu >= self.possible_cpus {
            return None;
        }
        match &self.kind {
            Kind::PercpuHash(map) => map.lookup(key, cpu),
            Kind::PercpuArray(array) => array.lookup(key, cpu),
            Kind::Array(array) => array.lookup(key, 0),
            Kind::Hash(map) => map.lookup(key),
            Kind::PerfEventArray => None,
        }
    }

    /// `bpf_map_update_elem` on CPU `cpu`, with `flags` `BPF_ANY`, `BPF_NOEXIST` or `BPF_EXIST`.
    /// Copies `value` (exactly `value_size` bytes) into the map.
    #[inline]
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64, cpu: usize) -> Result<(), MapError> {
        self.check_cpu(cpu)?;
        match &self.kind {
            Kind::PercpuHash(map) => map.update(key, value, flags, cpu),
            Kind::PercpuArray(array) => array.update(key, value, flags, cpu),
            Kind::Array(array) => array.update(key, value, flags, 0),
            Kind::Hash(map) => map.update(key, value, flags, cpu),
            Kind::PerfEventArray => Err(self.not_supported("update")),
        }
    }

    /// `bpf_map_delete_elem` on CPU `cpu`: `ENOENT` if absent; arrays cannot delete (`EINVAL`,
    /// as in Linux). For a per-CPU hash, deletes CPU `cpu`'s copy only.
    pub fn delete(&self, key: &[u8], cpu: usize) -> Result<(), MapError> {
        self.check_cpu(cpu)?;
        match &self.kind {
            Kind::PercpuHash(map) => map.delete(key, cpu),
            Kind::Hash(map) => map.delete(key, cpu),
            Kind::Array(_) | Kind::PercpuArray(_) | Kind::PerfEventArray => {
                Err(self.not_supported("delete"))
            }
        }
    }

    /// Host side: a copy of `key`'s value per CPU (CPU order) for per-CPU maps — zeros for a
    /// CPU whose per-CPU hash lacks the key — or a single value for shared maps. `None` if the
    /// key is absent everywhere (or out of range, or the map is a `PERF_EVENT_ARRAY`). Callable
    /// from any thread while handlers run; a value being written meanwhile may be torn.
    pub fn read_per_cpu(&self, key: &[u8]) -> Option<Vec<Vec<u8>>> {
        match &self.kind {
            Kind::PercpuHash(map) => map.read_per_cpu(key),
            Kind::PercpuArray(array) | Kind::Array(array) => array.read_copies(key),
            Kind::Hash(map) => map.read(key).map(|value| vec![value]),
            Kind::PerfEventArray => None,
        }
    }

    /// For a (shared) `ARRAY`: (address of value 0, bytes from one value to the next, values),
    /// fixed for the map's lifetime — what a lookup returns for index `i` is
    /// `address + i * stride`. `None` for every other kind.
    pub fn array_layout(&self) -> Option<(u64, u32, u32)> {
        match &self.kind {
            Kind::Array(array) => {
                let (base, stride, entries) = array.layout();
                Some((base as u64, u32::try_from(stride).ok()?, entries))
            }
            _ => None,
        }
    }

    /// Host side: the map's keys (every index of an array; the union over CPUs for a per-CPU
    /// hash). Any thread; not a snapshot if handlers insert or delete meanwhile.
    pub fn keys(&self) -> Vec<Vec<u8>> {
        match &self.kind {
            Kind::PercpuHash(map) => map.keys(),
            Kind::PercpuArray(array) | Kind::Array(array) => array.keys(),
            Kind::Hash(map) => map.keys(),
            Kind::PerfEventArray => Vec::new(),
        }
    }

    /// The address ranges every lookup pointer (and the `value_size` bytes after it) falls
    /// in, fixed for the map's lifetime: what the interpreter, which bounds-checks memory
    /// accesses, must allow. Empty for `PERF_EVENT_ARRAY`.
    pub fn storage_ranges(&self) -> Vec<Range<usize>> {
        match &self.kind {
            Kind::PercpuHash(map) => map.address_ranges().collect(),
            Kind::PercpuArray(array) | Kind::Array(array) => vec![array.address_range()],
            Kind::Hash(map) => vec![map.address_range()],
            Kind::PerfEventArray => Vec::new(),
        }
    }

    /// Host side: removes every key of a hash map (a per-CPU hash is cleared by each CPU at its
    /// next use, and reads as empty until then); zeroes every value of an array.
    pub fn clear(&self) {
        match &self.kind {
            Kind::PercpuHash(map) => map.clear(),
            Kind::PercpuArray(array) | Kind::Array(array) => array.clear(),
            Kind::Hash(map) => map.clear(),
            Kind::PerfEventArray => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn map_is_send_and_sync() {
        assert_send_sync::<Map>();
    }
}
