//! The `trace` command layer (no_std): what AxVisor's shell and `axtrace shell` both run.
//!
//! ```text
//! trace list [TP]                          tracepoints: enabled, filter, programs (mode), hits;
//!                                          with TP: its handler (symbolised) and format
//! trace enable <tp> [--filter EXPR]        turn a tracepoint on (optionally filtered)
//! trace disable <tp>                       turn it off
//! trace load NAME FILE [--attach TP] [--mode jit|interp] [-v] [--unsafe-skip-verifier]
//!                                          verify and load an object; attach its programs to
//!                                          the tracepoints their sections name (or to TP);
//!                                          -v prints the verifier's log
//! trace unload NAME                        detach and unload
//! trace stat [MAP]                         map contents (latency and counts summarised)
//! trace help
//! ```
//!
//! A command either succeeds or changes nothing: arguments are checked and objects loaded
//! before any tracepoint is touched.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::exit_reason::ExitReason;
use crate::filter::Filter;
use crate::maps::Map;
use crate::object::{LoadOptions, LoadedObject, ObjectError};
use crate::runtime::ExecMode;
use crate::symbols::SymbolTable;
use crate::tracepoint::{self, AttachedProgram};

/// Where `trace load` reads object files from (AxVisor: its file system; the host: std::fs).
pub trait Files {
    /// The bytes of `path`, or a message saying why not.
    fn read(&self, path: &str) -> Result<Vec<u8>, String>;
}

/// Why a command failed; nothing was changed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShellError(pub String);

fn error<T>(message: impl Into<String>) -> Result<T, ShellError> {
    Err(ShellError(message.into()))
}

const HELP: &str = "\
trace list [TP]                          tracepoints: enabled, filter, programs (mode), hits;
                                         with TP also its handler (symbolised) and format
trace enable <tp> [--filter EXPR]        turn a tracepoint on, optionally filtered
trace disable <tp>                       turn it off
trace load NAME FILE [--attach TP] [--mode jit|interp] [-v] [--unsafe-skip-verifier]
                                         verify and load an eBPF object; attach its programs
                                         to the tracepoints their sections name (or all to
                                         TP); -v prints the verifier's log;
                                         --unsafe-skip-verifier is for development only
trace unload NAME                        detach and unload
trace stat [MAP]                         map contents (latency and counts summarised)
trace help                               this text
";

struct Loaded {
    object: Arc<LoadedObject>,
    /// `(tracepoint, program name)` pairs it is attached as.
    attached: Vec<(&'static str, String)>,
}

/// The shell's state: loaded objects by name, and the symbol table if the host gave one.
pub struct Shell<F: Files> {
    files: F,
    loaded: BTreeMap<String, Loaded>,
    /// Symbols and the load bias to subtract from run-time addresses before looking them up.
    symbols: Option<(SymbolTable, u64)>,
}

/// Splits a command line into words; `'…'` and `"…"` quote (for filter expressions).
fn words(line: &str) -> Result<Vec<String>, ShellError> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(core::mem::take(&mut current));
                    in_word = false;
                }
            }
            (None, c) => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return error("unterminated quote");
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

/// Takes `--name VALUE` out of `args`.
fn option(args: &mut Vec<String>, name: &str) -> Result<Option<String>, ShellError> {
    let Some(at) = args.iter().position(|a| a == name) else {
        return Ok(None);
    };
    if at + 1 >= args.len() {
        return error(format!("{name} needs a value"));
    }
    let value = args.remove(at + 1);
    args.remove(at);
    Ok(Some(value))
}

/// Takes the flag `name` out of `args`; whether it was there.
fn flag(args: &mut Vec<String>, name: &str) -> bool {
    let before = args.len();
    args.retain(|a| a != name);
    args.len() != before
}

/// The one tracepoint argument a command takes, and nothing after it.
fn tracepoint_arg(
    args: &mut Vec<String>,
    usage: &str,
) -> Result<&'static tracepoint::Tracepoint, ShellError> {
    if args.is_empty() {
        return error(format!("missing tracepoint; usage: {usage}"));
    }
    let name = args.remove(0);
    no_more(args, usage)?;
    tracepoint::find(&name).map_err(|e| ShellError(e.to_string()))
}

fn state(tp: &tracepoint::Tracepoint) -> &'static str {
    if tp.is_enabled() {
        "enabled"
    } else {
        "disabled"
    }
}

fn no_more(args: &[String], usage: &str) -> Result<(), ShellError> {
    match args.first() {
        None => Ok(()),
        Some(extra) => error(format!("unexpected argument `{extra}`; usage: {usage}")),
    }
}

impl<F: Files> Shell<F> {
    /// A shell reading objects through `files`.
    pub fn new(files: F) -> Self {
        Self {
            files,
            loaded: BTreeMap::new(),
            symbols: None,
        }
    }

    /// Gives `trace list` a symbol table (from `cargo xtask symbols`) to name code addresses
    /// with; `load_bias` is subtracted from run-time addresses first (0 unless relocated).
    pub fn set_symbols(&mut self, table: SymbolTable, load_bias: u64) {
        self.symbols = Some((table, load_bias));
    }

    /// The names objects are loaded under, in name order (for a dump's metadata).
    pub fn loaded(&self) -> impl Iterator<Item = &str> {
        self.loaded.keys().map(String::as_str)
    }

    fn symbolize(&self, addr: usize) -> String {
        self.symbols
            .as_ref()
            .and_then(|(table, bias)| table.symbolize((addr as u64).wrapping_sub(*bias)))
            .map_or_else(
                || format!("{addr:#x}"),
                |name| format!("{name} ({addr:#x})"),
            )
    }

    /// Runs one command line, writing its output to `out`.
    pub fn execute(&mut self, line: &str, out: &mut impl Write) -> Result<(), ShellError> {
        let mut args = words(line)?;
        if args.is_empty() {
            return Ok(());
        }
        if args[0] != "trace" {
            return error(format!("unknown command `{}`; try `trace help`", args[0]));
        }
        args.remove(0);
        if args.is_empty() {
            return error("missing subcommand; try `trace help`");
        }
        let command = args.remove(0);
        match command.as_str() {
            "help" => {
                no_more(&args, "trace help")?;
                let _ = out.write_str(HELP);
                Ok(())
            }
            "list" if args.is_empty() => {
                self.list(out);
                Ok(())
            }
            "list" => self.list_one(args, out),
            "enable" => self.enable(args, out),
            "disable" => self.disable(args, out),
            "load" => self.load(args, out),
            "unload" => self.unload(args, out),
            "stat" => self.stat(args, out),
            other => error(format!(
                "unknown subcommand `trace {other}`; try `trace help`"
            )),
        }
    }

    fn list(&self, out: &mut impl Write) {
        let _ = writeln!(
            out,
            "{:<20} {:<8} {:>10} {:>10} {:>7}  filter / programs",
            "tracepoint", "state", "hits", "filtered", "errors"
        );
        for tp in tracepoint::ALL {
            let stats = tp.stats();
            let (filter, programs) = tp.describe();
            let _ = writeln!(
                out,
                "{:<20} {:<8} {:>10} {:>10} {:>7}  {}",
                tp.full_name(),
                state(tp),
                stats.hits,
                stats.filtered,
                stats.errors,
                filter.map_or_else(|| "-".to_string(), |f| format!("filter `{f}`"))
            );
            for program in programs {
                let _ = writeln!(out, "{:<63}  {} ({})", "", program.name, program.mode());
            }
        }
    }

    fn list_one(&self, mut args: Vec<String>, out: &mut impl Write) -> Result<(), ShellError> {
        let tp = tracepoint_arg(&mut args, "trace list [TP]")?;
        let stats = tp.stats();
        let (filter, programs) = tp.describe();
        let _ = writeln!(
            out,
            "{}: {}, hits {}, filtered {}, errors {}",
            tp.full_name(),
            state(tp),
            stats.hits,
            stats.filtered,
            stats.errors
        );
        let _ = writeln!(out, "handler: {}", self.symbolize(tp.handler_address()));
        let _ = writeln!(out, "filter: {}", filter.as_deref().unwrap_or("-"));
        for program in programs {
            // JIT code is not in the symbol table: name it the way Linux's kallsyms names JIT'd
            // programs (`bpf_prog_<name>`), with its code range.
            let code = program
                .jit_region()
                .map_or_else(String::new, |(start, len)| {
                    format!(
                        ", code bpf_prog_{} at {start:#x}..{:#x}",
                        program.name,
                        start + len
                    )
                });
            let _ = writeln!(out, "program: {} ({}{code})", program.name, program.mode());
        }
        let _ = write!(out, "format of {}", tp.format());
        Ok(())
    }

    fn enable(&mut self, mut args: Vec<String>, out: &mut impl Write) -> Result<(), ShellError> {
        const USAGE: &str = "trace enable <tp> [--filter EXPR]";
        let filter = option(&mut args, "--filter")?;
        let tp = tracepoint_arg(&mut args, USAGE)?;
        let filter = match filter {
            Some(expr) => Some(
                Filter::compile_fields(&expr, tp.fields).map_err(|e| ShellError(e.to_string()))?,
            ),
            None => None,
        };
        tp.set_filter(filter);
        tp.set_enabled(true)
            .map_err(|e| ShellError(e.to_string()))?;
        let _ = writeln!(out, "{} enabled", tp.full_name());
        Ok(())
    }

    fn disable(&mut self, mut args: Vec<String>, out: &mut impl Write) -> Result<(), ShellError> {
        let tp = tracepoint_arg(&mut args, "trace disable <tp>")?;
        tp.set_enabled(false)
            .map_err(|e| ShellError(e.to_string()))?;
        let _ = writeln!(out, "{} disabled", tp.full_name());
        Ok(())
    }

    fn load(&mut self, mut args: Vec<String>, out: &mut impl Write) -> Result<(), ShellError> {
        const USAGE: &str =
            "trace load NAME FILE [--attach TP] [--mode jit|interp] [-v] [--unsafe-skip-verifier]";
        let attach_to = option(&mut args, "--attach")?;
        let verbose = flag(&mut args, "-v");
        let skip_verifier = flag(&mut args, "--unsafe-skip-verifier");
        let mode = match option(&mut args, "--mode")?.as_deref() {
            None => ExecMode::preferred(),
            Some("jit") => ExecMode::Jit,
            Some("interp" | "interpreter") => ExecMode::Interpreter,
            Some(other) => return error(format!("unknown mode `{other}`; use jit or interp")),
        };
        if args.len() < 2 {
            return error(format!("missing NAME or FILE; usage: {USAGE}"));
        }
        let (name, file) = (args.remove(0), args.remove(0));
        no_more(&args, USAGE)?;
        if self.loaded.contains_key(&name) {
            return error(format!(
                "`{name}` is already loaded; `trace unload {name}` first"
            ));
        }
        let forced = match &attach_to {
            Some(tp) => Some(tracepoint::find(tp).map_err(|e| ShellError(e.to_string()))?),
            None => None,
        };
        let bytes = self
            .files
            .read(&file)
            .map_err(|e| ShellError(format!("{file}: {e}")))?;
        let options = LoadOptions {
            attach: forced.map(|tp| tp.name),
            verifier_log: verbose,
            unsafe_skip_verifier: skip_verifier,
            ..LoadOptions::new(mode)
        };
        if skip_verifier {
            let _ = writeln!(
                out,
                "WARNING: {file}: loading WITHOUT the verifier; its programs can read and write \
                 any hypervisor memory"
            );
        }
        let object = match LoadedObject::load_with_options(&bytes, &options) {
            Ok(object) => Arc::new(object),
            Err(e) => {
                if let (true, ObjectError::Verify { name, error, .. }) = (verbose, &e) {
                    let _ = write!(out, "verifier log of `{name}`:\n{}", error.log);
                }
                return error(format!("{file}: {e}"));
            }
        };
        if verbose {
            for program in object.programs() {
                if let Some(report) = &program.verification {
                    let _ = write!(out, "verifier log of `{}`:\n{}", program.name, report.log);
                }
            }
        }
        // Resolve every attachment before attaching any, so a failure changes nothing.
        let mut plan = Vec::new();
        for (index, program) in object.programs().iter().enumerate() {
            let tp = match forced {
                Some(tp) => tp,
                None => match tracepoint::for_section(&program.section) {
                    Ok(tp) => tp,
                    Err(tracepoint::TracepointError::NotATracepointSection(_)) => {
                        return error(format!(
                            "{file}: program `{}` is in section `{}`, which names no VMM \
                             tracepoint; use --attach TP",
                            program.name, program.section
                        ));
                    }
                    Err(e) => return error(e.to_string()),
                },
            };
            plan.push((tp, index, format!("{name}/{}", program.name)));
        }
        if plan.is_empty() {
            return error(format!("{file}: no program to attach"));
        }
        let mut attached = Vec::new();
        for (tp, index, program_name) in plan {
            let program = AttachedProgram::new(program_name.clone(), object.clone(), index)
                .expect("index comes from the object's own program list");
            tp.attach(Arc::new(program));
            let _ = writeln!(
                out,
                "{program_name} ({mode}) attached to {}",
                tp.full_name()
            );
            attached.push((tp.name, program_name));
        }
        self.loaded.insert(name, Loaded { object, attached });
        Ok(())
    }

    fn unload(&mut self, mut args: Vec<String>, out: &mut impl Write) -> Result<(), ShellError> {
        const USAGE: &str = "trace unload NAME";
        let Some(name) = (!args.is_empty()).then(|| args.remove(0)) else {
            return error(format!("missing NAME; usage: {USAGE}"));
        };
        no_more(&args, USAGE)?;
        let Some(loaded) = self.loaded.remove(&name) else {
            return error(format!("nothing is loaded as `{name}`"));
        };
        for (tp_name, program_name) in &loaded.attached {
            if let Ok(tp) = tracepoint::find(tp_name) {
                let _ = tp.detach(program_name);
            }
        }
        let _ = writeln!(out, "{name} unloaded");
        Ok(())
    }

    fn stat(&mut self, args: Vec<String>, out: &mut impl Write) -> Result<(), ShellError> {
        const USAGE: &str = "trace stat [MAP]";
        if args.len() > 1 {
            no_more(&args[1..], USAGE)?;
        }
        let wanted = args.first();
        let mut shown = 0;
        for (object_name, loaded) in &self.loaded {
            for map in loaded.object.maps() {
                if wanted
                    .is_some_and(|w| *w != map.name && *w != format!("{object_name}/{}", map.name))
                {
                    continue;
                }
                let _ = writeln!(
                    out,
                    "{object_name}/{} ({}):",
                    map.name,
                    map.map.spec().map_type.name()
                );
                describe_map(&map.map, out);
                shown += 1;
            }
        }
        match (shown, wanted) {
            (0, Some(name)) => error(format!("no loaded map `{name}`")),
            (0, None) => {
                let _ = writeln!(out, "no maps: nothing is loaded");
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn u64_at(bytes: &[u8], index: usize) -> u64 {
    bytes
        .get(index * 8..index * 8 + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

fn u32_at(bytes: &[u8], index: usize) -> u32 {
    bytes
        .get(index * 4..index * 4 + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

/// Prints a map: `(vm, reason)`-keyed latency stats and counters as tables, anything else as
/// hex, per-CPU values summed.
fn describe_map(map: &Map, out: &mut impl Write) {
    let spec = map.spec();
    let mut keys = map.keys();
    keys.sort();
    let vm_reason = spec.key_size == 8;
    if vm_reason && spec.value_size == 8 {
        let _ = writeln!(out, "  {:>4} {:<18} {:>12}", "vm", "exit reason", "count");
        for key in &keys {
            let total: u64 = map
                .read_per_cpu(key)
                .unwrap_or_default()
                .iter()
                .map(|v| u64_at(v, 0))
                .sum();
            let _ = writeln!(
                out,
                "  {:>4} {:<18} {:>12}",
                u32_at(key, 0),
                ExitReason::from_code(u32_at(key, 1)).name(),
                total
            );
        }
    } else if vm_reason && spec.value_size >= 32 {
        // exit_latency's `struct latency_stats { count, sum_ns, min_ns, max_ns, buckets[] }`.
        let _ = writeln!(
            out,
            "  {:>4} {:<18} {:>10} {:>10} {:>10} {:>10}",
            "vm", "exit reason", "count", "avg ns", "min ns", "max ns"
        );
        for key in &keys {
            let (mut count, mut sum, mut min, mut max) = (0u64, 0u64, u64::MAX, 0u64);
            for value in map.read_per_cpu(key).unwrap_or_default() {
                if u64_at(&value, 0) == 0 {
                    continue;
                }
                count += u64_at(&value, 0);
                sum += u64_at(&value, 1);
                min = min.min(u64_at(&value, 2));
                max = max.max(u64_at(&value, 3));
            }
            if count == 0 {
                continue;
            }
            let _ = writeln!(
                out,
                "  {:>4} {:<18} {:>10} {:>10} {:>10} {:>10}",
                u32_at(key, 0),
                ExitReason::from_code(u32_at(key, 1)).name(),
                count,
                sum / count,
                min,
                max
            );
        }
    } else {
        // Arrays hold every index; show the ones that were written.
        keys.retain(|key| {
            map.read_per_cpu(key)
                .is_some_and(|values| values.iter().any(|v| v.iter().any(|&b| b != 0)))
        });
        if keys.is_empty() {
            let _ = writeln!(out, "  (empty)");
        }
        for key in keys.iter().take(64) {
            let values = map.read_per_cpu(key).unwrap_or_default();
            let _ = write!(out, "  key {}:", hex(key));
            for (cpu, value) in values.iter().enumerate() {
                let _ = write!(out, " cpu{cpu}={}", hex(value));
            }
            let _ = writeln!(out);
        }
        if keys.len() > 64 {
            let _ = writeln!(out, "  … {} more keys", keys.len() - 64);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_and_quote() {
        assert_eq!(
            words("trace enable vmm:vcpu_run_exit --filter 'exit_reason == 2 && vm_id == 1'")
                .unwrap(),
            [
                "trace",
                "enable",
                "vmm:vcpu_run_exit",
                "--filter",
                "exit_reason == 2 && vm_id == 1"
            ]
        );
        assert_eq!(words("  a  \"b c\" ''").unwrap(), ["a", "b c", ""]);
        assert!(words("trace 'oops").is_err());
    }
}
