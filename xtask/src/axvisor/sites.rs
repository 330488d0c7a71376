//! The tracepoint sites of a built AxVisor, read from its ELF: where each static-key site is
//! and which instruction it holds as built (every site must be a NOP: tracing off costs one
//! NOP per site).
//!
//! static-keys 0.8.2 keeps one entry per site in the `__static_keys` section: three
//! little-endian 64-bit words, each relative to its own address as linked (`code - .`,
//! `target - .`, `key - .`, the key's low bit a flag). The key statics are
//! `axebpf_core::tracepoint::keys::<NAME>`, found by their (v0-mangled) symbol names.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use object::{Object, ObjectSection, ObjectSymbol};

/// `NOP` on aarch64.
pub(crate) const NOP: u32 = 0xd503_201f;

/// The keys, by the tracepoint names `trace sites` prints.
const KEYS: [(&str, &str); 8] = [
    ("VCPU_RUN_ENTER", "vcpu_run_enter"),
    ("VCPU_RUN_EXIT", "vcpu_run_exit"),
    ("HYPERCALL", "hypercall"),
    ("MMIO_READ", "mmio_read"),
    ("MMIO_WRITE", "mmio_write"),
    ("EPT_VIOLATION", "ept_violation"),
    ("IRQ_INJECT", "irq_inject"),
    ("VCPU_SCHED", "vcpu_sched"),
];

/// One site as linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Site {
    /// The tracepoint (`vcpu_run_exit` …).
    pub tracepoint: &'static str,
    /// Link-time address of the patched instruction.
    pub code: u64,
    /// The instruction there, as built.
    pub word: u32,
}

/// Every tracepoint site of the ELF at `path`.
pub(crate) fn read(path: &Path) -> Result<Vec<Site>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let elf =
        object::File::parse(&*bytes).with_context(|| format!("parsing {}", path.display()))?;
    let keys: BTreeMap<u64, &'static str> = elf
        .symbols()
        .filter_map(|symbol| {
            let name = symbol.name().ok()?;
            let (_, tracepoint) = KEYS.iter().find(|(key, _)| {
                name.contains("10tracepoint4keys") && name.contains(&format!("{}{key}", key.len()))
            })?;
            Some((symbol.address(), *tracepoint))
        })
        .collect();
    if keys.len() != KEYS.len() {
        bail!(
            "{}: found {} of the {} tracepoint keys' symbols (is axebpf-core linked in?)",
            path.display(),
            keys.len(),
            KEYS.len()
        );
    }
    let section = elf
        .section_by_name("__static_keys")
        .context("no __static_keys section: the image has no static-key sites")?;
    let table = section.data()?;
    let mut sites = Vec::new();
    for (index, entry) in table.chunks_exact(24).enumerate() {
        let word = |i: usize| u64::from_le_bytes(entry[i * 8..i * 8 + 8].try_into().unwrap());
        let at = section.address() + index as u64 * 24;
        if word(0) == 0 {
            continue; // static-keys' dummy entry
        }
        let code = at.wrapping_add(word(0));
        let key = (at + 16).wrapping_add(word(2)) & !1;
        let Some(&tracepoint) = keys.get(&key) else {
            continue; // a key of some other crate
        };
        sites.push(Site {
            tracepoint,
            code,
            word: instruction_at(&elf, code)?,
        });
    }
    sites.sort_by_key(|s| s.code);
    Ok(sites)
}

fn instruction_at(elf: &object::File<'_>, addr: u64) -> Result<u32> {
    for section in elf.sections() {
        let (start, size) = (section.address(), section.size());
        if (start..start + size).contains(&addr) {
            let data = section.data()?;
            let offset = (addr - start) as usize;
            let bytes = data
                .get(offset..offset + 4)
                .with_context(|| format!("site {addr:#x} is outside its section's data"))?;
            return Ok(u32::from_le_bytes(bytes.try_into().unwrap()));
        }
    }
    bail!("site {addr:#x} lies in no section")
}

/// Checks that every tracepoint has a site and every site is a NOP as built.
pub(crate) fn check_all_nop(sites: &[Site]) -> Result<()> {
    for (_, tracepoint) in KEYS {
        if !sites.iter().any(|s| s.tracepoint == tracepoint) {
            bail!("tracepoint {tracepoint} has no site in the image");
        }
    }
    if let Some(site) = sites.iter().find(|s| s.word != NOP) {
        bail!(
            "the disabled site of {} at {:#x} is {:08x}, not a NOP",
            site.tracepoint,
            site.code,
            site.word
        );
    }
    Ok(())
}

/// `trace sites` output: `(tracepoint, runtime address, word)` per line.
pub(crate) fn parse_runtime(output: &str) -> Vec<(String, u64, u32)> {
    output
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let tracepoint = fields.next()?.to_string();
            let addr = u64::from_str_radix(fields.next()?.strip_prefix("0x")?, 16).ok()?;
            let word = u32::from_str_radix(fields.next()?, 16).ok()?;
            Some((tracepoint, addr, word))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_sites_parse() {
        let out = "irq_inject           0x0000ffff8025f424 d503201f nop\n\
                   vcpu_run_exit        0x0000ffff802a76dc 14000008 b\n\
                   axvisor:$ \n";
        assert_eq!(
            parse_runtime(out),
            vec![
                ("irq_inject".into(), 0xffff_8025_f424, NOP),
                ("vcpu_run_exit".into(), 0xffff_802a_76dc, 0x1400_0008),
            ]
        );
    }

    #[test]
    fn a_missing_tracepoint_or_a_jump_fails_the_check() {
        let all: Vec<Site> = KEYS
            .iter()
            .enumerate()
            .map(|(i, (_, tp))| Site {
                tracepoint: tp,
                code: 0x1000 + 4 * i as u64,
                word: NOP,
            })
            .collect();
        assert!(check_all_nop(&all).is_ok());
        let mut jump = all.clone();
        jump[3].word = 0x1400_0010;
        assert!(check_all_nop(&jump).is_err());
        assert!(check_all_nop(&all[1..]).is_err());
    }
}
