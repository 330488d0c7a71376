//! What each helper takes and returns, for the verifier: the checked counterpart of the
//! unchecked `fn(u64, u64, u64, u64, u64) -> u64` the runtime calls.

use crate::helpers;

/// What one argument register must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// Not read by the helper: anything, even uninitialised.
    Unused,
    /// An initialised scalar (never a pointer: the helper would leak it).
    Scalar,
    /// A map pointer from `lddw rX, map:NAME` of the kind [`Prototype::map`] names.
    Map,
    /// A pointer to `key_size` readable, initialised bytes (key of the map argument).
    Key,
    /// A pointer to `value_size` readable, initialised bytes (value for the map argument).
    Value,
    /// The program's context pointer, unmodified.
    Context,
    /// A pointer to as many readable, initialised bytes as the next argument says.
    Memory,
    /// The size of the previous [`Arg::Memory`]: a bounded scalar, at least 1.
    Size,
    /// As [`Arg::Size`], and 0 is allowed.
    SizeOrZero,
}

/// What the helper returns in R0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    /// A number.
    Scalar,
    /// A pointer to a value of the map argument, or NULL.
    MapValueOrNull,
}

/// Which maps a helper's map argument may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    /// The helper takes no map.
    None,
    /// A map with keys and values (hash, array, their per-CPU and LRU variants).
    KeyValue,
    /// A perf event array (the record ring).
    PerfEventArray,
}

/// One helper's prototype.
#[derive(Debug, Clone, Copy)]
pub struct Prototype {
    /// The helper's name.
    pub name: &'static str,
    /// R1–R5.
    pub args: [Arg; 5],
    /// R0.
    pub ret: Ret,
    /// The map argument's kind.
    pub map: MapKind,
}

const fn proto(name: &'static str, args: [Arg; 5], ret: Ret, map: MapKind) -> Prototype {
    Prototype {
        name,
        args,
        ret,
        map,
    }
}

use Arg::*;

/// The prototype of helper `id`, if the verifier knows it.
pub fn prototype(id: u32) -> Option<Prototype> {
    let none = [Unused; 5];
    Some(match id {
        helpers::MAP_LOOKUP_ELEM => proto(
            "map_lookup_elem",
            [Map, Key, Unused, Unused, Unused],
            Ret::MapValueOrNull,
            MapKind::KeyValue,
        ),
        helpers::MAP_UPDATE_ELEM => proto(
            "map_update_elem",
            [Map, Key, Value, Scalar, Unused],
            Ret::Scalar,
            MapKind::KeyValue,
        ),
        helpers::MAP_DELETE_ELEM => proto(
            "map_delete_elem",
            [Map, Key, Unused, Unused, Unused],
            Ret::Scalar,
            MapKind::KeyValue,
        ),
        // The format arguments are read whatever the format says; uninitialised registers
        // would print stale values (possibly hypervisor addresses), so all three are required.
        helpers::TRACE_PRINTK => proto(
            "trace_printk",
            [Memory, Size, Scalar, Scalar, Scalar],
            Ret::Scalar,
            MapKind::None,
        ),
        helpers::PERF_EVENT_OUTPUT => proto(
            "perf_event_output",
            [Context, Map, Scalar, Memory, SizeOrZero],
            Ret::Scalar,
            MapKind::PerfEventArray,
        ),
        helpers::KTIME_GET_NS => proto("ktime_get_ns", none, Ret::Scalar, MapKind::None),
        helpers::GET_SMP_PROCESSOR_ID => {
            proto("get_smp_processor_id", none, Ret::Scalar, MapKind::None)
        }
        helpers::GET_CURRENT_VM_ID => proto("get_current_vm_id", none, Ret::Scalar, MapKind::None),
        helpers::GET_CURRENT_VCPU_ID => {
            proto("get_current_vcpu_id", none, Ret::Scalar, MapKind::None)
        }
        _ => return None,
    })
}

/// The helper's name, if the verifier knows it.
pub fn helper_name(id: u32) -> Option<&'static str> {
    prototype(id).map(|p| p.name)
}

/// The helper id for a name (the corpus assembler's `call map_lookup_elem`).
pub fn helper_id(name: &str) -> Option<u32> {
    [
        helpers::MAP_LOOKUP_ELEM,
        helpers::MAP_UPDATE_ELEM,
        helpers::MAP_DELETE_ELEM,
        helpers::TRACE_PRINTK,
        helpers::PERF_EVENT_OUTPUT,
        helpers::KTIME_GET_NS,
        helpers::GET_SMP_PROCESSOR_ID,
        helpers::GET_CURRENT_VM_ID,
        helpers::GET_CURRENT_VCPU_ID,
    ]
    .into_iter()
    .find(|&id| helper_name(id) == Some(name))
}
