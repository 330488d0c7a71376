//! The VM-exit reason codes: the seed's `AxVCpuExitReason::to_trace_code` table, plus `Other`
//! for variants AxVisor adds later (its enum is `#[non_exhaustive]`). The one table every part
//! names reasons from; `axtrace.h` carries the same codes (a test compares them).

/// Why a vCPU left the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum ExitReason {
    /// A hypercall (`vmcall` / `hvc`).
    Hypercall = 1,
    /// A read from emulated MMIO.
    MmioRead = 2,
    /// A write to emulated MMIO.
    MmioWrite = 3,
    /// A system register (MSR) read.
    SysRegRead = 4,
    /// A system register (MSR) write.
    SysRegWrite = 5,
    /// A port IO read.
    IoRead = 6,
    /// A port IO write.
    IoWrite = 7,
    /// An external interrupt arrived.
    ExternalInterrupt = 8,
    /// A nested page fault (EPT / stage-2 violation).
    NestedPageFault = 9,
    /// The guest halted.
    Halt = 10,
    /// The guest asked to start a CPU.
    CpuUp = 11,
    /// The guest asked to stop a CPU.
    CpuDown = 12,
    /// The guest asked to shut the system down.
    SystemDown = 13,
    /// Nothing to do (a spurious or handled-in-place exit).
    Nothing = 14,
    /// VM entry failed.
    FailEntry = 15,
    /// The guest sent an inter-processor interrupt.
    SendIpi = 16,
    /// A reason this table does not know (newer AxVisor variants).
    Other = 0xffff,
}

impl ExitReason {
    /// Every reason, in code order (`Other` last).
    pub const ALL: [ExitReason; 17] = [
        Self::Hypercall,
        Self::MmioRead,
        Self::MmioWrite,
        Self::SysRegRead,
        Self::SysRegWrite,
        Self::IoRead,
        Self::IoWrite,
        Self::ExternalInterrupt,
        Self::NestedPageFault,
        Self::Halt,
        Self::CpuUp,
        Self::CpuDown,
        Self::SystemDown,
        Self::Nothing,
        Self::FailEntry,
        Self::SendIpi,
        Self::Other,
    ];

    /// The trace code.
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// The reason for a trace code; unknown codes are `Other`.
    pub fn from_code(code: u32) -> Self {
        Self::ALL
            .into_iter()
            .find(|reason| reason.code() == code)
            .unwrap_or(Self::Other)
    }

    /// The name tools print (AxVisor's variant name).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Hypercall => "Hypercall",
            Self::MmioRead => "MmioRead",
            Self::MmioWrite => "MmioWrite",
            Self::SysRegRead => "SysRegRead",
            Self::SysRegWrite => "SysRegWrite",
            Self::IoRead => "IoRead",
            Self::IoWrite => "IoWrite",
            Self::ExternalInterrupt => "ExternalInterrupt",
            Self::NestedPageFault => "NestedPageFault",
            Self::Halt => "Halt",
            Self::CpuUp => "CpuUp",
            Self::CpuDown => "CpuDown",
            Self::SystemDown => "SystemDown",
            Self::Nothing => "Nothing",
            Self::FailEntry => "FailEntry",
            Self::SendIpi => "SendIPI",
            Self::Other => "Other",
        }
    }
}

impl core::fmt::Display for ExitReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_seeds_and_round_trip() {
        for (index, reason) in ExitReason::ALL[..16].iter().enumerate() {
            assert_eq!(reason.code(), index as u32 + 1);
            assert_eq!(ExitReason::from_code(reason.code()), *reason);
        }
        assert_eq!(ExitReason::from_code(0), ExitReason::Other);
        assert_eq!(ExitReason::from_code(17), ExitReason::Other);
        assert_eq!(alloc::format!("{}", ExitReason::SendIpi), "SendIPI");
    }
}
