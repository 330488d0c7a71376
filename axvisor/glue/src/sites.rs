//! The tracepoint sites axvm calls (through the axvm patch), and the list of their code
//! addresses for `trace sites`.
//!
//! Each function is `#[inline(always)]` around a `trace_vmm_*!` macro, so the static-key site
//! (one NOP while disabled) lands in axvm's own code where the call is.

use alloc::vec::Vec;

use axebpf_core::exit_reason::ExitReason;
use axebpf_core::tracepoint::{self, ExitDetail, keys};

/// `vmm:vcpu_run_enter`, just before the world switch into the guest.
#[inline(always)]
pub fn vcpu_run_enter(vm: usize, vcpu: usize) {
    axebpf_core::trace_vmm_vcpu_run_enter!(vm, vcpu);
}

/// `vmm:vcpu_run_exit`, just after the world switch back, with the exit's reason and details
/// (converted only when the tracepoint is enabled).
#[inline(always)]
pub fn vcpu_run_exit<D>(vm: usize, vcpu: usize, detail: D)
where
    ExitDetail: From<D>,
{
    axebpf_core::trace_vmm_vcpu_run_exit!(vm, vcpu, detail);
}

/// `vmm:hypercall`, where axvm handles an `hvc` (PSCI included).
#[inline(always)]
pub fn hypercall(nr: u64, args: &[u64; 6]) {
    axebpf_core::trace_vmm_hypercall!(nr, args[0], args[1], args[2], args[3]);
}

/// `vmm:mmio_read`, once a device answered a guest read.
#[inline(always)]
pub fn mmio_read(gpa: usize, width_bytes: usize, value: u64) {
    axebpf_core::trace_vmm_mmio_read!(gpa, width_bytes, value);
}

/// `vmm:mmio_write`, once a device took a guest write.
#[inline(always)]
pub fn mmio_write(gpa: usize, width_bytes: usize, value: u64) {
    axebpf_core::trace_vmm_mmio_write!(gpa, width_bytes, value);
}

/// `vmm:ept_violation` (stage-2 fault): a guest access no device and no memory backs.
#[inline(always)]
pub fn stage2_fault(gpa: usize, is_write: bool) {
    // Access flags as Linux's EPT qualification has them: bit 0 read, bit 1 write.
    axebpf_core::trace_vmm_ept_violation!(gpa, if is_write { 2u32 } else { 1u32 });
}

/// `vmm:irq_inject`, when a virtual interrupt is queued for a vCPU.
#[inline(always)]
pub fn irq_inject(vector: usize) {
    axebpf_core::trace_vmm_irq_inject!(vector);
}

/// `vmm:vcpu_sched`: the vCPU's task starts (`true`) or stops (`false`) running on `pcpu`.
#[inline(always)]
pub fn vcpu_sched(running: bool, pcpu: usize) {
    axebpf_core::trace_vmm_vcpu_sched!(running, pcpu);
}

/// The exit reason of an `hvc` with function id `nr`: PSCI's CPU and system power calls have
/// their own (the seed's table), every other call is a Hypercall.
pub fn hypercall_reason(nr: u64) -> ExitReason {
    match nr {
        0x8400_0003 | 0xc400_0003 => ExitReason::CpuUp,
        0x8400_0002 => ExitReason::CpuDown,
        0x8400_0008 | 0x8400_0009 => ExitReason::SystemDown,
        _ => ExitReason::Hypercall,
    }
}

/// One static-key site: where it is and which tracepoint it belongs to.
pub struct Site {
    /// `vmm:<name>`.
    pub tracepoint: &'static str,
    /// The patched instruction's address.
    pub code: usize,
}

unsafe extern "C" {
    // The jump-entry table static-keys keeps in the `__static_keys` section; the linker
    // defines these two around it.
    static __start___static_keys: [usize; 3];
    static __stop___static_keys: [usize; 3];
}

/// Every site of the eight tracepoints, by address.
///
/// Reads the section as static-keys 0.8.2 lays it out: `(code, target, key | likely-bit)` per
/// entry, made absolute by `static_keys::global_init` (called first).
pub fn all() -> Vec<Site> {
    tracepoint::__static_keys::global_init();
    let names: Vec<(usize, &'static str)> = tracepoint::ALL
        .iter()
        .zip(key_addresses())
        .map(|(tp, key)| (key, tp.name))
        .collect();
    // SAFETY: the linker-defined bounds of one section of `[usize; 3]` entries.
    let entries = unsafe {
        let start = &raw const __start___static_keys;
        let stop = &raw const __stop___static_keys;
        core::slice::from_raw_parts(start, stop.offset_from(start) as usize)
    };
    let mut sites: Vec<Site> = entries
        .iter()
        .filter(|[code, _, _]| *code != 0)
        .filter_map(|[code, _, key]| {
            let key = key & !1;
            names.iter().find(|(k, _)| *k == key).map(|(_, name)| Site {
                tracepoint: name,
                code: *code,
            })
        })
        .collect();
    sites.sort_by_key(|s| s.code);
    sites
}

/// The keys' addresses in `tracepoint::ALL` order.
fn key_addresses() -> [usize; 8] {
    [
        &keys::VCPU_RUN_ENTER as *const _ as usize,
        &keys::VCPU_RUN_EXIT as *const _ as usize,
        &keys::HYPERCALL as *const _ as usize,
        &keys::MMIO_READ as *const _ as usize,
        &keys::MMIO_WRITE as *const _ as usize,
        &keys::EPT_VIOLATION as *const _ as usize,
        &keys::IRQ_INJECT as *const _ as usize,
        &keys::VCPU_SCHED as *const _ as usize,
    ]
}
