//! Many producer threads, each with its own small ring, one consumer draining all of them: every
//! record is checked for corruption and order, every ring's counters for exactness.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicUsize, Ordering};

use axtrace_ring::RingSet;
use bytemuck::{Pod, Zeroable};

/// A 32-byte record like axtrace's, carrying its own proof of integrity.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
struct Stamped {
    ring: u64,
    sequence: u64,
    payload: u64,
    checksum: u64,
}

impl Stamped {
    fn new(ring: u64, sequence: u64) -> Self {
        let payload = sequence.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ring;
        Self {
            ring,
            sequence,
            payload,
            checksum: Self::sum(ring, sequence, payload),
        }
    }

    fn sum(ring: u64, sequence: u64, payload: u64) -> u64 {
        (ring.rotate_left(17) ^ sequence.rotate_left(31) ^ payload)
            .wrapping_mul(0xff51_afd7_ed55_8ccd)
    }

    fn is_intact(&self) -> bool {
        self.checksum == Self::sum(self.ring, self.sequence, self.payload)
            && self.payload == self.sequence.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ self.ring
    }
}

const PRODUCERS: usize = 3;
const PER_PRODUCER: u64 = 300_000;
const CAPACITY: usize = 64;

#[test]
fn every_record_is_drained_intact_in_order_or_counted_dropped() {
    let set = RingSet::<Stamped>::new(PRODUCERS, CAPACITY).unwrap();
    let (producers, mut drain) = set.split().unwrap();
    let primed = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let mut received = [0u64; PRODUCERS];
    let mut next_at_least = [0u64; PRODUCERS];

    std::thread::scope(|scope| {
        for (ring, mut producer) in producers.into_iter().enumerate() {
            let (primed, finished) = (&primed, &finished);
            scope.spawn(move || {
                for sequence in 0..PER_PRODUCER {
                    let _ = producer.push(Stamped::new(ring as u64, sequence));
                    if sequence == CAPACITY as u64 {
                        primed.fetch_add(1, Ordering::Release);
                    }
                    if sequence % 4096 == 0 {
                        std::thread::yield_now(); // vary the interleaving
                    }
                }
                finished.fetch_add(1, Ordering::Release);
            });
        }
        // Every producer overfills its ring before the drain starts, so each ring drops for sure.
        while primed.load(Ordering::Acquire) < PRODUCERS {
            std::hint::spin_loop();
        }
        loop {
            let done = finished.load(Ordering::Acquire) == PRODUCERS;
            // Small, varying batches exercise the wrap-around split.
            let batch = 1 + received.iter().sum::<u64>() as usize % 37;
            let mut check = |ring: usize, records: &[Stamped]| {
                for record in records {
                    assert!(record.is_intact(), "corrupted record in ring {ring}");
                    assert_eq!(record.ring, ring as u64, "record in the wrong ring");
                    assert!(
                        record.sequence >= next_at_least[ring],
                        "ring {ring}: sequence {} after {}",
                        record.sequence,
                        next_at_least[ring]
                    );
                    next_at_least[ring] = record.sequence + 1;
                    received[ring] += 1;
                }
            };
            let drained = drain.drain_once(batch, &mut check);
            if done && drained == 0 {
                break;
            }
        }
    });

    let mut total_dropped = 0;
    for (ring, stats) in set.stats().enumerate() {
        assert_eq!(stats.produced, PER_PRODUCER, "ring {ring}");
        assert_eq!(stats.consumed, received[ring], "ring {ring}");
        assert_eq!(stats.queued, 0, "ring {ring}");
        assert_eq!(
            stats.produced,
            stats.consumed + stats.dropped,
            "ring {ring}"
        );
        total_dropped += stats.dropped;
    }
    assert!(
        total_dropped > 0,
        "rings this small should overflow at least once"
    );
}
