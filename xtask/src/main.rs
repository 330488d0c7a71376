//! `cargo xtask …`: the project's automation, so the README's two commands need nothing set up
//! by hand.
//!
//! * `setup` — adds what the build needs: the `x86_64-unknown-none` target to the pinned
//!   toolchain, Debian's clang (for the eBPF handlers) and cargo-fuzz; idempotent and silent
//!   when already done. Every other task runs it first.
//! * `bpf` — compiles the C eBPF sources with clang; `bpf --check` fails if a committed object
//!   no longer matches its source (the test command runs it).
//! * `test` — everything CI checks: fmt, clippy, stale eBPF objects, the workspace tests,
//!   axtrace inside AxVisor on QEMU aarch64 (`axvisor test`), the no_std build, loom, a
//!   20-second fuzz run of each target.
//! * `nostd` — builds the in-hypervisor crates for `x86_64-unknown-none`.
//! * `loom` — model-checks the ring's protocol.
//! * `fuzz [SECONDS]` — fuzzes the ELF loader, the filter compiler, the shell and the report (cargo-fuzz).
//! * `demo` — the main job: `axtrace demo` records real VM exits of the KVM-backed VMM.
//! * `bench [--quick] [--check FILE] [--peer lttng]` — the criterion suite, its BMF summary, the
//!   regression gate and the LTTng comparison (see `bench.rs`).
//! * `conformance --kit DIR [--mode jit|interp|both] [--verbose]` — the public BPF ISA
//!   conformance suite through `axtrace bpf-run`, with our own assembler for its syntax (see
//!   `conformance/mod.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

mod axvisor;
mod bench;
mod bpf;
mod conformance;
mod symbols;

/// The hypervisor's target: the no_std crates must build for it.
const NOSTD_TARGET: &str = "x86_64-unknown-none";
/// Crates that run inside the hypervisor and so must stay `no_std`.
const NOSTD_CRATES: &[&str] = &["axtrace-ring", "axebpf-core", "axebpf-vm"];

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match task.as_str() {
        "setup" => setup(),
        "test" => test_all(),
        "nostd" => setup().and_then(|()| nostd()),
        "loom" => loom(),
        "fuzz" => {
            let seconds = rest
                .first()
                .and_then(|s| s.parse().ok())
                .unwrap_or(FUZZ_SECONDS);
            setup().and_then(|()| fuzz(seconds))
        }
        "demo" => setup().and_then(|()| demo(&rest)),
        "bpf" if rest.iter().any(|a| a == "--check") => {
            setup().and_then(|()| bpf::check_all(&workspace_root()))
        }
        "bpf" => setup().and_then(|()| bpf::build_all(&workspace_root())),
        "symbols" => symbols::run(&rest),
        "bench" => bench::run(&workspace_root(), &rest),
        "axvisor" => axvisor::run(&rest),
        "conformance" => conformance::run(&workspace_root(), &rest),
        "" | "help" | "--help" | "-h" => {
            print_help();
            Ok(())
        }
        other => {
            print_help();
            bail!("unknown xtask `{other}`")
        }
    }
}

fn print_help() {
    eprintln!(
        "usage: cargo xtask <task>\n\n\
         tasks:\n  \
         setup   add the {NOSTD_TARGET} target and clang (idempotent)\n  \
         bpf     compile the C eBPF sources (*.bpf.c) with clang; --check: fail if a\n          \
         committed object is stale\n  \
         test    fmt, clippy, bpf --check, tests, axvisor test, no_std, loom, fuzz (what CI runs)\n  \
         nostd   build {} for {NOSTD_TARGET}\n  \
         loom    model-check the ring protocol with loom\n  \
         fuzz [S] fuzz each target for S seconds (default 20)\n  \
         symbols E -o F  write the kallsyms table of ELF file E to F\n  \
         demo    run the main job\n  \
         bench [--quick] [--check FILE] [--save-baseline FILE] [--peer lttng]\n          \
         run the benchmarks, write target/bench/summary.json, gate on a baseline\n  \
         conformance --kit DIR [--mode jit|interp|both] [--verbose]\n          \
         run the BPF ISA conformance suite's tests/*.data through axtrace bpf-run\n  \
         axvisor <fetch|build|run|exec>  AxVisor 0.8.2 with axtrace on QEMU aarch64\n          \
         (`cargo xtask axvisor help`)",
        NOSTD_CRATES.join(", ")
    );
}

/// Root of the workspace (xtask lives one level below it).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits inside the workspace")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

fn run(step: &str, command: &mut Command) -> Result<()> {
    eprintln!("xtask: {step}");
    let status = command
        .status()
        .with_context(|| format!("could not start {command:?}"))?;
    if !status.success() {
        bail!("{step} failed ({status})");
    }
    Ok(())
}

/// Everything the build and tests need beyond the toolchain: the hypervisor target, clang,
/// babeltrace2 and cargo-fuzz.
fn setup() -> Result<()> {
    setup_target()?;
    setup_clang()?;
    // babeltrace2 reads the CTF traces `axtrace convert --ctf` writes, in the tests.
    apt_install_if_missing("babeltrace2", "babeltrace2")?;
    setup_cargo_fuzz()
}

/// Installs cargo-fuzz from crates.io if `cargo fuzz` is not available.
fn setup_cargo_fuzz() -> Result<()> {
    let present = cargo()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if present {
        return Ok(());
    }
    run(
        "setup: cargo install cargo-fuzz",
        cargo().args(["install", "cargo-fuzz", "--locked", "--quiet"]),
    )
}

/// Seconds of fuzzing in the test command, per target.
const FUZZ_SECONDS: u32 = 20;

/// The fuzz targets (`fuzz/fuzz_targets/*.rs`) and the committed files that seed each.
const FUZZ_TARGETS: &[(&str, &[&str])] = &[
    (
        "elf_loader",
        &["axebpf-core/tests/objects", "axebpf-core/bpf"],
    ),
    ("filter", &[]),
    ("shell", &[]),
    ("report", &["fuzz/seeds/report"]),
    ("dump_reader", &["fuzz/seeds/report"]),
    ("verifier", &[]),
];

/// A short libFuzzer run of every target, the ELF loader's seeded with the committed objects.
fn fuzz(seconds: u32) -> Result<()> {
    let root = workspace_root();
    for (target, seed_dirs) in FUZZ_TARGETS {
        let corpus = root.join("target").join("fuzz-corpus").join(target);
        std::fs::create_dir_all(&corpus)?;
        for dir in *seed_dirs {
            for entry in std::fs::read_dir(root.join(dir))? {
                let path = entry?.path();
                if path
                    .extension()
                    .is_some_and(|ext| ext == "o" || ext == "axdump")
                    && let Some(name) = path.file_name()
                {
                    std::fs::copy(&path, corpus.join(name))?;
                }
            }
        }
        run(
            &format!("fuzz {target} for {seconds} s"),
            cargo()
                .args(["fuzz", "run", "--fuzz-dir", "fuzz", target])
                .arg(&corpus)
                .args([
                    "--",
                    &format!("-max_total_time={seconds}"),
                    "-rss_limit_mb=2048",
                    "-print_final_stats=1",
                ]),
        )?;
    }
    Ok(())
}

/// Installs Debian's clang (the eBPF handlers' compiler) if `clang` does not run.
fn setup_clang() -> Result<()> {
    apt_install_if_missing("clang", "clang")
}

/// Installs Debian's `package` with apt-get if `program --version` does not run; silent when it
/// does.
fn apt_install_if_missing(program: &str, package: &str) -> Result<()> {
    if runs(program) {
        return Ok(());
    }
    apt_install(&[package]).with_context(|| format!("{program} is missing"))
}

/// Whether `program --version` runs.
fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// `apt-get install` of `packages` (as root, or with `sudo -n`); `apt-get update` only if the
/// first attempt fails.
pub(crate) fn apt_install(packages: &[&str]) -> Result<()> {
    if !runs("apt-get") {
        bail!(
            "needs the Debian packages {} and this machine has no apt-get: install them",
            packages.join(" ")
        );
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0"));
    let apt = |args: &[&str]| {
        let mut command = if root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.args(["-n", "apt-get"]);
            sudo
        };
        command
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(std::process::Stdio::null());
        command
    };
    let step = format!("setup: apt-get install {}", packages.join(" "));
    let install = [&["install", "-y", "-q"][..], packages].concat();
    if run(&step, &mut apt(&install)).is_err() {
        run("setup: apt-get update", &mut apt(&["update", "-q"]))?;
        run(&step, &mut apt(&install))?;
    }
    Ok(())
}

/// Adds the hypervisor target to the toolchain rust-toolchain.toml pins, if missing.
fn setup_target() -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(workspace_root())
        .output()
        .context("rustup is needed to add the no_std target; install rustup first")?;
    if !installed.status.success() {
        bail!(
            "`rustup target list --installed` failed: {}",
            String::from_utf8_lossy(&installed.stderr).trim()
        );
    }
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|line| line.trim() == NOSTD_TARGET)
    {
        return Ok(());
    }
    let mut add = Command::new("rustup");
    add.args(["target", "add", NOSTD_TARGET])
        .current_dir(workspace_root());
    run(
        &format!("setup: rustup target add {NOSTD_TARGET}"),
        &mut add,
    )
}

fn test_all() -> Result<()> {
    setup()?;
    run(
        "cargo fmt --check",
        cargo().args(["fmt", "--all", "--", "--check"]),
    )?;
    run(
        "cargo clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    bpf::check_all(&workspace_root())?;
    // clang is installed by setup, so tests that need it must not skip.
    run(
        "cargo test",
        cargo()
            .args(["test", "--workspace"])
            .env("AXTRACE_REQUIRE_CLANG", "1"),
    )?;
    run(
        "cargo test (axvcpu feature: AxVisor's exit reasons)",
        cargo().args([
            "test",
            "-p",
            "axebpf-core",
            "--features",
            "axvcpu",
            "--test",
            "axvcpu_exit",
        ]),
    )?;
    // axtrace inside the real AxVisor on QEMU aarch64: build (cached in target/axvisor), boot,
    // trace both guests through AxVisor's own shell, check counts, dump, Perfetto, sites.
    eprintln!("xtask: axvisor test");
    axvisor::run(&["test".to_string()])?;
    nostd()?;
    loom()?;
    fuzz(FUZZ_SECONDS)?;
    eprintln!("xtask: all checks passed");
    Ok(())
}

/// Builds the in-hypervisor crates for the bare-metal target, with and without a heap.
fn nostd() -> Result<()> {
    for crate_name in NOSTD_CRATES {
        run(
            &format!("no_std build of {crate_name} ({NOSTD_TARGET}, default features)"),
            cargo().args(["build", "-p", crate_name, "--target", NOSTD_TARGET]),
        )?;
    }
    run(
        &format!("no_std build of axtrace-ring without alloc ({NOSTD_TARGET})"),
        cargo().args([
            "build",
            "-p",
            "axtrace-ring",
            "--no-default-features",
            "--target",
            NOSTD_TARGET,
        ]),
    )?;
    run(
        &format!("no_std build of axebpf-vm without the JIT, so without alloc ({NOSTD_TARGET})"),
        cargo().args([
            "build",
            "-p",
            "axebpf-vm",
            "--no-default-features",
            "--target",
            NOSTD_TARGET,
        ]),
    )
}

/// Runs the loom model tests in their own target directory: `--cfg loom` changes every crate's
/// build, and sharing `target/` would rebuild the workspace each time.
fn loom() -> Result<()> {
    let target_dir = workspace_root().join("target").join("loom");
    run(
        "loom model check of the ring",
        cargo()
            .args(["test", "-p", "axtrace-ring", "--test", "loom", "--release"])
            .env("RUSTFLAGS", "--cfg loom")
            .env("CARGO_TARGET_DIR", target_dir),
    )
}

fn demo(extra: &[String]) -> Result<()> {
    let mut command = cargo();
    command.args([
        "run",
        "--quiet",
        "--release",
        "-p",
        "axtrace-tools",
        "--bin",
        "axtrace",
        "--",
        "demo",
    ]);
    command.args(extra);
    run("axtrace demo", &mut command)
}
