//! The ring itself: storage, the two shared indices, counters and the one-time split.

use core::ptr::NonNull;

use bytemuck::Pod;
use crossbeam_utils::CachePadded;

use crate::sync::{AtomicBool, AtomicUsize, Ordering, SlotAccess};
use crate::{Consumer, Producer};

/// Why a ring could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CapacityError {
    /// The capacity (or the length of the static region) is not a power of two.
    #[error("ring capacity {0} is not a power of two (1, 2, 4, …)")]
    NotPowerOfTwo(usize),
}

/// [`Ring::split`] was called a second time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the ring was already split into its producer and consumer")]
pub struct AlreadySplit;

/// A consistent snapshot of a ring's counters.
///
/// `produced == consumed + dropped + queued` holds exactly: all four describe the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RingStats {
    /// Slots in the ring.
    pub capacity: usize,
    /// Records offered by the producer: stored plus dropped.
    pub produced: u64,
    /// Records refused because the ring was full (always the newest ones).
    pub dropped: u64,
    /// Records the consumer has taken out.
    pub consumed: u64,
    /// Records stored and not yet consumed.
    pub queued: u64,
}

/// Indices written by the producer only; one cache line, so a push dirties nothing else.
pub(crate) struct ProducerIndices {
    /// Position of the next slot to write (total records stored so far, wrapping).
    pub(crate) tail: AtomicUsize,
    /// Records dropped because the ring was full.
    pub(crate) dropped: AtomicUsize,
}

enum Backing {
    #[cfg(feature = "alloc")]
    Heap,
    Static,
}

/// A single-producer single-consumer ring of `T` records with a power-of-two capacity.
///
/// Make one with [`Ring::with_capacity`] (heap) or [`Ring::from_static`] (a region the caller
/// owns forever, for a hypervisor that makes rings before its heap is up), then
/// [`split`](Ring::split) it once into a [`Producer`] and a [`Consumer`]. The ring itself stays
/// shared: anyone holding `&Ring` may read its [`stats`](Ring::stats).
pub struct Ring<T: Pod> {
    /// Position of the next slot to read; written only by the consumer.
    pub(crate) head: CachePadded<AtomicUsize>,
    pub(crate) producer: CachePadded<ProducerIndices>,
    split: AtomicBool,
    buf: NonNull<T>,
    mask: usize,
    backing: Backing,
    pub(crate) access: SlotAccess,
}

// SAFETY: the ring hands out at most one `Producer` and one `Consumer` (guarded by `split`);
// slot memory is only touched through them, and the index protocol (see `Producer::push` and
// `Consumer::read_chunk`) gives each slot to exactly one side at a time. Records are moved across
// threads, hence `T: Send`.
unsafe impl<T: Pod + Send> Send for Ring<T> {}
// SAFETY: as above; the shared parts reachable through `&Ring` are atomics and the read-only
// `buf`/`mask`.
unsafe impl<T: Pod + Send> Sync for Ring<T> {}

impl<T: Pod> Ring<T> {
    /// A heap-backed ring of `capacity` zeroed slots; `capacity` must be a power of two.
    #[cfg(feature = "alloc")]
    pub fn with_capacity(capacity: usize) -> Result<Self, CapacityError> {
        check_capacity(capacity)?;
        let slots: alloc::boxed::Box<[T]> = bytemuck::zeroed_slice_box(capacity);
        let buf = NonNull::from(alloc::boxed::Box::leak(slots)).cast::<T>();
        Ok(Self::from_parts(buf, capacity, Backing::Heap))
    }

    /// A ring over a region the caller gives up forever; its length must be a power of two.
    ///
    /// The region's old contents are never read as records: a slot is read only after the
    /// producer wrote it.
    pub fn from_static(region: &'static mut [T]) -> Result<Self, CapacityError> {
        let capacity = region.len();
        check_capacity(capacity)?;
        let buf = NonNull::from(region).cast::<T>();
        Ok(Self::from_parts(buf, capacity, Backing::Static))
    }

    fn from_parts(buf: NonNull<T>, capacity: usize, backing: Backing) -> Self {
        Self {
            head: CachePadded::new(AtomicUsize::new(0)),
            producer: CachePadded::new(ProducerIndices {
                tail: AtomicUsize::new(0),
                dropped: AtomicUsize::new(0),
            }),
            split: AtomicBool::new(false),
            buf,
            mask: capacity - 1,
            backing,
            access: SlotAccess::new(capacity),
        }
    }

    /// Number of slots.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// The producer and the consumer of this ring; succeeds once.
    ///
    /// Both borrow the ring, so a hypervisor keeps its rings in a `'static` place (a `static`, or
    /// a leaked box) and hands the producer to the vCPU and the consumer to the drain task.
    pub fn split(&self) -> Result<(Producer<'_, T>, Consumer<'_, T>), AlreadySplit> {
        // AcqRel: whoever wins the swap must see the ring as constructed (Acquire); nothing else
        // is published by it, Release only keeps the pair symmetric for loom.
        if self.split.swap(true, Ordering::AcqRel) {
            return Err(AlreadySplit);
        }
        Ok((Producer::new(self), Consumer::new(self)))
    }

    /// A consistent snapshot of the counters, from any thread.
    ///
    /// Lock-free: it retries only if the consumer consumed or the producer dropped while it was
    /// reading, so the snapshot is a state the ring really was in.
    pub fn stats(&self) -> RingStats {
        loop {
            // Acquire on each load orders the loads themselves (later loads cannot be satisfied
            // before earlier ones), which is what makes the re-check meaningful. Reading `head`
            // before `tail` also guarantees tail >= head: the consumer only publishes a head it
            // has seen the producer publish.
            let head = self.head.load(Ordering::Acquire);
            let dropped = self.producer.dropped.load(Ordering::Acquire);
            let tail = self.producer.tail.load(Ordering::Acquire);
            let dropped_again = self.producer.dropped.load(Ordering::Acquire);
            let head_again = self.head.load(Ordering::Acquire);
            if head == head_again && dropped == dropped_again {
                let queued = tail.wrapping_sub(head) as u64;
                return RingStats {
                    capacity: self.capacity(),
                    produced: tail as u64 + dropped as u64,
                    dropped: dropped as u64,
                    consumed: head as u64,
                    queued,
                };
            }
            core::hint::spin_loop();
        }
    }

    /// Slot index of a position.
    #[inline(always)]
    pub(crate) fn slot(&self, position: usize) -> usize {
        position & self.mask
    }

    /// Pointer to slot `slot` (already masked).
    #[inline(always)]
    pub(crate) fn slot_ptr(&self, slot: usize) -> *mut T {
        debug_assert!(slot <= self.mask);
        // SAFETY: `slot <= mask < capacity`, so the offset stays inside the allocation.
        unsafe { self.buf.as_ptr().add(slot) }
    }

    /// The up-to-two contiguous runs of slots covering `len` positions from `position`.
    ///
    /// Returns `(first_slot, first_len, second_len)`; the second run starts at slot 0.
    #[inline(always)]
    pub(crate) fn runs(&self, position: usize, len: usize) -> (usize, usize, usize) {
        let first_slot = self.slot(position);
        let first_len = len.min(self.capacity() - first_slot);
        (first_slot, first_len, len - first_len)
    }
}

impl<T: Pod> Drop for Ring<T> {
    fn drop(&mut self) {
        match self.backing {
            #[cfg(feature = "alloc")]
            Backing::Heap => {
                let slots = core::ptr::slice_from_raw_parts_mut(self.buf.as_ptr(), self.capacity());
                // SAFETY: `buf`/`capacity` came from `Box::leak` of a `Box<[T]>` in
                // `with_capacity`, and nothing borrows the ring any more (`&mut self`).
                drop(unsafe { alloc::boxed::Box::from_raw(slots) });
            }
            Backing::Static => {}
        }
    }
}

impl<T: Pod> core::fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ring")
            .field("stats", &self.stats())
            .finish()
    }
}

fn check_capacity(capacity: usize) -> Result<(), CapacityError> {
    if capacity.is_power_of_two() {
        Ok(())
    } else {
        Err(CapacityError::NotPowerOfTwo(capacity))
    }
}
