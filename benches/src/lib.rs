//! Criterion benchmarks of axtrace's hot paths (`benches/`), each figure a ratio against a
//! baseline measured in the same run; this library holds what the benchmarks share.

pub mod rbpf_peer;

use std::sync::OnceLock;

use core_affinity::CoreId;

/// Pins the calling thread to CPU `index` (modulo the CPUs present), so every ring under test
/// gets the same core placement. Returns whether pinning worked.
pub fn pin_to_cpu(index: usize) -> bool {
    // `get_core_ids` lists the CPUs of the *calling thread's* affinity mask, so it is read once,
    // before any thread is pinned; asking again from a pinned thread would see one CPU only.
    static CORES: OnceLock<Vec<CoreId>> = OnceLock::new();
    let cores = CORES.get_or_init(|| core_affinity::get_core_ids().unwrap_or_default());
    match cores.get(index % cores.len().max(1)) {
        Some(&core) => core_affinity::set_for_current(core),
        None => false,
    }
}
