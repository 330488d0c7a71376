//! A real recording (`axtrace record` on KVM: the exit_latency handler, the drain, the dump)
//! converted both ways: babeltrace2 reads the CTF trace back with the dump's events and reason
//! names, and the Perfetto trace holds one slice per exit. Skipped when /dev/kvm is not usable;
//! `exporter/tests/ctf.rs` checks the same on a dump written with the core's writer.

use std::collections::BTreeMap;
use std::process::Command;

use axebpf_core::runtime::ExecMode;
use axtrace_exporter::dump::DumpReader;
use axtrace_exporter::{ctf, perfetto};
use axtrace_tools::record::{self, RecordConfig};

#[test]
fn a_kvm_recording_reads_back_in_babeltrace2_and_converts_to_perfetto() {
    if let Err(why) = axtrace_kvm::kvm_usable() {
        eprintln!("skipped: /dev/kvm not usable: {why}");
        return;
    }
    let base = std::env::temp_dir().join(format!("axtrace-kvm-convert-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let dump = base.join("run.axdump");
    let config = RecordConfig {
        vms: 2,
        vcpus: 2,
        mix: record::parse_mix(
            "io=30,mmio=20,hole=10,hlt=10,msr=10,hypercall=10,kick=10",
            300,
        )
        .unwrap(),
        working_set: 16,
        ring_capacity: 1 << 12,
        output: dump.clone(),
        mode: ExecMode::Jit,
        synthetic: false,
    };
    let summary = record::record(&config).unwrap();
    assert!(summary.run.ok(), "{}", summary.run.summary());
    let bytes = std::fs::read(&dump).unwrap();

    // What the dump holds, by reason name.
    let mut reader = DumpReader::open(&bytes[..]).unwrap();
    let meta = reader.metadata().clone();
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    let mut dropped = 0;
    while let Some(chunk) = reader.next_chunk() {
        dropped += chunk.dropped;
        for r in &chunk.records {
            *expected
                .entry(meta.reason_name(r.code).to_string())
                .or_default() += 1;
        }
    }
    let records: u64 = expected.values().sum();
    assert_eq!(records, summary.records);

    // CTF, read by babeltrace2.
    let dir = base.join("ctf");
    let stats = ctf::convert_dir(DumpReader::open(&bytes[..]).unwrap(), &dir).unwrap();
    assert_eq!((stats.events, stats.discarded), (records, dropped));
    let output = Command::new("babeltrace2")
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("babeltrace2 cannot run ({e}): run `cargo xtask setup`, which installs it")
        });
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut read: BTreeMap<String, u64> = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        assert!(line.contains(" vm_exit: "), "{line}");
        let reason = line
            .split("exit_reason = ( \"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no exit_reason in {line}"));
        *read.entry(reason.to_string()).or_default() += 1;
    }
    assert_eq!(read, expected);

    // Perfetto: one exit slice per record.
    let mut trace = Vec::new();
    let pstats = perfetto::convert(
        DumpReader::open(&bytes[..]).unwrap(),
        &mut trace,
        perfetto::Options::default(),
    )
    .unwrap();
    assert_eq!(pstats.slices, records);
    assert_eq!(pstats.dropped_records, dropped);
    let _ = std::fs::remove_dir_all(&base);
}
