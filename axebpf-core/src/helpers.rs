//! Helper functions callable from eBPF programs, numbered as Linux numbers them where Linux has
//! the helper, and the hypervisor's own above Linux's range.
//!
//! The VM calls a helper as `extern "C" fn(r1, r2, r3, r4, r5) -> r0` with no context pointer,
//! so helpers reach the hypervisor through the installed
//! [`Platform`](crate::platform::Platform) and maps through their [`registry`](crate::registry)
//! handles. The interpreter and JIT-compiled code call the same function: the JIT keeps the
//! stack 16-byte aligned at every call, as the C ABI requires.

use crate::maps::{MapType, errno};
use crate::platform::{self, EmitError};
use crate::record::{RECORD_SIZE, Record};
use crate::{registry, trace_log};

/// The signature the VM calls (the C ABI, for the JIT's direct calls).
pub type HelperFn = axebpf_vm::Helper;

/// A helper as the runtime registers it.
#[derive(Debug, Clone, Copy)]
pub struct Helper {
    /// The id programs call it by (`call imm`).
    pub id: u32,
    /// Its name, for messages and listings.
    pub name: &'static str,
    /// The function itself, for both modes.
    pub call: HelperFn,
}

/// Defines a `static` [`Helper`] for a function `fn(u64, u64, u64, u64, u64) -> u64`, giving it
/// the C ABI entry point the VM calls.
#[macro_export]
macro_rules! define_helper {
    ($(#[$meta:meta])* $vis:vis static $name:ident = ($id:expr, $label:literal, $func:path)) => {
        $(#[$meta])*
        $vis static $name: $crate::helpers::Helper = {
            extern "C" fn entry(a: u64, b: u64, c: u64, d: u64, e: u64) -> u64 {
                $func(a, b, c, d, e)
            }
            $crate::helpers::Helper {
                id: $id,
                name: $label,
                call: entry,
            }
        };
    };
}

/// Linux: `void *bpf_map_lookup_elem(map, key)`.
pub const MAP_LOOKUP_ELEM: u32 = 1;
/// Linux: `long bpf_map_update_elem(map, key, value, flags)`.
pub const MAP_UPDATE_ELEM: u32 = 2;
/// Linux: `long bpf_map_delete_elem(map, key)`.
pub const MAP_DELETE_ELEM: u32 = 3;
/// Linux: `long bpf_trace_printk(fmt, fmt_size, ...)` (three arguments at most).
pub const TRACE_PRINTK: u32 = 6;
/// Linux: `long bpf_perf_event_output(ctx, map, flags, data, size)`.
pub const PERF_EVENT_OUTPUT: u32 = 25;
/// Linux's `BPF_F_CURRENT_CPU`: the only `perf_event_output` flag accepted.
pub const BPF_F_CURRENT_CPU: u64 = 0xffff_ffff;
/// `ENOSPC`: what `perf_event_output` returns when the ring is full (as Linux's perf buffer).
const ENOSPC: i64 = 28;
/// Longest format string `trace_printk` accepts.
pub const MAX_PRINTK_FMT: u64 = 256;

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
    current_cpu() as u64
}

fn get_current_vm_id(_: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    platform::installed().map_or(0, |p| u64::from(p.current_vm()))
}

fn get_current_vcpu_id(_: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    platform::installed().map_or(0, |p| u64::from(p.current_vcpu()))
}

fn negative(errno: i64) -> u64 {
    (-errno) as u64
}

fn current_cpu() -> usize {
    platform::installed().map_or(0, |p| p.current_cpu() as usize)
}

/// The `len` bytes at `ptr`, if `ptr` is not null.
///
/// # Safety
/// `ptr`, when not null, must point at `len` readable bytes for the duration of the call (the
/// verifier's guarantee about the program's argument).
unsafe fn program_bytes<'a>(ptr: u64, len: u32) -> Option<&'a [u8]> {
    // SAFETY: non-null, and readable for `len` bytes by the caller's contract.
    (ptr != 0).then(|| unsafe { core::slice::from_raw_parts(ptr as *const u8, len as usize) })
}

fn map_lookup_elem(handle: u64, key: u64, _: u64, _: u64, _: u64) -> u64 {
    let Some(map) = registry::lookup(handle) else {
        return 0;
    };
    // SAFETY: `key` is the program's pointer to `key_size` bytes (verifier's guarantee).
    let Some(key) = (unsafe { program_bytes(key, map.spec().key_size) }) else {
        return 0;
    };
    // Shared maps ignore the CPU: ask the platform only when it matters.
    let cpu = if map.is_per_cpu() { current_cpu() } else { 0 };
    map.lookup(key, cpu)
        .map_or(0, |value| value.as_ptr() as u64)
}

fn map_update_elem(handle: u64, key: u64, value: u64, flags: u64, _: u64) -> u64 {
    let Some(map) = registry::lookup(handle) else {
        return negative(errno::EINVAL);
    };
    let spec = map.spec();
    // SAFETY: `key` and `value` are the program's pointers to `key_size` / `value_size` bytes.
    let (Some(key), Some(value)) = (unsafe {
        (
            program_bytes(key, spec.key_size),
            program_bytes(value, spec.value_size),
        )
    }) else {
        return negative(errno::EINVAL);
    };
    match map.update(key, value, flags, current_cpu()) {
        Ok(()) => 0,
        Err(error) => error.errno() as u64, // already negative
    }
}

fn map_delete_elem(handle: u64, key: u64, _: u64, _: u64, _: u64) -> u64 {
    let Some(map) = registry::lookup(handle) else {
        return negative(errno::EINVAL);
    };
    // SAFETY: `key` is the program's pointer to `key_size` bytes.
    let Some(key) = (unsafe { program_bytes(key, map.spec().key_size) }) else {
        return negative(errno::EINVAL);
    };
    match map.delete(key, current_cpu()) {
        Ok(()) => 0,
        Err(error) => error.errno() as u64, // already negative
    }
}

fn perf_event_output(_ctx: u64, handle: u64, flags: u64, data: u64, size: u64) -> u64 {
    let Some(map) = registry::lookup(handle) else {
        return negative(errno::EINVAL);
    };
    if map.map_type() != MapType::PerfEventArray
        || flags != BPF_F_CURRENT_CPU
        || size != RECORD_SIZE as u64
        || data == 0
    {
        return negative(errno::EINVAL);
    }
    // SAFETY: `data` is the program's pointer to `size` (= 32) readable bytes; the record may be
    // unaligned on the program's stack, hence the unaligned read.
    let record = unsafe { (data as *const Record).read_unaligned() };
    let Some(platform) = platform::installed() else {
        return negative(errno::ENOENT);
    };
    match platform.emit_record(&record) {
        Ok(()) => 0,
        Err(EmitError::Full) => negative(ENOSPC),
        Err(EmitError::NoRing) => negative(errno::ENOENT),
    }
}

fn trace_printk(fmt: u64, fmt_size: u64, a: u64, b: u64, c: u64) -> u64 {
    if fmt == 0 || fmt_size == 0 || fmt_size > MAX_PRINTK_FMT {
        return negative(errno::EINVAL);
    }
    // SAFETY: `fmt` is the program's pointer to `fmt_size` readable bytes (bounded above).
    let fmt = unsafe { core::slice::from_raw_parts(fmt as *const u8, fmt_size as usize) };
    let mut line = [0u8; trace_log::LINE_BYTES];
    let len = trace_log::format(fmt, [a, b, c], &mut line);
    let now = platform::installed().map_or(0, |p| p.monotonic_ns());
    if trace_log::write(&line[..len], now) {
        len as u64
    } else {
        negative(errno::EBUSY)
    }
}

define_helper!(
    /// `bpf_map_lookup_elem`: a pointer to the value (this CPU's copy for per-CPU maps) or NULL.
    pub static MAP_LOOKUP_ELEM_HELPER = (MAP_LOOKUP_ELEM, "map_lookup_elem", map_lookup_elem)
);
define_helper!(
    /// `bpf_map_update_elem`: 0 or a negative errno.
    pub static MAP_UPDATE_ELEM_HELPER = (MAP_UPDATE_ELEM, "map_update_elem", map_update_elem)
);
define_helper!(
    /// `bpf_map_delete_elem`: 0 or a negative errno.
    pub static MAP_DELETE_ELEM_HELPER = (MAP_DELETE_ELEM, "map_delete_elem", map_delete_elem)
);
define_helper!(
    /// `bpf_perf_event_output` with `BPF_F_CURRENT_CPU` and a 32-byte record: into the current
    /// vCPU's ring. 0, or `-ENOSPC` (ring full, counted), `-ENOENT` (no ring), `-EINVAL`.
    pub static PERF_EVENT_OUTPUT_HELPER = (PERF_EVENT_OUTPUT, "perf_event_output", perf_event_output)
);
define_helper!(
    /// `bpf_trace_printk`: a formatted line in the trace log; its length, or `-EBUSY` when the
    /// rate limit suppressed it.
    pub static TRACE_PRINTK_HELPER = (TRACE_PRINTK, "trace_printk", trace_printk)
);

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

/// Every helper a handler may call.
pub static ALL_HELPERS: [&Helper; 9] = [
    &MAP_LOOKUP_ELEM_HELPER,
    &MAP_UPDATE_ELEM_HELPER,
    &MAP_DELETE_ELEM_HELPER,
    &KTIME_GET_NS_HELPER,
    &TRACE_PRINTK_HELPER,
    &GET_SMP_PROCESSOR_ID_HELPER,
    &PERF_EVENT_OUTPUT_HELPER,
    &GET_CURRENT_VM_ID_HELPER,
    &GET_CURRENT_VCPU_ID_HELPER,
];
