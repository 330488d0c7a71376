//! The hot-path maps — `PERCPU_HASH` and `PERCPU_ARRAY` updates, which shipped handlers do on
//! every VM exit — ours against kbpf-basic 0.6's, same keys, same values, same run.
//!
//! * `*_update/1_thread/…`: one thread (pinned to CPU 0) updates CPU 0's copy.
//! * `*_update/2_threads/…`: two threads (pinned to CPUs 0 and 1) each update their own CPU's
//!   copy at the same time, as two vCPUs' handlers do. The time is per update *per thread*:
//!   the same figure as with one thread means no slowdown from the second CPU.
//!
//! Keys cycle over `KEYS` present keys (4-byte keys, 8-byte values, `BPF_ANY`): the steady state
//! of a counting handler. kbpf-basic's maps are created through its own `bpf_map_create` with the
//! glue in `axebpf-core/tests/maps/kbpf.rs` (a spinlock for its per-map `lock_api::Mutex`, a
//! thread-local current CPU for its per-CPU copies).

#[path = "../../axebpf-core/tests/maps/kbpf.rs"]
mod kbpf;

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use axebpf_core::maps::{BPF_ANY, Map, MapSpec, MapType};
use axtrace_benches::pin_to_cpu;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kbpf_basic::linux_bpf::BpfMapType;

const KEYS: u32 = 64;
const MAX_ENTRIES: u32 = 1024;
const CPUS: usize = 2;

/// Something that takes a per-CPU update.
trait Target: Sync {
    fn update(&self, key: &[u8; 4], value: &[u8; 8], cpu: usize);
    /// Called once on each benchmark thread before it starts.
    fn on_thread(&self, _cpu: usize) {}
}

impl Target for Map {
    #[inline]
    fn update(&self, key: &[u8; 4], value: &[u8; 8], cpu: usize) {
        Map::update(self, key, value, BPF_ANY, cpu).unwrap();
    }
}

impl Target for kbpf::KbpfMap {
    #[inline]
    fn update(&self, key: &[u8; 4], value: &[u8; 8], _cpu: usize) {
        self.map_mut().update_elem(key, value, BPF_ANY).unwrap();
    }

    fn on_thread(&self, cpu: usize) {
        kbpf::set_current_cpu(cpu as u32);
    }
}

/// `iters` updates on `cpu`, cycling over the keys; returns the time taken.
fn run(target: &dyn Target, cpu: usize, iters: u64) -> Duration {
    target.on_thread(cpu);
    let start = Instant::now();
    for i in 0..iters {
        let key = (i as u32 % KEYS).to_ne_bytes();
        target.update(black_box(&key), &i.to_ne_bytes(), cpu);
    }
    start.elapsed()
}

/// `iters` updates on each of `threads` threads at once (thread `t` pinned to CPU `t`); the
/// slowest thread's time.
fn run_threads(target: &dyn Target, threads: usize, iters: u64) -> Duration {
    let barrier = Barrier::new(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|cpu| {
                let barrier = &barrier;
                scope.spawn(move || {
                    pin_to_cpu(cpu);
                    barrier.wait();
                    run(target, cpu, iters)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .max()
            .unwrap_or_default()
    })
}

fn ours(map_type: MapType, key_size: u32) -> Map {
    let spec = MapSpec {
        map_type,
        key_size,
        value_size: 8,
        max_entries: MAX_ENTRIES,
        flags: 0,
    };
    Map::new(spec, CPUS).unwrap()
}

fn theirs(map_type: BpfMapType) -> kbpf::KbpfMap {
    kbpf::create(map_type, 4, 8, MAX_ENTRIES, CPUS as u32).unwrap()
}

/// Fills every CPU's copy with the keys, so the benchmark measures steady-state updates.
fn populate(target: &dyn Target) {
    for cpu in 0..CPUS {
        target.on_thread(cpu);
        for key in 0..KEYS {
            target.update(&key.to_ne_bytes(), &0u64.to_ne_bytes(), cpu);
        }
    }
}

fn compare(c: &mut Criterion, name: &str, targets: [(&str, &dyn Target); 2]) {
    for (_, target) in targets {
        populate(target);
    }
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    for (label, target) in targets {
        group.bench_function(format!("1_thread/{label}"), |b| {
            pin_to_cpu(0);
            b.iter_custom(|iters| run(target, 0, iters))
        });
    }
    for (label, target) in targets {
        group.bench_function(format!("2_threads/{label}"), |b| {
            b.iter_custom(|iters| run_threads(target, 2, iters))
        });
    }
    group.finish();
}

fn maps(c: &mut Criterion) {
    let hash = ours(MapType::PercpuHash, 4);
    let kbpf_hash = theirs(BpfMapType::BPF_MAP_TYPE_PERCPU_HASH);
    compare(
        c,
        "percpu_hash_update",
        [("axebpf", &hash), ("kbpf-basic", &kbpf_hash)],
    );
    let array = ours(MapType::PercpuArray, 4);
    let kbpf_array = theirs(BpfMapType::BPF_MAP_TYPE_PERCPU_ARRAY);
    compare(
        c,
        "percpu_array_update",
        [("axebpf", &array), ("kbpf-basic", &kbpf_array)],
    );
}

criterion_group!(benches, maps);
criterion_main!(benches);
