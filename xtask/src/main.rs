//! `cargo xtask …`: the project's automation, so the README's two commands need nothing set up
//! by hand.
//!
//! * `setup` — adds what the build needs: the `x86_64-unknown-none` target to the pinned
//!   toolchain, and Debian's clang (for the eBPF handlers); idempotent and silent when already
//!   done. Every other task runs it first.
//! * `bpf` — compiles the C eBPF sources with clang.
//! * `test` — everything CI checks: fmt, clippy, the workspace tests, the no_std build, loom.
//! * `nostd` — builds the in-hypervisor crates for `x86_64-unknown-none`.
//! * `loom` — model-checks the ring's protocol.
//! * `demo` — the main job (for now: the per-vCPU ring check; later issues make it record real VM
//!   exits).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

mod bpf;

/// The hypervisor's target: the no_std crates must build for it.
const NOSTD_TARGET: &str = "x86_64-unknown-none";
/// Crates that run inside the hypervisor and so must stay `no_std`.
const NOSTD_CRATES: &[&str] = &["axtrace-ring", "axebpf-core"];

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match task.as_str() {
        "setup" => setup(),
        "test" => test_all(),
        "nostd" => setup().and_then(|()| nostd()),
        "loom" => loom(),
        "demo" => setup().and_then(|()| demo(&rest)),
        "bpf" => setup().and_then(|()| bpf::build_all(&workspace_root())),
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
         bpf     compile the C eBPF sources (*.bpf.c) with clang\n  \
         test    fmt, clippy, workspace tests, no_std build, loom (what CI runs)\n  \
         nostd   build {} for {NOSTD_TARGET}\n  \
         loom    model-check the ring protocol with loom\n  \
         demo    run the main job",
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

/// Everything the build and tests need beyond the toolchain: the hypervisor target and clang.
fn setup() -> Result<()> {
    setup_target()?;
    setup_clang()
}

/// Installs Debian's clang (the eBPF handlers' compiler) if `clang` does not run.
fn setup_clang() -> Result<()> {
    let runs = |program: &str| {
        Command::new(program)
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success())
    };
    if runs("clang") {
        return Ok(());
    }
    if !runs("apt-get") {
        bail!("clang is missing and this machine has no apt-get: install clang (14 or newer)");
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
    if run(
        "setup: apt-get install clang",
        &mut apt(&["install", "-y", "-q", "clang"]),
    )
    .is_err()
    {
        run("setup: apt-get update", &mut apt(&["update", "-q"]))?;
        run(
            "setup: apt-get install clang",
            &mut apt(&["install", "-y", "-q", "clang"]),
        )?;
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
    // clang is installed by setup, so tests that need it must not skip.
    run(
        "cargo test",
        cargo()
            .args(["test", "--workspace"])
            .env("AXTRACE_REQUIRE_CLANG", "1"),
    )?;
    nostd()?;
    loom()?;
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
        "ring-check",
    ]);
    command.args(extra);
    run("axtrace ring-check", &mut command)
}
