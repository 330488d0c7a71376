//! The writing side: one record at a time ([`Producer::push`]) or in place in batches
//! ([`Producer::reserve`]).

use core::marker::PhantomData;

use bytemuck::Pod;

use crate::sync::Ordering;
use crate::{Ring, RingStats};

/// The ring was full: the newest record(s) were dropped and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ring full: {dropped} newest record(s) dropped ({free} slot(s) were free)")]
pub struct Full {
    /// Records dropped by this call.
    pub dropped: usize,
    /// Slots that were free (fewer than asked for).
    pub free: usize,
}

/// The writing half of a [`Ring`]; owned by one vCPU.
///
/// Every operation finishes in a bounded number of steps (wait-free) and never blocks: a full
/// ring drops the newest record and counts it.
pub struct Producer<'a, T: Pod> {
    ring: &'a Ring<T>,
    /// Our own copy of the tail: only we write it, so we never need to load it.
    tail: usize,
    /// The consumer's head as last seen; refreshed only when it says the ring is full.
    cached_head: usize,
    /// Our own copy of the drop counter.
    dropped: usize,
    /// Not `Sync`: `&Producer` must not let two threads push.
    _not_sync: PhantomData<core::cell::Cell<()>>,
}

impl<'a, T: Pod> Producer<'a, T> {
    pub(crate) fn new(ring: &'a Ring<T>) -> Self {
        Self {
            ring,
            tail: 0,
            cached_head: 0,
            dropped: 0,
            _not_sync: PhantomData,
        }
    }

    /// Stores `record`, or drops it (counted) if the ring is full.
    #[inline]
    pub fn push(&mut self, record: T) -> Result<(), Full> {
        if self.tail.wrapping_sub(self.cached_head) == self.ring.capacity()
            && self.refresh_free() == 0
        {
            return Err(self.drop_newest(1, 0));
        }
        let slot = self.ring.slot(self.tail);
        self.ring.access.write(slot);
        // SAFETY: the slot lies between tail and head + capacity, so the consumer is not reading
        // it (it reads only [head, tail)), and its previous read finished before the consumer's
        // Release store of head that `refresh_free` acquired. Only this producer writes slots.
        unsafe { self.ring.slot_ptr(slot).write(record) };
        self.publish(self.tail.wrapping_add(1));
        Ok(())
    }

    /// Reserves exactly `len` consecutive slots to be written in place, then
    /// [`commit`](WriteChunk::commit)ted.
    ///
    /// If fewer than `len` slots are free, nothing is reserved, the `len` records are counted as
    /// dropped (they are the newest), and the error says how many slots were free, so a batch
    /// producer can ask for [`free_len`](Producer::free_len) first to store what fits.
    pub fn reserve(&mut self, len: usize) -> Result<WriteChunk<'_, 'a, T>, Full> {
        let free = self.free_now(len);
        if free < len {
            return Err(self.drop_newest(len, free));
        }
        Ok(WriteChunk {
            producer: self,
            len,
        })
    }

    /// Free slots right now (the consumer may free more at any moment).
    pub fn free_len(&mut self) -> usize {
        self.refresh_free()
    }

    /// The ring's counters (see [`Ring::stats`]).
    pub fn stats(&self) -> RingStats {
        self.ring.stats()
    }

    /// The ring this producer writes.
    pub fn ring(&self) -> &'a Ring<T> {
        self.ring
    }

    /// Free slots by the cached head, refreshed only if fewer than `wanted`.
    #[inline]
    fn free_now(&mut self, wanted: usize) -> usize {
        let free = self.ring.capacity() - self.tail.wrapping_sub(self.cached_head);
        if free >= wanted {
            free
        } else {
            self.refresh_free()
        }
    }

    /// Reloads the consumer's head and returns the free slots.
    #[cold]
    fn refresh_free(&mut self) -> usize {
        // Acquire pairs with the consumer's Release store of head: every read the consumer made
        // of the slots it released happens before we overwrite them.
        self.cached_head = self.ring.head.load(Ordering::Acquire);
        self.ring.capacity() - self.tail.wrapping_sub(self.cached_head)
    }

    #[cold]
    fn drop_newest(&mut self, count: usize, free: usize) -> Full {
        self.dropped = self.dropped.wrapping_add(count);
        // Release: a stats reader that sees this count also sees the tail stored before it.
        // Only this producer writes the counter, so a plain store (no read-modify-write) is exact.
        self.ring
            .producer
            .dropped
            .store(self.dropped, Ordering::Release);
        Full {
            dropped: count,
            free,
        }
    }

    #[inline(always)]
    fn publish(&mut self, tail: usize) {
        self.tail = tail;
        // Release pairs with the consumer's Acquire load of tail: the slot writes above happen
        // before the consumer reads those slots.
        self.ring.producer.tail.store(tail, Ordering::Release);
    }
}

impl<T: Pod> core::fmt::Debug for Producer<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Producer").field("ring", self.ring).finish()
    }
}

/// Slots reserved by [`Producer::reserve`]: write them through
/// [`as_mut_slices`](WriteChunk::as_mut_slices), then [`commit`](WriteChunk::commit).
///
/// Dropping a chunk without committing publishes nothing (and counts nothing as dropped).
pub struct WriteChunk<'p, 'a, T: Pod> {
    producer: &'p mut Producer<'a, T>,
    len: usize,
}

impl<T: Pod> WriteChunk<'_, '_, T> {
    /// Number of reserved slots.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no slot was reserved.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The reserved slots as one or two contiguous runs (the second after wrap-around; empty if
    /// none). Their contents are stale records: overwrite what you commit.
    pub fn as_mut_slices(&mut self) -> (&mut [T], &mut [T]) {
        let ring = self.producer.ring;
        let (first_slot, first_len, second_len) = ring.runs(self.producer.tail, self.len);
        for slot in (first_slot..first_slot + first_len).chain(0..second_len) {
            ring.access.write(slot);
        }
        // SAFETY: the runs cover reserved slots only, which the consumer does not touch until we
        // publish them (same argument as in `push`); the two runs are disjoint because
        // `len <= capacity`; the `&mut self` borrow keeps them unique.
        unsafe {
            (
                core::slice::from_raw_parts_mut(ring.slot_ptr(first_slot), first_len),
                core::slice::from_raw_parts_mut(ring.slot_ptr(0), second_len),
            )
        }
    }

    /// Publishes every reserved slot to the consumer.
    pub fn commit(self) {
        let len = self.len;
        self.commit_first(len);
    }

    /// Publishes the first `count` reserved slots (clamped to [`len`](WriteChunk::len)); the
    /// rest stay free.
    pub fn commit_first(self, count: usize) {
        let count = count.min(self.len);
        if count > 0 {
            let tail = self.producer.tail.wrapping_add(count);
            self.producer.publish(tail);
        }
    }
}
