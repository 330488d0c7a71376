//! The axtrace command-line tools (`axtrace`) and, as later issues add them, the KVM-backed VMM
//! whose vCPU loop produces real VM exits.
//!
//! [`ring_check`] exercises the per-vCPU record rings end to end on the host: one producer thread
//! per simulated vCPU, one draining consumer, every record verified.

pub mod ring_check;
