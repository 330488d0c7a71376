//! The guest-physical layout and the device map every guest of this crate shares.
//!
//! | GPA | what |
//! | --- | --- |
//! | `0x1000` | PML4 → `0x2000` PDPT → `0x3000` PD: the first GiB identity-mapped, 2 MiB pages |
//! | `0x4000` | the 3-entry GDT (null, 64-bit code, data) |
//! | `0x1_0000` | the guest code (generated, shared by the VM's vCPUs) |
//! | `0x10_0000` | per vCPU: its exit script, then its result area (see [`crate::guest`]) |
//! | `0x1000_0000` | the device window (1 MiB, no memory: MMIO → `MmioRead` / `MmioWrite`) |
//! | `0x2000_0000` | the hole (1 MiB, no memory: access → `NestedPageFault`) |
//!
//! Ports: ordinary IO from [`IO_BASE`]; the doorbell [`DOORBELL_PORT`]; the exit port
//! [`EXIT_PORT`]. MSRs [`MSR_BASE`]`..+`[`MSR_COUNT`] are denied by the MSR filter, so every
//! access reaches user space.

/// The PML4 page.
pub const PML4: u64 = 0x1000;
/// The PDPT page.
pub const PDPT: u64 = 0x2000;
/// The page directory (512 × 2 MiB = the first GiB).
pub const PD: u64 = 0x3000;
/// The GDT.
pub const GDT: u64 = 0x4000;
/// Where the guest code starts.
pub const CODE: u64 = 0x1_0000;
/// The code's maximum size.
pub const CODE_MAX: u64 = 0x1_0000;
/// Where the first vCPU's script starts.
pub const SCRIPTS: u64 = 0x10_0000;
/// The device window: MMIO here is emulated device access.
pub const DEVICE_WINDOW: core::ops::Range<u64> = 0x1000_0000..0x1010_0000;
/// The hole: nothing backs it; an access is a nested page fault.
pub const HOLE: core::ops::Range<u64> = 0x2000_0000..0x2010_0000;
/// Guest RAM may not reach the device window.
pub const RAM_MAX: u64 = DEVICE_WINDOW.start;
/// The first ordinary IO port (ports are `IO_BASE + 4 * n`).
pub const IO_BASE: u16 = 0x1000;
/// The doorbell: `OUT` of a function number here is a hypercall (see [`crate::exits::Function`]).
pub const DOORBELL_PORT: u16 = 0x0600;
/// `OUT` here ends the vCPU's script: the VMM stops that vCPU.
pub const EXIT_PORT: u16 = 0x0604;
/// The first MSR forwarded to user space.
pub const MSR_BASE: u32 = 0x0000_0a00;
/// How many MSRs from [`MSR_BASE`] are forwarded.
pub const MSR_COUNT: u32 = 8;
/// The largest working set (distinct ports / MMIO addresses per kind).
pub const WORKING_SET_MAX: u32 = 4096;
/// What the guest writes to its result area's first word when the script is done.
pub const DONE_MAGIC: u64 = 0x454e_4f44_5458_4158; // "AXTXDONE"
