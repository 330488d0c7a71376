//! The per-vCPU record ring against rtrb and crossbeam's ArrayQueue, same 32-byte records, same
//! ring size, same core placement, same run.
//!
//! * `ring_single_thread`: push one record, pop it, on one thread.
//! * `ring_cross_thread_{eager,paced}`: the hypervisor's shape — the producer (pinned to CPU 0)
//!   pushes one record at a time as a handler does, retrying while the ring is full; the consumer
//!   (pinned to CPU 1) drains in batches of up to 256 in place. ArrayQueue has no batch read, so
//!   its consumer pops up to 256 one at a time. `eager`: the drain polls again at once after a
//!   short batch; `paced`: it pauses 200 spin-loop hints first, like a low-priority drain task.
//!
//! * `ring_reserve_commit`: on one thread, reserve 16 slots, write the records in place,
//!   commit; then read them as one chunk and release it — against rtrb's `write_chunk` /
//!   `read_chunk` doing the same.
//!
//! Cross-thread iterations move 2^20 records each (starting the producer thread is noise next to
//! that). Throughput is per record; compare the three within one run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use axebpf_core::Record;
use axebpf_core::ring::Ring;
use axtrace_benches::pin_to_cpu;
use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};

const CAPACITY: usize = 4096;
const DRAIN_BATCH: usize = 256;
const PRODUCER_CPU: usize = 0;
const CONSUMER_CPU: usize = 1;
/// Records moved per cross-thread iteration: enough (~ms) that starting the producer thread is
/// noise next to the transfer.
const RECORDS_PER_ITERATION: u64 = 1 << 20;

/// How the drain behaves when a pass found less than a full batch.
#[derive(Clone, Copy)]
enum Drain {
    /// Polls again at once: the consumer keeps reading the producer's lines.
    Eager,
    /// Pauses `PACED_SPINS` spin-loop hints first, as a low-priority drain task that does not
    /// hammer a producer it has caught up with.
    Paced,
}

const PACED_SPINS: usize = 200;

impl Drain {
    fn after_pass(self, got: usize) {
        if matches!(self, Drain::Paced) && got < DRAIN_BATCH {
            for _ in 0..PACED_SPINS {
                std::hint::spin_loop();
            }
        }
    }
}

fn record(sequence: u64) -> Record {
    Record {
        timestamp_ns: sequence,
        event: 1,
        vm: 0,
        vcpu: 0,
        pcpu: 0,
        code: 7,
        aux: 0,
        data: sequence,
    }
}

/// A way to move records from one thread to another, as the benchmark drives it.
trait Transport {
    fn name() -> &'static str;
    /// Moves `count` records across threads and returns the time it took.
    fn cross_thread(count: u64, drain: Drain) -> Duration;
    /// Pushes and pops one record, `iters` times, on this thread.
    fn single_thread(iters: u64) -> Duration;
}

/// Runs `produce` on the producer CPU and `consume` on this (consumer) thread, timing both.
fn timed_pair(produce: impl FnOnce() + Send, consume: impl FnOnce()) -> Duration {
    std::thread::scope(|scope| {
        let start = Instant::now();
        scope.spawn(move || {
            pin_to_cpu(PRODUCER_CPU);
            produce();
        });
        consume();
        start.elapsed()
    })
}

struct Axtrace;

impl Transport for Axtrace {
    fn name() -> &'static str {
        "axtrace-ring"
    }

    fn cross_thread(count: u64, drain: Drain) -> Duration {
        let ring = Ring::<Record>::with_capacity(CAPACITY).unwrap();
        let (mut producer, mut consumer) = ring.split().unwrap();
        timed_pair(
            move || {
                for sequence in 0..count {
                    while producer.push(record(sequence)).is_err() {
                        std::hint::spin_loop();
                    }
                }
            },
            || {
                let mut received = 0;
                let mut sum = 0u64;
                while received < count {
                    let chunk = consumer.read_chunk(DRAIN_BATCH);
                    let (first, second) = chunk.as_slices();
                    sum = first.iter().chain(second).fold(sum, |s, r| s ^ r.data);
                    received += chunk.len() as u64;
                    let got = chunk.len();
                    chunk.commit();
                    drain.after_pass(got);
                }
                black_box(sum);
            },
        )
    }

    fn single_thread(iters: u64) -> Duration {
        let ring = Ring::<Record>::with_capacity(CAPACITY).unwrap();
        let (mut producer, mut consumer) = ring.split().unwrap();
        let start = Instant::now();
        for sequence in 0..iters {
            let _ = producer.push(black_box(record(sequence)));
            black_box(consumer.pop());
        }
        start.elapsed()
    }
}

struct Rtrb;

impl Transport for Rtrb {
    fn name() -> &'static str {
        "rtrb"
    }

    fn cross_thread(count: u64, drain: Drain) -> Duration {
        let (mut producer, mut consumer) = rtrb::RingBuffer::<Record>::new(CAPACITY);
        timed_pair(
            move || {
                for sequence in 0..count {
                    while producer.push(record(sequence)).is_err() {
                        std::hint::spin_loop();
                    }
                }
            },
            || {
                let mut received = 0;
                let mut sum = 0u64;
                while received < count {
                    // rtrb's read_chunk(n) wants exactly n; ask for a full batch first (it checks
                    // its cached tail), and only then for what is there.
                    let chunk = match consumer.read_chunk(DRAIN_BATCH) {
                        Ok(chunk) => chunk,
                        Err(_) => consumer
                            .read_chunk(consumer.slots().min(DRAIN_BATCH))
                            .expect("slots() were available"),
                    };
                    let (first, second) = chunk.as_slices();
                    sum = first.iter().chain(second).fold(sum, |s, r| s ^ r.data);
                    received += chunk.len() as u64;
                    let got = chunk.len();
                    chunk.commit_all();
                    drain.after_pass(got);
                }
                black_box(sum);
            },
        )
    }

    fn single_thread(iters: u64) -> Duration {
        let (mut producer, mut consumer) = rtrb::RingBuffer::<Record>::new(CAPACITY);
        let start = Instant::now();
        for sequence in 0..iters {
            let _ = producer.push(black_box(record(sequence)));
            let _ = black_box(consumer.pop());
        }
        start.elapsed()
    }
}

struct ArrayQueue;

impl Transport for ArrayQueue {
    fn name() -> &'static str {
        "crossbeam ArrayQueue"
    }

    fn cross_thread(count: u64, drain: Drain) -> Duration {
        let queue = crossbeam_queue::ArrayQueue::<Record>::new(CAPACITY);
        let queue = &queue;
        timed_pair(
            move || {
                for sequence in 0..count {
                    while queue.push(record(sequence)).is_err() {
                        std::hint::spin_loop();
                    }
                }
            },
            || {
                let mut received = 0;
                let mut sum = 0u64;
                while received < count {
                    let mut got = 0;
                    while got < DRAIN_BATCH {
                        let Some(r) = queue.pop() else { break };
                        sum ^= r.data;
                        got += 1;
                    }
                    received += got as u64;
                    drain.after_pass(got);
                }
                black_box(sum);
            },
        )
    }

    fn single_thread(iters: u64) -> Duration {
        let queue = crossbeam_queue::ArrayQueue::<Record>::new(CAPACITY);
        let start = Instant::now();
        for sequence in 0..iters {
            let _ = queue.push(black_box(record(sequence)));
            black_box(queue.pop());
        }
        start.elapsed()
    }
}

/// Records per reserve/commit batch.
const RESERVE_BATCH: usize = 16;

/// Fills the reserved runs with consecutive records.
fn fill(first: &mut [Record], second: &mut [Record], sequence: u64) {
    for (offset, slot) in first.iter_mut().chain(second).enumerate() {
        *slot = record(sequence + offset as u64);
    }
}

fn reserve_commit_axtrace(iters: u64) -> Duration {
    let ring = Ring::<Record>::with_capacity(CAPACITY).unwrap();
    let (mut producer, mut consumer) = ring.split().unwrap();
    let start = Instant::now();
    for i in 0..iters {
        let mut chunk = producer.reserve(RESERVE_BATCH).unwrap();
        let (first, second) = chunk.as_mut_slices();
        fill(first, second, black_box(i));
        chunk.commit();
        let chunk = consumer.read_chunk(RESERVE_BATCH);
        let (first, second) = chunk.as_slices();
        black_box((first, second));
        chunk.commit();
    }
    start.elapsed()
}

fn reserve_commit_rtrb(iters: u64) -> Duration {
    let (mut producer, mut consumer) = rtrb::RingBuffer::<Record>::new(CAPACITY);
    let start = Instant::now();
    for i in 0..iters {
        let mut chunk = producer.write_chunk(RESERVE_BATCH).unwrap();
        let (first, second) = chunk.as_mut_slices();
        fill(first, second, black_box(i));
        chunk.commit_all();
        let chunk = consumer.read_chunk(RESERVE_BATCH).unwrap();
        let (first, second) = chunk.as_slices();
        black_box((first, second));
        chunk.commit_all();
    }
    start.elapsed()
}

fn cross_thread<T: Transport>(group: &mut BenchmarkGroup<'_, WallTime>, drain: Drain) {
    group.bench_function(T::name(), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| T::cross_thread(RECORDS_PER_ITERATION, drain))
                .sum()
        })
    });
}

fn rings(c: &mut Criterion) {
    pin_to_cpu(CONSUMER_CPU);
    let mut single = c.benchmark_group("ring_single_thread");
    single.throughput(Throughput::Elements(1));
    single.bench_function(Axtrace::name(), |b| b.iter_custom(Axtrace::single_thread));
    single.bench_function(Rtrb::name(), |b| b.iter_custom(Rtrb::single_thread));
    single.bench_function(ArrayQueue::name(), |b| {
        b.iter_custom(ArrayQueue::single_thread)
    });
    single.finish();

    let mut batched = c.benchmark_group("ring_reserve_commit");
    batched.throughput(Throughput::Elements(RESERVE_BATCH as u64));
    batched.bench_function(Axtrace::name(), |b| b.iter_custom(reserve_commit_axtrace));
    batched.bench_function(Rtrb::name(), |b| b.iter_custom(reserve_commit_rtrb));
    batched.finish();

    for (name, drain) in [
        ("ring_cross_thread_eager", Drain::Eager),
        ("ring_cross_thread_paced", Drain::Paced),
    ] {
        let mut cross = c.benchmark_group(name);
        cross
            .throughput(Throughput::Elements(RECORDS_PER_ITERATION))
            .sampling_mode(SamplingMode::Flat)
            .sample_size(20);
        cross_thread::<Axtrace>(&mut cross, drain);
        cross_thread::<Rtrb>(&mut cross, drain);
        cross_thread::<ArrayQueue>(&mut cross, drain);
        cross.finish();
    }
}

criterion_group!(benches, rings);
criterion_main!(benches);
