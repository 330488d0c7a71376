//! `axtrace inspect FILE`: loads an eBPF object the way `trace load` will — maps created,
//! programs linked, relocated, verified and compiled — and prints what it holds.

use std::fmt::Write;

use anyhow::{Context, Result};
use axebpf_core::helpers::ALL_HELPERS;
use axebpf_core::loader;
use axebpf_core::object::LoadedObject;
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::runtime::ExecMode;

/// Loads `elf` in `mode` and describes its maps and programs.
pub fn inspect(name: &str, elf: &[u8], mode: ExecMode) -> Result<String> {
    HostPlatform::install();
    let parsed = loader::parse(elf).with_context(|| format!("{name}: not a loadable object"))?;
    let loaded = LoadedObject::load(elf, mode).with_context(|| format!("{name}: load failed"))?;
    let mut out = String::new();
    let license = parsed.license.as_deref().unwrap_or("(none)");
    let _ = writeln!(out, "{name}: license \"{license}\"");
    let _ = writeln!(out, "maps:");
    for map in loaded.maps() {
        let spec = map.map.spec();
        let _ = writeln!(
            out,
            "  {:<16} {:<16} key {:>3} B  value {:>5} B  max {:>6}  handle {:#x}",
            map.name,
            spec.map_type.name(),
            spec.key_size,
            spec.value_size,
            spec.max_entries,
            map.handle.raw()
        );
    }
    let _ = writeln!(out, "programs:");
    for (parsed, loaded) in parsed.programs.iter().zip(loaded.programs()) {
        let mut helpers: Vec<&str> = parsed
            .helper_calls()
            .filter_map(|(_, id)| ALL_HELPERS.iter().find(|h| h.id == id).map(|h| h.name))
            .collect();
        helpers.sort_unstable();
        helpers.dedup();
        let verified = loaded
            .verification
            .as_ref()
            .map_or("not verified".to_string(), |r| {
                format!("verified in {} states", r.steps)
            });
        let _ = writeln!(
            out,
            "  {:<16} {:<32} {:>4} insns  {:<11}  {}  helpers: {}",
            loaded.name,
            loaded.section,
            parsed.insn_count(),
            loaded.program.mode().to_string(),
            verified,
            if helpers.is_empty() {
                "-".to_string()
            } else {
                helpers.join(", ")
            }
        );
    }
    Ok(out)
}
