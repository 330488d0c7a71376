//! `cargo xtask conformance --kit DIR [--mode jit|interp|both] [--verbose]`: the public BPF ISA
//! conformance suite (github.com/Alan-Jowett/bpf_conformance, its `tests/*.data`) run through
//! `axtrace bpf-run` in each execution mode.
//!
//! Each case is assembled with our own assembler (`asm.rs`; a case's `-- raw` section, when
//! present, is what runs, and must equal the assembly), run by the release `axtrace` binary
//! with the case's `-- mem` as memory under a timeout, and its printed R0 compared with
//! `-- result` (a case with `-- error` must be refused). A case is "v4" when it uses an ISA v4
//! instruction (signed division or modulo, `movsx`, `ldxs*`, `bswap`, `ja32`), else "v3".
//!
//! Prints one line per case that does not pass (`--verbose`: every case), then per mode:
//! `jit: v3 P/N passed, W wrong, R refused; v4 …; total P/N passed`. "Wrong" means the program
//! ran and returned another value; "refused" that `bpf-run` exited non-zero (refused at load,
//! failed at run time, timed out) — the reason is its error message. Exits non-zero when any
//! case gives a wrong result or cannot be assembled.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub(crate) mod asm;

/// The environment variable that names the kit when `--kit` is not given.
const KIT_ENV: &str = "AXTRACE_CONFORMANCE_KIT";
/// How long one case may run in one mode.
const CASE_TIMEOUT: Duration = Duration::from_secs(10);

/// The execution modes of `axtrace bpf-run --mode`.
const MODES: [&str; 2] = ["jit", "interp"];

struct Options {
    kit: Option<PathBuf>,
    modes: Vec<&'static str>,
    verbose: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let mut options = Options {
            kit: None,
            modes: MODES.to_vec(),
            verbose: false,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (arg.as_str(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next().cloned())
                    .with_context(|| format!("`{name}` needs a value"))
            };
            match name {
                "--kit" => options.kit = Some(PathBuf::from(value()?)),
                "--mode" => {
                    options.modes = match value()?.as_str() {
                        "jit" => vec!["jit"],
                        "interp" => vec!["interp"],
                        "both" => MODES.to_vec(),
                        other => bail!("unknown mode `{other}` (jit, interp or both)"),
                    }
                }
                "--verbose" | "-v" => options.verbose = true,
                "--help" | "-h" => {
                    eprintln!("{USAGE}");
                    std::process::exit(0);
                }
                other => bail!("unknown argument `{other}`\n{USAGE}"),
            }
        }
        if options.kit.is_none() {
            options.kit = std::env::var_os(KIT_ENV)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from);
        }
        Ok(options)
    }
}

const USAGE: &str = "usage: cargo xtask conformance --kit DIR [--mode jit|interp|both] [--verbose]\n\
    DIR holds the bpf_conformance suite's tests/*.data (default: $AXTRACE_CONFORMANCE_KIT)";

/// `cargo xtask conformance …`.
pub(crate) fn run(root: &Path, args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    let Some(kit) = options.kit else {
        bail!(
            "no conformance kit: pass --kit DIR or set {KIT_ENV}=DIR, DIR being the tests/ \
             directory of the BPF conformance suite (https://github.com/Alan-Jowett/bpf_conformance), \
             e.g. `git clone --depth 1 https://github.com/Alan-Jowett/bpf_conformance \
             /tmp/bpf_conformance` and `--kit /tmp/bpf_conformance/tests`"
        );
    };
    let files = kit_files(&kit)?;
    let mut cases = Vec::new();
    let mut broken = Vec::new();
    for file in &files {
        match Case::read(file) {
            Ok(case) => cases.push(case),
            Err(error) => broken.push(format!("{error:#}")),
        }
    }
    for line in &broken {
        println!("cannot assemble: {line}");
    }

    crate::run(
        "cargo build --release -p axtrace-tools --bin axtrace",
        crate::cargo().args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "axtrace-tools",
            "--bin",
            "axtrace",
        ]),
    )?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let axtrace = target_dir.join("release").join("axtrace");
    eprintln!(
        "xtask: conformance: {} cases from {}, modes {}",
        cases.len(),
        kit.display(),
        options.modes.join(", ")
    );

    let helper_cases: Vec<&str> = cases
        .iter()
        .filter(|case| case.helper)
        .map(|case| case.name.as_str())
        .collect();
    let mut summaries = Vec::new();
    let mut any_wrong = false;
    for mode in &options.modes {
        let mut tally = Tally::default();
        for case in &cases {
            let outcome = case.run(&axtrace, mode);
            let version = if case.v4.is_some() { "v4" } else { "v3" };
            let note = match (case.v4, case.helper) {
                (_, true) => " [helper call: unsupported]".to_string(),
                (Some(feature), false) => format!(" [v4: {feature}]"),
                (None, false) => String::new(),
            };
            match &outcome {
                Outcome::Passed if options.verbose => {
                    println!("{mode:6} {version} {:28} passed", case.name)
                }
                Outcome::Passed => {}
                Outcome::Wrong(detail) => {
                    println!("{mode:6} {version} {:28} WRONG: {detail}", case.name)
                }
                Outcome::Refused(reason) => {
                    println!(
                        "{mode:6} {version} {:28} refused: {reason}{note}",
                        case.name
                    )
                }
            }
            tally.add(version, &outcome);
        }
        any_wrong |= tally.wrong() > 0;
        summaries.push(format!("{mode}: {}", tally.summary()));
    }
    println!();
    for line in &summaries {
        println!("{line}");
    }
    if !helper_cases.is_empty() {
        println!(
            "helper calls (bpf-run has no helpers): {}",
            helper_cases.join(", ")
        );
    }
    let mut problems = Vec::new();
    if any_wrong {
        problems.push("some cases gave a wrong result".to_string());
    }
    if !broken.is_empty() {
        problems.push(format!("{} case(s) could not be assembled", broken.len()));
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    Ok(())
}

/// The `*.data` files of the kit, sorted; `DIR` may also be the suite's checkout (then its
/// `tests/` is used).
fn kit_files(kit: &Path) -> Result<Vec<PathBuf>> {
    let list = |dir: &Path| -> Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read the conformance kit {}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "data"))
            .collect();
        files.sort();
        Ok(files)
    };
    let mut files = list(kit)?;
    if files.is_empty() && kit.join("tests").is_dir() {
        files = list(&kit.join("tests"))?;
    }
    if files.is_empty() {
        bail!("no *.data test files in {}", kit.display());
    }
    Ok(files)
}

/// What a case expects.
#[derive(Debug, PartialEq, Eq)]
enum Expected {
    /// R0.
    Result(u64),
    /// A refusal, with the suite's expected error message.
    Error(String),
}

/// One test case of the kit.
struct Case {
    name: String,
    program: Vec<u8>,
    memory: Vec<u8>,
    expected: Expected,
    /// The first ISA v4 instruction, if any.
    v4: Option<&'static str>,
    /// Calls a helper or by register.
    helper: bool,
}

/// The sections of a `.data` file.
#[derive(Default, Debug)]
struct Sections {
    /// The assembly and the line number of its first line.
    asm: Option<(String, usize)>,
    mem: String,
    raw: String,
    result: Option<String>,
    error: Option<String>,
}

/// Splits a test file into its sections (`-- asm`, `-- mem`, `-- result`, `-- error`, `-- raw`;
/// `-- c` and `-- no register offset` are ignored).
fn sections(text: &str) -> Result<Sections, String> {
    #[derive(Clone, Copy, PartialEq)]
    enum In {
        Ignored,
        Asm,
        Mem,
        Raw,
        Result,
        Error,
    }
    let mut sections = Sections::default();
    let mut state = In::Ignored;
    let mut asm = String::new();
    let mut asm_start = 0;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim_end_matches('\r');
        if let Some(directive) = line.trim_start().strip_prefix("--") {
            let directive = directive.split('#').next().unwrap_or("").trim();
            state = match directive {
                "asm" => {
                    asm_start = number + 1;
                    In::Asm
                }
                "mem" => In::Mem,
                "raw" => In::Raw,
                "result" => In::Result,
                "error" => In::Error,
                "c" | "no register offset" => In::Ignored,
                other => return Err(format!("line {number}: unknown section `-- {other}`")),
            };
            continue;
        }
        if state == In::Asm {
            // Kept whole (comments too) so the assembler's line numbers are the file's.
            asm.push_str(line);
            asm.push('\n');
            continue;
        }
        let content = line.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        match state {
            In::Mem => {
                sections.mem.push(' ');
                sections.mem.push_str(content);
            }
            In::Raw => {
                sections.raw.push(' ');
                sections.raw.push_str(content);
            }
            In::Result => sections.result = Some(content.to_string()),
            In::Error => sections.error = Some(content.to_string()),
            In::Ignored | In::Asm => {}
        }
    }
    if asm_start > 0 {
        sections.asm = Some((asm, asm_start));
    }
    Ok(sections)
}

/// A number as the suite writes results and raw words: `0x…` hexadecimal, else decimal.
fn parse_u64(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text
            .parse::<u64>()
            .ok()
            .or_else(|| text.parse::<i64>().ok().map(|value| value as u64)),
    }
}

impl Case {
    fn read(path: &Path) -> Result<Case> {
        let name = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let sections = sections(&text).map_err(|message| anyhow::anyhow!("{file}: {message}"))?;
        let (source, first_line) = sections
            .asm
            .with_context(|| format!("{file}: no `-- asm` section"))?;
        let program = asm::assemble(&source, &file, first_line)?;
        if program.is_empty() {
            bail!("{file}: the `-- asm` section has no instructions");
        }
        // The suite runs `-- raw` when present: it must be what the assembly means.
        if !sections.raw.trim().is_empty() {
            let raw: Vec<u64> = sections
                .raw
                .split_whitespace()
                .map(|word| parse_u64(word).with_context(|| format!("{file}: raw word `{word}`")))
                .collect::<Result<_>>()?;
            let ours: Vec<u64> = program.iter().map(|insn| insn.to_word()).collect();
            if raw != ours {
                bail!(
                    "{file}: the assembly differs from `-- raw`: {} vs {}",
                    hex_words(&ours),
                    hex_words(&raw)
                );
            }
        }
        let memory = sections
            .mem
            .split_whitespace()
            .map(|byte| {
                u8::from_str_radix(byte, 16)
                    .with_context(|| format!("{file}: `-- mem` byte `{byte}` is not hex"))
            })
            .collect::<Result<Vec<u8>>>()?;
        let expected = match (sections.error, sections.result) {
            (Some(error), _) => Expected::Error(error),
            (None, Some(result)) => Expected::Result(
                parse_u64(&result)
                    .with_context(|| format!("{file}: `-- result` `{result}` is not a number"))?,
            ),
            (None, None) => bail!("{file}: neither `-- result` nor `-- error`"),
        };
        Ok(Case {
            name,
            v4: asm::v4_feature(&program),
            helper: asm::calls_helper(&program),
            program: asm::to_bytes(&program),
            memory,
            expected,
        })
    }

    /// Runs the case with `axtrace bpf-run --mode MODE` and judges the outcome.
    fn run(&self, axtrace: &Path, mode: &str) -> Outcome {
        let mut command = Command::new(axtrace);
        command.args(["bpf-run", "--mode", mode]);
        if !self.memory.is_empty() {
            command.arg(hex(&self.memory));
        }
        let ran = match run_with_timeout(&mut command, hex(&self.program).as_bytes()) {
            Ok(ran) => ran,
            Err(error) => return Outcome::Refused(format!("{error:#}")),
        };
        match (&self.expected, ran) {
            (Expected::Error(_), Ran::Exited { success: false, .. }) => Outcome::Passed,
            (Expected::Error(message), Ran::Exited { stdout, .. }) => Outcome::Wrong(format!(
                "expected a refusal ({message}), ran and printed `{}`",
                stdout.trim()
            )),
            (
                Expected::Result(expected),
                Ran::Exited {
                    success: true,
                    stdout,
                    ..
                },
            ) => match parse_u64(&format!("0x{}", stdout.trim().trim_start_matches("0x"))) {
                Some(value) if value == *expected => Outcome::Passed,
                Some(value) => Outcome::Wrong(format!("R0 = {value:#x}, expected {expected:#x}")),
                None => Outcome::Wrong(format!(
                    "printed `{}`, not a hex number (expected {expected:#x})",
                    stdout.trim()
                )),
            },
            (Expected::Result(_), Ran::Exited { stderr, code, .. }) => {
                Outcome::Refused(reason(&stderr, &code))
            }
            (_, Ran::TimedOut) => {
                Outcome::Refused(format!("timed out after {} s", CASE_TIMEOUT.as_secs()))
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

fn hex_words(words: &[u64]) -> String {
    words
        .iter()
        .map(|word| format!("{word:#018x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A refusal's reason: the error's first line, and the causes anyhow lists under `Caused by:`
/// (the first line alone is often just "program refused"); backtraces dropped.
fn reason(stderr: &str, code: &str) -> String {
    let mut lines = stderr
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty());
    let Some(first) = lines.next() else {
        return format!("exit {code}, no message");
    };
    let mut reason = first.trim_start_matches("Error: ").to_string();
    let mut in_causes = false;
    for line in lines {
        match line {
            "Caused by:" => in_causes = true,
            "Stack backtrace:" => break,
            cause if in_causes => {
                // anyhow numbers several causes `0: …`, `1: …`.
                let cause = cause
                    .split_once(": ")
                    .filter(|(index, _)| index.bytes().all(|b| b.is_ascii_digit()))
                    .map_or(cause, |(_, rest)| rest);
                reason.push_str(": ");
                reason.push_str(cause);
            }
            _ => {}
        }
    }
    reason
}

/// How a run ended.
enum Ran {
    Exited {
        success: bool,
        code: String,
        stdout: String,
        stderr: String,
    },
    TimedOut,
}

/// Runs `command` with `input` on stdin, killing it after `CASE_TIMEOUT`.
fn run_with_timeout(command: &mut Command, input: &[u8]) -> Result<Ran> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0")
        .spawn()
        .with_context(|| format!("could not start {command:?}"))?;
    let mut stdin = child.stdin.take().context("no stdin")?;
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + CASE_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = writer.join();
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Ok(match status {
        Some(status) => Ran::Exited {
            success: status.success(),
            code: status
                .code()
                .map_or_else(|| format!("{status}"), |code| code.to_string()),
            stdout,
            stderr,
        },
        None => Ran::TimedOut,
    })
}

/// A case's outcome in one mode.
enum Outcome {
    Passed,
    /// Ran and returned another value (or ran when it should have been refused).
    Wrong(String),
    /// `bpf-run` exited non-zero or timed out: the reason.
    Refused(String),
}

/// Counts per ISA version: passed, wrong, refused, total.
#[derive(Default)]
struct Tally {
    counts: BTreeMap<&'static str, [usize; 4]>,
}

impl Tally {
    fn add(&mut self, version: &'static str, outcome: &Outcome) {
        let counts = self.counts.entry(version).or_default();
        counts[3] += 1;
        match outcome {
            Outcome::Passed => counts[0] += 1,
            Outcome::Wrong(_) => counts[1] += 1,
            Outcome::Refused(_) => counts[2] += 1,
        }
    }

    fn wrong(&self) -> usize {
        self.counts.values().map(|counts| counts[1]).sum()
    }

    /// `v3 P/N passed, W wrong, R refused; v4 …; total P/N passed, W wrong, R refused`.
    fn summary(&self) -> String {
        let line = |name: &str, [passed, wrong, refused, total]: [usize; 4]| {
            format!("{name} {passed}/{total} passed, {wrong} wrong, {refused} refused")
        };
        let mut parts: Vec<String> = ["v3", "v4"]
            .iter()
            .map(|version| {
                line(
                    version,
                    self.counts.get(version).copied().unwrap_or_default(),
                )
            })
            .collect();
        let total = self.counts.values().fold([0; 4], |mut sum, counts| {
            for (sum, count) in sum.iter_mut().zip(counts) {
                *sum += count;
            }
            sum
        });
        parts.push(line("total", total));
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_of_a_case() {
        let text = "# header comment\n-- asm\nmov %r0, 1 # one\n\nexit\n-- mem\n00 01\n02\n\
                    -- result\n0x1\n-- no register offset\nanything\n";
        let parsed = sections(text).unwrap();
        let (asm, first_line) = parsed.asm.unwrap();
        assert_eq!(first_line, 3);
        assert_eq!(asm.lines().next(), Some("mov %r0, 1 # one"));
        assert_eq!(parsed.mem.split_whitespace().count(), 3);
        assert_eq!(parsed.result.as_deref(), Some("0x1"));
        assert!(parsed.error.is_none());
        assert!(sections("-- asm\nexit\n-- frob\n").is_err());
    }

    #[test]
    fn refusal_reason_keeps_the_causes() {
        let stderr = "Error: program refused\n\nCaused by:\n    instruction 1: atomics\n\n\
                      Stack backtrace:\n   0: main\n";
        assert_eq!(
            reason(stderr, "1"),
            "program refused: instruction 1: atomics"
        );
        let numbered = "Error: a\n\nCaused by:\n    0: b\n    1: c\n";
        assert_eq!(reason(numbered, "1"), "a: b: c");
        assert_eq!(reason("", "101"), "exit 101, no message");
    }

    #[test]
    fn results_parse_as_the_suite_writes_them() {
        assert_eq!(parse_u64("0xffffffffffffffff"), Some(u64::MAX));
        assert_eq!(parse_u64("42"), Some(42));
        assert_eq!(parse_u64("-1"), Some(u64::MAX));
        assert_eq!(parse_u64("zz"), None);
    }
}
