//! `axtrace record` end to end on KVM: the exit_latency handler (JIT) on real VM exits, the
//! drain, the dump read back — every number agrees with the VMM's own count.

use std::collections::BTreeMap;

use axebpf_core::exit_reason::ExitReason;
use axebpf_core::record::event;
use axebpf_core::runtime::ExecMode;
use axtrace_exporter::dump::DumpReader;
use axtrace_tools::record::{self, RecordConfig};

#[test]
fn recorded_exits_match_the_vmm_kind_by_kind() {
    if let Err(why) = axtrace_kvm::kvm_usable() {
        eprintln!("skipped: /dev/kvm not usable: {why}");
        return;
    }
    let output = std::env::temp_dir().join(format!("axtrace-record-{}.axdump", std::process::id()));
    let config = RecordConfig {
        vms: 1,
        vcpus: 2,
        mix: record::parse_mix(
            "io=30,mmio=20,hole=10,hlt=10,msr=10,hypercall=5,kick=10,fail=5",
            400,
        )
        .unwrap(),
        working_set: 16,
        ring_capacity: 1 << 12,
        output: output.clone(),
        mode: ExecMode::Jit,
        synthetic: false,
    };
    let summary = record::record(&config).unwrap();
    assert!(summary.run.ok(), "{}", summary.run.summary());
    assert_eq!(summary.dropped, 0);

    // The handler saw every exit but each vCPU's last (the exit-port write, never re-entered).
    let mut vmm = summary.run.counted_for_vm(1);
    assert_eq!(vmm.get(&ExitReason::FailEntry), Some(&(2 * 20)));
    *vmm.get_mut(&ExitReason::IoWrite).unwrap() -= 2;
    assert_eq!(record::measured_by_reason(&summary), vmm);

    // The dump holds one record per measured exit, by vCPU and reason.
    let mut reader = DumpReader::open(std::fs::File::open(&output).unwrap()).unwrap();
    assert_eq!(reader.metadata().reason_name(9), "NestedPageFault");
    assert!(
        reader.metadata().host.contains("emulated") || reader.metadata().host.contains("hardware")
    );
    let mut in_dump: BTreeMap<ExitReason, u64> = BTreeMap::new();
    let mut records = 0;
    while let Some(chunk) = reader.next_chunk() {
        for r in &chunk.records {
            assert_eq!(r.event, event::VM_EXIT);
            assert_eq!((r.vm, r.vcpu), (1, chunk.ring));
            *in_dump.entry(ExitReason::from_code(r.code)).or_insert(0) += 1;
            records += 1;
        }
    }
    assert_eq!(reader.stop(), None);
    assert_eq!(records, summary.records);
    assert_eq!(in_dump, vmm);
    let _ = std::fs::remove_file(&output);
}

#[test]
fn a_bad_mix_is_refused_by_name() {
    assert!(
        record::parse_mix("io=50,mmio=40", 100)
            .unwrap_err()
            .to_string()
            .contains("add up to 90")
    );
    assert!(
        record::parse_mix("io=50,disk=50", 100)
            .unwrap_err()
            .to_string()
            .contains("unknown kind `disk`")
    );
    assert!(
        record::parse_mix("io=fifty", 100)
            .unwrap_err()
            .to_string()
            .contains("fifty")
    );
}

#[test]
fn with_tiny_rings_every_exit_is_a_record_or_a_counted_drop() {
    if let Err(why) = axtrace_kvm::kvm_usable() {
        eprintln!("skipped: /dev/kvm not usable: {why}");
        return;
    }
    let output =
        std::env::temp_dir().join(format!("axtrace-record-tiny-{}.axdump", std::process::id()));
    // 4 vCPUs on 2 cores, 8-record rings: the drain cannot keep up, so rings drop.
    let config = RecordConfig {
        vms: 2,
        vcpus: 2,
        mix: record::parse_mix("io=40,mmio=30,hlt=10,hypercall=10,kick=10", 1000).unwrap(),
        working_set: 8,
        ring_capacity: 8,
        output: output.clone(),
        mode: ExecMode::Jit,
        synthetic: false,
    };
    let summary = record::record(&config).unwrap();
    let measured: u64 = record::measured_by_reason(&summary).values().sum();
    assert_eq!(
        summary.records + summary.dropped,
        measured,
        "every emitted record is in the dump or dropped"
    );
    let mut reader = DumpReader::open(std::fs::File::open(&output).unwrap()).unwrap();
    let (mut records, mut dropped) = (0u64, 0u64);
    while let Some(chunk) = reader.next_chunk() {
        records += chunk.records.len() as u64;
        dropped += chunk.dropped;
    }
    assert_eq!(
        (records, dropped),
        (summary.records, summary.dropped),
        "the dump carries the drops"
    );
    let _ = std::fs::remove_file(&output);
}

#[test]
fn the_synthetic_source_drives_the_same_pipeline_and_says_so() {
    let output = std::env::temp_dir().join(format!(
        "axtrace-record-synth-{}.axdump",
        std::process::id()
    ));
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
        output: output.clone(),
        mode: ExecMode::Interpreter,
        synthetic: true,
    };
    let summary = record::record(&config).unwrap();
    assert!(summary.run.ok(), "{}", summary.run.summary());
    assert!(summary.run.backend.contains("synthetic"));
    assert!(record::render(&summary).starts_with("SYNTHETIC exits, no VM ran"));
    let mut vmm = summary.run.counted_for_vm(1);
    for (reason, n) in summary.run.counted_for_vm(2) {
        *vmm.entry(reason).or_insert(0) += n;
    }
    *vmm.get_mut(&ExitReason::IoWrite).unwrap() -= 4;
    assert_eq!(record::measured_by_reason(&summary), vmm);
    let reader = DumpReader::open(std::fs::File::open(&output).unwrap()).unwrap();
    assert!(
        reader.metadata().host.contains("synthetic"),
        "the dump says so too"
    );
    let _ = std::fs::remove_file(&output);
}

#[test]
fn durations_parse_and_bad_ones_are_named() {
    use std::time::Duration;
    assert_eq!(
        record::parse_duration("5s").unwrap(),
        Duration::from_secs(5)
    );
    assert_eq!(
        record::parse_duration("500ms").unwrap(),
        Duration::from_millis(500)
    );
    assert_eq!(
        record::parse_duration("2m").unwrap(),
        Duration::from_secs(120)
    );
    assert_eq!(
        record::parse_duration("1.5").unwrap(),
        Duration::from_millis(1500)
    );
    assert!(
        record::parse_duration("5h")
            .unwrap_err()
            .to_string()
            .contains("unknown unit `h`")
    );
    assert!(
        record::parse_duration("fast")
            .unwrap_err()
            .to_string()
            .contains("fast")
    );
    assert!(
        record::parse_duration("0s")
            .unwrap_err()
            .to_string()
            .contains("positive")
    );
}
