//! Helper functions callable from eBPF programs, numbered as Linux numbers them where Linux has
//! the helper, and the hypervisor's own above Linux's range.
//!
//! rbpf calls a helper as `fn(r1, r2, r3, r4, r5) -> r0` with no context pointer, so helpers
//! reach the hypervisor through the installed [`Platform`](crate::platform::Platform).
//!
//! rbpf 0.4.1's JIT calls helpers with RSP misaligned by 8, so a helper whose compiled code keeps
//! 16-byte-aligned data on the stack (SSE `movaps`) would fault. On x86_64 every helper therefore
//! has a second entry point for the JIT: a naked shim that aligns the stack, calls the helper
//! through the System V ABI and restores the stack.

use crate::platform;

/// The signature rbpf calls.
pub type HelperFn = fn(u64, u64, u64, u64, u64) -> u64;

/// A helper as the runtime registers it.
#[derive(Debug, Clone, Copy)]
pub struct Helper {
    /// The id programs call it by (`call imm`).
    pub id: u32,
    /// Its name, for messages and listings.
    pub name: &'static str,
    /// The function itself (what the interpreter calls).
    pub call: HelperFn,
    /// The stack-aligning entry point for JIT-compiled code (x86_64 only).
    #[cfg(target_arch = "x86_64")]
    pub jit_entry: HelperFn,
}

/// Defines a `static` [`Helper`] for a function `fn(u64, u64, u64, u64, u64) -> u64`.
#[macro_export]
macro_rules! define_helper {
    ($(#[$meta:meta])* $vis:vis static $name:ident = ($id:expr, $label:literal, $func:path)) => {
        $(#[$meta])*
        $vis static $name: $crate::helpers::Helper = {
            #[cfg(target_arch = "x86_64")]
            extern "sysv64" fn sysv(a: u64, b: u64, c: u64, d: u64, e: u64) -> u64 {
                $func(a, b, c, d, e)
            }
            #[cfg(target_arch = "x86_64")]
            #[unsafe(naked)]
            extern "sysv64" fn aligned_entry() {
                // The five argument registers pass through untouched; rbp is saved because the
                // JIT keeps eBPF state in it.
                core::arch::naked_asm!(
                    "push rbp",
                    "mov rbp, rsp",
                    "and rsp, -16",
                    "call {target}",
                    "mov rsp, rbp",
                    "pop rbp",
                    "ret",
                    target = sym sysv,
                );
            }
            $crate::helpers::Helper {
                id: $id,
                name: $label,
                call: $func,
                #[cfg(target_arch = "x86_64")]
                // SAFETY: only the address is used: rbpf's JIT emits a direct call to it with the
                // System V argument registers, which is the ABI `aligned_entry` expects. The
                // pointer is never called through the Rust ABI (interpreter VMs get `call`).
                jit_entry: unsafe {
                    core::mem::transmute::<extern "sysv64" fn(), $crate::helpers::HelperFn>(aligned_entry)
                },
            }
        };
    };
}

/// Linux: `u64 bpf_ktime_get_ns(void)`.
pub const KTIME_GET_NS: u32 = 5;
/// Linux: `u32 bpf_get_smp_processor_id(void)`.
pub const GET_SMP_PROCESSOR_ID: u32 = 8;
/// axtrace: `u32 bpf_get_current_vm_id(void)` — above Linux's helper range.
pub const GET_CURRENT_VM_ID: u32 = 0x1000_0001;
/// axtrace: `u32 bpf_get_current_vcpu_id(void)` — above Linux's helper range.
pub const GET_CURRENT_VCPU_ID: u32 = 0x1000_0002;

fn ktime_get_ns(_: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    platform::installed().map_or(0, |p| p.monotonic_ns())
}

fn get_smp_processor_id(_: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    platform::installed().map_or(0, |p| u64::from(p.current_cpu()))
}

fn get_current_vm_id(_: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    platform::installed().map_or(0, |p| u64::from(p.current_vm()))
}

fn get_current_vcpu_id(_: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    platform::installed().map_or(0, |p| u64::from(p.current_vcpu()))
}

define_helper!(
    /// `bpf_ktime_get_ns`: the platform's monotonic clock.
    pub static KTIME_GET_NS_HELPER = (KTIME_GET_NS, "ktime_get_ns", ktime_get_ns)
);
define_helper!(
    /// `bpf_get_smp_processor_id`: the physical CPU.
    pub static GET_SMP_PROCESSOR_ID_HELPER = (GET_SMP_PROCESSOR_ID, "get_smp_processor_id", get_smp_processor_id)
);
define_helper!(
    /// `bpf_get_current_vm_id`: the VM whose vCPU runs here.
    pub static GET_CURRENT_VM_ID_HELPER = (GET_CURRENT_VM_ID, "get_current_vm_id", get_current_vm_id)
);
define_helper!(
    /// `bpf_get_current_vcpu_id`: the vCPU running here.
    pub static GET_CURRENT_VCPU_ID_HELPER = (GET_CURRENT_VCPU_ID, "get_current_vcpu_id", get_current_vcpu_id)
);

/// The helpers every program may call that need no maps.
pub static BASE_HELPERS: [&Helper; 4] = [
    &KTIME_GET_NS_HELPER,
    &GET_SMP_PROCESSOR_ID_HELPER,
    &GET_CURRENT_VM_ID_HELPER,
    &GET_CURRENT_VCPU_ID_HELPER,
];
