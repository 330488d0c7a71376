//! `axtrace-report`'s throughput: VM_EXIT records/s into the per-(VM, vCPU, reason) HDR
//! histograms, against a plain loop that sums each reason's count and latency over the same
//! records (the floor: touching each record once). Goal: ≥ 30 M records/s into histograms.
//! `dump_to_report` adds reading the dump (chunk CRC-32C, copying records out) in front.

use std::hint::black_box;

use axebpf_core::dump::{DumpWriter, Metadata};
use axebpf_core::record::Record;
use axtrace_exporter::report::{self, Collector, Options};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const VCPUS: u16 = 4;
const CHUNK: usize = 4096;
const RECORDS: usize = 1 << 20;

/// Exits as a recording holds them: chunks of one vCPU, ten reasons interleaved, latencies
/// spread over 300 ns .. ~80 µs with a long tail.
fn chunks() -> Vec<(u16, Vec<Record>)> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..RECORDS / CHUNK)
        .map(|c| {
            let vcpu = (c % usize::from(VCPUS)) as u16;
            let records = (0..CHUNK)
                .map(|i| {
                    let r = next();
                    Record {
                        timestamp_ns: (c * CHUNK + i) as u64 * 1000,
                        event: 1,
                        vm: 1 + vcpu / 2,
                        vcpu: vcpu % 2,
                        pcpu: 0,
                        code: (r % 10) as u32 + 1,
                        aux: 300
                            + ((r >> 8) % 2000) as u32
                            + (((r >> 20) % 1000 == 0) as u32 * 80_000),
                        data: 0x1000 + (r >> 32) % 64 * 4,
                    }
                })
                .collect();
            (vcpu, records)
        })
        .collect()
}

fn report_throughput(c: &mut Criterion) {
    let chunks = chunks();
    let mut group = c.benchmark_group("report");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("sum_floor", |b| {
        b.iter(|| {
            let mut per_reason = [(0u64, 0u64); 32];
            for (_, records) in &chunks {
                for r in records {
                    let slot = &mut per_reason[(r.code & 31) as usize];
                    slot.0 += 1;
                    slot.1 += u64::from(r.aux);
                }
            }
            black_box(per_reason)
        })
    });
    group.bench_function("into_histograms", |b| {
        b.iter(|| {
            let mut collector = Collector::new(Default::default(), Options::default());
            for (ring, records) in &chunks {
                collector.add_chunk(*ring, records, 0);
            }
            black_box(collector.finish(None))
        })
    });
    let metadata = Metadata {
        vcpus: (0..VCPUS).map(|v| (v, 1 + v / 2, v % 2)).collect(),
        ..Metadata::default()
    };
    let mut writer = DumpWriter::new(Vec::new(), &metadata).unwrap();
    for (ring, records) in &chunks {
        writer.write_records(*ring, records, 0).unwrap();
    }
    let dump = writer.into_sink();
    group.bench_function("dump_to_report", |b| {
        b.iter(|| black_box(report::collect(dump.as_slice(), Options::default()).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, report_throughput);
criterion_main!(benches);
