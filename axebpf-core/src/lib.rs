//! The in-hypervisor part of axtrace: what runs inside AxVisor (or inside our KVM host on
//! Linux) between a VMM tracepoint and the per-vCPU record rings.
//!
//! `no_std` + `alloc`, so it drops into AxVisor; the `std` feature is the Linux host build.
//! Today it defines the [`Record`] every handler emits and re-exports the per-vCPU ring
//! ([`ring`]); the tracepoints, the eBPF runtime, maps, loader, verifier, drain, dump and shell
//! commands of `DESIGN.md` arrive with their issues.
#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod context;
pub mod drain;
pub mod dump;
pub mod exit_reason;
pub mod filter;
pub mod helpers;
pub mod insn;
pub mod loader;
pub mod maps;
pub mod object;
pub mod platform;
pub mod record;
pub mod registry;
pub mod runtime;
pub mod shell;
mod spin;
pub mod symbols;
pub mod trace_log;
pub mod tracepoint;
pub mod verifier;

pub use axtrace_ring as ring;
pub use record::{RECORD_SIZE, Record};
