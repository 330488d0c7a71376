//! The Linux host's [`Platform`]: std clock, `sched_getcpu`, thread-local current vCPU, `mmap` /
//! `mprotect` for W^X JIT pages.

use core::cell::{Cell, RefCell};
use core::ptr::NonNull;
use std::sync::OnceLock;
use std::time::Instant;

use axtrace_ring::Producer;

use super::{EmitError, ExecMemoryError, ExecRegion, Platform};
use crate::record::Record;

std::thread_local! {
    static CURRENT: Cell<(u16, u16)> = const { Cell::new((0, 0)) };
    static RING: RefCell<Option<Producer<'static, Record>>> = const { RefCell::new(None) };
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

    /// Gives the calling (vCPU) thread its ring's producer: records its handlers emit go there.
    /// Returns the producer attached before, if any.
    pub fn attach_ring(producer: Producer<'static, Record>) -> Option<Producer<'static, Record>> {
        RING.with(|ring| ring.borrow_mut().replace(producer))
    }

    /// Takes the calling thread's producer back.
    pub fn detach_ring() -> Option<Producer<'static, Record>> {
        RING.with(|ring| ring.borrow_mut().take())
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

    fn possible_cpus(&self) -> usize {
        // SAFETY: sysconf has no preconditions.
        let configured = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) };
        usize::try_from(configured).unwrap_or(1).max(1)
    }

    fn emit_record(&self, record: &Record) -> Result<(), EmitError> {
        RING.with(|ring| match ring.try_borrow_mut().as_deref_mut() {
            Ok(Some(producer)) => producer.push(*record).map_err(|_| EmitError::Full),
            _ => Err(EmitError::NoRing),
        })
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
