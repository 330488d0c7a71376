//! The fixed 32-byte record every handler emits and every tool reads.

use bytemuck::{Pod, Zeroable};

/// One traced event: 32 bytes, `#[repr(C)]`, no padding.
///
/// Stored in the host's byte order in the rings; the dump is little-endian (every target
/// AxVisor runs on is). What `code`, `aux` and `data` mean depends on `event`, and the dump's
/// metadata lists it per event id, so old dumps stay readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Pod, Zeroable)]
#[repr(C)]
pub struct Record {
    /// Monotonic time of the event, ns.
    pub timestamp_ns: u64,
    /// Event id (stable; listed in the dump's metadata).
    pub event: u16,
    /// VM id.
    pub vm: u16,
    /// vCPU id within the VM.
    pub vcpu: u16,
    /// Physical CPU the vCPU ran on.
    pub pcpu: u16,
    /// Exit reason, hypercall number, vector … depending on `event`.
    pub code: u32,
    /// A second small field (access width, direction …) depending on `event`.
    pub aux: u32,
    /// A 64-bit payload (gpa, port/value, duration …) depending on `event`.
    pub data: u64,
}

/// Stable event ids (`Record::event`), mirrored in `axtrace.h`.
pub mod event {
    /// A VM exit, emitted at the next entry: `code` = exit reason, `aux` = exit→entry latency
    /// in ns (saturating), `data` = the exit's address (gpa, port, MSR …), `timestamp_ns` = the
    /// exit.
    pub const VM_EXIT: u16 = 1;
}

/// Size of a [`Record`] in bytes; part of the dump format.
pub const RECORD_SIZE: usize = 32;

const _: () = assert!(core::mem::size_of::<Record>() == RECORD_SIZE);
const _: () = assert!(core::mem::align_of::<Record>() == 8);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_offsets_match_the_contract() {
        assert_eq!(core::mem::offset_of!(Record, timestamp_ns), 0);
        assert_eq!(core::mem::offset_of!(Record, event), 8);
        assert_eq!(core::mem::offset_of!(Record, vm), 10);
        assert_eq!(core::mem::offset_of!(Record, vcpu), 12);
        assert_eq!(core::mem::offset_of!(Record, pcpu), 14);
        assert_eq!(core::mem::offset_of!(Record, code), 16);
        assert_eq!(core::mem::offset_of!(Record, aux), 20);
        assert_eq!(core::mem::offset_of!(Record, data), 24);
    }

    #[test]
    fn bytes_are_little_endian_fields_in_order() {
        let record = Record {
            timestamp_ns: 0x0102_0304_0506_0708,
            event: 0x1112,
            vm: 0x2122,
            vcpu: 0x3132,
            pcpu: 0x4142,
            code: 0x5152_5354,
            aux: 0x6162_6364,
            data: 0x7172_7374_7576_7778,
        };
        let bytes = bytemuck::bytes_of(&record);
        assert_eq!(&bytes[0..8], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(&bytes[8..10], &0x1112u16.to_le_bytes());
        assert_eq!(&bytes[16..20], &0x5152_5354u32.to_le_bytes());
        assert_eq!(&bytes[24..32], &0x7172_7374_7576_7778u64.to_le_bytes());
    }
}
