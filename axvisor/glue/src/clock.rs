//! The clock: the Arm generic timer's physical count (`CNTPCT_EL0`), in ns.
//!
//! The physical count, not the virtual one: AxVisor programs `CNTVOFF_EL2` for its guests, and
//! EL2 reads of `CNTVCT_EL0` subtract it.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

/// ns per tick as 32.32 fixed point, from `CNTFRQ_EL0` (0 until [`init`]).
static NS_PER_TICK_FP: AtomicU64 = AtomicU64::new(0);

/// Reads the counter frequency once.
pub fn init() {
    let freq = frequency_hz().max(1);
    NS_PER_TICK_FP.store(
        ((1_000_000_000u128 << 32) / freq as u128) as u64,
        Ordering::Relaxed,
    );
}

/// `CNTFRQ_EL0`: the counter's frequency (62.5 MHz on QEMU's virt board).
pub fn frequency_hz() -> u64 {
    let freq: u64;
    // SAFETY: reading CNTFRQ_EL0 has no side effects and is allowed at EL2.
    unsafe { asm!("mrs {}, cntfrq_el0", out(reg) freq, options(nomem, nostack)) };
    freq
}

/// The raw count.
#[inline(always)]
pub fn ticks() -> u64 {
    let ticks: u64;
    // SAFETY: reading CNTPCT_EL0 has no side effects; the ISB keeps the read from being
    // speculated ahead of earlier instructions (what the architecture asks for timestamps).
    unsafe { asm!("isb", "mrs {}, cntpct_el0", out(reg) ticks, options(nomem, nostack)) };
    ticks
}

/// Monotonic ns since the counter started.
#[inline(always)]
pub fn now_ns() -> u64 {
    ((ticks() as u128 * NS_PER_TICK_FP.load(Ordering::Relaxed) as u128) >> 32) as u64
}
