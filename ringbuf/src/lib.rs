//! Lock-free, wait-free single-producer single-consumer rings of fixed-size records, and a set
//! of them with one ring per vCPU.
//!
//! This is the transport between an eBPF handler running at VM-exit time (the producer, on the
//! vCPU's physical CPU) and the low-priority drain task (the consumer). Records are
//! [`bytemuck::Pod`] values (32 bytes in axtrace), so a slot is always a valid record and a batch
//! can be read in place as plain slices.
//!
//! * **Producer** ([`Producer::push`], [`Producer::reserve`]): never blocks and never waits; when
//!   the ring is full the *newest* record is dropped and counted — the records already recorded
//!   are never lost.
//! * **Consumer** ([`Consumer::pop`], [`Consumer::read_chunk`], [`Consumer::pop_into`]): reads
//!   batches as one or two contiguous slices (two when the batch wraps around the end).
//! * **Counters** ([`Ring::stats`]): produced, dropped, consumed and queued, exact, as one
//!   consistent snapshot: `produced == consumed + dropped + queued`.
//!
//! The two indices sit on separate cache lines ([`crossbeam_utils::CachePadded`]); each side
//! keeps its own index privately and a cached copy of the other side's, and touches the other
//! side's line only when its cached view says full (producer) or empty (consumer).
//!
//! # Example
//!
//! ```
//! use axtrace_ring::Ring;
//!
//! let ring = Ring::<u64>::with_capacity(4).unwrap();
//! let (mut producer, mut consumer) = ring.split().unwrap();
//!
//! for value in 1..=5 {
//!     let _ = producer.push(value); // the fifth push finds the ring full and is dropped
//! }
//! let chunk = consumer.read_chunk(usize::MAX);
//! let (first, second) = chunk.as_slices();
//! assert_eq!((first, second), (&[1, 2, 3, 4][..], &[][..]));
//! chunk.commit();
//!
//! let stats = ring.stats();
//! assert_eq!((stats.produced, stats.consumed, stats.dropped), (5, 4, 1));
//! ```
//!
//! Batch producers write in place:
//!
//! ```
//! use axtrace_ring::Ring;
//!
//! let ring = Ring::<[u32; 8]>::with_capacity(8).unwrap();
//! let (mut producer, mut consumer) = ring.split().unwrap();
//!
//! let mut chunk = producer.reserve(3).unwrap();
//! let (first, second) = chunk.as_mut_slices();
//! for (i, slot) in first.iter_mut().chain(second).enumerate() {
//!     *slot = [i as u32; 8];
//! }
//! chunk.commit();
//!
//! let mut out = [[0u32; 8]; 8];
//! assert_eq!(consumer.pop_into(&mut out), 3);
//! assert_eq!(out[2], [2; 8]);
//! ```
//!
//! Per-vCPU rings, drained in a fixed order:
//!
//! ```
//! use axtrace_ring::RingSet;
//!
//! let set = RingSet::<u64>::new(2, 16).unwrap();
//! let (mut producers, mut drain) = set.split().unwrap();
//! std::thread::scope(|scope| {
//!     for (vcpu, mut producer) in producers.drain(..).enumerate() {
//!         scope.spawn(move || {
//!             for i in 0..10 {
//!                 let _ = producer.push(vcpu as u64 * 100 + i);
//!             }
//!         });
//!     }
//! });
//! let mut seen = Vec::new();
//! drain.drain_once(usize::MAX, |vcpu, records| seen.push((vcpu, records.len())));
//! assert_eq!(seen, [(0, 10), (1, 10)]);
//! ```
//!
//! # Where rings live
//!
//! [`Ring::with_capacity`] allocates (feature `alloc`, on by default); [`Ring::from_static`]
//! takes a `&'static mut` region, for a hypervisor that makes its rings before its heap is up.
//! Producer and consumer borrow the ring, so it lives in a `'static` place in the hypervisor and
//! in a scope (`std::thread::scope`) on the host.
//!
//! # Checked how
//!
//! The index protocol is model-checked with loom (`RUSTFLAGS="--cfg loom" cargo test -p
//! axtrace-ring --test loom --release`): under `cfg(loom)` every atomic is loom's and every slot
//! access is tracked, so a missing Acquire/Release shows up as a causality violation.
#![no_std]
#![warn(missing_docs)]

#[cfg(any(feature = "alloc", loom))]
extern crate alloc;

mod consumer;
mod producer;
mod ring;
#[cfg(feature = "alloc")]
mod set;
mod sync;

pub use consumer::{Consumer, ReadChunk};
pub use producer::{Full, Producer, WriteChunk};
pub use ring::{AlreadySplit, CapacityError, Ring, RingStats};
#[cfg(feature = "alloc")]
pub use set::{RingSet, SetConsumer};
