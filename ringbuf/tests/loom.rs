//! Model checks of the ring's protocol with loom: every interleaving of a producer and a consumer
//! (and a stats reader) on a tiny ring. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p axtrace-ring --test loom --release`.
#![cfg(loom)]

use axtrace_ring::{Consumer, Ring};
use loom::thread;

/// A ring that outlives the model's threads. loom needs `'static` closures and the producer
/// borrows the ring, so each execution leaks one small ring.
fn leaked_ring(capacity: usize) -> &'static Ring<u64> {
    Box::leak(Box::new(Ring::with_capacity(capacity).unwrap()))
}

/// Pops everything the consumer can see right now.
fn pop_all(consumer: &mut Consumer<'_, u64>, seen: &mut Vec<u64>) {
    while let Some(value) = consumer.pop() {
        seen.push(value);
    }
}

/// Checks what a run delivered: in order, no duplicates, and every record either seen or
/// counted as dropped.
fn check_delivery(ring: &Ring<u64>, seen: &[u64], offered: u64) {
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "reordered: {seen:?}");
    let stats = ring.stats();
    assert_eq!(stats.produced, offered);
    assert_eq!(stats.consumed, seen.len() as u64);
    assert_eq!(stats.queued, 0);
    assert_eq!(stats.produced, stats.consumed + stats.dropped);
}

#[test]
fn push_pop_delivers_in_order_or_counts_drops() {
    loom::model(|| {
        let ring = leaked_ring(2);
        let (mut producer, mut consumer) = ring.split().unwrap();
        let producer_thread = thread::spawn(move || {
            for value in 1..=3u64 {
                let _ = producer.push(value);
            }
        });
        let mut seen = Vec::new();
        pop_all(&mut consumer, &mut seen);
        pop_all(&mut consumer, &mut seen);
        producer_thread.join().unwrap();
        pop_all(&mut consumer, &mut seen);
        check_delivery(ring, &seen, 3);
    });
}

#[test]
fn reserve_commit_and_read_chunk_publish_whole_batches() {
    loom::model(|| {
        let ring = leaked_ring(4);
        let (mut producer, mut consumer) = ring.split().unwrap();
        let producer_thread = thread::spawn(move || {
            for batch in [[1u64, 2], [3, 4], [5, 6]] {
                if let Ok(mut chunk) = producer.reserve(2) {
                    let (first, second) = chunk.as_mut_slices();
                    for (slot, value) in first.iter_mut().chain(second).zip(batch) {
                        *slot = value;
                    }
                    chunk.commit();
                }
            }
        });
        let mut seen = Vec::new();
        let mut take_chunk = |consumer: &mut Consumer<'_, u64>| {
            let chunk = consumer.read_chunk(3);
            let (first, second) = chunk.as_slices();
            seen.extend(first.iter().chain(second));
            chunk.commit();
        };
        take_chunk(&mut consumer);
        take_chunk(&mut consumer);
        producer_thread.join().unwrap();
        take_chunk(&mut consumer);
        take_chunk(&mut consumer);
        // Batches are all-or-nothing: every value arrives with its pair.
        assert!(
            seen.chunks(2)
                .all(|pair| pair.len() == 2 && pair[1] == pair[0] + 1)
        );
        check_delivery(ring, &seen, 6);
    });
}

#[test]
fn stats_snapshot_is_consistent_while_both_sides_run() {
    loom::model(|| {
        let ring = leaked_ring(1);
        let (mut producer, mut consumer) = ring.split().unwrap();
        let producer_thread = thread::spawn(move || {
            let _ = producer.push(1);
            let _ = producer.push(2);
        });
        let consumer_thread = thread::spawn(move || {
            let _ = consumer.pop();
        });
        let stats = ring.stats();
        assert_eq!(
            stats.produced,
            stats.consumed + stats.dropped + stats.queued
        );
        assert!(stats.queued <= 1);
        producer_thread.join().unwrap();
        consumer_thread.join().unwrap();
    });
}
