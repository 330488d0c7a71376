//! The reading side: [`Consumer::pop`], or batches as one or two contiguous slices
//! ([`Consumer::read_chunk`]).

use core::marker::PhantomData;

use bytemuck::Pod;

use crate::sync::Ordering;
use crate::{Ring, RingStats};

/// The reading half of a [`Ring`]; owned by the drain.
pub struct Consumer<'a, T: Pod> {
    ring: &'a Ring<T>,
    /// Our own copy of the head: only we write it.
    head: usize,
    /// The producer's tail as last seen; refreshed only when it says there is too little.
    cached_tail: usize,
    /// Not `Sync`: `&Consumer` must not let two threads consume.
    _not_sync: PhantomData<core::cell::Cell<()>>,
}

impl<'a, T: Pod> Consumer<'a, T> {
    pub(crate) fn new(ring: &'a Ring<T>) -> Self {
        Self {
            ring,
            head: 0,
            cached_tail: 0,
            _not_sync: PhantomData,
        }
    }

    /// Takes the oldest record, if any.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        if self.available_now(1) == 0 {
            return None;
        }
        let slot = self.ring.slot(self.head);
        self.ring.access.read(slot);
        // SAFETY: the slot is in [head, tail): the producer published it (Release) and our
        // Acquire load of tail makes its write visible; the producer will not overwrite it until
        // we publish a head past it.
        let record = unsafe { self.ring.slot_ptr(slot).read() };
        self.release(self.head.wrapping_add(1));
        Some(record)
    }

    /// Up to `max` of the oldest records, in place. Nothing is consumed until the chunk is
    /// [`commit`](ReadChunk::commit)ted; the chunk may be empty.
    #[inline]
    pub fn read_chunk(&mut self, max: usize) -> ReadChunk<'_, 'a, T> {
        let len = self.available_now(max).min(max);
        let ring = self.ring;
        let (first_slot, first_len, second_len) = ring.runs(self.head, len);
        for slot in (first_slot..first_slot + first_len).chain(0..second_len) {
            ring.access.read(slot);
        }
        ReadChunk {
            first_slot,
            first_len,
            second_len,
            consumer: self,
        }
    }

    /// Copies up to `out.len()` of the oldest records into `out` and consumes them; returns how
    /// many.
    pub fn pop_into(&mut self, out: &mut [T]) -> usize {
        let chunk = self.read_chunk(out.len());
        let (first, second) = chunk.as_slices();
        out[..first.len()].copy_from_slice(first);
        out[first.len()..first.len() + second.len()].copy_from_slice(second);
        let len = chunk.len();
        chunk.commit();
        len
    }

    /// Records waiting right now (the producer may add more at any moment).
    pub fn len(&mut self) -> usize {
        self.refresh_available()
    }

    /// Whether no record is waiting right now.
    pub fn is_empty(&mut self) -> bool {
        self.len() == 0
    }

    /// The ring's counters (see [`Ring::stats`]).
    pub fn stats(&self) -> RingStats {
        self.ring.stats()
    }

    /// The ring this consumer reads.
    pub fn ring(&self) -> &'a Ring<T> {
        self.ring
    }

    /// Waiting records by the cached tail, refreshed only if fewer than `wanted`.
    #[inline]
    fn available_now(&mut self, wanted: usize) -> usize {
        let available = self.cached_tail.wrapping_sub(self.head);
        if available >= wanted {
            available
        } else {
            self.refresh_available()
        }
    }

    #[inline]
    fn refresh_available(&mut self) -> usize {
        // Acquire pairs with the producer's Release store of tail: its slot writes happen before
        // our reads of those slots.
        self.cached_tail = self.ring.producer.tail.load(Ordering::Acquire);
        self.cached_tail.wrapping_sub(self.head)
    }

    #[inline(always)]
    fn release(&mut self, head: usize) {
        self.head = head;
        // Release pairs with the producer's Acquire load of head: our reads of the released
        // slots happen before the producer overwrites them.
        self.ring.head.store(head, Ordering::Release);
    }
}

impl<T: Pod> core::fmt::Debug for Consumer<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Consumer").field("ring", self.ring).finish()
    }
}

/// The oldest records of a ring, borrowed in place from [`Consumer::read_chunk`].
///
/// Dropping a chunk without committing consumes nothing.
pub struct ReadChunk<'c, 'a, T: Pod> {
    consumer: &'c mut Consumer<'a, T>,
    first_slot: usize,
    first_len: usize,
    second_len: usize,
}

impl<T: Pod> ReadChunk<'_, '_, T> {
    /// Number of records in the chunk.
    pub fn len(&self) -> usize {
        self.first_len + self.second_len
    }

    /// Whether the chunk holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The records, oldest first, as one or two contiguous runs (the second after wrap-around;
    /// empty if none).
    pub fn as_slices(&self) -> (&[T], &[T]) {
        let ring = self.consumer.ring;
        // SAFETY: both runs lie in [head, tail), published by the producer and not writable by it
        // until we move head past them, which needs `self` by value; they are disjoint because
        // `len <= capacity`.
        unsafe {
            (
                core::slice::from_raw_parts(ring.slot_ptr(self.first_slot), self.first_len),
                core::slice::from_raw_parts(ring.slot_ptr(0), self.second_len),
            )
        }
    }

    /// Consumes every record of the chunk.
    pub fn commit(self) {
        let len = self.len();
        self.commit_first(len);
    }

    /// Consumes the first `count` records (clamped to [`len`](ReadChunk::len)); the rest stay
    /// in the ring.
    pub fn commit_first(self, count: usize) {
        let count = count.min(self.len());
        if count > 0 {
            let head = self.consumer.head.wrapping_add(count);
            self.consumer.release(head);
        }
    }
}
