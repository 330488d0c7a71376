//! A synthetic exit source for machines without a usable `/dev/kvm`: no VM runs. Each vCPU
//! thread walks the same exit script the guest would and fires the same tracepoints with the
//! same details the real run loop would, so handlers, rings, the drain and the dump see the same
//! mix. Its report's backend says "synthetic" so no output passes it off as real exits.

use std::collections::BTreeMap;
use std::time::Instant;

use axebpf_core::exit_reason::ExitReason;
use axebpf_core::platform::host::HostPlatform;

use crate::exits::{self, KvmExit, exit_detail};
use crate::layout::{DEVICE_WINDOW, DONE_MAGIC, DOORBELL_PORT, EXIT_PORT};
use crate::report::{RunReport, VcpuReport};
use crate::script::{self, Entry, Kind};
use crate::{Config, Error};

/// The label every synthetic report carries.
pub const LABEL: &str = "synthetic (no VM runs; timings are not VM exits)";

/// The exit the guest would cause for `entry` (`None` for entries that cause none).
fn exit_for(entry: &Entry) -> Option<KvmExit> {
    let addr = u64::from(entry.arg);
    Some(match entry.kind {
        Kind::Out => KvmExit::IoOut {
            port: entry.arg as u16,
            width: 4,
            data: entry.value,
        },
        Kind::In => KvmExit::IoIn {
            port: entry.arg as u16,
            width: 4,
        },
        Kind::MmioWrite => KvmExit::MmioWrite {
            addr,
            width: 8,
            data: entry.value,
        },
        Kind::MmioRead => KvmExit::MmioRead { addr, width: 8 },
        Kind::Hlt => KvmExit::Hlt,
        Kind::RdMsr => KvmExit::RdMsr { index: entry.arg },
        Kind::WrMsr => KvmExit::WrMsr {
            index: entry.arg,
            data: entry.value,
        },
        Kind::Doorbell => KvmExit::IoOut {
            port: DOORBELL_PORT,
            width: 4,
            data: u64::from(entry.arg),
        },
        Kind::End => KvmExit::IoOut {
            port: EXIT_PORT,
            width: 4,
            data: 0,
        },
        Kind::Unemulated => KvmExit::InternalError,
        Kind::Spin => return None,
    })
}

/// Fires the tracepoints for one vCPU's script; returns what it counted.
fn walk(vm: u16, vcpu: u16, entries: &[Entry], kicks: u32) -> BTreeMap<ExitReason, u64> {
    let mut counted = BTreeMap::new();
    let guest_exits = entries.iter().filter(|e| exit_for(e).is_some()).count() as u64;
    let kick_every = (guest_exits / (u64::from(kicks) + 1)).max(1);
    let mut kicks_left = kicks;
    let mut fire = |exit: KvmExit, a0: Option<u64>| {
        axebpf_core::trace_vmm_vcpu_run_enter!(vm, vcpu);
        let mut detail = exit_detail(&exit);
        if let Some(a0) = a0 {
            detail.value = a0;
        }
        axebpf_core::trace_vmm_vcpu_run_exit!(vm, vcpu, detail);
        *counted.entry(detail.reason).or_insert(0) += 1;
        match exit {
            KvmExit::MmioRead { addr, width } if DEVICE_WINDOW.contains(&addr) => {
                axebpf_core::trace_vmm_mmio_read!(addr, width, exits::mmio_read_value(addr));
            }
            KvmExit::MmioWrite { addr, width, data } if DEVICE_WINDOW.contains(&addr) => {
                axebpf_core::trace_vmm_mmio_write!(addr, width, data);
            }
            KvmExit::IoOut { data, .. } if a0.is_some() => {
                axebpf_core::trace_vmm_hypercall!(data, a0.unwrap_or(0), 0, 0, 0);
            }
            _ => {}
        }
    };
    for (done, entry) in entries.iter().enumerate() {
        if kicks_left > 0 && done as u64 > 0 && (done as u64).is_multiple_of(kick_every) {
            kicks_left -= 1;
            fire(KvmExit::Interrupted, None);
        }
        if let Some(exit) = exit_for(entry) {
            let a0 = (entry.kind == Kind::Doorbell).then_some(entry.value);
            fire(exit, a0);
        }
    }
    for _ in 0..kicks_left {
        fire(KvmExit::Interrupted, None);
    }
    counted
}

/// [`crate::run_with`] without KVM: the same scripts, tracepoints and report, labelled
/// [`LABEL`].
pub fn run_with(config: &Config, on_start: &(dyn Fn(u16, u16) + Sync)) -> Result<RunReport, Error> {
    if config.vms == 0 || config.vcpus == 0 {
        return Err(Error::Config("at least one VM and one vCPU".into()));
    }
    HostPlatform::install();
    let start = Instant::now();
    let jobs: Vec<(u16, u16)> = (0..config.vms)
        .flat_map(|i| (0..config.vcpus).map(move |v| (config.first_vm_id.wrapping_add(i), v)))
        .collect();
    let reports = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|&(vm, vcpu)| {
                scope.spawn(move || {
                    HostPlatform::set_current_vcpu(vm, vcpu);
                    on_start(vm, vcpu);
                    let started = Instant::now();
                    let entries = script::generate(&config.mix, config.working_set, vm, vcpu);
                    let counted = walk(vm, vcpu, &entries, config.mix.kicks);
                    // What the guest would have stored: exactly what the VMM supplies.
                    let stored: Vec<u64> = entries
                        .iter()
                        .map(|e| script::expected_result(e).unwrap_or(0))
                        .collect();
                    VcpuReport {
                        vm,
                        vcpu,
                        expected: script::expected_counts(&entries, config.mix.kicks),
                        counted,
                        results: script::check_results(&entries, DONE_MAGIC, &stored),
                        startup: std::time::Duration::ZERO,
                        kvm_stats: None,
                        wall: started.elapsed(),
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .zip(&jobs)
            .map(|(h, &(vm, vcpu))| h.join().map_err(|_| Error::Panicked { vm, vcpu }))
            .collect::<Result<Vec<_>, _>>()
    })?;
    Ok(RunReport {
        backend: LABEL.into(),
        msr_forwarding: true,
        warnings: Vec::new(),
        vm_startup: std::time::Duration::ZERO,
        wall: start.elapsed(),
        vcpus: reports,
    })
}
