//! The `trace` command of AxVisor's shell: `axebpf_core::shell` (the same command layer as
//! `axtrace shell` on Linux) plus what only the hypervisor has — the dump (`trace dump`) and
//! the sites' instruction bytes (`trace sites`).
//!
//! `trace load NAME FILE`: FILE is `builtin:<name>` for a handler built into the image, else a
//! host path read through semihosting (QEMU's working directory), else AxVisor's own file
//! system.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;
use std::sync::{LazyLock, Mutex};

use axebpf_core::shell::{Files, Shell};

use crate::semihosting::{self, HostFile};

/// The handlers built into the image, by `builtin:` name.
pub const BUILTIN: &[(&str, &[u8])] = &[
    (
        "exit_count",
        include_bytes!("../../../axebpf-core/bpf/exit_count.bpf.o"),
    ),
    (
        "exit_latency",
        include_bytes!("../../../axebpf-core/bpf/exit_latency.bpf.o"),
    ),
];

/// Where `trace load` finds objects in AxVisor.
pub struct AxvisorFiles;

impl Files for AxvisorFiles {
    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        if let Some(name) = path.strip_prefix("builtin:") {
            return BUILTIN
                .iter()
                .find(|(builtin, _)| *builtin == name)
                .map(|(_, bytes)| bytes.to_vec())
                .ok_or_else(|| {
                    let names: Vec<_> = BUILTIN.iter().map(|(n, _)| *n).collect();
                    format!(
                        "no built-in handler `{name}` (built in: {})",
                        names.join(", ")
                    )
                });
        }
        if semihosting::enabled() {
            return HostFile::read(path);
        }
        std::fs::read(path).map_err(|e| format!("{path}: {e}"))
    }
}

static SHELL: LazyLock<Mutex<Shell<AxvisorFiles>>> =
    LazyLock::new(|| Mutex::new(Shell::new(AxvisorFiles)));

const HELP: &str = "\
trace dump [sync]                        the open dump: records, drops, bytes (sync: drain first)
trace dump start [FILE]                  open host FILE (default axtrace.axdump) and drain into it
trace dump stop                          drain what is left and close the dump
trace sites                              each tracepoint site's address and instruction (NOP / B)
";

/// Runs one `trace …` line from AxVisor's shell; returns what to print.
pub fn run(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut out = String::new();
    let result = match words.get(1..).unwrap_or_default() {
        ["dump", rest @ ..] => dump(rest),
        ["sites"] => Ok(sites()),
        _ => {
            let mut shell = SHELL.lock().unwrap_or_else(|e| e.into_inner());
            let result = shell
                .execute(line, &mut out)
                .map_err(|e| e.to_string())
                .map(|()| String::new());
            if matches!(words.get(1), Some(&"help")) {
                out.push_str(HELP);
            }
            result
        }
    };
    match result {
        Ok(text) => out.push_str(&text),
        Err(message) => {
            let _ = writeln!(out, "error: {message}");
        }
    }
    out
}

fn dump(args: &[&str]) -> Result<String, String> {
    let dumper = crate::dumper().ok_or("axtrace is not initialised in this image")?;
    match args {
        [] => Ok(dumper.status(false) + "\n"),
        ["sync"] => Ok(dumper.status(true) + "\n"),
        ["start"] | ["start", _] => {
            let path = args.get(1).copied().unwrap_or("axtrace.axdump");
            let programs = SHELL
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .loaded()
                .map(String::from)
                .collect();
            dumper.start(path, programs).map(|s| s + "\n")
        }
        ["stop"] => dumper.stop().map(|s| s + "\n"),
        _ => Err(String::from(
            "usage: trace dump [sync] | trace dump start [FILE] | trace dump stop",
        )),
    }
}

/// Every static-key site of the tracepoints: address, instruction word, what it is.
fn sites() -> String {
    let mut out = String::new();
    for site in crate::sites::all() {
        // SAFETY: jump-entry code addresses are instructions of this image's text.
        let word = unsafe { crate::text::read_word(site.code) };
        let kind = match word {
            crate::text::NOP => "nop",
            w if crate::text::is_site_instruction(w) => "b",
            _ => "other",
        };
        let _ = writeln!(
            out,
            "{:<20} {:#018x} {word:08x} {kind}",
            site.tracepoint, site.code
        );
    }
    out
}
