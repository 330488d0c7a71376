//! What a map is: its type (with Linux's numeric ids), sizes and flags, and the checks a spec
//! passes before any memory is allocated.

use core::fmt;

use kbpf_basic::linux_bpf::BpfMapType;

use super::error::MapError;

/// `bpf_map_update_elem` flag: create or replace.
pub const BPF_ANY: u64 = 0;
/// `bpf_map_update_elem` flag: create only; `-EEXIST` if the key is present.
pub const BPF_NOEXIST: u64 = 1;
/// `bpf_map_update_elem` flag: replace only; `-ENOENT` if the key is absent.
pub const BPF_EXIST: u64 = 2;

/// Creation flag `BPF_F_NO_PREALLOC`: accepted and ignored (our hash maps always preallocate).
pub const BPF_F_NO_PREALLOC: u32 = 1;
/// Creation flag `BPF_F_NO_COMMON_LRU`: accepted and ignored.
pub const BPF_F_NO_COMMON_LRU: u32 = 2;
/// Creation flag `BPF_F_NUMA_NODE`: accepted and ignored.
pub const BPF_F_NUMA_NODE: u32 = 4;
/// Creation flag `BPF_F_ZERO_SEED`: accepted (our hash has no seed).
pub const BPF_F_ZERO_SEED: u32 = 64;
const ACCEPTED_CREATE_FLAGS: u32 =
    BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE | BPF_F_ZERO_SEED;

/// Longest key: Linux's `MAX_BPF_STACK`, as a key is built on the handler's stack.
pub const MAX_KEY_SIZE: u32 = 512;
/// Largest value of a shared map (our limit; Linux allows more, no handler here needs it).
pub const MAX_VALUE_SIZE: u32 = 64 * 1024;
/// Largest value of a per-CPU map (Linux's `PCPU_MIN_UNIT_SIZE`).
pub const MAX_PERCPU_VALUE_SIZE: u32 = 32 * 1024;
/// Most memory one map may preallocate, all CPUs together.
pub const MAX_MAP_BYTES: u64 = 256 * 1024 * 1024;
/// Most CPUs a map is made for.
pub const MAX_CPUS: usize = 4096;

/// The map kinds we implement, with Linux's `enum bpf_map_type` ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum MapType {
    /// `BPF_MAP_TYPE_HASH`: one key set and value per key, shared by all CPUs.
    Hash = 1,
    /// `BPF_MAP_TYPE_ARRAY`: `max_entries` values indexed by a `u32` key, shared.
    Array = 2,
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: the handle `bpf_perf_event_output` writes through.
    PerfEventArray = 4,
    /// `BPF_MAP_TYPE_PERCPU_HASH`: a hash map with one copy per CPU.
    PercpuHash = 5,
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`: an array with one copy per CPU.
    PercpuArray = 6,
    /// `BPF_MAP_TYPE_LRU_HASH`: a shared hash map that evicts a least recently used key when full.
    LruHash = 9,
}

impl MapType {
    /// Whether each CPU has its own values.
    pub fn is_per_cpu(self) -> bool {
        matches!(self, MapType::PercpuHash | MapType::PercpuArray)
    }

    /// Linux's name, without the `BPF_MAP_TYPE_` prefix, lower case.
    pub fn name(self) -> &'static str {
        match self {
            MapType::Hash => "hash",
            MapType::Array => "array",
            MapType::PerfEventArray => "perf_event_array",
            MapType::PercpuHash => "percpu_hash",
            MapType::PercpuArray => "percpu_array",
            MapType::LruHash => "lru_hash",
        }
    }

    /// kbpf-basic's UAPI enum for this type.
    pub fn to_kbpf(self) -> BpfMapType {
        match self {
            MapType::Hash => BpfMapType::BPF_MAP_TYPE_HASH,
            MapType::Array => BpfMapType::BPF_MAP_TYPE_ARRAY,
            MapType::PerfEventArray => BpfMapType::BPF_MAP_TYPE_PERF_EVENT_ARRAY,
            MapType::PercpuHash => BpfMapType::BPF_MAP_TYPE_PERCPU_HASH,
            MapType::PercpuArray => BpfMapType::BPF_MAP_TYPE_PERCPU_ARRAY,
            MapType::LruHash => BpfMapType::BPF_MAP_TYPE_LRU_HASH,
        }
    }
}

impl fmt::Display for MapType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<u32> for MapType {
    type Error = MapError;

    /// From Linux's id; an id we do not implement is an error naming it.
    fn try_from(id: u32) -> Result<Self, MapError> {
        Ok(match id {
            1 => MapType::Hash,
            2 => MapType::Array,
            4 => MapType::PerfEventArray,
            5 => MapType::PercpuHash,
            6 => MapType::PercpuArray,
            9 => MapType::LruHash,
            _ => return Err(MapError::UnsupportedType(id)),
        })
    }
}

impl TryFrom<BpfMapType> for MapType {
    type Error = MapError;

    fn try_from(kind: BpfMapType) -> Result<Self, MapError> {
        MapType::try_from(kind as u32)
    }
}

impl From<MapType> for u32 {
    fn from(kind: MapType) -> u32 {
        kind as u32
    }
}

/// A map definition, as an object file's `.maps` section gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapSpec {
    /// The kind of map.
    pub map_type: MapType,
    /// Key length in bytes (4 for arrays).
    pub key_size: u32,
    /// Value length in bytes.
    pub value_size: u32,
    /// Capacity: entries of an array, most keys of a hash map (per CPU for a per-CPU hash).
    pub max_entries: u32,
    /// Creation flags (`BPF_F_*`); only ones that change nothing for us are accepted.
    pub flags: u32,
}

impl MapSpec {
    /// Checks the spec for a map made for `possible_cpus` CPUs. Sizes that are zero or wrong
    /// for the kind are `EINVAL`; sizes above our limits are `E2BIG`. `PERF_EVENT_ARRAY` with
    /// `max_entries == 0` is valid (libbpf's convention: one entry per CPU).
    pub fn validate(&self, possible_cpus: usize) -> Result<(), MapError> {
        let map_type = self.map_type;
        if possible_cpus == 0 {
            return Err(MapError::NoCpus);
        }
        if possible_cpus > MAX_CPUS {
            return Err(MapError::TooBig {
                map_type,
                field: "possible_cpus",
                got: possible_cpus as u64,
                max: MAX_CPUS as u64,
            });
        }
        if self.flags & !ACCEPTED_CREATE_FLAGS != 0 {
            return Err(MapError::BadCreateFlags {
                map_type,
                flags: self.flags & !ACCEPTED_CREATE_FLAGS,
            });
        }
        let zero = |field| MapError::ZeroSize { map_type, field };
        let wrong = |field, got, expected| MapError::WrongSize {
            map_type,
            field,
            got,
            expected,
        };
        let too_big = |field, got: u32, max: u32| MapError::TooBig {
            map_type,
            field,
            got: got.into(),
            max: max.into(),
        };
        if self.key_size == 0 {
            return Err(zero("key_size"));
        }
        if self.value_size == 0 {
            return Err(zero("value_size"));
        }
        match map_type {
            MapType::PerfEventArray => {
                if self.key_size != 4 {
                    return Err(wrong("key_size", self.key_size, 4));
                }
                if self.value_size != 4 {
                    return Err(wrong("value_size", self.value_size, 4));
                }
                return Ok(());
            }
            MapType::Array | MapType::PercpuArray if self.key_size != 4 => {
                return Err(wrong("key_size", self.key_size, 4));
            }
            _ => {}
        }
        if self.max_entries == 0 {
            return Err(zero("max_entries"));
        }
        if self.key_size > MAX_KEY_SIZE {
            return Err(too_big("key_size", self.key_size, MAX_KEY_SIZE));
        }
        let max_value = if map_type.is_per_cpu() {
            MAX_PERCPU_VALUE_SIZE
        } else {
            MAX_VALUE_SIZE
        };
        if self.value_size > max_value {
            return Err(too_big("value_size", self.value_size, max_value));
        }
        let bytes = self.memory_bytes(possible_cpus);
        if bytes > MAX_MAP_BYTES {
            return Err(MapError::TooBig {
                map_type,
                field: "memory",
                got: bytes,
                max: MAX_MAP_BYTES,
            });
        }
        Ok(())
    }

    /// Bytes of storage the map preallocates (saturating; only meaningful for a spec whose
    /// sizes passed the other checks).
    pub fn memory_bytes(&self, possible_cpus: usize) -> u64 {
        let words = |bytes: u32| u64::from(bytes).div_ceil(8);
        let value = words(self.value_size);
        let cpus = possible_cpus as u64;
        let per_copy = match self.map_type {
            MapType::PerfEventArray => 0,
            MapType::Array | MapType::PercpuArray => u64::from(self.max_entries) * value,
            MapType::Hash | MapType::PercpuHash | MapType::LruHash => {
                let slots = hash_slots(self.max_entries);
                let lru = u64::from(self.map_type == MapType::LruHash);
                slots.saturating_mul(1 + lru + words(self.key_size) + value)
            }
        };
        let copies = if self.map_type.is_per_cpu() { cpus } else { 1 };
        per_copy.saturating_mul(copies).saturating_mul(8)
    }
}

/// Slots of a hash table holding up to `max_entries` keys: the next power of two, doubled, so
/// the load factor stays at most 1/2.
pub(crate) fn hash_slots(max_entries: u32) -> u64 {
    u64::from(max_entries).next_power_of_two() * 2
}
