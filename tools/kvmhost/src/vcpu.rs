//! One vCPU thread: set up long mode, then the run loop, instrumented like AxVisor's
//! `AxVCpu::run()` (`trace_vmm_vcpu_run_enter!` before `KVM_RUN`, `trace_vmm_vcpu_run_exit!`
//! after it, `trace_vmm_mmio_*!` / `trace_vmm_hypercall!` where those are handled).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axebpf_core::exit_reason::ExitReason;
use axebpf_core::platform::host::HostPlatform;
use kvm_bindings::CpuId;
use kvm_ioctls::{VcpuExit, VcpuFd, VmFd};

use crate::Error;
use crate::exits::{self, KvmExit, exit_detail};
use crate::kick::{Kicker, set_immediate_exit};
use crate::layout::{CODE, DEVICE_WINDOW, DOORBELL_PORT, EXIT_PORT};

/// What one vCPU thread runs.
pub struct VcpuJob<'a> {
    /// The VM's id (in the tracepoints).
    pub vm: u16,
    /// The vCPU's id.
    pub vcpu: u16,
    /// Its VM.
    pub fd: &'a VmFd,
    /// The CPUID the guest sees.
    pub cpuid: &'a CpuId,
    /// The guest code loaded at [`CODE`] (the guest never writes it): the VMM decodes the
    /// instructions KVM cannot emulate from it.
    pub code: &'a [u8],
    /// GPA of its script.
    pub script: u64,
    /// GPA of its result area.
    pub results: u64,
    /// Called on the vCPU's thread before its first `KVM_RUN` (e.g. to hand it its record
    /// ring): `(vm, vcpu)`.
    pub on_start: &'a (dyn Fn(u16, u16) + Sync),
    /// Guest exits the script makes (kicks excluded).
    pub script_exits: u64,
    /// Planned kicks, spread evenly over the script.
    pub kicks: u32,
}

/// What the run loop counted.
#[derive(Debug, Default)]
pub struct VcpuOutcome {
    /// Exits by reason.
    pub counted: BTreeMap<ExitReason, u64>,
    /// vCPU creation and set-up.
    pub startup: Duration,
    /// From the first `KVM_RUN` to the exit port.
    pub wall: Duration,
    /// KVM's own counters for this vCPU after the run (`None` without binary stats).
    pub kvm_stats: Option<BTreeMap<&'static str, u64>>,
    /// Exits whose handling [`VcpuOutcome::handling`] timed (all but the last).
    pub handled_exits: u64,
    /// VMM-side handling time: from `KVM_RUN` returning to the next `KVM_RUN` call, summed.
    pub handling: Duration,
}

/// [`VcpuOutcome::handled_exits`] and [`VcpuOutcome::handling`] (ns) summed over every vCPU
/// run in this process, so a benchmark can read them around [`crate::run`].
static HANDLED_EXITS: AtomicU64 = AtomicU64::new(0);
static HANDLING_NS: AtomicU64 = AtomicU64::new(0);

/// `(exits, handling time)` of every vCPU run so far in this process: the VMM's own time per
/// exit, between `KVM_RUN` calls (tracepoints included when enabled). Monotonic; take the
/// difference around a run.
pub fn handling_totals() -> (u64, Duration) {
    (
        HANDLED_EXITS.load(Ordering::Relaxed),
        Duration::from_nanos(HANDLING_NS.load(Ordering::Relaxed)),
    )
}

fn kvm_err(what: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> Error {
    move |source| Error::Kvm { what, source }
}

/// Creates the vCPU and runs it until its script's end (or the deadline's kick).
pub fn run(job: &VcpuJob<'_>, kicker: &Kicker) -> Result<VcpuOutcome, Error> {
    HostPlatform::set_current_vcpu(job.vm, job.vcpu);
    (job.on_start)(job.vm, job.vcpu);
    let start = Instant::now();
    let mut vcpu = job
        .fd
        .create_vcpu(u64::from(job.vcpu))
        .map_err(kvm_err("KVM_CREATE_VCPU"))?;
    vcpu.set_cpuid2(job.cpuid)
        .map_err(kvm_err("KVM_SET_CPUID2"))?;
    let mut sregs = vcpu.get_sregs().map_err(kvm_err("KVM_GET_SREGS"))?;
    crate::guest::long_mode(&mut sregs);
    vcpu.set_sregs(&sregs).map_err(kvm_err("KVM_SET_SREGS"))?;
    vcpu.set_regs(&crate::guest::entry_regs(job.script, job.results))
        .map_err(kvm_err("KVM_SET_REGS"))?;
    let immediate_exit = &raw mut vcpu.get_kvm_run().immediate_exit;
    kicker.register(immediate_exit);
    let mut outcome = VcpuOutcome {
        startup: start.elapsed(),
        ..VcpuOutcome::default()
    };
    let result = run_loop(job, kicker, &mut vcpu, immediate_exit, &mut outcome);
    kicker.unregister();
    HANDLED_EXITS.fetch_add(outcome.handled_exits, Ordering::Relaxed);
    HANDLING_NS.fetch_add(outcome.handling.as_nanos() as u64, Ordering::Relaxed);
    outcome.kvm_stats = crate::stats::read(&vcpu);
    result.map(|()| outcome)
}

fn run_loop(
    job: &VcpuJob<'_>,
    kicker: &Kicker,
    vcpu: &mut VcpuFd,
    immediate_exit: *mut u8,
    outcome: &mut VcpuOutcome,
) -> Result<(), Error> {
    let (vm, id) = (job.vm, job.vcpu);
    let kick_at: Vec<u64> = (1..=u64::from(job.kicks))
        .map(|k| k * job.script_exits / (u64::from(job.kicks) + 1))
        .collect();
    let mut next_kick = 0;
    let mut guest_exits = 0u64;
    // The platform's clock (a calibrated TSC on x86 hosts) is cheaper than `Instant`.
    let clock = axebpf_core::platform::installed();
    let now_ns = || clock.map_or(0, |c| c.monotonic_ns());
    let mut returned_at = None;
    let start = Instant::now();
    loop {
        if kick_at.get(next_kick).is_some_and(|&at| at <= guest_exits) {
            next_kick += 1;
            // SAFETY: the byte belongs to this thread's live vCPU's run page.
            unsafe { set_immediate_exit(immediate_exit, 1) };
        }
        axebpf_core::trace_vmm_vcpu_run_enter!(vm, id);
        if let Some(returned) = returned_at {
            outcome.handled_exits += 1;
            outcome.handling += Duration::from_nanos(now_ns().saturating_sub(returned));
        }
        let run = vcpu.run();
        returned_at = Some(now_ns());
        let exit = match run {
            Ok(mut exit) => respond(&mut exit),
            Err(e) if e.errno() == libc::EINTR => KvmExit::Interrupted,
            Err(source) => {
                return Err(Error::Kvm {
                    what: "KVM_RUN",
                    source,
                });
            }
        };
        let mut detail = exit_detail(&exit);
        let doorbell_a0 = match exit {
            KvmExit::IoOut { port, .. } if port == DOORBELL_PORT => {
                Some(vcpu.get_regs().map_err(kvm_err("KVM_GET_REGS"))?.rbx)
            }
            _ => None,
        };
        if let Some(a0) = doorbell_a0 {
            detail.value = a0;
        }
        axebpf_core::trace_vmm_vcpu_run_exit!(vm, id, detail);
        *outcome.counted.entry(detail.reason).or_insert(0) += 1;
        match exit {
            KvmExit::Interrupted => {
                // SAFETY: as above.
                unsafe { set_immediate_exit(immediate_exit, 0) };
                if kicker.was_kicked() {
                    outcome.wall = start.elapsed();
                    return Err(Error::Deadline { vm, vcpu: id });
                }
                continue;
            }
            KvmExit::MmioRead { addr, width } if DEVICE_WINDOW.contains(&addr) => {
                axebpf_core::trace_vmm_mmio_read!(addr, width, exits::mmio_read_value(addr));
            }
            KvmExit::MmioWrite { addr, width, data } if DEVICE_WINDOW.contains(&addr) => {
                axebpf_core::trace_vmm_mmio_write!(addr, width, data);
            }
            KvmExit::IoOut { port, .. } if port == EXIT_PORT => {
                outcome.wall = start.elapsed();
                return Ok(());
            }
            KvmExit::IoOut { data, .. } if doorbell_a0.is_some() => {
                axebpf_core::trace_vmm_hypercall!(data, doorbell_a0.unwrap_or(0), 0, 0, 0);
            }
            KvmExit::InternalError | KvmExit::FailEntry { .. }
                if skip_unemulated(vcpu, job.code)? => {}
            KvmExit::Shutdown
            | KvmExit::SystemEvent { .. }
            | KvmExit::FailEntry { .. }
            | KvmExit::InternalError
            | KvmExit::MemoryFault { .. }
            | KvmExit::Hypercall { .. }
            | KvmExit::Other { .. } => {
                let rip = vcpu.get_regs().map(|r| r.rip).unwrap_or(0);
                return Err(Error::Guest {
                    vm,
                    vcpu: id,
                    what: format!(
                        "unexpected exit {exit:?} ({}) at rip {rip:#x}",
                        detail.reason
                    ),
                });
            }
            _ => {}
        }
        guest_exits += 1;
    }
}

/// After `KVM_EXIT_INTERNAL_ERROR` (or `FAIL_ENTRY`): when the vCPU stopped at the script's
/// deliberately unemulatable instruction (`crc32` on a hole GPA, see
/// [`crate::script::Kind::Unemulated`]), moves `rip` past it, as a VMM that skips a faulting
/// instruction would, and says so; any other internal error stays fatal.
fn skip_unemulated(vcpu: &VcpuFd, code: &[u8]) -> Result<bool, Error> {
    let mut regs = vcpu.get_regs().map_err(kvm_err("KVM_GET_REGS"))?;
    let Some(offset) = regs.rip.checked_sub(CODE).map(|o| o as usize) else {
        return Ok(false);
    };
    let Some(bytes) = code.get(offset..) else {
        return Ok(false);
    };
    let mut decoder =
        iced_x86::Decoder::with_ip(64, bytes, regs.rip, iced_x86::DecoderOptions::NONE);
    let instruction = decoder.decode();
    if instruction.is_invalid() || instruction.mnemonic() != iced_x86::Mnemonic::Crc32 {
        return Ok(false);
    }
    regs.rip = instruction.next_ip();
    vcpu.set_regs(&regs).map_err(kvm_err("KVM_SET_REGS"))?;
    Ok(true)
}

/// The owned exit, after supplying what the guest reads (IN, MMIO read, RDMSR).
fn respond(exit: &mut VcpuExit<'_>) -> KvmExit {
    let owned = KvmExit::from_vcpu_exit(exit);
    let fill = |data: &mut [u8], value: u64| {
        let bytes = value.to_le_bytes();
        let n = data.len().min(8);
        data[..n].copy_from_slice(&bytes[..n]);
    };
    match exit {
        VcpuExit::IoIn(port, data) => fill(data, u64::from(exits::io_in_value(*port))),
        VcpuExit::MmioRead(addr, data) => {
            let value = if DEVICE_WINDOW.contains(addr) {
                exits::mmio_read_value(*addr)
            } else {
                exits::hole_read_value(data.len() as u32)
            };
            fill(data, value);
        }
        VcpuExit::X86Rdmsr(msr) => {
            *msr.data = exits::msr_read_value(msr.index);
            *msr.error = 0;
        }
        VcpuExit::X86Wrmsr(msr) => *msr.error = 0,
        _ => {}
    }
    owned
}
