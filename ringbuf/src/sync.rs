//! The few synchronisation primitives the ring uses, swapped for loom's under `cfg(loom)` so the
//! model checker sees every atomic access and every slot access.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Records, for loom, which side touches which slot and when.
///
/// The slots themselves are plain memory (so a consumer can be handed contiguous `&[T]`
/// slices); a shadow `loom::cell::UnsafeCell` per slot lets loom check that every read of a slot
/// happens after the write it reads, and every write after the previous read — the property the
/// index protocol exists to guarantee. Outside loom this is a zero-sized no-op.
#[cfg(loom)]
pub(crate) struct SlotAccess(alloc::boxed::Box<[loom::cell::UnsafeCell<()>]>);

#[cfg(loom)]
impl SlotAccess {
    pub(crate) fn new(capacity: usize) -> Self {
        Self(
            (0..capacity)
                .map(|_| loom::cell::UnsafeCell::new(()))
                .collect(),
        )
    }

    pub(crate) fn read(&self, slot: usize) {
        self.0[slot].with(|_| ());
    }

    pub(crate) fn write(&self, slot: usize) {
        self.0[slot].with_mut(|_| ());
    }
}

#[cfg(not(loom))]
pub(crate) struct SlotAccess;

#[cfg(not(loom))]
impl SlotAccess {
    #[inline(always)]
    pub(crate) fn new(_capacity: usize) -> Self {
        Self
    }

    #[inline(always)]
    pub(crate) fn read(&self, _slot: usize) {}

    #[inline(always)]
    pub(crate) fn write(&self, _slot: usize) {}
}
