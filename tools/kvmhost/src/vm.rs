//! One VM: its guest memory (tables, code, one script and result area per vCPU), the memory
//! slot, and the MSR filter that forwards [`MSR_BASE`]`..+`[`MSR_COUNT`] to user space.

use kvm_bindings::{KVM_MSR_EXIT_REASON_FILTER, kvm_enable_cap, kvm_userspace_memory_region};
use kvm_ioctls::{Cap, Kvm, MsrFilterDefaultAction, MsrFilterRange, MsrFilterRangeFlags, VmFd};

use crate::Error;
use crate::layout::{CODE, CODE_MAX, MSR_BASE, MSR_COUNT, RAM_MAX, SCRIPTS};
use crate::script::{self, Entry};

/// Anonymous memory backing guest RAM at GPA 0.
pub struct GuestMemory {
    ptr: *mut u8,
    len: usize,
}

impl GuestMemory {
    /// `len` bytes of zeroed memory.
    fn new(len: usize) -> Result<Self, Error> {
        // SAFETY: an anonymous private mapping with no address hint touches no existing memory.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Error::Config(format!(
                "cannot map {len} bytes of guest memory"
            )));
        }
        Ok(Self {
            ptr: ptr.cast(),
            len,
        })
    }

    /// Copies `bytes` to `gpa` (panics outside RAM: the layout is this crate's own).
    pub fn write(&self, gpa: u64, bytes: &[u8]) {
        let start = gpa as usize;
        assert!(start + bytes.len() <= self.len, "write outside guest RAM");
        // SAFETY: in bounds (checked); no vCPU runs while the host writes (before start-up).
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(start), bytes.len()) };
    }

    /// Reads the `u64` at `gpa`.
    pub fn read_u64(&self, gpa: u64) -> u64 {
        let start = gpa as usize;
        assert!(start + 8 <= self.len, "read outside guest RAM");
        // SAFETY: in bounds (checked); read after the vCPUs stopped.
        u64::from_le(unsafe { self.ptr.add(start).cast::<u64>().read_unaligned() })
    }
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        // SAFETY: our own mapping; the VM that used it is dropped before it (field order).
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// A VM ready to run: its fd, memory and per-vCPU scripts.
pub struct Vm {
    /// Its id in the tracepoints.
    pub id: u16,
    /// The KVM VM (dropped before `memory`).
    pub fd: VmFd,
    /// Guest RAM.
    pub memory: GuestMemory,
    /// Per vCPU: its script and the GPAs of the script and of the result area.
    pub scripts: Vec<(Vec<Entry>, u64, u64)>,
}

/// Whether KVM can forward filtered MSR accesses to user space.
pub fn msr_forwarding_supported(kvm: &Kvm) -> bool {
    kvm.check_extension(Cap::X86UserSpaceMsr) && kvm.check_extension(Cap::X86MsrFilter)
}

/// Creates VM `id` with one script per vCPU; `forward_msrs` installs the MSR filter.
pub fn create(
    kvm: &Kvm,
    id: u16,
    scripts: Vec<Vec<Entry>>,
    code: &[u8],
    forward_msrs: bool,
) -> Result<Vm, Error> {
    let kvm_err = |what| move |source| Error::Kvm { what, source };
    let fd = kvm.create_vm().map_err(kvm_err("KVM_CREATE_VM"))?;
    if forward_msrs {
        let cap = kvm_enable_cap {
            cap: kvm_bindings::KVM_CAP_X86_USER_SPACE_MSR,
            args: [u64::from(KVM_MSR_EXIT_REASON_FILTER), 0, 0, 0],
            ..Default::default()
        };
        fd.enable_cap(&cap)
            .map_err(kvm_err("KVM_ENABLE_CAP(X86_USER_SPACE_MSR)"))?;
        let deny = [0u8; MSR_COUNT.div_ceil(8) as usize];
        let range = MsrFilterRange {
            flags: MsrFilterRangeFlags::READ | MsrFilterRangeFlags::WRITE,
            base: MSR_BASE,
            msr_count: MSR_COUNT,
            bitmap: &deny,
        };
        fd.set_msr_filter(MsrFilterDefaultAction::ALLOW, &[range])
            .map_err(kvm_err("KVM_X86_SET_MSR_FILTER"))?;
    }
    if code.len() as u64 > CODE_MAX {
        return Err(Error::Config("guest code too large".into()));
    }
    let mut placed = Vec::with_capacity(scripts.len());
    let mut gpa = SCRIPTS;
    for script in scripts {
        let results = gpa + script.len() as u64 * script::ENTRY_SIZE;
        let next = gpa + script::footprint(script.len());
        placed.push((script, gpa, results));
        gpa = next;
    }
    let ram = gpa.next_multiple_of(2 << 20);
    if ram > RAM_MAX {
        return Err(Error::Config(format!(
            "scripts need {ram:#x} bytes of guest RAM, more than the {RAM_MAX:#x} below the device window"
        )));
    }
    let memory = GuestMemory::new(ram as usize)?;
    for (table_gpa, bytes) in crate::guest::system_tables() {
        memory.write(table_gpa, &bytes);
    }
    memory.write(CODE, code);
    for (script, script_gpa, _) in &placed {
        memory.write(*script_gpa, &script::encode(script));
    }
    let region = kvm_userspace_memory_region {
        slot: 0,
        flags: 0,
        guest_phys_addr: 0,
        memory_size: ram,
        userspace_addr: memory.ptr as u64,
    };
    // SAFETY: the region is our own mapping of `ram` bytes, alive as long as the VM (`Vm`
    // drops `fd` before `memory`).
    unsafe { fd.set_user_memory_region(region) }.map_err(kvm_err("KVM_SET_USER_MEMORY_REGION"))?;
    Ok(Vm {
        id,
        fd,
        memory,
        scripts: placed,
    })
}
