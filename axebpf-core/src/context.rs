//! The context each VMM tracepoint hands its eBPF programs: fixed `#[repr(C)]` structs with the
//! same layout as the C structs in `bpf/include/axtrace.h` (a test compiles the header's
//! `offsetof`s against these), and each one's format (field names, offsets, sizes) for printing
//! and for filter expressions.
//!
//! Every context starts with the same 16-byte [`ContextHeader`], so a program can read the time,
//! VM, vCPU and physical CPU of any event at fixed offsets.

use bytemuck::{Pod, Zeroable};

/// One field of a context, as `trace list` prints it and filters name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Field name (as in C).
    pub name: &'static str,
    /// Byte offset in the context.
    pub offset: usize,
    /// Size in bytes.
    pub size: usize,
}

/// A context type with its format.
pub trait Context: Pod {
    /// The tracepoint's name without the `vmm:` group, as in `axtrace.h` (`struct axtrace_<name>`).
    const NAME: &'static str;
    /// The fields, in order.
    const FIELDS: &'static [Field];
}

macro_rules! contexts {
    ($(
        $(#[$doc:meta])*
        $name:ident = $c_name:literal {
            $( $(#[$fdoc:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    )*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Pod, Zeroable)]
        #[repr(C)]
        pub struct $name {
            /// Time, VM, vCPU and physical CPU of the event.
            pub header: ContextHeader,
            $( $(#[$fdoc])* pub $field: $ty, )*
        }

        impl Context for $name {
            const NAME: &'static str = $c_name;
            const FIELDS: &'static [Field] = &[
                Field { name: "timestamp_ns", offset: 0, size: 8 },
                Field { name: "vm_id", offset: 8, size: 2 },
                Field { name: "vcpu_id", offset: 10, size: 2 },
                Field { name: "pcpu_id", offset: 12, size: 2 },
                $( Field {
                    name: stringify!($field),
                    offset: core::mem::offset_of!($name, $field),
                    size: core::mem::size_of::<$ty>(),
                }, )*
            ];
        }
    )*};
}

/// The first 16 bytes of every context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Pod, Zeroable)]
#[repr(C)]
pub struct ContextHeader {
    /// Monotonic time of the event, ns.
    pub timestamp_ns: u64,
    /// VM id.
    pub vm_id: u16,
    /// vCPU id within the VM.
    pub vcpu_id: u16,
    /// Physical CPU.
    pub pcpu_id: u16,
    /// Zero.
    pub reserved: u16,
}

contexts! {
    /// `vmm:vcpu_run_enter`: the vCPU is about to enter the guest.
    VcpuRunEnter = "vcpu_run_enter" {}

    /// `vmm:vcpu_run_exit`: the vCPU left the guest.
    VcpuRunExit = "vcpu_run_exit" {
        /// [`ExitReason`](crate::exit_reason::ExitReason) code.
        exit_reason: u32,
        /// Access width in bytes (IO, MMIO, system registers), else 0.
        width: u32,
        /// Guest-physical address, port, MSR, hypercall number, vector or target CPU.
        addr: u64,
        /// Value written or read, or the first argument.
        value: u64,
        /// Access flags (nested page faults) or the second argument.
        aux: u64,
    }

    /// `vmm:hypercall`: a hypercall with its number and first four arguments.
    Hypercall = "hypercall" {
        /// Hypercall number.
        nr: u64,
        /// Arguments 0–3.
        args: [u64; 4],
    }

    /// `vmm:mmio_read`: an emulated MMIO read.
    MmioRead = "mmio_read" {
        /// Guest-physical address.
        gpa: u64,
        /// Value read.
        value: u64,
        /// Width in bytes.
        width: u32,
        /// Zero.
        reserved: u32,
    }

    /// `vmm:mmio_write`: an emulated MMIO write.
    MmioWrite = "mmio_write" {
        /// Guest-physical address.
        gpa: u64,
        /// Value written.
        value: u64,
        /// Width in bytes.
        width: u32,
        /// Zero.
        reserved: u32,
    }

    /// `vmm:ept_violation`: a nested page fault.
    EptViolation = "ept_violation" {
        /// Guest-physical address.
        gpa: u64,
        /// Access flags (bit 0 read, 1 write, 2 execute).
        access: u32,
        /// Zero.
        reserved: u32,
    }

    /// `vmm:irq_inject`: an interrupt injected into the guest.
    IrqInject = "irq_inject" {
        /// Vector.
        vector: u32,
        /// Zero.
        reserved: u32,
    }

    /// `vmm:vcpu_sched`: the vCPU was scheduled in or out of a physical CPU.
    VcpuSched = "vcpu_sched" {
        /// 1 = scheduled in, 0 = scheduled out.
        sched_in: u32,
        /// The physical CPU it moved to or from.
        target_pcpu: u32,
    }
}

/// `(name, fields, size)` of every context, for listings and the header test.
pub const ALL: [(&str, &[Field], usize); 8] = {
    use core::mem::size_of;
    [
        (
            VcpuRunEnter::NAME,
            VcpuRunEnter::FIELDS,
            size_of::<VcpuRunEnter>(),
        ),
        (
            VcpuRunExit::NAME,
            VcpuRunExit::FIELDS,
            size_of::<VcpuRunExit>(),
        ),
        (Hypercall::NAME, Hypercall::FIELDS, size_of::<Hypercall>()),
        (MmioRead::NAME, MmioRead::FIELDS, size_of::<MmioRead>()),
        (MmioWrite::NAME, MmioWrite::FIELDS, size_of::<MmioWrite>()),
        (
            EptViolation::NAME,
            EptViolation::FIELDS,
            size_of::<EptViolation>(),
        ),
        (IrqInject::NAME, IrqInject::FIELDS, size_of::<IrqInject>()),
        (VcpuSched::NAME, VcpuSched::FIELDS, size_of::<VcpuSched>()),
    ]
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_fixed() {
        let sizes: [usize; 8] = ALL.map(|(_, _, size)| size);
        assert_eq!(sizes, [16, 48, 56, 40, 40, 32, 24, 24]);
    }

    #[test]
    fn fields_tile_each_context_without_gaps() {
        for (name, fields, size) in ALL {
            let mut next = 0;
            for (index, field) in fields.iter().enumerate() {
                if index == 4 {
                    next = size_of::<ContextHeader>(); // the header's reserved u16 is unlisted
                }
                assert_eq!(field.offset, next, "{name}.{}", field.name);
                next += field.size;
            }
            assert_eq!(next.max(16), size, "{name}");
        }
    }
}
