//! `examples/kvmexit`, a handler written the way bcc and libbpf-tools write them (struct keys,
//! `__sync_fetch_and_add` on a shared hash from two vCPUs at once, a `static __noinline`
//! function with a bounded loop, a log2 histogram), loads unmodified — verified — in both
//! modes, and after a run of real VM exits its maps hold exactly what the VMM counted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axebpf_core::exit_reason::ExitReason;
use axebpf_core::object::LoadedObject;
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::runtime::ExecMode;
use axebpf_core::tracepoint::{AttachedProgram, VCPU_RUN_ENTER, VCPU_RUN_EXIT};
use axtrace_kvm::{Config, Mix, kvm_usable, run};

const KVMEXIT: &[u8] = include_bytes!("../../../examples/kvmexit/kvmexit.bpf.o");

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(bytes[offset..offset + 8].try_into().unwrap())
}

/// The `exits` map: (vm, reason) → count.
fn exits_by_reason(object: &LoadedObject, vm: u16) -> BTreeMap<ExitReason, u64> {
    let exits = object.map("exits").expect("the exits map");
    ExitReason::ALL
        .into_iter()
        .filter_map(|reason| {
            let key = [u32::from(vm).to_le_bytes(), reason.code().to_le_bytes()].concat();
            let values = exits.read_per_cpu(&key)?;
            Some((reason, u64_at(&values[0], 0)))
        })
        .collect()
}

/// The `hists` map's slots for `vm`.
fn histogram(object: &LoadedObject, vm: u16) -> Vec<u64> {
    let hists = object.map("hists").expect("the hists map");
    let value = hists
        .read_per_cpu(&u32::from(vm % 64).to_le_bytes())
        .expect("an array has every index")
        .remove(0);
    (0..32).map(|slot| u64_at(&value, slot * 8)).collect()
}

#[test]
fn the_bcc_style_example_counts_every_exit_in_both_modes() {
    if let Err(why) = kvm_usable() {
        println!("skipped: /dev/kvm not usable: {why}");
        return;
    }
    HostPlatform::install();
    for (mode, vm_id) in [(ExecMode::Jit, 21), (ExecMode::Interpreter, 22)] {
        let object = Arc::new(LoadedObject::load(KVMEXIT, mode).expect("kvmexit loads"));
        VCPU_RUN_EXIT.attach(Arc::new(
            AttachedProgram::new("kvmexit".into(), object.clone(), 0).unwrap(),
        ));
        VCPU_RUN_ENTER.attach(Arc::new(
            AttachedProgram::new("kvmexit".into(), object.clone(), 1).unwrap(),
        ));
        VCPU_RUN_EXIT.set_enabled(true).unwrap();
        VCPU_RUN_ENTER.set_enabled(true).unwrap();
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
        VCPU_RUN_ENTER.set_enabled(false).unwrap();
        VCPU_RUN_EXIT.detach("kvmexit").unwrap();
        VCPU_RUN_ENTER.detach("kvmexit").unwrap();
        let report = report.unwrap();
        println!("{mode}: {}", report.summary());

        // Both vCPUs add into the same (VM, reason) values: atomic adds lose nothing.
        let by_vmm = report.counted_for_vm(vm_id);
        assert_eq!(exits_by_reason(&object, vm_id), by_vmm, "{mode}: exits");
        // Every exit but each vCPU's last (the exit port: no entry follows) is timed once.
        let exits: u64 = by_vmm.values().sum();
        let slots = histogram(&object, vm_id);
        println!("{mode}: latency log2 slots {slots:?}");
        assert_eq!(
            slots.iter().sum::<u64>(),
            exits - report.vcpus.len() as u64,
            "{mode}: histogram total"
        );
    }
}
