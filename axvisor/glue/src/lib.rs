//! axtrace inside AxVisor (0.8.2, aarch64): what the patched axvisor and axvm call.
//!
//! * [`init`] — once at boot, after AxVisor created its VMs: the generic-timer clock, one ring
//!   per vCPU, the [`platform::AxvisorPlatform`] installed for `axebpf-core`, and the drain
//!   task ([`dump`]).
//! * [`sites`] — the tracepoint sites axvm's run loop and exit handlers call, and
//!   [`platform::bind_vcpu`] / [`platform::unbind_vcpu`], which say which vCPU runs where.
//! * [`shell::run`] — the `trace` command of AxVisor's shell.
//!
//! Built only inside AxVisor's build (see `docs/axvisor-integration.md`).

extern crate alloc;

pub mod clock;
pub mod dump;
pub mod platform;
pub mod semihosting;
pub mod shell;
pub mod sites;
pub mod text;

pub use axebpf_core;
pub use axebpf_core::exit_reason::ExitReason;
pub use axebpf_core::tracepoint::ExitDetail;

use std::sync::OnceLock;

use axebpf_core::platform::Platform;

use crate::dump::Dumper;
use crate::platform::{AxvisorPlatform, Rings};

/// Records per vCPU ring (a power of two): 32 KiB of records each.
pub const RING_RECORDS: usize = 1024;

static PLATFORM: AxvisorPlatform = AxvisorPlatform {
    rings: OnceLock::new(),
};
static PLATFORM_REF: &dyn Platform = &PLATFORM;
static DUMPER: OnceLock<Dumper> = OnceLock::new();

/// Records the rings refused because another writer held them (see [`platform::Rings`]).
pub fn contended_records() -> u64 {
    PLATFORM.rings.get().map_or(0, Rings::contended)
}

/// The drain, once [`init`] ran.
pub fn dumper() -> Option<&'static Dumper> {
    DUMPER.get()
}

/// Sets axtrace up for the VMs AxVisor created: `vms` = `(vm id, vCPU count)`. Call once,
/// before any vCPU runs; a second call changes nothing.
pub fn init(vms: &[(usize, usize)]) {
    if DUMPER.get().is_some() {
        return;
    }
    clock::init();
    let vcpus: alloc::vec::Vec<(u16, u16)> = vms
        .iter()
        .flat_map(|&(vm, count)| (0..count).map(move |vcpu| (vm as u16, vcpu as u16)))
        .collect();
    let (rings, consumers) = match Rings::new(&vcpus, RING_RECORDS) {
        Ok(made) => made,
        Err(why) => {
            std::println!("axtrace: no rings ({why:?}); tracing stays off");
            return;
        }
    };
    let table = rings.table();
    if PLATFORM.rings.set(rings).is_err() {
        return;
    }
    axebpf_core::platform::install(&PLATFORM_REF);
    let dumper = DUMPER.get_or_init(|| Dumper::new(consumers, table));
    dumper.spawn();
    std::println!(
        "axtrace: {} vCPU ring(s) of {RING_RECORDS} records; clock {} Hz; dump to the host: {}",
        vcpus.len(),
        clock::frequency_hz(),
        if semihosting::enabled() {
            "semihosting"
        } else {
            "none (not built for QEMU semihosting)"
        }
    );
}
