//! The one table from KVM exits to axtrace's [`ExitReason`]s, the doorbell's function numbers,
//! and the values the emulated devices return.

use axebpf_core::exit_reason::ExitReason;
use axebpf_core::tracepoint::ExitDetail;
use kvm_ioctls::VcpuExit;

use crate::layout::{DEVICE_WINDOW, DOORBELL_PORT, HOLE};

/// The doorbell's function numbers: the guest writes one (32-bit `OUT`) to
/// [`DOORBELL_PORT`](crate::layout::DOORBELL_PORT), its first argument in `rbx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum Function {
    /// 0: a plain hypercall.
    Hypercall = 0,
    /// 1: start a CPU.
    CpuUp = 1,
    /// 2: stop a CPU.
    CpuDown = 2,
    /// 3: send an IPI.
    SendIpi = 3,
    /// 4: shut the system down (recorded only; the script goes on).
    SystemDown = 4,
    /// 5: nothing.
    Nothing = 5,
}

impl Function {
    /// Every function, in number order.
    pub const ALL: [Function; 6] = [
        Self::Hypercall,
        Self::CpuUp,
        Self::CpuDown,
        Self::SendIpi,
        Self::SystemDown,
        Self::Nothing,
    ];

    /// The function with number `nr`.
    pub fn from_nr(nr: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|f| *f as u32 == nr)
    }

    /// The exit reason a call of this function is.
    pub const fn reason(self) -> ExitReason {
        match self {
            Self::Hypercall => ExitReason::Hypercall,
            Self::CpuUp => ExitReason::CpuUp,
            Self::CpuDown => ExitReason::CpuDown,
            Self::SendIpi => ExitReason::SendIpi,
            Self::SystemDown => ExitReason::SystemDown,
            Self::Nothing => ExitReason::Nothing,
        }
    }
}

/// A KVM exit, owned (kvm-ioctls' [`VcpuExit`] borrows the run page), plus `Interrupted` for a
/// `KVM_RUN` that returned `EINTR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvmExit {
    /// `KVM_EXIT_IO`, in.
    IoIn {
        /// Port.
        port: u16,
        /// Bytes.
        width: u32,
    },
    /// `KVM_EXIT_IO`, out.
    IoOut {
        /// Port.
        port: u16,
        /// Bytes.
        width: u32,
        /// The value written.
        data: u64,
    },
    /// `KVM_EXIT_MMIO`, read.
    MmioRead {
        /// GPA.
        addr: u64,
        /// Bytes.
        width: u32,
    },
    /// `KVM_EXIT_MMIO`, write.
    MmioWrite {
        /// GPA.
        addr: u64,
        /// Bytes.
        width: u32,
        /// The value written.
        data: u64,
    },
    /// `KVM_EXIT_HLT`.
    Hlt,
    /// `KVM_EXIT_X86_RDMSR`.
    RdMsr {
        /// MSR index.
        index: u32,
    },
    /// `KVM_EXIT_X86_WRMSR`.
    WrMsr {
        /// MSR index.
        index: u32,
        /// The value written.
        data: u64,
    },
    /// `KVM_RUN` returned `EINTR` (a kick: `immediate_exit` or a signal).
    Interrupted,
    /// `KVM_EXIT_INTR`.
    Intr,
    /// `KVM_EXIT_IRQ_WINDOW_OPEN`.
    IrqWindowOpen,
    /// `KVM_EXIT_HYPERCALL`.
    Hypercall {
        /// Hypercall number.
        nr: u64,
    },
    /// `KVM_EXIT_SHUTDOWN` (triple fault).
    Shutdown,
    /// `KVM_EXIT_SYSTEM_EVENT`.
    SystemEvent {
        /// `KVM_SYSTEM_EVENT_*`.
        kind: u32,
    },
    /// `KVM_EXIT_FAIL_ENTRY`.
    FailEntry {
        /// Hardware entry failure reason.
        reason: u64,
    },
    /// `KVM_EXIT_INTERNAL_ERROR`.
    InternalError,
    /// `KVM_EXIT_MEMORY_FAULT`.
    MemoryFault {
        /// GPA.
        gpa: u64,
    },
    /// Anything else (`KVM_EXIT_EXCEPTION`, `_DEBUG`, `_UNKNOWN`, s390/ppc exits, new ones).
    Other {
        /// The `KVM_EXIT_*` number where known, else 0.
        code: u32,
    },
}

/// Little-endian bytes as a number (at most 8).
pub fn le_value(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .take(8)
        .rev()
        .fold(0, |acc, &b| (acc << 8) | u64::from(b))
}

impl KvmExit {
    /// The owned form of a kvm-ioctls exit.
    pub fn from_vcpu_exit(exit: &VcpuExit<'_>) -> Self {
        use kvm_bindings as b;
        let width = |data: &[u8]| data.len() as u32;
        match exit {
            VcpuExit::IoIn(port, data) => Self::IoIn {
                port: *port,
                width: width(data),
            },
            VcpuExit::IoOut(port, data) => Self::IoOut {
                port: *port,
                width: width(data),
                data: le_value(data),
            },
            VcpuExit::MmioRead(addr, data) => Self::MmioRead {
                addr: *addr,
                width: width(data),
            },
            VcpuExit::MmioWrite(addr, data) => Self::MmioWrite {
                addr: *addr,
                width: width(data),
                data: le_value(data),
            },
            VcpuExit::Hlt => Self::Hlt,
            VcpuExit::X86Rdmsr(msr) => Self::RdMsr { index: msr.index },
            VcpuExit::X86Wrmsr(msr) => Self::WrMsr {
                index: msr.index,
                data: msr.data,
            },
            VcpuExit::Intr => Self::Intr,
            VcpuExit::IrqWindowOpen => Self::IrqWindowOpen,
            VcpuExit::Hypercall(call) => Self::Hypercall { nr: call.nr },
            VcpuExit::Shutdown => Self::Shutdown,
            VcpuExit::SystemEvent(kind, _) => Self::SystemEvent { kind: *kind },
            VcpuExit::FailEntry(reason, _) => Self::FailEntry { reason: *reason },
            VcpuExit::InternalError => Self::InternalError,
            VcpuExit::MemoryFault { gpa, .. } => Self::MemoryFault { gpa: *gpa },
            VcpuExit::Exception => Self::Other {
                code: b::KVM_EXIT_EXCEPTION,
            },
            VcpuExit::Debug(_) => Self::Other {
                code: b::KVM_EXIT_DEBUG,
            },
            VcpuExit::Unknown => Self::Other {
                code: b::KVM_EXIT_UNKNOWN,
            },
            VcpuExit::Unsupported(code) => Self::Other { code: *code },
            _ => Self::Other { code: 0 },
        }
    }
}

/// Access flags in [`ExitDetail::aux`] for a nested page fault: read.
pub const ACCESS_READ: u64 = 1;
/// Access flags in [`ExitDetail::aux`] for a nested page fault: write.
pub const ACCESS_WRITE: u64 = 2;

/// THE table: what a KVM exit is as an axtrace exit, with its details.
///
/// | KVM exit | reason | width / addr / value / aux |
/// | --- | --- | --- |
/// | IO out to the doorbell | the [`Function`]'s (unknown number: `Other`) | 0 / function nr / (a0, set by the VMM) / 0 |
/// | other IO out (incl. the exit port) | `IoWrite` | bytes / port / data / 0 |
/// | IO in | `IoRead` | bytes / port / 0 / 0 |
/// | MMIO in the device window | `MmioRead` / `MmioWrite` | bytes / GPA / data (write) / 0 |
/// | MMIO anywhere else (the hole …) | `NestedPageFault` | bytes / GPA / data (write) / 1 read, 2 write |
/// | `HLT` | `Halt` | |
/// | `RDMSR` / `WRMSR` | `SysRegRead` / `SysRegWrite` | 8 / MSR / data (write) / 0 |
/// | `EINTR`, `KVM_EXIT_INTR` | `ExternalInterrupt` | |
/// | `KVM_EXIT_HYPERCALL` | `Hypercall` | 0 / nr / 0 / 0 |
/// | `SHUTDOWN`, `SYSTEM_EVENT` | `SystemDown` | 0 / 0 / event type / 0 |
/// | `FAIL_ENTRY`, `INTERNAL_ERROR` | `FailEntry` | 0 / hardware reason / 0 / 0 |
/// | `MEMORY_FAULT` | `NestedPageFault` | 0 / GPA / 0 / 0 |
/// | `IRQ_WINDOW_OPEN` | `Nothing` | |
/// | anything else | `Other` | 0 / `KVM_EXIT_*` number / 0 / 0 |
pub fn exit_detail(exit: &KvmExit) -> ExitDetail {
    let detail = |reason, width: u32, addr: u64, value: u64, aux: u64| ExitDetail {
        reason,
        width,
        addr,
        value,
        aux,
    };
    let mmio = |addr: u64, width, value, write: bool, reason| {
        if DEVICE_WINDOW.contains(&addr) {
            detail(reason, width, addr, value, 0)
        } else {
            let access = if write { ACCESS_WRITE } else { ACCESS_READ };
            detail(ExitReason::NestedPageFault, width, addr, value, access)
        }
    };
    match *exit {
        KvmExit::IoOut { port, data, .. } if port == DOORBELL_PORT => {
            let reason = Function::from_nr(data as u32).map_or(ExitReason::Other, Function::reason);
            detail(reason, 0, data & 0xffff_ffff, 0, 0)
        }
        KvmExit::IoOut { port, width, data } => {
            detail(ExitReason::IoWrite, width, u64::from(port), data, 0)
        }
        KvmExit::IoIn { port, width } => detail(ExitReason::IoRead, width, u64::from(port), 0, 0),
        KvmExit::MmioRead { addr, width } => mmio(addr, width, 0, false, ExitReason::MmioRead),
        KvmExit::MmioWrite { addr, width, data } => {
            mmio(addr, width, data, true, ExitReason::MmioWrite)
        }
        KvmExit::Hlt => ExitReason::Halt.into(),
        KvmExit::RdMsr { index } => detail(ExitReason::SysRegRead, 8, u64::from(index), 0, 0),
        KvmExit::WrMsr { index, data } => {
            detail(ExitReason::SysRegWrite, 8, u64::from(index), data, 0)
        }
        KvmExit::Interrupted | KvmExit::Intr => ExitReason::ExternalInterrupt.into(),
        KvmExit::Hypercall { nr } => detail(ExitReason::Hypercall, 0, nr, 0, 0),
        KvmExit::Shutdown => ExitReason::SystemDown.into(),
        KvmExit::SystemEvent { kind } => detail(ExitReason::SystemDown, 0, 0, u64::from(kind), 0),
        KvmExit::FailEntry { reason } => detail(ExitReason::FailEntry, 0, reason, 0, 0),
        KvmExit::InternalError => ExitReason::FailEntry.into(),
        KvmExit::MemoryFault { gpa } => detail(ExitReason::NestedPageFault, 0, gpa, 0, 0),
        KvmExit::IrqWindowOpen => ExitReason::Nothing.into(),
        KvmExit::Other { code } => detail(ExitReason::Other, 0, u64::from(code), 0, 0),
    }
}

/// What `IN` from `port` reads (a 32-bit value derived from the port).
pub fn io_in_value(port: u16) -> u32 {
    0x1a00_0000 | (u32::from(port) << 4) | 0x5
}

/// What an MMIO read of `gpa` in the device window returns.
pub fn mmio_read_value(gpa: u64) -> u64 {
    0x3300_0000_0000_0000 ^ gpa.wrapping_mul(0x9e37_79b9)
}

/// What a read in the hole returns: all ones (an unbacked bus), `width` bytes of them.
pub fn hole_read_value(width: u32) -> u64 {
    if width >= 8 {
        u64::MAX
    } else {
        (1u64 << (width * 8)) - 1
    }
}

/// What `RDMSR` of a forwarded MSR returns.
pub fn msr_read_value(index: u32) -> u64 {
    0x7700_0000_0000_0000 | (u64::from(index) << 16) | 0xbeef
}

/// Whether `gpa` is in the hole.
pub fn in_hole(gpa: u64) -> bool {
    HOLE.contains(&gpa)
}
