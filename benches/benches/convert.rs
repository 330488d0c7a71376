//! `axtrace convert`'s cost: throughput (records/s) of the Perfetto and CTF writers against the
//! dump reader alone (the baseline: reading and checksumming the chunks, which every conversion
//! pays), and peak RSS when converting dumps of 1 M, 10 M and 50 M records (the goal: flat).
//!
//! The RSS part runs after the criterion groups, only under `cargo bench` (not `cargo test
//! --benches`): it writes each dump with the core's `DumpWriter` into `CARGO_TARGET_TMPDIR`,
//! converts it in a child process (this binary, re-run with `AXTRACE_CONVERT_CHILD=<dump>`) whose
//! `VmHWM` (peak resident set) it prints, and deletes the dump. `AXTRACE_RSS_RECORDS=1000000,…`
//! picks other sizes (empty: none).

use std::fs::File;
use std::hint::black_box;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use axebpf_core::dump::{DumpError, DumpWriter, Metadata, Sink};
use axebpf_core::exit_reason::ExitReason;
use axebpf_core::record::Record;
use axtrace_exporter::ctf;
use axtrace_exporter::dump::DumpReader;
use axtrace_exporter::perfetto::{self, Options};
use criterion::{Criterion, Throughput, criterion_group};

/// vCPU rings of the synthetic dump (one VM).
const RINGS: u16 = 4;
/// Records per chunk: the drain's default batch.
const CHUNK: u64 = 4096;
const CHILD: &str = "AXTRACE_CONVERT_CHILD";

/// Chunk `index` of ring `ring`: exits 2 µs apart on that vCPU, ~1 µs exit→entry latency,
/// reasons cycling through the common ones, drops on every 64th chunk.
fn chunk(ring: u16, index: u64, len: u64) -> (Vec<Record>, u64) {
    const REASONS: [ExitReason; 6] = [
        ExitReason::IoRead,
        ExitReason::IoWrite,
        ExitReason::MmioRead,
        ExitReason::MmioWrite,
        ExitReason::Halt,
        ExitReason::Hypercall,
    ];
    let records = (0..len)
        .map(|k| {
            let n = index * CHUNK + k;
            Record {
                timestamp_ns: 1_000_000_000 + n * 2_000 + u64::from(ring) * 300,
                event: 1,
                vm: 1,
                vcpu: ring,
                pcpu: ring,
                code: REASONS[(n % 6) as usize].code(),
                aux: 800 + (n % 500) as u32,
                data: 0x3f8 + n % 8,
            }
        })
        .collect();
    (records, if index % 64 == 63 { 17 } else { 0 })
}

fn metadata() -> Metadata {
    Metadata {
        vcpus: (0..RINGS).map(|r| (r, 1, r)).collect(),
        clock: "synthetic".into(),
        host: "bench".into(),
        programs: vec!["exit_latency".into()],
    }
}

/// Writes `records` records round-robin over the rings, one chunk at a time.
fn write_dump<S: Sink>(sink: S, records: u64) -> Result<S, DumpError> {
    let mut writer = DumpWriter::new(sink, &metadata())?;
    let mut written = 0;
    let mut index = 0;
    while written < records {
        for ring in 0..RINGS {
            let len = CHUNK.min(records - written);
            if len == 0 {
                break;
            }
            let (records, dropped) = chunk(ring, index, len);
            writer.write_records(ring, &records, dropped)?;
            written += len;
        }
        index += 1;
    }
    Ok(writer.into_sink())
}

struct FileSink(BufWriter<File>);

impl Sink for FileSink {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), DumpError> {
        self.0
            .write_all(bytes)
            .map_err(|e| DumpError::Sink(e.to_string()))
    }
}

const BENCH_RECORDS: u64 = 1 << 20;

fn throughput(c: &mut Criterion) {
    let dump = write_dump(Vec::new(), BENCH_RECORDS).unwrap();
    let mut group = c.benchmark_group("convert");
    group.sample_size(10);
    group.throughput(Throughput::Elements(BENCH_RECORDS));
    group.bench_function("read_dump_baseline", |b| {
        b.iter(|| {
            let mut reader = DumpReader::open(&dump[..]).unwrap();
            let mut records = 0;
            while let Some(chunk) = reader.next_chunk() {
                records += chunk.records.len();
            }
            black_box(records)
        })
    });
    group.bench_function("perfetto", |b| {
        b.iter(|| {
            let reader = DumpReader::open(&dump[..]).unwrap();
            perfetto::convert(reader, std::io::sink(), Options::default()).unwrap()
        })
    });
    group.bench_function("ctf", |b| {
        b.iter(|| {
            let reader = DumpReader::open(&dump[..]).unwrap();
            ctf::convert_to(reader, |_| Ok(std::io::sink())).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, throughput);

/// The child: converts the dump at `path` to nowhere (the output's bytes are not what is
/// measured: the writer streams them) and prints its peak RSS.
fn child(path: &str) {
    let started = Instant::now();
    let reader = DumpReader::open(BufReader::with_capacity(1 << 20, File::open(path).unwrap()))
        .expect("a readable dump");
    let stats = perfetto::convert(reader, std::io::sink(), Options::default()).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .map(|v| v.trim().trim_end_matches(" kB").trim().to_string())
        .unwrap_or_default();
    println!("{hwm} {} {seconds}", stats.slices);
}

fn rss_report() {
    let sizes =
        std::env::var("AXTRACE_RSS_RECORDS").unwrap_or_else(|_| "1000000,10000000,50000000".into());
    let sizes: Vec<u64> = sizes.split(',').filter_map(|s| s.parse().ok()).collect();
    if sizes.is_empty() {
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    println!("\nconvert peak RSS (Perfetto, one output; child process VmHWM):");
    let mut peaks = Vec::new();
    for records in sizes {
        let path = dir.join(format!("convert-rss-{records}.axdump"));
        let file = BufWriter::with_capacity(1 << 20, File::create(&path).unwrap());
        let FileSink(mut file) = write_dump(FileSink(file), records).unwrap();
        file.flush().unwrap();
        drop(file);
        let dump_mb = std::fs::metadata(&path).unwrap().len() / 1_000_000;
        let output = Command::new(std::env::current_exe().unwrap())
            .env(CHILD, &path)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(output.status.success(), "the child failed: {output:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [hwm, slices, seconds] = fields[..] else {
            panic!("unexpected child output {text:?}");
        };
        let hwm: u64 = hwm.parse().unwrap();
        let seconds: f64 = seconds.parse().unwrap();
        assert_eq!(slices.parse::<u64>().unwrap(), records);
        println!(
            "  {records:>11} records ({dump_mb:>5} MB dump): peak RSS {:>6.1} MiB, {:.1} M records/s",
            hwm as f64 / 1024.0,
            records as f64 / seconds / 1e6
        );
        peaks.push(hwm);
    }
    let (min, max) = (peaks.iter().min().unwrap(), peaks.iter().max().unwrap());
    println!(
        "  largest / smallest peak: {:.2} (flat = 1.00)",
        *max as f64 / *min as f64
    );
}

fn main() {
    if let Ok(path) = std::env::var(CHILD) {
        child(&path);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    if std::env::args().any(|a| a == "--bench") {
        rss_report();
    }
}
