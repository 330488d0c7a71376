//! The drain: moves records from every vCPU's ring into the dump, in batches, without ever
//! making a producer wait. The hypervisor's lowest-priority task (on Linux, a thread at
//! `SCHED_IDLE`) calls [`Drain::drain_once`] on a period or when a ring passes a watermark, and
//! [`Drain::drain_all`] on stop.
//!
//! Each pass takes at most `batch` records per ring as one or two slices (the ring's wrap) and
//! writes them as chunks together with the records that ring dropped since its last chunk. The
//! records are released from the ring only after the sink accepted them, so a failing sink loses
//! nothing already recorded; for every ring, produced = drained + dropped.

use alloc::vec::Vec;

use axtrace_ring::SetConsumer;

use crate::dump::{DumpError, DumpWriter, Sink};
use crate::record::Record;

/// The consumers of every ring, and the dump they feed.
pub struct Drain<'a, S: Sink> {
    consumers: SetConsumer<'a, Record>,
    writer: DumpWriter<S>,
    /// Per ring: drops already written to the dump.
    dropped_written: Vec<u64>,
    batch: usize,
}

impl<'a, S: Sink> Drain<'a, S> {
    /// A drain of `consumers` into `writer`, `batch` records per ring and pass at most.
    pub fn new(consumers: SetConsumer<'a, Record>, writer: DumpWriter<S>, batch: usize) -> Self {
        let rings = consumers.len();
        Self {
            consumers,
            writer,
            dropped_written: alloc::vec![0; rings],
            batch: batch.max(1),
        }
    }

    /// One pass over every ring in order; returns the records moved.
    pub fn drain_once(&mut self) -> Result<usize, DumpError> {
        let mut moved = 0;
        for (index, consumer) in self.consumers.iter_mut() {
            // Drops counted before the records are taken: later drops go with the next chunk.
            let stats = consumer.stats();
            let dropped = stats.dropped;
            let new_drops = dropped - self.dropped_written[index];
            // The fill level the drain found, before taking: the dump's record of how close
            // the ring came to dropping.
            let fill = (stats.queued * 1000 / (stats.capacity as u64).max(1)).min(1000) as u16;
            let chunk = consumer.read_chunk(self.batch);
            let (first, second) = chunk.as_slices();
            let ring = index as u16;
            self.writer
                .write_records_sampled(ring, first, new_drops, fill)?;
            self.writer.write_records_sampled(ring, second, 0, fill)?;
            self.dropped_written[index] = dropped;
            moved += chunk.len();
            chunk.commit();
        }
        Ok(moved)
    }

    /// Passes until every ring is empty and every drop is written (call once producers stop);
    /// returns the records moved.
    pub fn drain_all(&mut self) -> Result<u64, DumpError> {
        let mut total = 0u64;
        loop {
            let moved = self.drain_once()?;
            total += moved as u64;
            if moved == 0 {
                return Ok(total);
            }
        }
    }

    /// The fullest ring's waiting records as a fraction of its capacity, in per mille (a
    /// watermark check for the drain task: it reads the rings' counters only).
    pub fn fullest_per_mille(&mut self) -> u64 {
        self.consumers
            .iter_mut()
            .map(|(_, consumer)| {
                let stats = consumer.stats();
                stats.queued * 1000 / (stats.capacity as u64).max(1)
            })
            .max()
            .unwrap_or(0)
    }

    /// Records written to the dump so far.
    pub fn records_written(&self) -> u64 {
        self.writer.records_written()
    }

    /// Drops written to the dump so far, all rings.
    pub fn drops_written(&self) -> u64 {
        self.dropped_written.iter().sum()
    }

    /// The writer (for its sink's own counters).
    pub fn writer(&self) -> &DumpWriter<S> {
        &self.writer
    }

    /// The writer back (its sink holds the dump).
    pub fn finish(self) -> DumpWriter<S> {
        self.writer
    }
}
