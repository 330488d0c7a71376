//! `cargo xtask axvisor …`: axtrace inside the real AxVisor 0.8.2 (from crates.io), booted on
//! QEMU aarch64.
//!
//! * `fetch` — downloads AxVisor and every crate it builds with (`cargo fetch --locked` in
//!   `axvisor/fetch`, whose committed `Cargo.lock` pins them and their checksums) and copies
//!   the sources of axvisor and axvm into `target/axvisor/src`, with our integration applied
//!   (`axvisor/patches/*`, the `axvisor/glue` crate as a path dependency).
//! * `build` — the above, then AxVisor for QEMU aarch64 with the guests of `guest.rs` built in:
//!   `target/axvisor/axvisor.bin` (what QEMU boots) and `axvisor.elf` (its symbols).
//! * `run [-- QEMU ARGS]` — the above, then boots it with the terminal attached (Ctrl-A X quits
//!   QEMU).
//! * `test` — the above, then axtrace's end-to-end check inside AxVisor (`test.rs`).
//! * `bench` — the above, then the cost of tracing in instructions per exit (`bench.rs`).
//! * `exec CMD… [-- QEMU ARGS]` — the above, then boots it, types each command into AxVisor's shell and prints
//!   its output (`wait:TEXT` waits for TEXT on the console instead, `send:TEXT` types without
//!   waiting for a prompt).
//!
//! Every step runs under a timeout and logs into `target/axvisor/logs/`; a failure names the
//! step (toolchain, fetch, patch, lock, build, boot, command) and shows the end of its log.
//! `--vanilla` builds AxVisor without our integration, for comparison.

use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub(crate) mod bench;
pub(crate) mod build;
pub(crate) mod fetch;
pub(crate) mod guest;
pub(crate) mod qemu;
mod sites;
mod test;

/// The AxVisor release we integrate with.
pub(crate) const AXVISOR_VERSION: &str = "0.8.2";
/// The axvm release AxVisor 0.8.2's `Cargo.lock` pins (we patch it too).
pub(crate) const AXVM_VERSION: &str = "0.8.5";
/// The nightly AxVisor 0.8.2 builds with (with `rust-src`, for `-Zbuild-std`).
pub(crate) const TOOLCHAIN: &str = "nightly-2026-09-04";
/// Lines of a failed step's log shown in the error.
const LOG_TAIL_LINES: usize = 40;

/// `cargo xtask axvisor <fetch|build|run|test|exec> [options]`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let (sub, options) = match args.split_first() {
        Some((sub, rest)) => (sub.as_str(), Options::parse(rest)?),
        None => ("", Options::default()),
    };
    if sub != "exec" && !options.commands.is_empty() {
        bail!(
            "`cargo xtask axvisor {sub}` takes no argument {:?} (QEMU arguments go after `--`)",
            options.commands[0]
        );
    }
    let layout = Layout::new();
    match sub {
        "fetch" => {
            let sources = fetch::prepare(&layout, options.integration())?;
            eprintln!("xtask: axvisor sources: {}", sources.axvisor.display());
            if sources.integration == Integration::Axtrace {
                eprintln!("                       {}", sources.axvm.display());
            }
            eprintln!("       logs: {}", layout.logs().display());
            Ok(())
        }
        "build" => {
            let built = build_all(&layout, &options)?;
            built.print(&layout);
            Ok(())
        }
        "run" => {
            let built = build_all(&layout, &options)?;
            built.print(&layout);
            qemu::run_interactive(&layout, &built, &options.qemu_args, options.timeout)
        }
        "exec" => {
            let built = build_all(&layout, &options)?;
            built.print(&layout);
            exec(&layout, &built, &options)
        }
        "test" => test::run(&layout, &options),
        "bench" => bench::run(&layout, &options),
        "" | "help" | "--help" | "-h" => {
            print_help();
            Ok(())
        }
        other => {
            print_help();
            bail!("unknown `cargo xtask axvisor` task `{other}`")
        }
    }
}

fn print_help() {
    eprintln!(
        "usage: cargo xtask axvisor <task> [options]\n\n\
         tasks:\n  \
         fetch   download AxVisor {AXVISOR_VERSION} (crates.io, pinned by axvisor/fetch/Cargo.lock)\n          \
         and prepare its sources with our patches in target/axvisor/src\n  \
         build   fetch, then build AxVisor for QEMU aarch64: target/axvisor/axvisor.bin\n  \
         run [-- QEMU ARGS]  build, then boot it on QEMU with this terminal (Ctrl-A X quits)\n  \
         test    build, boot and check axtrace inside AxVisor end to end (test.rs)\n  \
         bench   instructions per exit, traced and untraced, under QEMU -icount (bench.rs)\n  \
         exec CMD… [-- QEMU ARGS]  build, boot, type each CMD into AxVisor's shell and\n          \
         print its output\n          \
         (`wait:TEXT` waits until TEXT appears on the console, `send:TEXT` types\n          \
         TEXT and Enter without waiting for a prompt, e.g. into a guest's console)\n\n\
         options:\n  \
         --log LEVEL    AxVisor's log level (AX_LOG; default: $AX_LOG or info)\n  \
         --timeout S    run: stop QEMU after S seconds; exec: per command (default 60)\n  \
         --vanilla      build AxVisor without our patches and glue\n  \
         --auto-start   build without AxVisor's no-auto-start feature (VMs start at boot)\n  \
         --features F   more AxVisor cargo features (comma-separated)\n\n\
         logs: target/axvisor/logs/"
    );
}

/// Options of the `axvisor` tasks.
#[derive(Debug, Default, Clone)]
pub(crate) struct Options {
    /// AxVisor's log level (`AX_LOG`).
    pub(crate) log: Option<String>,
    /// `run`: stop QEMU after this long; `exec`: the timeout of each command.
    pub(crate) timeout: Option<Duration>,
    /// Build AxVisor without our integration.
    pub(crate) vanilla: bool,
    /// Build without AxVisor's `no-auto-start` feature: the VMs start at boot.
    pub(crate) auto_start: bool,
    /// More AxVisor cargo features.
    pub(crate) features: Vec<String>,
    /// `run`, `exec`: extra QEMU arguments (after `--`).
    pub(crate) qemu_args: Vec<String>,
    /// `exec`: the shell commands.
    pub(crate) commands: Vec<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .cloned()
                    .with_context(|| format!("{name} needs a value"))
            };
            match arg.as_str() {
                "--log" => options.log = Some(value("--log")?),
                "--timeout" => {
                    let seconds: f64 = value("--timeout")?
                        .parse()
                        .context("--timeout takes seconds")?;
                    options.timeout = Some(Duration::from_secs_f64(seconds));
                }
                "--vanilla" => options.vanilla = true,
                "--auto-start" => options.auto_start = true,
                "--features" => options.features.push(value("--features")?),
                "--" => {
                    options.qemu_args = args.by_ref().cloned().collect();
                }
                other if other.starts_with("--") => bail!("unknown option `{other}`"),
                command => options.commands.push(command.to_string()),
            }
        }
        Ok(options)
    }

    /// Whether to apply our patches and glue.
    pub(crate) fn integration(&self) -> Integration {
        if self.vanilla {
            Integration::Vanilla
        } else {
            Integration::Axtrace
        }
    }

    /// AxVisor's cargo features: `no-auto-start` (the shell starts the VMs) unless
    /// `--auto-start`, and those of `--features`.
    pub(crate) fn features(&self) -> String {
        let mut features: Vec<&str> = Vec::new();
        if !self.auto_start {
            features.push("no-auto-start");
        }
        features.extend(
            self.features
                .iter()
                .flat_map(|list| list.split([',', ' ']))
                .filter(|feature| !feature.is_empty()),
        );
        features.join(",")
    }

    /// AxVisor's log level: `--log`, else `$AX_LOG`, else `info`.
    pub(crate) fn log_level(&self) -> String {
        self.log
            .clone()
            .or_else(|| {
                std::env::var("AX_LOG")
                    .ok()
                    .filter(|level| !level.is_empty())
            })
            .unwrap_or_else(|| "info".to_string())
    }
}

/// Whether AxVisor is built with our integration (patches, glue) or as published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Integration {
    /// Our patches and the glue crate, where they exist.
    Axtrace,
    /// AxVisor as published, for comparison.
    Vanilla,
}

/// Where everything lives: the inputs in the repository (`axvisor/`) and the outputs under
/// `target/axvisor/`.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// The workspace root.
    pub(crate) root: PathBuf,
    /// `target/axvisor`.
    pub(crate) dir: PathBuf,
}

impl Layout {
    pub(crate) fn new() -> Self {
        let root = crate::workspace_root();
        let dir = root.join("target").join("axvisor");
        Self { root, dir }
    }

    /// The repository's `axvisor/` directory (glue, patches, fetch project, target spec).
    pub(crate) fn repo_dir(&self) -> PathBuf {
        self.root.join("axvisor")
    }
    /// The throwaway package whose lock pins AxVisor and its dependencies.
    pub(crate) fn fetch_project(&self) -> PathBuf {
        self.repo_dir().join("fetch")
    }
    /// `axvisor/patches/<krate>`: the patches for `axvisor` or `axvm`.
    pub(crate) fn patches(&self, krate: &str) -> PathBuf {
        self.repo_dir().join("patches").join(krate)
    }
    /// The `axtrace-axvisor` crate.
    pub(crate) fn glue(&self) -> PathBuf {
        self.repo_dir().join("glue")
    }
    /// Our custom target for ArceOS std kernels on aarch64.
    pub(crate) fn target_spec(&self) -> PathBuf {
        self.repo_dir().join("aarch64-unknown-linux-musl.json")
    }
    /// The prepared sources of axvisor and axvm.
    pub(crate) fn src(&self) -> PathBuf {
        self.dir.join("src")
    }
    pub(crate) fn axvisor_src(&self) -> PathBuf {
        self.src().join(format!("axvisor-{AXVISOR_VERSION}"))
    }
    pub(crate) fn axvm_src(&self) -> PathBuf {
        self.src().join(format!("axvm-{AXVM_VERSION}"))
    }
    /// AxVisor's cargo target directory (kept between builds).
    pub(crate) fn cargo_target(&self) -> PathBuf {
        self.dir.join("cargo")
    }
    /// The empty `libc.a`, `libunwind.a`, `libgcc_s.a` the std target links against.
    pub(crate) fn fake_libs(&self) -> PathBuf {
        self.dir.join("fake-libs")
    }
    /// Guest images and VM configurations.
    pub(crate) fn guests(&self) -> PathBuf {
        self.dir.join("guests")
    }
    /// QEMU's working directory: semihosting writes (the trace dump) land here.
    pub(crate) fn run_dir(&self) -> PathBuf {
        self.dir.join("run")
    }
    pub(crate) fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }
    pub(crate) fn log(&self, name: &str) -> PathBuf {
        self.logs().join(format!("{name}.log"))
    }
    /// The raw binary QEMU boots.
    pub(crate) fn bin(&self) -> PathBuf {
        self.dir.join("axvisor.bin")
    }
    /// The ELF the binary was made from (symbols for tests).
    pub(crate) fn elf(&self) -> PathBuf {
        self.dir.join("axvisor.elf")
    }
}

/// The steps of `cargo xtask axvisor`, named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Toolchain,
    Fetch,
    Patch,
    Lock,
    Build,
    Boot,
    Command,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Toolchain => "toolchain",
            Self::Fetch => "fetch",
            Self::Patch => "patch",
            Self::Lock => "lock",
            Self::Build => "build",
            Self::Boot => "boot",
            Self::Command => "command",
        })
    }
}

/// What `build_all` made.
#[derive(Debug, Clone)]
pub(crate) struct Built {
    /// `target/axvisor/axvisor.bin`.
    pub(crate) bin: PathBuf,
    /// `target/axvisor/axvisor.elf`.
    pub(crate) elf: PathBuf,
    /// The VM configurations built in, in VM-id order.
    pub(crate) vm_configs: Vec<PathBuf>,
    /// How long the build took.
    pub(crate) elapsed: Duration,
}

impl Built {
    fn print(&self, layout: &Layout) {
        eprintln!(
            "xtask: axvisor built in {:.1} s\n       binary: {}\n       ELF:    {}\n       logs:   {}",
            self.elapsed.as_secs_f64(),
            rel(layout, &self.bin),
            rel(layout, &self.elf),
            rel(layout, &layout.logs())
        );
        for (id, config) in self.vm_configs.iter().enumerate() {
            eprintln!("       VM {}:   {}", id + 1, rel(layout, config));
        }
    }
}

/// Fetch, patch and build: everything up to a bootable `axvisor.bin`.
pub(crate) fn build_all(layout: &Layout, options: &Options) -> Result<Built> {
    let started = Instant::now();
    let sources = fetch::prepare(layout, options.integration())?;
    let mut built = build::build(layout, &sources, options)?;
    built.elapsed = started.elapsed();
    Ok(built)
}

/// `exec`: boot, run each command, print its output.
fn exec(layout: &Layout, built: &Built, options: &Options) -> Result<()> {
    let timeout = options.timeout.unwrap_or(Duration::from_secs(60));
    let started = Instant::now();
    let console = qemu::Console::boot(layout, built, &options.qemu_args)?;
    eprintln!(
        "xtask: axvisor shell prompt after {:.1} s (console log: {})",
        started.elapsed().as_secs_f64(),
        rel(layout, console.log_path())
    );
    for command in &options.commands {
        if let Some(line) = command.strip_prefix("send:") {
            console.send_line(line)?;
        } else if let Some(pattern) = command.strip_prefix("wait:") {
            let started = Instant::now();
            console.wait_for(pattern, timeout)?;
            println!(
                "[waited {:.2} s for {pattern:?}]",
                started.elapsed().as_secs_f64()
            );
        } else {
            let started = Instant::now();
            let output = console.command(command, timeout)?;
            println!(
                "axvisor:$ {command}    [{:.2} s]\n{output}",
                started.elapsed().as_secs_f64()
            );
        }
    }
    console.shutdown(Duration::from_secs(5))?;
    Ok(())
}

/// `path` relative to the workspace root, for messages.
pub(crate) fn rel(layout: &Layout, path: &Path) -> String {
    path.strip_prefix(&layout.root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Runs `command` with its stdout and stderr appended to `log`, killing it (and its process
/// group) after `timeout`. A failure names the step and shows the end of the log.
pub(crate) fn run_logged(
    step: Step,
    command: &mut Command,
    log: &Path,
    timeout: Duration,
) -> Result<()> {
    use std::os::unix::process::CommandExt;

    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("could not open {}", log.display()))?;
    writeln!(file, "$ {}", describe(command))?;
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file.try_clone()?)
        .process_group(0)
        .spawn()
        .with_context(|| format!("axvisor {step}: could not start {}", describe(command)))?;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > timeout {
            kill_group(child.id());
            child.wait().ok();
            writeln!(file, "xtask: killed after {} s", timeout.as_secs()).ok();
            bail!(
                "axvisor {step} timed out after {} s: {}\n{}",
                timeout.as_secs(),
                describe(command),
                log_tail(log)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    writeln!(
        file,
        "xtask: {status} after {:.1} s",
        started.elapsed().as_secs_f64()
    )
    .ok();
    if !status.success() {
        bail!(
            "axvisor {step} failed ({status}): {}\n{}",
            describe(command),
            log_tail(log)
        );
    }
    Ok(())
}

/// Kills the process group `pgid` (a child we started with its own group), so a timed-out
/// cargo takes its rustc processes with it.
pub(crate) fn kill_group(pgid: u32) {
    Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status()
        .ok();
}

/// The last lines of a log, introduced by its path.
pub(crate) fn log_tail(log: &Path) -> String {
    let lines: Vec<String> = fs::File::open(log)
        .map(|file| {
            BufReader::new(file)
                .split(b'\n')
                .map_while(Result::ok)
                .map(|line| String::from_utf8_lossy(&line).into_owned())
                .collect()
        })
        .unwrap_or_default();
    tail_of(
        &format!("last lines of {}", log.display()),
        &lines,
        LOG_TAIL_LINES,
    )
}

/// `title` and the last `n` of `lines`, indented.
pub(crate) fn tail_of(title: &str, lines: &[String], n: usize) -> String {
    let start = lines.len().saturating_sub(n);
    let mut out = format!("--- {title} ---\n");
    for line in &lines[start..] {
        out.push_str("  ");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str("---");
    out
}

/// A command line for messages and logs.
pub(crate) fn describe(command: &Command) -> String {
    let mut out = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        out.push(' ');
        out.push_str(&arg.to_string_lossy());
    }
    out
}

/// A fresh log file for a step.
pub(crate) fn start_log(layout: &Layout, name: &str) -> Result<PathBuf> {
    fs::create_dir_all(layout.logs())?;
    let log = layout.log(name);
    fs::write(&log, "").with_context(|| format!("could not create {}", log.display()))?;
    Ok(log)
}
