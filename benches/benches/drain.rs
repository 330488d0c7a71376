//! The drain's throughput: records/s from full per-vCPU rings into the dump (an in-memory sink),
//! against a plain copy of the same records (the floor: what moving the bytes costs). The
//! difference is mostly the chunks' CRC-32C (slice-by-16 tables).

use std::hint::black_box;

use axebpf_core::drain::Drain;
use axebpf_core::dump::{DumpWriter, Metadata};
use axebpf_core::record::Record;
use axebpf_core::ring::RingSet;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const RINGS: usize = 4;
const CAPACITY: usize = 1 << 14;
const RECORDS: usize = RINGS * CAPACITY;

fn record(i: usize) -> Record {
    Record {
        timestamp_ns: i as u64,
        event: 1,
        code: (i % 16) as u32,
        data: i as u64,
        ..Record::default()
    }
}

/// A sink buffer whose pages are already touched: page faults (expensive under emulation) are
/// not what this measures.
fn touched_buffer() -> Vec<u8> {
    let mut buffer = vec![1u8; RECORDS * 32 + 4096];
    buffer.clear();
    buffer
}

fn drain(c: &mut Criterion) {
    let mut group = c.benchmark_group("drain");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("copy_floor", |b| {
        let source: Vec<Record> = (0..RECORDS).map(record).collect();
        b.iter_batched(
            touched_buffer,
            |mut out: Vec<u8>| {
                out.extend_from_slice(bytemuck::cast_slice(&source));
                black_box(out)
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("rings_to_dump", |b| {
        b.iter_batched(
            || {
                let set: &'static RingSet<Record> =
                    Box::leak(Box::new(RingSet::new(RINGS, CAPACITY).unwrap()));
                let (mut producers, consumers) = set.split().unwrap();
                for (ring, producer) in producers.iter_mut().enumerate() {
                    for i in 0..CAPACITY {
                        producer.push(record(ring * CAPACITY + i)).unwrap();
                    }
                }
                let writer = DumpWriter::new(touched_buffer(), &Metadata::default()).unwrap();
                Drain::new(consumers, writer, 4096)
            },
            |mut drain| {
                drain.drain_all().unwrap();
                black_box(drain.finish().into_sink())
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, drain);
criterion_main!(benches);
