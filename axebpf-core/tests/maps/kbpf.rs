//! kbpf-basic's maps, created the way a kernel using kbpf-basic creates them: the baseline of
//! `benches/benches/maps.rs` and the subject of the tests that pin the kbpf-basic behaviour our
//! choices rest on. Shared by both through `#[path]`.
//!
//! kbpf-basic needs a `KernelAuxiliaryOps` (only its `MapLock` matters for maps; the rest is
//! stubbed with `EPERM`) and a `PerCpuVariantsOps` (one copy per CPU; "the current CPU" is a
//! thread-local set with [`set_current_cpu`], as a hypervisor's per-CPU variable would be).

#![allow(dead_code)]

use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use kbpf_basic::linux_bpf::BpfMapType;
use kbpf_basic::map::{BpfMapMeta, PerCpuVariants, PerCpuVariantsOps, UnifiedMap, bpf_map_create};
use kbpf_basic::preprocessor::EbpfInst;
use kbpf_basic::{BpfError, BpfResult, KernelAuxiliaryOps};

/// A test-and-set spinlock for kbpf-basic's per-map `lock_api::Mutex`.
pub struct SpinRaw(AtomicBool);

// SAFETY: `lock` returns only after swapping `false` to `true` with Acquire, so one holder at a
// time; `unlock` (called only by the holder) releases with Release.
unsafe impl lock_api::RawMutex for SpinRaw {
    const INIT: Self = SpinRaw(AtomicBool::new(false));
    type GuardMarker = lock_api::GuardSend;

    fn lock(&self) {
        while !self.try_lock() {
            std::hint::spin_loop();
        }
    }

    fn try_lock(&self) -> bool {
        self.0
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    unsafe fn unlock(&self) {
        self.0.store(false, Ordering::Release);
    }
}

/// A kbpf-basic map as our benchmarks and tests use it.
pub type KbpfMap = UnifiedMap<SpinRaw>;

static NUM_CPUS: AtomicU32 = AtomicU32::new(1);
thread_local! {
    static CURRENT_CPU: Cell<u32> = const { Cell::new(0) };
}

/// Which CPU this thread plays, for kbpf-basic's per-CPU maps.
pub fn set_current_cpu(cpu: u32) {
    CURRENT_CPU.with(|c| c.set(cpu));
}

/// Creates a kbpf-basic map (creation flags 0) with one copy per CPU for per-CPU kinds.
pub fn create(
    map_type: BpfMapType,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    cpus: u32,
) -> BpfResult<KbpfMap> {
    NUM_CPUS.store(cpus, Ordering::Relaxed);
    let meta = BpfMapMeta {
        map_type,
        key_size,
        value_size,
        max_entries,
        ..Default::default()
    };
    bpf_map_create::<Aux, PerCpu>(meta, None)
}

struct PerCpu;

struct PerCpuCopies<T>(Vec<UnsafeCell<T>>);

// SAFETY: each copy is used by the thread playing its CPU, and kbpf-basic reaches the copies only
// under the map's mutex.
unsafe impl<T: Send> Sync for PerCpuCopies<T> {}

impl<T> std::fmt::Debug for PerCpuCopies<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PerCpuCopies")
    }
}

impl<T: Clone + Sync + Send> PerCpuVariants<T> for PerCpuCopies<T> {
    fn get(&self) -> &T {
        let cpu = CURRENT_CPU.with(Cell::get);
        // SAFETY: only the thread playing `cpu` uses this copy (see `Sync` above).
        unsafe { &*self.0[cpu as usize].get() }
    }

    #[allow(clippy::mut_from_ref)]
    fn get_mut(&self) -> &mut T {
        let cpu = CURRENT_CPU.with(Cell::get);
        // SAFETY: as in `get`; kbpf-basic holds the map's mutex while it uses the reference.
        unsafe { &mut *self.0[cpu as usize].get() }
    }

    unsafe fn force_get(&self, cpu: u32) -> &T {
        // SAFETY: the caller promises no other thread uses copy `cpu` meanwhile.
        unsafe { &*self.0[cpu as usize].get() }
    }

    unsafe fn force_get_mut(&self, cpu: u32) -> &mut T {
        // SAFETY: as in `force_get`.
        unsafe { &mut *self.0[cpu as usize].get() }
    }
}

impl PerCpuVariantsOps for PerCpu {
    fn create<T: Clone + Sync + Send + 'static>(value: T) -> Option<Box<dyn PerCpuVariants<T>>> {
        let copies = (0..Self::num_cpus())
            .map(|_| UnsafeCell::new(value.clone()))
            .collect();
        Some(Box::new(PerCpuCopies(copies)))
    }

    fn num_cpus() -> u32 {
        NUM_CPUS.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for PerCpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PerCpu")
    }
}

#[derive(Clone)]
struct NoInst;

impl EbpfInst for NoInst {
    fn opc(&self) -> u8 {
        0
    }
    fn imm(&self) -> i32 {
        0
    }
    fn src(&self) -> u8 {
        0
    }
    fn set_imm(&mut self, _imm: i32) {}
    fn to_array(&self) -> [u8; 8] {
        [0; 8]
    }
}

struct Aux;

impl KernelAuxiliaryOps for Aux {
    type MapLock = SpinRaw;

    fn get_unified_map_from_ptr<F, R>(_ptr: *const u8, _func: F) -> BpfResult<R>
    where
        F: FnOnce(&UnifiedMap<Self::MapLock>) -> BpfResult<R>,
    {
        Err(BpfError::EPERM)
    }
    fn get_unified_map_from_fd<F, R>(_map_fd: u32, _func: F) -> BpfResult<R>
    where
        F: FnOnce(&UnifiedMap<Self::MapLock>) -> BpfResult<R>,
    {
        Err(BpfError::EPERM)
    }
    fn get_unified_map_ptr_from_fd(_map_fd: u32) -> BpfResult<*const u8> {
        Err(BpfError::EPERM)
    }
    fn translate_instruction(_instruction: Vec<u8>) -> BpfResult<Vec<impl EbpfInst>> {
        Err::<Vec<NoInst>, _>(BpfError::EPERM)
    }
    fn copy_from_user(_src: *const u8, _size: usize, _dst: &mut [u8]) -> BpfResult<()> {
        Err(BpfError::EPERM)
    }
    fn copy_to_user(_dest: *mut u8, _size: usize, _src: &[u8]) -> BpfResult<()> {
        Err(BpfError::EPERM)
    }
    fn current_cpu_id() -> u32 {
        CURRENT_CPU.with(Cell::get)
    }
    fn perf_event_output(
        _ctx: *mut core::ffi::c_void,
        _fd: u32,
        _flags: u32,
        _data: &[u8],
    ) -> BpfResult<()> {
        Err(BpfError::EPERM)
    }
    fn string_from_user_cstr(_ptr: *const u8) -> BpfResult<String> {
        Err(BpfError::EPERM)
    }
    fn ebpf_write_str(_str: &str) -> BpfResult<()> {
        Err(BpfError::EPERM)
    }
    fn ebpf_time_ns() -> BpfResult<u64> {
        Err(BpfError::EPERM)
    }
    fn alloc_page() -> BpfResult<usize> {
        Err(BpfError::EPERM)
    }
    fn free_page(_phys_addr: usize) {}
    fn vmap(_phys_addrs: &[usize]) -> BpfResult<usize> {
        Err(BpfError::EPERM)
    }
    fn vunmap(_vaddr: usize, _num_pages: usize) {}
}
