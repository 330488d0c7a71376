//! Real VM exits on `/dev/kvm` (skipped, saying why, where it is not usable): the VMM's counts
//! equal the script's kind by kind, the guest stored what the VMM supplied, an `exit_count`
//! eBPF handler on `vmm:vcpu_run_exit` agrees, and a hung guest becomes a deadline error.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axebpf_core::exit_reason::ExitReason;
use axebpf_core::object::LoadedObject;
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::runtime::ExecMode;
use axebpf_core::tracepoint::{AttachedProgram, VCPU_RUN_EXIT};
use axtrace_kvm::{Config, Error, Mix, kvm_usable, run};

const EXIT_COUNT: &[u8] = include_bytes!("../../../axebpf-core/bpf/exit_count.bpf.o");

fn usable() -> bool {
    match kvm_usable() {
        Ok(()) => true,
        Err(why) => {
            println!("skipped: /dev/kvm not usable: {why}");
            false
        }
    }
}

/// Exits `exit_count` counted for (vm, reason), summed over CPUs.
fn counted_by_handler(object: &LoadedObject, vm: u16, reason: ExitReason) -> u64 {
    let key = [u32::from(vm).to_le_bytes(), reason.code().to_le_bytes()].concat();
    object
        .map("exit_counts")
        .expect("exit_counts map")
        .read_per_cpu(&key)
        .map_or(0, |values| {
            values
                .iter()
                .map(|v| u64::from_le_bytes(v[..8].try_into().unwrap()))
                .sum()
        })
}

#[test]
fn counts_results_and_the_ebpf_handler_agree() {
    if !usable() {
        return;
    }
    HostPlatform::install();
    let object = Arc::new(LoadedObject::load(EXIT_COUNT, ExecMode::Jit).unwrap());
    VCPU_RUN_EXIT.attach(Arc::new(
        AttachedProgram::new("count".into(), object.clone(), 0).unwrap(),
    ));
    VCPU_RUN_EXIT.set_enabled(true).unwrap();
    let vm_id = 41;
    let config = Config {
        vms: 1,
        vcpus: 2,
        mix: Mix::small(),
        working_set: 8,
        deadline: Duration::from_secs(8),
        first_vm_id: vm_id,
    };
    let report = run(&config);
    VCPU_RUN_EXIT.set_enabled(false).unwrap();
    VCPU_RUN_EXIT.detach("count").unwrap();
    let report = report.unwrap();
    println!("{}", report.summary());

    for v in &report.vcpus {
        assert_eq!(v.counted, v.expected, "VM {} vCPU {}", v.vm, v.vcpu);
        assert!(
            v.results.done,
            "VM {} vCPU {}: no done marker",
            v.vm, v.vcpu
        );
        assert!(v.results.checked > 0);
        assert_eq!(v.results.mismatches, vec![], "VM {} vCPU {}", v.vm, v.vcpu);
    }
    let expected_kinds: Vec<ExitReason> = report.vcpus[0].expected.keys().copied().collect();
    let mut want = vec![
        ExitReason::Hypercall,
        ExitReason::MmioRead,
        ExitReason::MmioWrite,
        ExitReason::IoRead,
        ExitReason::IoWrite,
        ExitReason::ExternalInterrupt,
        ExitReason::NestedPageFault,
        ExitReason::Halt,
        ExitReason::CpuUp,
        ExitReason::CpuDown,
        ExitReason::SystemDown,
        ExitReason::Nothing,
        ExitReason::SendIpi,
        ExitReason::FailEntry,
    ];
    if report.msr_forwarding {
        want.extend([ExitReason::SysRegRead, ExitReason::SysRegWrite]);
    }
    want.sort();
    assert_eq!(expected_kinds, want);
    if report.msr_forwarding {
        assert_eq!(want.len(), 16, "all 16 reasons of the seed's table reached");
    }

    let by_vmm = report.counted_for_vm(vm_id);
    let by_handler: BTreeMap<ExitReason, u64> = ExitReason::ALL
        .into_iter()
        .map(|r| (r, counted_by_handler(&object, vm_id, r)))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(
        by_handler, by_vmm,
        "the eBPF handler's map vs the VMM's counts"
    );
}

#[test]
fn several_vms_with_a_wide_working_set() {
    if !usable() {
        return;
    }
    let config = Config {
        vms: 2,
        vcpus: 2,
        mix: Mix::small().without_msrs(),
        working_set: 512,
        deadline: Duration::from_secs(8),
        first_vm_id: 60,
    };
    let report = run(&config).unwrap();
    println!("{}", report.summary());
    assert_eq!(report.vcpus.len(), 4);
    assert!(report.ok());
}

#[test]
fn a_guest_that_never_finishes_is_kicked_at_its_deadline() {
    if !usable() {
        return;
    }
    let config = Config {
        mix: Mix {
            io_out: 3,
            spin: true,
            ..Mix::default()
        },
        deadline: Duration::from_millis(300),
        first_vm_id: 80,
        ..Config::default()
    };
    let started = std::time::Instant::now();
    let err = run(&config).unwrap_err();
    println!("{err} after {:?}", started.elapsed());
    assert!(matches!(err, Error::Deadline { vm: 80, vcpu: 0 }), "{err}");
}

#[test]
fn an_unemulatable_mmio_access_is_a_fail_entry_exit_and_the_guest_goes_on() {
    if !usable() {
        return;
    }
    let config = Config {
        mix: Mix {
            io_out: 2,
            unemulated: 3,
            ..Mix::default()
        },
        first_vm_id: 90,
        ..Config::default()
    };
    let report = run(&config).unwrap();
    println!("{}", report.summary());
    let vcpu = &report.vcpus[0];
    assert_eq!(vcpu.counted.get(&ExitReason::FailEntry), Some(&3));
    assert!(report.ok());
}
