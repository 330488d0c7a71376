//! The axtrace command-line tools (`axtrace`) and, as later issues add them, the KVM-backed VMM
//! whose vCPU loop produces real VM exits.
//!
//! [`bpf_run`] runs one raw eBPF program the way ISA conformance runners expect;
//! [`inspect`] loads an eBPF object and describes its maps and programs; [`shell`] runs the
//! `trace` commands.
//! [`report`] is `axtrace-report`: exit-latency tables, HdrHistogram files, plots and diffs.
//! [`ring_check`] exercises the per-vCPU record rings end to end on the host: one producer thread
//! per simulated vCPU, one draining consumer, every record verified.

pub mod bpf_run;
pub mod convert;
pub mod drain_thread;
pub mod inspect;
pub mod record;
pub mod report;
pub mod ring_check;
pub mod shell;
