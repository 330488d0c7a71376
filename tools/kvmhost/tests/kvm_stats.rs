//! KVM's own binary statistics agree with the exits the run loop counted.
//!
//! Checked: `halt_exits` = Halt; `mmio_exits` = MmioRead + MmioWrite + NestedPageFault (the hole
//! is MMIO to KVM); `exits` ≥ every exit we saw except the kicks (an `immediate_exit` kick
//! returns from KVM_RUN before entering the guest, so KVM counts no exit for it; KVM also counts
//! exits it handles in the kernel, e.g. for host interrupts, which never reach us). Not checked:
//! `io_exits`, which the `kvm_pvm` backend leaves at 0 (measured) while IO exits reach user space.

use axebpf_core::exit_reason::ExitReason;
use axtrace_kvm::{Config, Mix};

#[test]
fn kvm_counts_the_same_exits_as_the_run_loop() {
    if let Err(why) = axtrace_kvm::kvm_usable() {
        eprintln!("skipped: /dev/kvm not usable: {why}");
        return;
    }
    let config = Config {
        vms: 1,
        vcpus: 2,
        mix: Mix::small().times(3),
        working_set: 8,
        deadline: std::time::Duration::from_secs(30),
        first_vm_id: 40,
    };
    let report = axtrace_kvm::run(&config).unwrap();
    assert!(report.ok(), "{}", report.summary());
    for vcpu in &report.vcpus {
        let Some(stats) = &vcpu.kvm_stats else {
            eprintln!("skipped: this KVM has no binary statistics (KVM_GET_STATS_FD)");
            return;
        };
        let n = |reason| vcpu.counted.get(&reason).copied().unwrap_or(0);
        assert_eq!(stats["halt_exits"], n(ExitReason::Halt), "{stats:?}");
        assert_eq!(
            stats["mmio_exits"],
            n(ExitReason::MmioRead) + n(ExitReason::MmioWrite) + n(ExitReason::NestedPageFault),
            "{stats:?}"
        );
        let all: u64 = vcpu.counted.values().sum();
        assert!(
            stats["exits"] >= all - n(ExitReason::ExternalInterrupt),
            "{stats:?}"
        );
    }
}
