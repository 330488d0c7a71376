//! A sleepable-RCU-like cell: readers on the hot path never block and never wait for a writer;
//! a writer swaps in a new value and waits until no reader can still see the old one.
//!
//! Readers register in one of two counters of their slot (the CPU they run on, modulo
//! [`SLOTS`]), chosen by the epoch's parity, load the pointer, use it, and deregister. A writer
//! swaps the pointer, then twice flips the epoch and waits for the counters of the parity it just
//! retired to drain: a reader that loaded the old pointer registered before the swap, in one of
//! the two parities, and both are drained. New readers use the new parity, so the wait ends.
//! Counts are additive, so threads sharing a slot (possible on a Linux host) stay correct.

use alloc::boxed::Box;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

use crate::spin::SpinLock;

/// Reader slots (CPUs beyond this share slots, which stays correct).
pub const SLOTS: usize = 64;

/// The cell.
pub struct Srcu<T> {
    current: AtomicPtr<T>,
    epoch: AtomicUsize,
    readers: [CachePadded<[AtomicUsize; 2]>; SLOTS],
    writers: SpinLock<()>,
}

// SAFETY: the cell hands out `&T` to readers on any thread and moves `T` between threads on
// update, so `T` must be `Send + Sync`.
unsafe impl<T: Send + Sync> Sync for Srcu<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Send for Srcu<T> {}

impl<T> Srcu<T> {
    /// An empty cell.
    pub const fn new() -> Self {
        Self {
            current: AtomicPtr::new(core::ptr::null_mut()),
            epoch: AtomicUsize::new(0),
            readers: [const { CachePadded::new([AtomicUsize::new(0), AtomicUsize::new(0)]) };
                SLOTS],
            writers: SpinLock::new(()),
        }
    }

    /// Runs `f` on the current value (if any) from reader slot `slot`. Never blocks.
    #[inline]
    pub fn read<R>(&self, slot: usize, f: impl FnOnce(&T) -> R) -> Option<R> {
        let counters = &self.readers[slot % SLOTS];
        // SeqCst on the epoch read, the registration and the pointer load: a writer that swaps
        // the pointer and then reads our counter either sees us registered or we see its swap.
        let parity = self.epoch.load(Ordering::SeqCst) & 1;
        counters[parity].fetch_add(1, Ordering::SeqCst);
        let ptr = self.current.load(Ordering::SeqCst);
        // SAFETY: a non-null pointer came from `Box::into_raw` in `replace`, and the writer that
        // replaces it frees it only after our registration drains (see the module docs).
        let result = unsafe { ptr.as_ref() }.map(f);
        // Release: our use of the value happens before the writer sees the count drop.
        counters[parity].fetch_sub(1, Ordering::Release);
        result
    }

    /// Installs `value` and returns the previous one once no reader can see it any more.
    /// Writers are serialised; a writer waits only for readers already inside.
    pub fn replace(&self, value: Option<Box<T>>) -> Option<Box<T>> {
        self.writers.with(|()| self.replace_locked(value))
    }

    /// Installs `make(current)` and returns the previous value once no reader can see it. The
    /// whole read-modify-write holds the writers' lock, so concurrent updates never build on
    /// the same old value and lose one another's change.
    pub fn update(&self, make: impl FnOnce(Option<&T>) -> Option<Box<T>>) -> Option<Box<T>> {
        self.writers.with(|()| {
            // SAFETY: only a writer frees the current value, and writers hold this lock, so
            // the pointer stays valid while `make` looks at it.
            let current = unsafe { self.current.load(Ordering::SeqCst).as_ref() };
            let next = make(current);
            self.replace_locked(next)
        })
    }

    fn replace_locked(&self, value: Option<Box<T>>) -> Option<Box<T>> {
        let new = value.map_or(core::ptr::null_mut(), Box::into_raw);
        let old = self.current.swap(new, Ordering::SeqCst);
        for _ in 0..2 {
            let retired = self.epoch.fetch_add(1, Ordering::SeqCst) & 1;
            for counters in &self.readers {
                // Acquire pairs with the readers' Release decrement.
                while counters[retired].load(Ordering::Acquire) != 0 {
                    core::hint::spin_loop();
                }
            }
        }
        // SAFETY: `old` came from `Box::into_raw` and no reader can reach it any more.
        (!old.is_null()).then(|| unsafe { Box::from_raw(old) })
    }
}

impl<T> Default for Srcu<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for Srcu<T> {
    fn drop(&mut self) {
        let ptr = *self.current.get_mut();
        if !ptr.is_null() {
            // SAFETY: `&mut self`: no reader exists; the pointer came from `Box::into_raw`.
            drop(unsafe { Box::from_raw(ptr) });
        }
    }
}
