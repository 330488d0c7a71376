//! eBPF maps: the kinds handlers use, created from an object's definitions.
