//! [`Platform`] for AxVisor on aarch64, and the per-vCPU rings it emits records into.
//!
//! * Clock: the generic timer ([`crate::clock`]). CPU: `ax_hal::percpu::this_cpu_id`.
//! * Current VM / vCPU: one slot per pCPU, set when axvm binds a vCPU to the CPU and cleared
//!   when it unbinds ([`bind_vcpu`] / [`unbind_vcpu`], called by the axvm patch), so helpers
//!   and records name the vCPU that runs here without a lookup per firing.
//! * Rings: one SPSC ring per vCPU of the VMs AxVisor created at boot ([`Rings::new`]). A
//!   vCPU runs on one pCPU at a time, so its ring has one writer; a per-ring flag turns the
//!   rare overlap (an interrupt-context firing on a CPU whose bound vCPU was mid-push) into a
//!   counted drop instead of a second writer.
//! * No executable memory: programs run in the interpreter (no aarch64 JIT yet).
//! * Text patching: [`crate::text`].

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use ax_std::os::arceos::modules::ax_hal;
use axebpf_core::Record;
use axebpf_core::platform::{EmitError, ExecMemoryError, ExecRegion, PatchError, Platform};
use axtrace_ring::{Producer, RingSet, SetConsumer};

/// pCPUs the per-CPU slots cover (QEMU's virt board allows up to 512; AxVisor's images here
/// boot 4).
pub const MAX_CPUS: usize = 64;
/// `vm << 16 | vcpu`, or `NONE`.
const NONE: u32 = u32::MAX;
static CURRENT: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(NONE) }; MAX_CPUS];

/// The running vCPU of this CPU becomes `(vm, vcpu)` (axvm: when it binds the vCPU).
#[inline(always)]
pub fn bind_vcpu(vm: usize, vcpu: usize) {
    if let Some(slot) = CURRENT.get(ax_hal::percpu::this_cpu_id()) {
        slot.store(
            ((vm as u32) << 16) | (vcpu as u32 & 0xffff),
            Ordering::Relaxed,
        );
    }
}

/// No vCPU runs on this CPU any more (axvm: when it unbinds the vCPU).
#[inline(always)]
pub fn unbind_vcpu() {
    if let Some(slot) = CURRENT.get(ax_hal::percpu::this_cpu_id()) {
        slot.store(NONE, Ordering::Relaxed);
    }
}

fn current() -> Option<(u16, u16)> {
    let packed = CURRENT
        .get(ax_hal::percpu::this_cpu_id())?
        .load(Ordering::Relaxed);
    (packed != NONE).then_some(((packed >> 16) as u16, packed as u16))
}

/// One vCPU's ring producer, with the flag that keeps it single-writer.
struct Slot {
    vm: u16,
    vcpu: u16,
    busy: AtomicBool,
    producer: UnsafeCell<Producer<'static, Record>>,
    /// Records refused because another writer held the slot (counted with the ring's drops).
    contended: AtomicU64,
}

// SAFETY: `producer` is only touched by the holder of `busy` (acquired with an Acquire swap,
// released with a Release store), so at most one thread uses it at a time.
unsafe impl Sync for Slot {}

/// The per-vCPU rings: producers for the sites, consumers for the drain.
pub struct Rings {
    slots: Box<[Slot]>,
    set: &'static RingSet<Record>,
}

impl Rings {
    /// One ring of `capacity` records per `(vm, vcpu)` in `vcpus` (ring `i` is `vcpus[i]`);
    /// the consumers go to the drain.
    pub fn new(
        vcpus: &[(u16, u16)],
        capacity: usize,
    ) -> Result<(Self, SetConsumer<'static, Record>), axtrace_ring::CapacityError> {
        let set: &'static RingSet<Record> =
            Box::leak(Box::new(RingSet::new(vcpus.len(), capacity)?));
        let (producers, consumers) = set.split().expect("a new ring set splits once");
        let slots = vcpus
            .iter()
            .zip(producers)
            .map(|(&(vm, vcpu), producer)| Slot {
                vm,
                vcpu,
                busy: AtomicBool::new(false),
                producer: UnsafeCell::new(producer),
                contended: AtomicU64::new(0),
            })
            .collect();
        Ok((Self { slots, set }, consumers))
    }

    /// `(ring, vm, vcpu)` for the dump's metadata.
    pub fn table(&self) -> Vec<(u16, u16, u16)> {
        self.slots
            .iter()
            .enumerate()
            .map(|(ring, slot)| (ring as u16, slot.vm, slot.vcpu))
            .collect()
    }

    /// The ring set (for counters).
    pub fn set(&self) -> &'static RingSet<Record> {
        self.set
    }

    /// Records refused on contention, all rings.
    pub fn contended(&self) -> u64 {
        self.slots
            .iter()
            .map(|s| s.contended.load(Ordering::Relaxed))
            .sum()
    }

    fn push(&self, vm: u16, vcpu: u16, record: &Record) -> Result<(), EmitError> {
        let slot = self
            .slots
            .iter()
            .find(|s| s.vm == vm && s.vcpu == vcpu)
            .ok_or(EmitError::NoRing)?;
        if slot.busy.swap(true, Ordering::Acquire) {
            slot.contended.fetch_add(1, Ordering::Relaxed);
            return Err(EmitError::Full);
        }
        // SAFETY: we hold `busy`, so no other thread uses the producer (see `Slot`).
        let result = unsafe { &mut *slot.producer.get() }.push(*record);
        slot.busy.store(false, Ordering::Release);
        result.map_err(|_| EmitError::Full)
    }
}

/// The platform: the rings once [`crate::init`] made them.
pub struct AxvisorPlatform {
    pub(crate) rings: std::sync::OnceLock<Rings>,
}

impl Platform for AxvisorPlatform {
    fn monotonic_ns(&self) -> u64 {
        crate::clock::now_ns()
    }

    fn current_cpu(&self) -> u32 {
        ax_hal::percpu::this_cpu_id() as u32
    }

    fn current_vm(&self) -> u16 {
        current().map_or(0, |(vm, _)| vm)
    }

    fn current_vcpu(&self) -> u16 {
        current().map_or(0, |(_, vcpu)| vcpu)
    }

    fn possible_cpus(&self) -> usize {
        ax_hal::cpu_num()
    }

    fn emit_record(&self, record: &Record) -> Result<(), EmitError> {
        let (vm, vcpu) = current().ok_or(EmitError::NoRing)?;
        self.rings
            .get()
            .ok_or(EmitError::NoRing)?
            .push(vm, vcpu, record)
    }

    unsafe fn patch_text(&self, addr: *mut u8, bytes: &[u8]) -> Result<(), PatchError> {
        // SAFETY: forwarded contract: `addr` is a static-key site and `bytes` its replacement.
        unsafe { crate::text::patch(addr, bytes) }
    }

    fn alloc_exec(&self, _len: usize) -> Result<ExecRegion, ExecMemoryError> {
        // No aarch64 JIT yet: `trace load --mode jit` is refused with this, the interpreter runs.
        Err(ExecMemoryError::Unsupported)
    }

    fn seal_exec(&self, _region: &ExecRegion) -> Result<(), ExecMemoryError> {
        Err(ExecMemoryError::Unsupported)
    }

    unsafe fn free_exec(&self, _region: ExecRegion) {}
}
