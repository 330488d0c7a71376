//! Single-threaded behaviour of one ring and of a ring set.
#![cfg(not(loom))]

use axtrace_ring::{AlreadySplit, CapacityError, Full, Ring, RingSet, RingStats};

#[test]
fn capacity_must_be_a_power_of_two() {
    for bad in [0, 3, 6, 1000] {
        assert_eq!(
            Ring::<u64>::with_capacity(bad).unwrap_err(),
            CapacityError::NotPowerOfTwo(bad)
        );
    }
    for good in [1, 2, 1024] {
        assert_eq!(Ring::<u64>::with_capacity(good).unwrap().capacity(), good);
    }
}

#[test]
fn a_ring_splits_once() {
    let ring = Ring::<u64>::with_capacity(4).unwrap();
    let halves = ring.split();
    assert!(halves.is_ok());
    assert_eq!(ring.split().err(), Some(AlreadySplit));
}

#[test]
fn a_full_ring_drops_the_newest_and_keeps_the_oldest() {
    let ring = Ring::<u64>::with_capacity(4).unwrap();
    let (mut producer, mut consumer) = ring.split().unwrap();
    for value in 0..4 {
        assert_eq!(producer.push(value), Ok(()));
    }
    assert_eq!(
        producer.push(4),
        Err(Full {
            dropped: 1,
            free: 0
        })
    );
    assert_eq!(
        producer.push(5),
        Err(Full {
            dropped: 1,
            free: 0
        })
    );
    assert_eq!(
        ring.stats(),
        RingStats {
            capacity: 4,
            produced: 6,
            dropped: 2,
            consumed: 0,
            queued: 4
        }
    );
    let popped: Vec<u64> = std::iter::from_fn(|| consumer.pop()).collect();
    assert_eq!(popped, [0, 1, 2, 3]);
    // Space freed by the consumer is seen by the producer.
    assert_eq!(producer.push(6), Ok(()));
    assert_eq!(consumer.pop(), Some(6));
    let stats = ring.stats();
    assert_eq!((stats.produced, stats.consumed, stats.dropped), (7, 5, 2));
}

#[test]
fn read_chunk_splits_at_the_wrap_and_commits_only_when_told() {
    let ring = Ring::<u32>::with_capacity(4).unwrap();
    let (mut producer, mut consumer) = ring.split().unwrap();
    for value in 0..3 {
        producer.push(value).unwrap();
    }
    assert_eq!(consumer.pop_into(&mut [0; 2]), 2);
    for value in 3..6 {
        producer.push(value).unwrap();
    }
    // Positions 2..6 occupy slots 2, 3, 0, 1.
    {
        let chunk = consumer.read_chunk(10);
        assert_eq!(chunk.as_slices(), (&[2, 3][..], &[4, 5][..]));
    } // not committed: the records stay
    assert_eq!(consumer.len(), 4);

    let chunk = consumer.read_chunk(3);
    assert_eq!(chunk.as_slices(), (&[2, 3][..], &[4][..]));
    chunk.commit_first(1);
    assert_eq!(consumer.pop(), Some(3));
    let chunk = consumer.read_chunk(usize::MAX);
    assert_eq!(chunk.len(), 2);
    chunk.commit_first(99); // clamped to the chunk
    assert!(consumer.is_empty());
    assert!(consumer.read_chunk(8).is_empty());
}

#[test]
fn reserve_writes_in_place_across_the_wrap() {
    let ring = Ring::<u32>::with_capacity(4).unwrap();
    let (mut producer, mut consumer) = ring.split().unwrap();
    producer.push(100).unwrap();
    producer.push(101).unwrap();
    producer.push(102).unwrap();
    assert_eq!(consumer.pop_into(&mut [0; 3]), 3);

    let mut chunk = producer.reserve(3).unwrap();
    let (first, second) = chunk.as_mut_slices();
    assert_eq!((first.len(), second.len()), (1, 2));
    first[0] = 7;
    second.copy_from_slice(&[8, 9]);
    chunk.commit_first(2);

    let mut out = [0; 4];
    assert_eq!(consumer.pop_into(&mut out), 2);
    assert_eq!(&out[..2], &[7, 8]);
    assert_eq!(producer.free_len(), 4);
}

#[test]
fn an_uncommitted_reservation_publishes_nothing() {
    let ring = Ring::<u32>::with_capacity(4).unwrap();
    let (mut producer, mut consumer) = ring.split().unwrap();
    {
        let mut chunk = producer.reserve(2).unwrap();
        chunk.as_mut_slices().0.fill(5);
    } // not committed
    assert_eq!(consumer.pop(), None);
    assert_eq!(
        ring.stats(),
        RingStats {
            capacity: 4,
            ..RingStats::default()
        }
    );
}

#[test]
fn a_reservation_that_does_not_fit_drops_the_whole_batch() {
    let ring = Ring::<u32>::with_capacity(4).unwrap();
    let (mut producer, mut consumer) = ring.split().unwrap();
    producer.push(1).unwrap();
    producer.push(2).unwrap();
    assert_eq!(
        producer.reserve(3).err(),
        Some(Full {
            dropped: 3,
            free: 2
        })
    );
    assert_eq!(
        producer.reserve(5).err(),
        Some(Full {
            dropped: 5,
            free: 2
        })
    );
    assert!(producer.reserve(0).unwrap().is_empty());
    producer.reserve(2).unwrap().commit();
    let stats = ring.stats();
    assert_eq!((stats.produced, stats.dropped, stats.queued), (12, 8, 4));
    // Records already recorded survive every refusal.
    assert_eq!(consumer.pop(), Some(1));
    assert_eq!(consumer.pop(), Some(2));
}

#[test]
fn a_static_region_backs_a_ring() {
    let region: &'static mut [u64] = Box::leak(vec![0xdead_beef; 8].into_boxed_slice());
    let ring = Ring::from_static(region).unwrap();
    let (mut producer, mut consumer) = ring.split().unwrap();
    producer.push(42).unwrap();
    assert_eq!(consumer.pop(), Some(42));
    assert_eq!(
        consumer.pop(),
        None,
        "stale region contents are never records"
    );

    let odd: &'static mut [u64] = Box::leak(vec![0; 6].into_boxed_slice());
    assert_eq!(
        Ring::from_static(odd).unwrap_err(),
        CapacityError::NotPowerOfTwo(6)
    );
}

#[test]
fn positions_keep_counting_over_many_laps() {
    let ring = Ring::<u64>::with_capacity(2).unwrap();
    let (mut producer, mut consumer) = ring.split().unwrap();
    for value in 0..1000 {
        producer.push(value).unwrap();
        if value % 3 == 0 {
            let _ = producer.push(u64::MAX); // may or may not fit
        }
        let chunk = consumer.read_chunk(2);
        let (first, _) = chunk.as_slices();
        assert_eq!(first[0], value);
        chunk.commit();
    }
    let stats = ring.stats();
    assert_eq!(
        stats.produced,
        stats.consumed + stats.dropped + stats.queued
    );
    assert_eq!(stats.produced, 1000 + 334);
}

#[test]
fn a_ring_set_gives_producer_i_to_vcpu_i_and_drains_in_order() {
    let set = RingSet::<u64>::new(3, 4).unwrap();
    assert_eq!(set.len(), 3);
    let (mut producers, mut drain) = set.split().unwrap();
    assert!(set.split().is_err());
    for (vcpu, producer) in producers.iter_mut().enumerate() {
        for i in 0..=vcpu as u64 {
            producer.push(vcpu as u64 * 10 + i).unwrap();
        }
    }
    let mut seen = Vec::new();
    let total = drain.drain_once(2, |vcpu, records| seen.push((vcpu, records.to_vec())));
    assert_eq!(total, 5);
    assert_eq!(seen, [(0, vec![0]), (1, vec![10, 11]), (2, vec![20, 21])]);
    assert_eq!(drain.get_mut(2).unwrap().pop(), Some(22));
    let queued: Vec<u64> = set.stats().map(|s| s.queued).collect();
    assert_eq!(queued, [0, 0, 0]);
    assert!(RingSet::<u64>::new(2, 3).is_err());
}
