//! What the hypervisor supplies to the tracing core, in one trait.
//!
//! AxVisor implements [`Platform`] with axhal (`axhal::time::monotonic_time_nanos`, the current
//! CPU id, the running vCPU's `vm_id()` / `id()`, and pages it maps executable); on Linux,
//! [`host::HostPlatform`] implements it with std and `mmap`.
//!
//! Helpers called from eBPF programs get no context pointer (the VM passes only the five argument
//! registers), so the runtime reaches the platform through one global, set once by [`install`].

use core::ptr::NonNull;

use crate::record::Record;
use core::sync::atomic::{AtomicPtr, Ordering};

/// A region of memory for JIT-compiled code: writable until sealed, then read+execute only.
#[derive(Debug)]
pub struct ExecRegion {
    /// Start of the region (page-aligned).
    pub ptr: NonNull<u8>,
    /// Length in bytes (a multiple of the page size).
    pub len: usize,
}

// SAFETY: the region is plain memory owned by whoever holds the `ExecRegion`; after sealing it is
// only read and executed.
unsafe impl Send for ExecRegion {}
// SAFETY: as above; shared access only reads or executes the code.
unsafe impl Sync for ExecRegion {}

/// Why executable memory could not be provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ExecMemoryError {
    /// The platform could not map the region.
    #[error("could not map {0} bytes for JIT code")]
    MapFailed(usize),
    /// The platform could not change the region's protection.
    #[error("could not make the JIT code read+execute only")]
    ProtectFailed,
    /// This platform offers no executable memory (the interpreter still works).
    #[error("this platform provides no executable memory for the JIT")]
    Unsupported,
}

/// Why a record could not be emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    /// The vCPU's ring was full: the record was dropped and counted.
    #[error("the vCPU's ring is full; the record was dropped and counted")]
    Full,
    /// No ring is attached to the code running here.
    #[error("no record ring is attached to this vCPU")]
    NoRing,
}

/// Why code could not be patched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("could not patch the code at {addr:#x}: {reason}")]
pub struct PatchError {
    /// Where.
    pub addr: usize,
    /// What failed.
    pub reason: &'static str,
}

/// The services the tracing core needs from the hypervisor.
pub trait Platform: Sync {
    /// Monotonic time in ns (AxVisor: `axhal::time::monotonic_time_nanos()`).
    fn monotonic_ns(&self) -> u64;
    /// The physical CPU this code runs on (AxVisor: `axhal::cpu::this_cpu_id()`).
    fn current_cpu(&self) -> u32;
    /// The VM whose vCPU runs on this CPU (AxVisor: the current `AxVCpu`'s `vm_id()`).
    fn current_vm(&self) -> u16;
    /// The vCPU running on this CPU (AxVisor: the current `AxVCpu`'s `id()`).
    fn current_vcpu(&self) -> u16;
    /// Number of CPU indices per-CPU maps need (AxVisor: `axconfig::SMP`).
    fn possible_cpus(&self) -> usize;
    /// Appends `record` to the ring of the vCPU running on this CPU (the producer half the
    /// hypervisor handed to that vCPU). AxVisor: the current `AxVCpu`'s ring producer.
    fn emit_record(&self, record: &Record) -> Result<(), EmitError>;
    /// Replaces `bytes.len()` bytes of code at `addr` (a static-key site: a 2- or 5-byte jump or
    /// NOP) so that no CPU ever executes a mix of old and new bytes. AxVisor: a stop-machine
    /// or breakpoint-based text poke; the host: an atomic page replacement (see
    /// [`host::HostPlatform`]).
    ///
    /// # Safety
    /// `addr..addr + bytes.len()` must be one instruction of this program's code, and `bytes`
    /// a valid replacement for it.
    unsafe fn patch_text(&self, addr: *mut u8, bytes: &[u8]) -> Result<(), PatchError>;
    /// Writable, page-aligned memory of at least `len` bytes for the JIT to write code into.
    fn alloc_exec(&self, len: usize) -> Result<ExecRegion, ExecMemoryError>;
    /// Makes a region from [`alloc_exec`](Platform::alloc_exec) read+execute and no longer
    /// writable (W^X).
    fn seal_exec(&self, region: &ExecRegion) -> Result<(), ExecMemoryError>;
    /// Returns a region from [`alloc_exec`](Platform::alloc_exec).
    ///
    /// # Safety
    /// No code in the region may run, or run again, after this call.
    unsafe fn free_exec(&self, region: ExecRegion);
}

static INSTALLED: AtomicPtr<&'static dyn Platform> = AtomicPtr::new(core::ptr::null_mut());

/// Makes `platform` the one the runtime and its helpers use. Call once at start-up, before any
/// program is loaded; a later call replaces it for programs loaded afterwards.
pub fn install(platform: &'static &'static dyn Platform) {
    // Release: helpers that Acquire-load the pointer see a fully built platform.
    INSTALLED.store(
        platform as *const &'static dyn Platform as *mut _,
        Ordering::Release,
    );
}

/// The installed platform, if any.
pub fn installed() -> Option<&'static dyn Platform> {
    let ptr = INSTALLED.load(Ordering::Acquire);
    // SAFETY: the only non-null values stored come from `&'static &'static dyn Platform`.
    unsafe { ptr.as_ref() }.copied()
}

#[cfg(feature = "std")]
pub mod host;
