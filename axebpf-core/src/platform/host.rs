//! The Linux host's [`Platform`]: std clock, `sched_getcpu`, thread-local current vCPU, `mmap` /
//! `mprotect` for W^X JIT pages.

use core::cell::Cell;
use core::ptr::NonNull;
use std::sync::OnceLock;
use std::time::Instant;

use super::{ExecMemoryError, ExecRegion, Platform};

std::thread_local! {
    static CURRENT: Cell<(u16, u16)> = const { Cell::new((0, 0)) };
}

/// The host platform. One instance serves the whole process (see [`HostPlatform::install`]).
#[derive(Debug, Default)]
pub struct HostPlatform;

const PAGE: usize = 4096;

impl HostPlatform {
    /// Installs the host platform as the process-wide one and returns it.
    pub fn install() -> &'static dyn Platform {
        static PLATFORM: HostPlatform = HostPlatform;
        static DYN: &dyn Platform = &PLATFORM;
        super::install(&DYN);
        DYN
    }

    /// Declares which VM and vCPU the calling thread runs (the KVM host calls this on each vCPU
    /// thread).
    pub fn set_current_vcpu(vm: u16, vcpu: u16) {
        CURRENT.with(|current| current.set((vm, vcpu)));
    }
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Platform for HostPlatform {
    fn monotonic_ns(&self) -> u64 {
        epoch().elapsed().as_nanos() as u64
    }

    fn current_cpu(&self) -> u32 {
        // SAFETY: sched_getcpu has no preconditions.
        let cpu = unsafe { libc::sched_getcpu() };
        cpu.max(0) as u32
    }

    fn current_vm(&self) -> u16 {
        CURRENT.with(|current| current.get().0)
    }

    fn current_vcpu(&self) -> u16 {
        CURRENT.with(|current| current.get().1)
    }

    fn alloc_exec(&self, len: usize) -> Result<ExecRegion, ExecMemoryError> {
        let len = len.max(1).div_ceil(PAGE) * PAGE;
        // SAFETY: an anonymous private mapping with no address hint touches no existing memory.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(ExecMemoryError::MapFailed(len));
        }
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(ExecMemoryError::MapFailed(len))?;
        Ok(ExecRegion { ptr, len })
    }

    fn seal_exec(&self, region: &ExecRegion) -> Result<(), ExecMemoryError> {
        // SAFETY: the region is a whole mapping made by `alloc_exec`.
        let rc = unsafe {
            libc::mprotect(
                region.ptr.as_ptr().cast(),
                region.len,
                libc::PROT_READ | libc::PROT_EXEC,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(ExecMemoryError::ProtectFailed)
        }
    }

    unsafe fn free_exec(&self, region: ExecRegion) {
        // SAFETY: the region is a whole mapping made by `alloc_exec`, and the caller promises no
        // code in it runs any more.
        unsafe { libc::munmap(region.ptr.as_ptr().cast(), region.len) };
    }
}
