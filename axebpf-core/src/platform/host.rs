//! The Linux host's [`Platform`]: std clock, a CPU slot per thread, thread-local current vCPU,
//! `mmap` / `mprotect` for W^X JIT pages.
//!
//! **CPUs are slots.** In a hypervisor a handler runs on a pCPU that nothing else uses
//! meanwhile, which is what lets per-CPU maps update in place without atomics. Host threads
//! are preempted and migrate: two vCPU threads sharing a core would interleave
//! read-modify-writes of "that CPU's" value and lose updates. So on the host a "CPU" is a slot
//! (`0..possible_cpus()`) that one thread holds from its first handler run until it exits;
//! beyond [`HOST_CPU_SLOTS`] live threads, later ones share slots by `sched_getcpu` (and may
//! lose per-CPU updates, as documented).

use core::cell::{Cell, RefCell};
use core::ptr::NonNull;
use std::sync::OnceLock;
use std::time::Instant;

use axtrace_ring::Producer;

use super::{EmitError, ExecMemoryError, ExecRegion, PatchError, Platform};
use crate::record::Record;

/// CPU slots the host offers (or the configured CPUs, if more): enough for every vCPU thread of
/// the demo and the tests to hold one.
pub const HOST_CPU_SLOTS: usize = 16;

/// Slots returned by threads that exited, and the next never-used one.
static FREE_SLOTS: std::sync::Mutex<(std::vec::Vec<u32>, u32)> =
    std::sync::Mutex::new((std::vec::Vec::new(), 0));

/// A thread's slot; returned to [`FREE_SLOTS`] when the thread exits.
struct SlotGuard(Option<u32>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        // Forget the cached id first, so nothing on this (exiting) thread uses the slot after
        // another thread got it.
        let _ = SLOT_ID.try_with(|id| id.set(NO_SLOT));
        if let (Some(slot), Ok(mut free)) = (self.0, FREE_SLOTS.lock()) {
            free.0.push(slot);
        }
    }
}

/// `SLOT_ID` of a thread that holds no slot (yet).
const NO_SLOT: u32 = u32::MAX;

/// The calling thread's slot, claimed at its first call; `None` when all are held.
fn claim_slot(possible: usize) -> Option<u32> {
    let mut free = FREE_SLOTS.lock().ok()?;
    if let Some(slot) = free.0.pop() {
        return Some(slot);
    }
    let next = free.1;
    (usize::try_from(next).ok()? < possible).then(|| {
        free.1 += 1;
        next
    })
}

std::thread_local! {
    static SLOT: RefCell<Option<SlotGuard>> = const { RefCell::new(None) };
    /// The slot `SLOT` holds, for the per-call fast path (no borrow, no destructor check).
    static SLOT_ID: Cell<u32> = const { Cell::new(NO_SLOT) };
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
        // Calibrate the clock now rather than at the first event.
        let _ = Self::clock_source();
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

/// A fresh private read+write mapping of `len` bytes (a multiple of the page size).
fn map_anonymous_rw(len: usize) -> Option<NonNull<u8>> {
    map_anonymous_rw_near(len, core::ptr::null_mut())
}

/// [`map_anonymous_rw`] with an address hint the kernel follows when that range is free.
fn map_anonymous_rw_near(len: usize, hint: *mut libc::c_void) -> Option<NonNull<u8>> {
    // SAFETY: an anonymous private mapping without MAP_FIXED replaces no existing memory: the
    // hint is only a hint.
    let ptr = unsafe {
        libc::mmap(
            hint,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return None;
    }
    NonNull::new(ptr.cast::<u8>())
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// A clock from the TSC, calibrated against `CLOCK_MONOTONIC`.
///
/// Used only where the CPU says the TSC is invariant (`constant_tsc` and `nonstop_tsc` in
/// /proc/cpuinfo). Calibration: 20 ms of `CLOCK_MONOTONIC` against the TSC at start-up gives
/// ns per tick as a 32.32 fixed-point multiplier; its error (timer jitter of tens of ns over
/// 20 ms) is about 1 ppm by estimate, i.e. ~1 µs of drift per second against `CLOCK_MONOTONIC`, and none
/// between two readings a few µs apart, which is what exit latencies measure. The benchmark
/// `host_clock` compares the two sources.
#[cfg(target_arch = "x86_64")]
struct TscClock {
    base_tsc: u64,
    base_ns: u64,
    ns_per_tick_32_32: u64,
}

#[cfg(target_arch = "x86_64")]
impl TscClock {
    fn calibrate() -> Option<Self> {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok()?;
        let flags = cpuinfo.lines().find(|l| l.starts_with("flags"))?;
        let has = |flag: &str| flag_present(flags, flag);
        if !(has("constant_tsc") && has("nonstop_tsc")) {
            return None;
        }
        let start = Instant::now();
        let start_tsc = rdtsc();
        while start.elapsed().as_millis() < 20 {
            core::hint::spin_loop();
        }
        let (end, end_tsc) = (Instant::now(), rdtsc());
        let ticks = end_tsc.checked_sub(start_tsc).filter(|&t| t > 0)?;
        let ns = (end - start).as_nanos();
        let ns_per_tick_32_32 = u64::try_from((ns << 32) / u128::from(ticks)).ok()?;
        Some(Self {
            base_tsc: start_tsc,
            base_ns: (start - epoch()).as_nanos() as u64,
            ns_per_tick_32_32,
        })
    }

    #[inline(always)]
    fn now_ns(&self) -> u64 {
        let ticks = rdtsc().wrapping_sub(self.base_tsc);
        self.base_ns + ((u128::from(ticks) * u128::from(self.ns_per_tick_32_32)) >> 32) as u64
    }
}

#[cfg(target_arch = "x86_64")]
fn flag_present(flags: &str, flag: &str) -> bool {
    flags.split_whitespace().any(|f| f == flag)
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no preconditions on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(target_arch = "x86_64")]
fn tsc_clock() -> Option<&'static TscClock> {
    static CLOCK: OnceLock<Option<TscClock>> = OnceLock::new();
    CLOCK
        .get_or_init(|| {
            let _ = epoch();
            TscClock::calibrate()
        })
        .as_ref()
}

impl HostPlatform {
    /// Which clock `monotonic_ns` uses: `"tsc"` (invariant TSC, calibrated) or
    /// `"clock_monotonic"`.
    pub fn clock_source() -> &'static str {
        #[cfg(target_arch = "x86_64")]
        if tsc_clock().is_some() {
            return "tsc";
        }
        "clock_monotonic"
    }
}

impl Platform for HostPlatform {
    fn monotonic_ns(&self) -> u64 {
        #[cfg(target_arch = "x86_64")]
        if let Some(clock) = tsc_clock() {
            return clock.now_ns();
        }
        epoch().elapsed().as_nanos() as u64
    }

    fn current_cpu(&self) -> u32 {
        let cached = SLOT_ID.with(Cell::get);
        if cached != NO_SLOT {
            return cached;
        }
        let possible = self.possible_cpus();
        let held = SLOT.try_with(|slot| {
            slot.borrow_mut()
                .get_or_insert_with(|| SlotGuard(claim_slot(possible)))
                .0
        });
        match held {
            Ok(Some(slot)) => {
                SLOT_ID.with(|id| id.set(slot));
                slot
            }
            // Every slot is held (or the thread is exiting): share by the real CPU.
            _ => {
                // SAFETY: sched_getcpu has no preconditions.
                let cpu = unsafe { libc::sched_getcpu() };
                cpu.max(0) as u32 % possible as u32
            }
        }
    }

    fn current_vm(&self) -> u16 {
        CURRENT.with(|current| current.get().0)
    }

    fn current_vcpu(&self) -> u16 {
        CURRENT.with(|current| current.get().1)
    }

    fn possible_cpus(&self) -> usize {
        static POSSIBLE: OnceLock<usize> = OnceLock::new();
        *POSSIBLE.get_or_init(|| {
            // SAFETY: sysconf has no preconditions.
            let configured = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) };
            usize::try_from(configured).unwrap_or(1).max(HOST_CPU_SLOTS)
        })
    }

    fn emit_record(&self, record: &Record) -> Result<(), EmitError> {
        RING.with(|ring| match ring.try_borrow_mut().as_deref_mut() {
            Ok(Some(producer)) => producer.push(*record).map_err(|_| EmitError::Full),
            _ => Err(EmitError::NoRing),
        })
    }

    /// Patches code by replacing its page(s) whole: the new bytes are written into a private
    /// copy of the page(s), which is made read+execute and then moved over the original with
    /// `mremap(MREMAP_FIXED)`. Other threads execute either the old page or the new one — never
    /// a half-written instruction — and the kernel's TLB shootdown serialises their instruction
    /// fetch. The code is never writable where it runs (W^X holds).
    unsafe fn patch_text(&self, addr: *mut u8, bytes: &[u8]) -> Result<(), PatchError> {
        let fail = |reason| PatchError {
            addr: addr as usize,
            reason,
        };
        let start = addr as usize / PAGE * PAGE;
        let len = (addr as usize + bytes.len()).div_ceil(PAGE) * PAGE - start;
        let copy = map_anonymous_rw(len)
            .ok_or_else(|| fail("mmap of the copy failed"))?
            .as_ptr()
            .cast::<libc::c_void>();
        // SAFETY: `copy` is a fresh private mapping of `len` bytes; we copy the code pages
        // (readable: they are our own text) into it and write the patch at the same offset.
        unsafe {
            core::ptr::copy_nonoverlapping(start as *const u8, copy.cast::<u8>(), len);
            core::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                copy.cast::<u8>().add(addr as usize - start),
                bytes.len(),
            );
            if libc::mprotect(copy, len, libc::PROT_READ | libc::PROT_EXEC) != 0 {
                libc::munmap(copy, len);
                return Err(fail("mprotect of the copy failed"));
            }
            let moved = libc::mremap(
                copy,
                len,
                len,
                libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                start as *mut libc::c_void,
            );
            if moved == libc::MAP_FAILED {
                libc::munmap(copy, len);
                return Err(fail("mremap over the code failed"));
            }
        }
        Ok(())
    }

    fn alloc_exec(&self, len: usize) -> Result<ExecRegion, ExecMemoryError> {
        let len = len.max(1).div_ceil(PAGE) * PAGE;
        // Near our own code, so that JIT code calls helpers (and they return) within the
        // ±2 GiB a rel32 reaches: a call across the address space costs ~1 ns more per call
        // here (measured: empty program 3.9 → 2.7 ns). 256 MiB below this function is
        // normally free (the binary's text lies just above); elsewhere is fine too.
        let text = map_anonymous_rw_near as *const () as usize;
        let hint = text.saturating_sub(256 << 20) & !(PAGE - 1);
        let ptr = map_anonymous_rw_near(len, hint as *mut libc::c_void)
            .ok_or(ExecMemoryError::MapFailed(len))?;
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
