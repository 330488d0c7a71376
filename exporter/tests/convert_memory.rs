//! Converting does not hold the dump in memory: the peak RSS of a child process converting a
//! dump four times larger stays within a small margin of the smaller one's (the bench `convert`
//! measures 1 M, 10 M and 50 M records in release builds).
//!
//! The child is this test binary, re-run on one test with `AXTRACE_RSS_CHILD=<records>`; it
//! generates the dump on the fly (a `Read` that writes chunks with the core's `DumpWriter` as the
//! reader asks for them), so neither the dump nor the trace is ever whole in memory or on disk.

use std::cell::RefCell;
use std::io::Read;
use std::process::Command;
use std::rc::Rc;

use axebpf_core::dump::{DumpError, DumpWriter, Metadata, Sink};
use axebpf_core::record::Record;
use axtrace_exporter::dump::DumpReader;
use axtrace_exporter::perfetto::{self, Options};

const CHILD: &str = "AXTRACE_RSS_CHILD";
const CHUNK: u64 = 4096;
const RINGS: u16 = 2;

#[derive(Clone, Default)]
struct Shared(Rc<RefCell<Vec<u8>>>);

impl Sink for Shared {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), DumpError> {
        self.0.borrow_mut().extend_from_slice(bytes);
        Ok(())
    }
}

/// A dump of `total` exit records, produced as it is read.
struct GeneratedDump {
    writer: DumpWriter<Shared>,
    bytes: Shared,
    read: usize,
    written: u64,
    total: u64,
}

impl GeneratedDump {
    fn new(total: u64) -> Self {
        let bytes = Shared::default();
        let metadata = Metadata {
            vcpus: (0..RINGS).map(|r| (r, 1, r)).collect(),
            clock: "synthetic".into(),
            ..Metadata::default()
        };
        let writer = DumpWriter::new(bytes.clone(), &metadata).unwrap();
        Self {
            writer,
            bytes,
            read: 0,
            written: 0,
            total,
        }
    }
}

impl Read for GeneratedDump {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let mut bytes = self.bytes.0.borrow_mut();
        if self.read == bytes.len() && self.written < self.total {
            bytes.clear();
            self.read = 0;
            drop(bytes);
            let ring = ((self.written / CHUNK) % u64::from(RINGS)) as u16;
            let len = CHUNK.min(self.total - self.written);
            let records: Vec<Record> = (0..len)
                .map(|k| Record {
                    timestamp_ns: (self.written + k) * 1_000,
                    event: 1,
                    vm: 1,
                    vcpu: ring,
                    code: (k % 8) as u32,
                    aux: 400,
                    data: k,
                    ..Record::default()
                })
                .collect();
            self.writer.write_records(ring, &records, 1).unwrap();
            self.written += len;
            bytes = self.bytes.0.borrow_mut();
        }
        let n = out.len().min(bytes.len() - self.read);
        out[..n].copy_from_slice(&bytes[self.read..self.read + n]);
        self.read += n;
        Ok(n)
    }
}

/// Peak RSS (kB) of a child converting `records` records.
fn peak_rss_kb(records: u64) -> u64 {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_converts",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, records.to_string())
        .output()
        .unwrap();
    assert!(output.status.success(), "child failed: {output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    // The harness's own output shares the line (`test child_converts ... peak-rss-kb N`).
    text.split("peak-rss-kb ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no peak in {text:?}"))
        .parse()
        .unwrap()
}

/// Runs only as the child (with `AXTRACE_RSS_CHILD`); a no-op in the normal run.
#[test]
fn child_converts() {
    let Ok(records) = std::env::var(CHILD) else {
        return;
    };
    let records: u64 = records.parse().unwrap();
    let reader = DumpReader::open(GeneratedDump::new(records)).unwrap();
    let stats = perfetto::convert(reader, std::io::sink(), Options::default()).unwrap();
    assert_eq!(stats.slices, records);
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim();
    println!("peak-rss-kb {hwm}");
}

#[test]
fn peak_memory_does_not_grow_with_the_dump() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let (small, large) = (500_000, 2_000_000);
    let small_kb = peak_rss_kb(small);
    let large_kb = peak_rss_kb(large);
    // Holding the extra records would cost 48 MB (32 bytes each), the trace far more.
    let growth = large_kb.saturating_sub(small_kb);
    assert!(
        growth < 4 * 1024,
        "peak RSS grew by {growth} kB from {small} to {large} records ({small_kb} → {large_kb} kB)"
    );
}
