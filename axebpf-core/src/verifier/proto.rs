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

/// One helper's prototype (its name is the runtime's, [`helper_name`]).
#[derive(Debug, Clone, Copy)]
pub struct Prototype {
    /// R1–R5.
    pub args: [Arg; 5],
    /// R0.
    pub ret: Ret,
    /// The map argument's kind.
    pub map: MapKind,
}

const fn proto(args: [Arg; 5], ret: Ret, map: MapKind) -> Prototype {
    Prototype { args, ret, map }
}

use Arg::*;

/// The prototype of helper `id`, if the verifier knows it.
pub fn prototype(id: u32) -> Option<Prototype> {
    let none = [Unused; 5];
    Some(match id {
        helpers::MAP_LOOKUP_ELEM => proto(
            [Map, Key, Unused, Unused, Unused],
            Ret::MapValueOrNull,
            MapKind::KeyValue,
        ),
        helpers::MAP_UPDATE_ELEM => proto(
            [Map, Key, Value, Scalar, Unused],
            Ret::Scalar,
            MapKind::KeyValue,
        ),
        helpers::MAP_DELETE_ELEM => proto(
            [Map, Key, Unused, Unused, Unused],
            Ret::Scalar,
            MapKind::KeyValue,
        ),
        // The format arguments are read whatever the format says; uninitialised registers
        // would print stale values (possibly hypervisor addresses), so all three are required.
        helpers::TRACE_PRINTK => proto(
            [Memory, Size, Scalar, Scalar, Scalar],
            Ret::Scalar,
            MapKind::None,
        ),
        helpers::PERF_EVENT_OUTPUT => proto(
            [Context, Map, Scalar, Memory, SizeOrZero],
            Ret::Scalar,
            MapKind::PerfEventArray,
        ),
        helpers::KTIME_GET_NS => proto(none, Ret::Scalar, MapKind::None),
        helpers::GET_SMP_PROCESSOR_ID => proto(none, Ret::Scalar, MapKind::None),
        helpers::GET_CURRENT_VM_ID => proto(none, Ret::Scalar, MapKind::None),
        helpers::GET_CURRENT_VCPU_ID => proto(none, Ret::Scalar, MapKind::None),
        _ => return None,
    })
}

/// The name the runtime registers helper `id` under, if it registers one.
pub fn helper_name(id: u32) -> Option<&'static str> {
    helpers::ALL_HELPERS
        .iter()
        .find(|h| h.id == id)
        .map(|h| h.name)
}

/// The helper id for a name (the corpus assembler's `call map_lookup_elem`).
pub fn helper_id(name: &str) -> Option<u32> {
    helpers::ALL_HELPERS
        .iter()
        .find(|h| h.name == name)
        .map(|h| h.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_helper_has_a_prototype() {
        for helper in helpers::ALL_HELPERS {
            assert!(prototype(helper.id).is_some(), "{} has none", helper.name);
        }
    }
}
