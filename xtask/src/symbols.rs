//! `cargo xtask symbols <ELF> -o <kallsyms.bin>`: the kernel-style symbol table of an ELF file's
//! functions (demangled), in ksym's blob format, for `axebpf_core::symbols::SymbolTable`.
//!
//! The generator is `axebpf_core::symbols::build_blob` (not ksym's `gen_ksym`, which corrupts the
//! names using its 512th token); the table is checked before it is written: it must load, and
//! every symbol must round-trip name → address → `name+0`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use axebpf_core::symbols::{SymbolTable, build_blob};

/// Runs the task with the arguments after `symbols`.
pub fn run(args: &[String]) -> Result<()> {
    let (elf, out) = parse_args(args)?;
    let bytes = std::fs::read(&elf).with_context(|| format!("reading {}", elf.display()))?;
    let blob = build_blob(&bytes).with_context(|| format!("symbols of {}", elf.display()))?;
    let table = SymbolTable::from_blob(&blob).context("the generated table does not load")?;
    let checked = table
        .check_round_trip()
        .context("the generated table is wrong")?;
    std::fs::write(&out, &blob).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "{}: {checked} symbols (all round-trip), {} bytes",
        out.display(),
        blob.len()
    );
    Ok(())
}

fn parse_args(args: &[String]) -> Result<(PathBuf, PathBuf)> {
    let (mut elf, mut out) = (None, None);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-o" | "--output" => out = args.next().map(PathBuf::from),
            flag if flag.starts_with('-') => bail!("unknown option `{flag}`"),
            path if elf.is_none() => elf = Some(PathBuf::from(path)),
            extra => bail!("unexpected argument `{extra}`"),
        }
    }
    match (elf, out) {
        (Some(elf), Some(out)) => Ok((elf, out)),
        _ => bail!("usage: cargo xtask symbols <ELF> -o <kallsyms.bin>"),
    }
}
