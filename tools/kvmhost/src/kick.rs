//! Kicking a vCPU out of `KVM_RUN`, and the per-vCPU deadline watchdog that does it.
//!
//! A kick sets the run page's `immediate_exit` (so a `KVM_RUN` not yet entered returns at once)
//! and sends the thread `SIGUSR1`, whose handler does nothing and is installed without
//! `SA_RESTART` (so a `KVM_RUN` in progress returns `EINTR`). Either way the vCPU loop sees
//! `EINTR`, and [`Kicker::was_kicked`] tells it the deadline passed.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Mutex, Once};
use std::time::Duration;

/// The vCPU thread a [`Kicker`] can reach.
struct Target {
    thread: libc::pthread_t,
    /// Address of the run page's `immediate_exit` byte.
    immediate_exit: usize,
}

/// Kicks one vCPU thread; shared by that thread and its watchdog.
#[derive(Default)]
pub struct Kicker {
    target: Mutex<Option<Target>>,
    kicked: AtomicBool,
}

/// Sets the `immediate_exit` byte at `addr`.
///
/// # Safety
/// `addr` is the `immediate_exit` byte of a live vCPU's mapped run page.
pub unsafe fn set_immediate_exit(addr: *mut u8, value: u8) {
    // SAFETY: the caller promises a live, mapped byte; every Rust writer uses this atomic
    // store (the kernel reads it at KVM_RUN, which is the KVM kick protocol).
    unsafe { AtomicU8::from_ptr(addr) }.store(value, Ordering::SeqCst);
}

extern "C" fn ignore_signal(_: libc::c_int) {}

/// Installs the no-op `SIGUSR1` handler, without `SA_RESTART`, once per process.
pub fn install_signal_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; we set a handler
        // that touches nothing, so it is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = core::mem::zeroed();
            action.sa_sigaction = ignore_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_flags = 0;
            libc::sigaction(libc::SIGUSR1, &action, core::ptr::null_mut());
        }
    });
}

impl Kicker {
    /// Makes the calling thread, running the vCPU whose `immediate_exit` byte is at
    /// `immediate_exit`, the target. Call [`Kicker::unregister`] before the vCPU goes away.
    pub fn register(&self, immediate_exit: *mut u8) {
        // SAFETY: pthread_self has no preconditions.
        let thread = unsafe { libc::pthread_self() };
        *self.target.lock().unwrap_or_else(|e| e.into_inner()) = Some(Target {
            thread,
            immediate_exit: immediate_exit as usize,
        });
    }

    /// Nothing may be kicked any more (the vCPU thread is about to drop its vCPU or exit).
    pub fn unregister(&self) {
        *self.target.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Kicks the target, if still registered; returns whether it was.
    pub fn kick(&self) -> bool {
        self.kicked.store(true, Ordering::SeqCst);
        let target = self.target.lock().unwrap_or_else(|e| e.into_inner());
        let Some(target) = target.as_ref() else {
            return false;
        };
        // SAFETY: while registered (we hold the lock) the vCPU and its run page are alive and
        // its thread has not exited, so the byte is mapped and the pthread_t is valid.
        unsafe {
            set_immediate_exit(target.immediate_exit as *mut u8, 1);
            libc::pthread_kill(target.thread, libc::SIGUSR1);
        }
        true
    }

    /// Whether the watchdog kicked (the deadline passed).
    pub fn was_kicked(&self) -> bool {
        self.kicked.load(Ordering::SeqCst)
    }
}

/// The watchdog: waits for `done` (a message or the sender dropped); if `deadline` passes
/// first, kicks every 10 ms until the vCPU thread reports done.
pub fn watchdog(kicker: &Kicker, done: &Receiver<()>, deadline: Duration) {
    match done.recv_timeout(deadline) {
        Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        Err(RecvTimeoutError::Timeout) => {}
    }
    loop {
        kicker.kick();
        match done.recv_timeout(Duration::from_millis(10)) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}
