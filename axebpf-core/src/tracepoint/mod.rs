//! The VMM tracepoints: static keys (disabled = a patched-out jump), contexts, attached eBPF
//! programs and filters, and the `trace_vmm_*!` macros the hypervisor's code calls.
//!
//! * **Static keys.** Each tracepoint's site is `static_keys::static_branch_unlikely!` on a key
//!   whose code manipulator is [`TextPatcher`]: enabling patches the site's NOP into a jump to a
//!   `#[cold]` out-of-line function, through [`Platform::patch_text`](crate::platform::Platform::patch_text).
//!   A disabled site costs a NOP and no call.
//! * **Attach without stopping vCPUs.** A tracepoint's filter and program list live in an
//!   [`srcu::Srcu`] cell: a firing tracepoint reads it without locks or waiting; `attach` /
//!   `detach` / `set_filter` build a new list, swap it in and wait only for firings already in
//!   flight before dropping the old one.
//! * **Toggling keys** is serialised by one lock; the host's text patching replaces code pages
//!   atomically (see [`HostPlatform`](crate::platform::host::HostPlatform)), so vCPUs keep running.
//!
//! ktracepoint's `define_event_trace!` is not used for the sites; see the README's notes on
//! dependencies for the measured reasons. Its dependency static-keys provides the keys.

pub mod srcu;

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;
#[doc(hidden)]
pub use static_keys as __static_keys;
use static_keys::RawStaticFalseKey;

use crate::context::{self, Context, Field};
use crate::exit_reason::ExitReason;
use crate::filter::Filter;
use crate::object::LoadedObject;
use crate::platform::{self, PatchError};
use crate::spin::SpinLock;
use srcu::{SLOTS, Srcu};

/// Patches static-key sites through the installed platform.
pub struct TextPatcher;

impl static_keys::code_manipulate::CodeManipulator for TextPatcher {
    unsafe fn write_code<const L: usize>(addr: *mut core::ffi::c_void, data: &[u8; L]) {
        if let Some(platform) = platform::installed() {
            // SAFETY: static-keys passes a jump-entry site of this program and its replacement.
            // A failure leaves the old code in place; `set_enabled` checked the platform.
            let _ = unsafe { platform.patch_text(addr.cast(), data) };
        }
    }
}

/// The static keys, one per tracepoint (used by the `trace_vmm_*!` macros).
#[doc(hidden)]
pub mod keys {
    use super::{RawStaticFalseKey, TextPatcher};
    macro_rules! keys {
        ($($name:ident),*) => {$(
            #[used]
            #[allow(missing_docs)]
            pub static $name: RawStaticFalseKey<TextPatcher> =
                static_keys::new_static_false_key_generic::<TextPatcher>();
        )*};
    }
    keys!(
        VCPU_RUN_ENTER,
        VCPU_RUN_EXIT,
        HYPERCALL,
        MMIO_READ,
        MMIO_WRITE,
        EPT_VIOLATION,
        IRQ_INJECT,
        VCPU_SCHED
    );
}

/// A program attached to a tracepoint; keeps its object loaded.
pub struct AttachedProgram {
    /// Name it was loaded under.
    pub name: String,
    object: Arc<LoadedObject>,
    index: usize,
}

impl AttachedProgram {
    /// Program `index` of `object`, attached under `name`.
    pub fn new(name: String, object: Arc<LoadedObject>, index: usize) -> Option<Self> {
        (index < object.programs().len()).then_some(Self {
            name,
            object,
            index,
        })
    }

    fn program(&self) -> &crate::runtime::Program {
        &self.object.programs()[self.index].program
    }

    /// The program's execution mode.
    pub fn mode(&self) -> crate::runtime::ExecMode {
        self.program().mode()
    }

    /// Where its JIT code lives (start, length); `None` in the interpreter.
    pub fn jit_region(&self) -> Option<(usize, usize)> {
        self.program().jit_region()
    }

    /// The object it comes from.
    pub fn object(&self) -> &Arc<LoadedObject> {
        &self.object
    }
}

/// What a firing tracepoint reads: its filter and programs.
#[derive(Default)]
struct Attachments {
    filter: Option<Arc<Filter>>,
    programs: Vec<Arc<AttachedProgram>>,
}

/// Per-slot counters of one tracepoint.
#[derive(Default)]
struct Counters {
    /// Firings (the site was enabled and reached).
    hits: AtomicU64,
    /// Firings the filter rejected.
    filtered: AtomicU64,
    /// Program runs that failed (an interpreter fault).
    errors: AtomicU64,
}

/// A VMM tracepoint.
pub struct Tracepoint {
    /// `vmm`.
    pub system: &'static str,
    /// Name within the system (`vcpu_run_exit` …).
    pub name: &'static str,
    /// Its context's format.
    pub fields: &'static [Field],
    /// Its context's size in bytes.
    pub context_size: usize,
    key: &'static RawStaticFalseKey<TextPatcher>,
    /// The address of the site's out-of-line handler (`fire::*`), for `trace list`.
    handler: fn() -> usize,
    attachments: Srcu<Attachments>,
    counters: [CachePadded<Counters>; SLOTS],
}

/// Counters of a tracepoint, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TracepointStats {
    /// Firings (enabled site reached), filtered or not.
    pub hits: u64,
    /// Firings the filter rejected.
    pub filtered: u64,
    /// Failed program runs.
    pub errors: u64,
}

/// Why a tracepoint operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TracepointError {
    /// No such tracepoint.
    #[error("no tracepoint `{0}` (see `trace list`)")]
    Unknown(String),
    /// A program's ELF section does not name a VMM tracepoint.
    #[error("section `{0}` names no VMM tracepoint (tracepoint/vmm/NAME)")]
    NotATracepointSection(String),
    /// No platform to patch code with.
    #[error("no platform installed: call axebpf_core::platform::install first")]
    NoPlatform,
    /// Patching failed.
    #[error(transparent)]
    Patch(#[from] PatchError),
    /// No program of that name is attached.
    #[error("no program `{name}` is attached to {tracepoint}")]
    NotAttached {
        /// The program name.
        name: String,
        /// The tracepoint.
        tracepoint: String,
    },
}

/// Serialises static-key toggles.
static KEY_LOCK: SpinLock<()> = SpinLock::new(());

impl Tracepoint {
    const fn new<C: Context>(
        key: &'static RawStaticFalseKey<TextPatcher>,
        handler: fn() -> usize,
    ) -> Self {
        Self {
            system: "vmm",
            name: C::NAME,
            fields: C::FIELDS,
            context_size: core::mem::size_of::<C>(),
            key,
            handler,
            attachments: Srcu::new(),
            counters: [const {
                CachePadded::new(Counters {
                    hits: AtomicU64::new(0),
                    filtered: AtomicU64::new(0),
                    errors: AtomicU64::new(0),
                })
            }; SLOTS],
        }
    }

    /// `vmm:<name>`.
    pub fn full_name(&self) -> String {
        alloc::format!("{}:{}", self.system, self.name)
    }

    /// The run-time address of the site's out-of-line handler (what the patched jump reaches).
    pub fn handler_address(&self) -> usize {
        (self.handler)()
    }

    /// The context's format, one line per field: offset, size, name.
    pub fn format(&self) -> String {
        let mut out = alloc::format!("{} ({} bytes):\n", self.full_name(), self.context_size);
        for field in self.fields {
            out.push_str(&alloc::format!(
                "  offset {:>2}  size {}  {}\n",
                field.offset,
                field.size,
                field.name
            ));
        }
        out
    }

    /// Whether the static key is on.
    pub fn is_enabled(&self) -> bool {
        self.key.is_enabled()
    }

    /// Turns the site on or off by patching its code; vCPUs keep running (see the module docs).
    pub fn set_enabled(&self, enabled: bool) -> Result<(), TracepointError> {
        platform::installed().ok_or(TracepointError::NoPlatform)?;
        KEY_LOCK.with(|()| {
            static_keys::global_init();
            // SAFETY: keys are toggled under one lock after `global_init`, and the platform's
            // text patching is safe against CPUs executing the site (the module docs).
            unsafe {
                if enabled {
                    self.key.enable();
                } else {
                    self.key.disable();
                }
            }
        });
        Ok(())
    }

    /// Copies the attachments, applies `change` and installs the copy, all under the SRCU's
    /// writers' lock (two attaches at once both land).
    fn update(&self, change: impl FnOnce(&mut Attachments)) {
        drop(self.attachments.update(|current| {
            let mut next = Attachments::default();
            if let Some(current) = current {
                next.filter = current.filter.clone();
                next.programs = current.programs.clone();
            }
            change(&mut next);
            Some(alloc::boxed::Box::new(next))
        }));
    }

    /// Adds a program; it runs on every firing that passes the filter, after those attached
    /// before it.
    pub fn attach(&self, program: Arc<AttachedProgram>) {
        self.update(|a| a.programs.push(program));
    }

    /// Removes the program attached under `name`; returns it once no firing uses it.
    pub fn detach(&self, name: &str) -> Result<Arc<AttachedProgram>, TracepointError> {
        let mut removed = None;
        self.update(|a| {
            if let Some(index) = a.programs.iter().position(|p| p.name == name) {
                removed = Some(a.programs.remove(index));
            }
        });
        removed.ok_or_else(|| TracepointError::NotAttached {
            name: name.into(),
            tracepoint: self.full_name(),
        })
    }

    /// Sets or clears the filter.
    pub fn set_filter(&self, filter: Option<Filter>) {
        self.update(|a| a.filter = filter.map(Arc::new));
    }

    /// The filter's source and the attached programs, as `trace list` shows them.
    pub fn describe(&self) -> (Option<String>, Vec<Arc<AttachedProgram>>) {
        self.attachments
            .read(0, |a| {
                (
                    a.filter.as_ref().map(|f| String::from(f.source())),
                    a.programs.clone(),
                )
            })
            .unwrap_or_default()
    }

    /// Counters summed over CPUs.
    pub fn stats(&self) -> TracepointStats {
        self.counters
            .iter()
            .fold(TracepointStats::default(), |s, c| TracepointStats {
                hits: s.hits + c.hits.load(Ordering::Relaxed),
                filtered: s.filtered + c.filtered.load(Ordering::Relaxed),
                errors: s.errors + c.errors.load(Ordering::Relaxed),
            })
    }

    /// Runs the filter and the attached programs on `ctx` (the tracepoint's context bytes).
    pub fn fire(&self, ctx: &mut [u8]) {
        self.fire_with(|_, run| run(ctx));
    }

    /// Counts the firing and, only if a program is attached, builds the context (`build` gets
    /// the current CPU and hands the context's bytes to the closure it is given) and runs the
    /// filter and the programs: a tracepoint with nothing attached does not read the clock.
    /// Used by the `trace_vmm_*!` macros.
    #[inline(always)]
    pub fn fire_with(&self, build: impl FnOnce(u32, &mut dyn FnMut(&mut [u8]))) {
        // One CPU lookup per firing: the slot and the context's `pcpu_id` both come from it.
        let cpu = platform::installed().map_or(0, |p| p.current_cpu());
        let slot = cpu as usize % SLOTS;
        let counters = &self.counters[slot];
        counters.hits.fetch_add(1, Ordering::Relaxed);
        self.attachments.read(slot, |attached| {
            if attached.programs.is_empty() {
                return;
            }
            build(cpu, &mut |ctx: &mut [u8]| {
                if let Some(filter) = &attached.filter
                    && !filter.matches(ctx)
                {
                    counters.filtered.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                for program in &attached.programs {
                    if program.program().run(ctx).is_err() {
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        });
    }
}

/// `vmm:vcpu_run_enter`.
pub static VCPU_RUN_ENTER: Tracepoint =
    Tracepoint::new::<context::VcpuRunEnter>(&keys::VCPU_RUN_ENTER, || {
        fire::vcpu_run_enter as *const () as usize
    });
/// `vmm:vcpu_run_exit`.
pub static VCPU_RUN_EXIT: Tracepoint =
    Tracepoint::new::<context::VcpuRunExit>(&keys::VCPU_RUN_EXIT, || {
        fire::vcpu_run_exit as *const () as usize
    });
/// `vmm:hypercall`.
pub static HYPERCALL: Tracepoint = Tracepoint::new::<context::Hypercall>(&keys::HYPERCALL, || {
    fire::hypercall as *const () as usize
});
/// `vmm:mmio_read`.
pub static MMIO_READ: Tracepoint =
    Tracepoint::new::<context::MmioRead>(&keys::MMIO_READ, || fire::mmio as *const () as usize);
/// `vmm:mmio_write`.
pub static MMIO_WRITE: Tracepoint =
    Tracepoint::new::<context::MmioWrite>(&keys::MMIO_WRITE, || fire::mmio as *const () as usize);
/// `vmm:ept_violation`.
pub static EPT_VIOLATION: Tracepoint =
    Tracepoint::new::<context::EptViolation>(&keys::EPT_VIOLATION, || {
        fire::ept_violation as *const () as usize
    });
/// `vmm:irq_inject`.
pub static IRQ_INJECT: Tracepoint =
    Tracepoint::new::<context::IrqInject>(&keys::IRQ_INJECT, || {
        fire::irq_inject as *const () as usize
    });
/// `vmm:vcpu_sched`.
pub static VCPU_SCHED: Tracepoint =
    Tracepoint::new::<context::VcpuSched>(&keys::VCPU_SCHED, || {
        fire::vcpu_sched as *const () as usize
    });

/// Every tracepoint, in `trace list` order.
pub static ALL: [&Tracepoint; 8] = [
    &VCPU_RUN_ENTER,
    &VCPU_RUN_EXIT,
    &HYPERCALL,
    &MMIO_READ,
    &MMIO_WRITE,
    &EPT_VIOLATION,
    &IRQ_INJECT,
    &VCPU_SCHED,
];

/// The tracepoint called `vmm:<name>` or `<name>`.
pub fn find(name: &str) -> Result<&'static Tracepoint, TracepointError> {
    let short = name.strip_prefix("vmm:").unwrap_or(name);
    ALL.iter()
        .copied()
        .find(|tp| tp.name == short)
        .ok_or_else(|| TracepointError::Unknown(name.into()))
}

/// The tracepoint a program's ELF section names: `tracepoint/vmm/NAME` → `vmm:NAME`.
pub fn for_section(section: &str) -> Result<&'static Tracepoint, TracepointError> {
    let name = section
        .strip_prefix("tracepoint/vmm/")
        .ok_or_else(|| TracepointError::NotATracepointSection(section.into()))?;
    find(name)
}

/// What a VM exit carries besides its reason (see [`context::VcpuRunExit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitDetail {
    /// Why the vCPU exited.
    pub reason: ExitReason,
    /// Access width in bytes, else 0.
    pub width: u32,
    /// Address, port, MSR, hypercall number, vector or target CPU.
    pub addr: u64,
    /// Value or first argument.
    pub value: u64,
    /// Access flags or second argument.
    pub aux: u64,
}

impl From<ExitReason> for ExitDetail {
    fn from(reason: ExitReason) -> Self {
        Self {
            reason,
            width: 0,
            addr: 0,
            value: 0,
            aux: 0,
        }
    }
}

/// AxVisor's exit reasons, with their details (the seed's `to_trace_code` table, plus the
/// fields the context carries).
#[cfg(feature = "axvcpu")]
impl From<&axvcpu::AxVCpuExitReason> for ExitDetail {
    fn from(exit: &axvcpu::AxVCpuExitReason) -> Self {
        use axvcpu::AxVCpuExitReason as E;
        let detail = |reason, width: usize, addr: u64, value: u64, aux: u64| Self {
            reason,
            width: width as u32,
            addr,
            value,
            aux,
        };
        match exit {
            E::Hypercall { nr, args } => detail(ExitReason::Hypercall, 0, *nr, args[0], args[1]),
            E::MmioRead {
                addr, width, reg, ..
            } => detail(
                ExitReason::MmioRead,
                width.size(),
                addr.as_usize() as u64,
                0,
                *reg as u64,
            ),
            E::MmioWrite { addr, width, data } => detail(
                ExitReason::MmioWrite,
                width.size(),
                addr.as_usize() as u64,
                *data,
                0,
            ),
            E::SysRegRead { addr, reg } => detail(
                ExitReason::SysRegRead,
                8,
                addr.addr() as u64,
                0,
                *reg as u64,
            ),
            E::SysRegWrite { addr, value } => {
                detail(ExitReason::SysRegWrite, 8, addr.addr() as u64, *value, 0)
            }
            E::IoRead { port, width } => detail(
                ExitReason::IoRead,
                width.size(),
                u64::from(port.number()),
                0,
                0,
            ),
            E::IoWrite { port, width, data } => detail(
                ExitReason::IoWrite,
                width.size(),
                u64::from(port.number()),
                *data,
                0,
            ),
            E::ExternalInterrupt { vector } => {
                detail(ExitReason::ExternalInterrupt, 0, *vector, 0, 0)
            }
            E::NestedPageFault { addr, access_flags } => detail(
                ExitReason::NestedPageFault,
                0,
                addr.as_usize() as u64,
                0,
                access_flags.bits() as u64,
            ),
            E::Halt => ExitReason::Halt.into(),
            E::CpuUp {
                target_cpu,
                entry_point,
                arg,
            } => detail(
                ExitReason::CpuUp,
                0,
                *target_cpu,
                entry_point.as_usize() as u64,
                *arg,
            ),
            E::CpuDown { .. } => ExitReason::CpuDown.into(),
            E::SystemDown => ExitReason::SystemDown.into(),
            E::Nothing => ExitReason::Nothing.into(),
            E::FailEntry {
                hardware_entry_failure_reason,
            } => detail(
                ExitReason::FailEntry,
                0,
                *hardware_entry_failure_reason,
                0,
                0,
            ),
            E::SendIPI {
                target_cpu, vector, ..
            } => detail(ExitReason::SendIpi, 0, *target_cpu, *vector, 0),
            // AxVCpuExitReason is #[non_exhaustive]: newer variants are `Other`.
            #[allow(unreachable_patterns)]
            _ => ExitReason::Other.into(),
        }
    }
}

/// The out-of-line halves of the `trace_vmm_*!` macros: build the context, fire.
#[doc(hidden)]
pub mod fire {
    use super::*;
    use crate::context::{
        ContextHeader, EptViolation, Hypercall, IrqInject, MmioRead, MmioWrite, VcpuRunEnter,
        VcpuRunExit, VcpuSched,
    };

    /// The header for the vCPU the platform says runs here.
    #[inline(always)]
    fn current_header(cpu: u32) -> ContextHeader {
        let (vm, vcpu) =
            platform::installed().map_or((0, 0), |p| (p.current_vm(), p.current_vcpu()));
        header(vm, vcpu, cpu)
    }

    #[inline(always)]
    fn header(vm: u16, vcpu: u16, cpu: u32) -> ContextHeader {
        let platform = platform::installed();
        ContextHeader {
            timestamp_ns: platform.map_or(0, |p| p.monotonic_ns()),
            vm_id: vm,
            vcpu_id: vcpu,
            pcpu_id: cpu as u16,
            reserved: 0,
        }
    }

    /// `vmm:vcpu_run_enter`.
    #[cold]
    #[inline(never)]
    pub fn vcpu_run_enter(vm: u16, vcpu: u16) {
        VCPU_RUN_ENTER.fire_with(|cpu, run| {
            let mut ctx = VcpuRunEnter {
                header: header(vm, vcpu, cpu),
            };
            run(bytemuck::bytes_of_mut(&mut ctx));
        });
    }

    /// `vmm:vcpu_run_exit`.
    #[cold]
    #[inline(never)]
    pub fn vcpu_run_exit(vm: u16, vcpu: u16, detail: ExitDetail) {
        VCPU_RUN_EXIT.fire_with(|cpu, run| {
            let mut ctx = VcpuRunExit {
                header: header(vm, vcpu, cpu),
                exit_reason: detail.reason.code(),
                width: detail.width,
                addr: detail.addr,
                value: detail.value,
                aux: detail.aux,
            };
            run(bytemuck::bytes_of_mut(&mut ctx));
        });
    }

    /// `vmm:hypercall`.
    #[cold]
    #[inline(never)]
    pub fn hypercall(nr: u64, args: [u64; 4]) {
        HYPERCALL.fire_with(|cpu, run| {
            let mut ctx = Hypercall {
                header: current_header(cpu),
                nr,
                args,
            };
            run(bytemuck::bytes_of_mut(&mut ctx));
        });
    }

    /// `vmm:mmio_read` (`write` false) or `vmm:mmio_write` (`write` true).
    #[cold]
    #[inline(never)]
    pub fn mmio(write: bool, gpa: u64, width: u32, value: u64) {
        if write {
            MMIO_WRITE.fire_with(|cpu, run| {
                let mut ctx = MmioWrite {
                    header: current_header(cpu),
                    gpa,
                    value,
                    width,
                    reserved: 0,
                };
                run(bytemuck::bytes_of_mut(&mut ctx));
            });
        } else {
            MMIO_READ.fire_with(|cpu, run| {
                let mut ctx = MmioRead {
                    header: current_header(cpu),
                    gpa,
                    value,
                    width,
                    reserved: 0,
                };
                run(bytemuck::bytes_of_mut(&mut ctx));
            });
        }
    }

    /// `vmm:ept_violation`.
    #[cold]
    #[inline(never)]
    pub fn ept_violation(gpa: u64, access: u32) {
        EPT_VIOLATION.fire_with(|cpu, run| {
            let mut ctx = EptViolation {
                header: current_header(cpu),
                gpa,
                access,
                reserved: 0,
            };
            run(bytemuck::bytes_of_mut(&mut ctx));
        });
    }

    /// `vmm:irq_inject`.
    #[cold]
    #[inline(never)]
    pub fn irq_inject(vector: u32) {
        IRQ_INJECT.fire_with(|cpu, run| {
            let mut ctx = IrqInject {
                header: current_header(cpu),
                vector,
                reserved: 0,
            };
            run(bytemuck::bytes_of_mut(&mut ctx));
        });
    }

    /// `vmm:vcpu_sched`.
    #[cold]
    #[inline(never)]
    pub fn vcpu_sched(sched_in: bool, target_pcpu: u32) {
        VCPU_SCHED.fire_with(|cpu, run| {
            let mut ctx = VcpuSched {
                header: current_header(cpu),
                sched_in: u32::from(sched_in),
                target_pcpu,
            };
            run(bytemuck::bytes_of_mut(&mut ctx));
        });
    }
}

/// The shape of every `trace_vmm_*!` site: a static branch on `key` (a patched NOP while
/// disabled) around the out-of-line `fire` call.
#[doc(hidden)]
#[macro_export]
macro_rules! __trace_vmm_site {
    ($key:ident, $fire:expr) => {
        if $crate::tracepoint::__static_keys::static_branch_unlikely!(
            $crate::tracepoint::keys::$key
        ) {
            $fire;
        }
    };
}

/// `trace_vmm_vcpu_run_enter!(vm_id, vcpu_id)`: before entering the guest. A NOP when disabled.
#[macro_export]
macro_rules! trace_vmm_vcpu_run_enter {
    ($vm:expr, $vcpu:expr) => {
        $crate::__trace_vmm_site!(
            VCPU_RUN_ENTER,
            $crate::tracepoint::fire::vcpu_run_enter($vm as u16, $vcpu as u16)
        )
    };
}

/// `trace_vmm_vcpu_run_exit!(vm_id, vcpu_id, detail)`: after leaving the guest; `detail` is
/// anything `Into<ExitDetail>` (an [`ExitReason`], or an `&AxVCpuExitReason` with the `axvcpu`
/// feature). A NOP when disabled.
#[macro_export]
macro_rules! trace_vmm_vcpu_run_exit {
    ($vm:expr, $vcpu:expr, $detail:expr) => {
        $crate::__trace_vmm_site!(
            VCPU_RUN_EXIT,
            $crate::tracepoint::fire::vcpu_run_exit(
                $vm as u16,
                $vcpu as u16,
                $crate::tracepoint::ExitDetail::from($detail),
            )
        )
    };
}

/// `trace_vmm_hypercall!(nr, a0, a1, a2, a3)`. A NOP when disabled.
#[macro_export]
macro_rules! trace_vmm_hypercall {
    ($nr:expr, $a0:expr, $a1:expr, $a2:expr, $a3:expr) => {
        $crate::__trace_vmm_site!(
            HYPERCALL,
            $crate::tracepoint::fire::hypercall(
                $nr as u64,
                [$a0 as u64, $a1 as u64, $a2 as u64, $a3 as u64],
            )
        )
    };
}

/// `trace_vmm_mmio_read!(gpa, width, value)`. A NOP when disabled.
#[macro_export]
macro_rules! trace_vmm_mmio_read {
    ($gpa:expr, $width:expr, $value:expr) => {
        $crate::__trace_vmm_site!(
            MMIO_READ,
            $crate::tracepoint::fire::mmio(false, $gpa as u64, $width as u32, $value as u64)
        )
    };
}

/// `trace_vmm_mmio_write!(gpa, width, value)`. A NOP when disabled.
#[macro_export]
macro_rules! trace_vmm_mmio_write {
    ($gpa:expr, $width:expr, $value:expr) => {
        $crate::__trace_vmm_site!(
            MMIO_WRITE,
            $crate::tracepoint::fire::mmio(true, $gpa as u64, $width as u32, $value as u64)
        )
    };
}

/// `trace_vmm_ept_violation!(gpa, access)`. A NOP when disabled.
#[macro_export]
macro_rules! trace_vmm_ept_violation {
    ($gpa:expr, $access:expr) => {
        $crate::__trace_vmm_site!(
            EPT_VIOLATION,
            $crate::tracepoint::fire::ept_violation($gpa as u64, $access as u32)
        )
    };
}

/// `trace_vmm_irq_inject!(vector)`. A NOP when disabled.
#[macro_export]
macro_rules! trace_vmm_irq_inject {
    ($vector:expr) => {
        $crate::__trace_vmm_site!(
            IRQ_INJECT,
            $crate::tracepoint::fire::irq_inject($vector as u32)
        )
    };
}

/// `trace_vmm_vcpu_sched!(sched_in, pcpu)`: `sched_in` true when the vCPU is scheduled in. A NOP
/// when disabled.
#[macro_export]
macro_rules! trace_vmm_vcpu_sched {
    ($sched_in:expr, $pcpu:expr) => {
        $crate::__trace_vmm_site!(
            VCPU_SCHED,
            $crate::tracepoint::fire::vcpu_sched($sched_in, $pcpu as u32)
        )
    };
}
