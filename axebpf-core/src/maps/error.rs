//! What can go wrong creating or using a map, and the Linux errno a helper returns for it.

use super::spec::MapType;

/// Linux errno values the map helpers return (negated).
pub mod errno {
    /// No such file or directory: the key is not in the map.
    pub const ENOENT: i64 = 2;
    /// Argument list too long: index out of range, map full, map too big.
    pub const E2BIG: i64 = 7;
    /// Out of memory.
    pub const ENOMEM: i64 = 12;
    /// Device or resource busy: a map's lock re-entered on the same CPU.
    pub const EBUSY: i64 = 16;
    /// File exists: `BPF_NOEXIST` on a present key.
    pub const EEXIST: i64 = 17;
    /// Invalid argument.
    pub const EINVAL: i64 = 22;
}

/// A map creation or map operation error. [`MapError::errno`] gives the negative Linux errno a
/// helper returns to the handler.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MapError {
    /// A map type id we do not implement.
    #[error(
        "map type {0} is not supported (supported: 1 hash, 2 array, 4 perf_event_array, \
         5 percpu_hash, 6 percpu_array, 9 lru_hash)"
    )]
    UnsupportedType(u32),
    /// A size in the spec is zero.
    #[error("{map_type} map: {field} must not be 0")]
    ZeroSize {
        /// The map's type.
        map_type: MapType,
        /// `key_size`, `value_size` or `max_entries`.
        field: &'static str,
    },
    /// A size in the spec has a value this kind of map does not allow.
    #[error("{map_type} map: {field} is {got}, must be {expected}")]
    WrongSize {
        /// The map's type.
        map_type: MapType,
        /// The field.
        field: &'static str,
        /// What the spec says.
        got: u32,
        /// What this kind of map needs.
        expected: u32,
    },
    /// A size in the spec is above our limit.
    #[error("{map_type} map: {field} is {got}, the limit is {max}")]
    TooBig {
        /// The map's type.
        map_type: MapType,
        /// The field, or `memory` for the preallocated total in bytes.
        field: &'static str,
        /// What the spec asks for.
        got: u64,
        /// The limit.
        max: u64,
    },
    /// Creation flags we do not support.
    #[error("{map_type} map: unsupported creation flags {flags:#x}")]
    BadCreateFlags {
        /// The map's type.
        map_type: MapType,
        /// The unsupported bits.
        flags: u32,
    },
    /// `possible_cpus` is 0.
    #[error("a map needs at least one possible CPU")]
    NoCpus,
    /// The allocator refused the map's storage.
    #[error("out of memory allocating {bytes} bytes of map storage")]
    OutOfMemory {
        /// Bytes requested.
        bytes: usize,
    },
    /// A key of the wrong length.
    #[error("key is {got} bytes, the map's keys are {expected}")]
    KeySize {
        /// The map's key size.
        expected: u32,
        /// The key's length.
        got: usize,
    },
    /// A value of the wrong length.
    #[error("value is {got} bytes, the map's values are {expected}")]
    ValueSize {
        /// The map's value size.
        expected: u32,
        /// The value's length.
        got: usize,
    },
    /// Update flags other than `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`.
    #[error("unsupported update flags {0:#x} (BPF_ANY 0, BPF_NOEXIST 1, BPF_EXIST 2)")]
    BadUpdateFlags(u64),
    /// A CPU index at or past the map's `possible_cpus`.
    #[error("CPU {cpu} out of range: the map has {possible} possible CPUs")]
    CpuOutOfRange {
        /// The CPU given.
        cpu: usize,
        /// The map's possible CPUs.
        possible: usize,
    },
    /// An array index at or past `max_entries`.
    #[error("index {index} out of range: the array has {max_entries} entries")]
    IndexOutOfRange {
        /// The index given.
        index: u32,
        /// The array's size.
        max_entries: u32,
    },
    /// `BPF_NOEXIST` and the key is present (every array index is).
    #[error("key already exists (BPF_NOEXIST)")]
    Exists,
    /// The key is not in the map (delete, or update with `BPF_EXIST`).
    #[error("no such key")]
    NotFound,
    /// The hash map holds `max_entries` keys already.
    #[error("map full: {max_entries} entries")]
    Full {
        /// The map's capacity.
        max_entries: u32,
    },
    /// The map's lock is held by the same CPU: a handler re-entered the map.
    #[error("map busy: re-entered on CPU {cpu}")]
    Busy {
        /// The CPU that re-entered.
        cpu: usize,
    },
    /// An operation this map kind does not have (as in Linux: array delete, perf event array
    /// lookup/update from a program).
    #[error("{map_type} map does not support {op}")]
    NotSupported {
        /// The map's type.
        map_type: MapType,
        /// `lookup`, `update` or `delete`.
        op: &'static str,
    },
}

impl MapError {
    /// The negative Linux errno a helper returns for this error (`bpf_map_update_elem` returns
    /// `0` or this).
    pub fn errno(&self) -> i64 {
        use errno::*;
        -match self {
            MapError::NotFound => ENOENT,
            MapError::Exists => EEXIST,
            MapError::TooBig { .. } | MapError::IndexOutOfRange { .. } | MapError::Full { .. } => {
                E2BIG
            }
            MapError::OutOfMemory { .. } => ENOMEM,
            MapError::Busy { .. } => EBUSY,
            MapError::UnsupportedType(_)
            | MapError::ZeroSize { .. }
            | MapError::WrongSize { .. }
            | MapError::BadCreateFlags { .. }
            | MapError::NoCpus
            | MapError::KeySize { .. }
            | MapError::ValueSize { .. }
            | MapError::BadUpdateFlags(_)
            | MapError::CpuOutOfRange { .. }
            | MapError::NotSupported { .. } => EINVAL,
        }
    }
}
