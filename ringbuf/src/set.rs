//! One ring per vCPU: made together at start, producers handed out by vCPU index, all consumers
//! kept by the drain.

use alloc::boxed::Box;
use alloc::vec::Vec;

use bytemuck::Pod;

use crate::{AlreadySplit, CapacityError, Consumer, Producer, Ring, RingStats};

/// `count` rings of equal capacity, one per vCPU.
pub struct RingSet<T: Pod> {
    rings: Box<[Ring<T>]>,
}

impl<T: Pod> RingSet<T> {
    /// `count` heap-backed rings of `capacity` slots each (a power of two).
    pub fn new(count: usize, capacity: usize) -> Result<Self, CapacityError> {
        let rings = (0..count)
            .map(|_| Ring::with_capacity(capacity))
            .collect::<Result<Box<[_]>, _>>()?;
        Ok(Self { rings })
    }

    /// Number of rings (vCPUs).
    pub fn len(&self) -> usize {
        self.rings.len()
    }

    /// Whether the set has no ring.
    pub fn is_empty(&self) -> bool {
        self.rings.is_empty()
    }

    /// Ring `index`, if it exists.
    pub fn ring(&self, index: usize) -> Option<&Ring<T>> {
        self.rings.get(index)
    }

    /// All rings, in index order.
    pub fn rings(&self) -> &[Ring<T>] {
        &self.rings
    }

    /// Splits every ring: producer `i` is for vCPU `i`; the consumers go to the drain together.
    /// Succeeds once.
    pub fn split(&self) -> Result<(Vec<Producer<'_, T>>, SetConsumer<'_, T>), AlreadySplit> {
        let mut producers = Vec::with_capacity(self.rings.len());
        let mut consumers = Vec::with_capacity(self.rings.len());
        for ring in self.rings.iter() {
            let (producer, consumer) = ring.split()?;
            producers.push(producer);
            consumers.push(consumer);
        }
        Ok((producers, SetConsumer { consumers }))
    }

    /// Every ring's counters, in index order.
    pub fn stats(&self) -> impl ExactSizeIterator<Item = RingStats> + '_ {
        self.rings.iter().map(Ring::stats)
    }
}

impl<T: Pod> core::fmt::Debug for RingSet<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.rings.iter()).finish()
    }
}

/// The consumers of a [`RingSet`], held by the drain and always visited in vCPU order.
pub struct SetConsumer<'a, T: Pod> {
    consumers: Vec<Consumer<'a, T>>,
}

impl<'a, T: Pod> SetConsumer<'a, T> {
    /// Number of rings.
    pub fn len(&self) -> usize {
        self.consumers.len()
    }

    /// Whether there is no ring.
    pub fn is_empty(&self) -> bool {
        self.consumers.is_empty()
    }

    /// The consumer of ring `index`.
    pub fn get_mut(&mut self, index: usize) -> Option<&mut Consumer<'a, T>> {
        self.consumers.get_mut(index)
    }

    /// `(index, consumer)` for every ring, in index order.
    pub fn iter_mut(&mut self) -> impl ExactSizeIterator<Item = (usize, &mut Consumer<'a, T>)> {
        self.consumers.iter_mut().enumerate()
    }

    /// One pass over all rings in index order: hands each ring's waiting records (at most
    /// `max_per_ring`, as one or two slices) to `sink(index, records)` and consumes them.
    /// Returns the number of records handed over.
    pub fn drain_once(&mut self, max_per_ring: usize, mut sink: impl FnMut(usize, &[T])) -> usize {
        let mut total = 0;
        for (index, consumer) in self.consumers.iter_mut().enumerate() {
            let chunk = consumer.read_chunk(max_per_ring);
            let (first, second) = chunk.as_slices();
            for run in [first, second] {
                if !run.is_empty() {
                    sink(index, run);
                }
            }
            total += chunk.len();
            chunk.commit();
        }
        total
    }
}
