//! `axtrace bpf-run`: runs one raw eBPF program once, in the plugin convention of the public BPF
//! ISA conformance runners (uBPF's and PREVAIL's plugins follow it).
//!
//! The program comes on standard input as hex bytes (8-byte little-endian instructions,
//! whitespace ignored); the optional argument is the memory as hex bytes. R1 points at a copy of
//! that memory (null when empty), R2 holds its length, R10 a 512-byte stack. R0 is printed in
//! hex. No verifier and no helpers in this path; a program the runtime refuses or cannot run
//! correctly gets its reason on stderr and a non-zero exit.

use anyhow::{Context, Result, bail};
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::runtime::{ExecMode, Program, RuntimeError};

/// Decodes hex bytes, ignoring whitespace; the error names the offending position.
pub fn parse_hex(text: &str, what: &str) -> Result<Vec<u8>> {
    let digits: Vec<(usize, char)> = text
        .char_indices()
        .filter(|(_, c)| !c.is_whitespace())
        .collect();
    if !digits.len().is_multiple_of(2) {
        bail!("{what}: odd number of hex digits ({})", digits.len());
    }
    digits
        .chunks(2)
        .map(|pair| {
            let (at, _) = pair[0];
            let byte: String = pair.iter().map(|(_, c)| c).collect();
            u8::from_str_radix(&byte, 16)
                .with_context(|| format!("{what}: `{byte}` at character {at} is not a hex byte"))
        })
        .collect()
}

/// Runs `program` (raw bytes) with `memory`; returns R0.
pub fn run(program: &[u8], memory: &[u8], mode: ExecMode) -> Result<u64> {
    let length = i32::try_from(memory.len()).context("memory larger than 2 GiB")?;
    // `mov64 r2, length` in front: relative jump and call offsets are unaffected.
    let mut code = Vec::with_capacity(program.len() + 8);
    code.extend_from_slice(&[0xb7, 0x02, 0, 0]);
    code.extend_from_slice(&length.to_le_bytes());
    code.extend_from_slice(program);
    HostPlatform::install();
    let loaded = Program::load(&code, mode, &[]).map_err(|error| match error {
        // Name the instruction in the caller's program, not in ours with `mov r2` in front.
        RuntimeError::Jit(jit) => {
            let reason = jit.to_string();
            let reason = reason.split_once(": ").map_or(reason.as_str(), |(_, r)| r);
            anyhow::anyhow!("instruction {}: {reason}", jit.pc().saturating_sub(1))
        }
        RuntimeError::UnknownHelper { index, id } => {
            anyhow::Error::new(RuntimeError::UnknownHelper {
                index: index.saturating_sub(1),
                id,
            })
        }
        other => anyhow::Error::new(other),
    });
    let loaded = loaded.context("program refused")?;
    let mut memory = memory.to_vec();
    loaded.run(&mut memory).context("program failed")
}
