//! Converts dumps to CTF and reads them back with babeltrace2 (Debian's package, installed by
//! `cargo xtask setup`): the same events, reasons and drops as the dump holds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use axebpf_core::dump::{DumpWriter, Metadata};
use axebpf_core::exit_reason::ExitReason;
use axebpf_core::record::Record;
use axtrace_exporter::ctf;
use axtrace_exporter::dump::DumpReader;

fn exit(vm: u16, vcpu: u16, ts: u64, reason: ExitReason, k: u64) -> Record {
    Record {
        timestamp_ns: ts,
        event: 1,
        vm,
        vcpu,
        pcpu: vcpu + 2,
        code: reason.code(),
        aux: 500 + k as u32,
        data: 0x1000 + k,
    }
}

/// A dump of two VMs × two vCPUs: every reason, a non-exit record, a record back in time, drops.
fn dump() -> Vec<u8> {
    let metadata = Metadata {
        vcpus: vec![(0, 1, 0), (1, 1, 1), (2, 2, 0), (3, 2, 1)],
        clock: "synthetic".into(),
        host: "ctf-test \"quoted\" host".into(),
        programs: vec!["exit_latency".into()],
    };
    let mut writer = DumpWriter::new(Vec::new(), &metadata).unwrap();
    for round in 0..5u64 {
        for ring in 0..4u16 {
            let (vm, vcpu) = (1 + ring / 2, ring % 2);
            let mut records: Vec<Record> = (0..40u64)
                .map(|k| {
                    let n = round * 40 + k;
                    let reason =
                        ExitReason::ALL[(n as usize + ring as usize) % ExitReason::ALL.len()];
                    exit(vm, vcpu, 1_000_000 + n * 1_000 + u64::from(ring), reason, k)
                })
                .collect();
            records[7].event = 9; // not a VM exit
            records[12].timestamp_ns -= 5_000; // back in time
            let dropped = if (round + u64::from(ring)) % 3 == 0 {
                round + 2
            } else {
                0
            };
            writer.write_records(ring, &records, dropped).unwrap();
        }
    }
    writer.write_records(1, &[], 11).unwrap(); // drops with no records
    writer.into_sink()
}

/// What the dump holds: exits per reason name, other records, drops.
#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    exits: BTreeMap<String, u64>,
    others: u64,
    dropped: u64,
}

fn dump_counts(bytes: &[u8]) -> Counts {
    let mut reader = DumpReader::open(bytes).unwrap();
    let meta = reader.metadata().clone();
    let mut counts = Counts::default();
    while let Some(chunk) = reader.next_chunk() {
        counts.dropped += chunk.dropped;
        for r in &chunk.records {
            if r.event == 1 {
                *counts
                    .exits
                    .entry(meta.reason_name(r.code).to_string())
                    .or_default() += 1;
            } else {
                counts.others += 1;
            }
        }
    }
    counts
}

/// `babeltrace2 DIR`'s events and discarded-event warnings, counted.
fn babeltrace_counts(dir: &Path) -> Counts {
    let output = match Command::new("babeltrace2").arg(dir).output() {
        Ok(output) => output,
        Err(e) => panic!(
            "babeltrace2 cannot run ({e}): run `cargo xtask setup`, which installs Debian's \
             babeltrace2"
        ),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "babeltrace2 failed:\n{stderr}");
    let mut counts = Counts::default();
    for line in stdout.lines() {
        if line.contains(" vm_exit: ") {
            let reason = line
                .split("exit_reason = ( \"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("no exit_reason label in {line}"));
            *counts.exits.entry(reason.to_string()).or_default() += 1;
        } else if line.contains(" axtrace_record: ") {
            counts.others += 1;
        } else {
            panic!("unexpected babeltrace2 line: {line}");
        }
    }
    for line in stderr.lines() {
        assert!(
            !line.contains("may have discarded"),
            "every discarded count is exact: {line}"
        );
        if let Some(rest) = line.split("Tracer discarded ").nth(1) {
            counts.dropped += rest.split(' ').next().unwrap().parse::<u64>().unwrap();
        }
    }
    counts
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("axtrace-ctf-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn check(bytes: &[u8], name: &str) -> ctf::Stats {
    let dir = scratch_dir(name);
    let stats = ctf::convert_dir(DumpReader::open(bytes).unwrap(), &dir).unwrap();
    let expected = dump_counts(bytes);
    let read = babeltrace_counts(&dir);
    assert_eq!(read, expected);
    assert_eq!(
        stats.events,
        expected.exits.values().sum::<u64>() + expected.others
    );
    assert_eq!(stats.discarded, expected.dropped);
    let _ = std::fs::remove_dir_all(&dir);
    stats
}

#[test]
fn babeltrace2_reads_the_events_reasons_and_drops_of_the_dump() {
    let bytes = dump();
    let stats = check(&bytes, "synthetic");
    assert_eq!(
        stats.streams,
        ["vm1_vcpu0", "vm1_vcpu1", "vm2_vcpu0", "vm2_vcpu1"]
    );
    assert_eq!(stats.reordered, 20, "one record back in time per chunk");
    let counts = dump_counts(&bytes);
    assert_eq!(
        counts.exits.len(),
        ExitReason::ALL.len(),
        "every reason present"
    );
    assert!(counts.others > 0 && counts.dropped > 0);
}

#[test]
fn a_cut_dump_converts_its_whole_chunks_and_says_where_it_stopped() {
    let bytes = dump();
    let cut = &bytes[..bytes.len() * 2 / 3];
    let dir = scratch_dir("cut");
    let stats = ctf::convert_dir(DumpReader::open(cut).unwrap(), &dir).unwrap();
    let stop = stats.stop.clone().expect("the reader stopped early");
    assert!(stop.offset < cut.len() as u64);
    // What babeltrace2 reads is exactly the whole chunks before the stop.
    assert_eq!(
        babeltrace_counts(&dir),
        dump_counts(&cut[..stop.offset as usize])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_output_directory_is_replaced_only_when_it_holds_a_ctf_trace() {
    let bytes = dump();
    let dir = scratch_dir("reuse");
    ctf::convert_dir(DumpReader::open(&bytes[..]).unwrap(), &dir).unwrap();
    // A second conversion of a smaller dump replaces the first (no stale streams left).
    let mut writer = DumpWriter::new(Vec::new(), &Metadata::default()).unwrap();
    writer
        .write_records(0, &[exit(1, 0, 5, ExitReason::Halt, 0)], 0)
        .unwrap();
    let small = writer.into_sink();
    ctf::convert_dir(DumpReader::open(&small[..]).unwrap(), &dir).unwrap();
    assert_eq!(babeltrace_counts(&dir), dump_counts(&small));
    // A foreign file is not deleted: the conversion refuses the directory.
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let err = ctf::convert_dir(DumpReader::open(&small[..]).unwrap(), &dir).unwrap_err();
    assert!(err.to_string().contains("notes.txt"), "{err}");
    assert!(dir.join("notes.txt").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The demo's dump (`cargo xtask demo`: real KVM exits), when there is one.
#[test]
fn the_demo_dump_reads_back_when_present() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/axtrace-demo/run.axdump"
    );
    let Ok(bytes) = std::fs::read(path) else {
        return; // no demo run on this machine
    };
    check(&bytes, "demo");
}
