//! Building the prepared AxVisor for QEMU aarch64: host packages, the fake C libraries, the
//! guests and their VM configurations, the lock check, cargo, and `llvm-objcopy`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::fetch::{LockedPackage, Sources, inner_cargo, locked_packages};
use super::{Built, Integration, Layout, Options, Step, guest, rel, run_logged, start_log};

/// The Debian packages the build and the boot need: bindgen's libclang (ax-posix-api), lld,
/// llvm-objcopy, QEMU; and the programs that show each is there.
const HOST_PACKAGES: &[(&str, &str)] = &[
    ("clang", "/usr/bin/clang"),
    ("libclang-dev", ""),
    ("lld", "/usr/bin/ld.lld"),
    ("llvm", "/usr/bin/llvm-objcopy"),
    ("qemu-system-arm", "/usr/bin/qemu-system-aarch64"),
];
/// The C libraries the `linux-musl` target links against; ArceOS provides what they would.
const FAKE_LIBS: &[&str] = &["libc.a", "libunwind.a", "libgcc_s.a"];
/// An empty `ar` archive (what `ar crs libX.a` writes).
const EMPTY_ARCHIVE: &[u8] = b"!<arch>\n";
/// The whole build, a first one included (two shared cores).
const BUILD_TIMEOUT: Duration = Duration::from_secs(40 * 60);
/// `cargo update --workspace` (adds our path crates to the lock).
const LOCK_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Guest builds and `llvm-objcopy`.
const TOOL_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Builds `target/axvisor/axvisor.bin` (and `.elf`) from the prepared sources.
pub(crate) fn build(layout: &Layout, sources: &Sources, options: &Options) -> Result<Built> {
    ensure_host_packages()?;
    let fake_libs = layout.fake_libs();
    fs::create_dir_all(&fake_libs)?;
    for lib in FAKE_LIBS {
        write_if_changed(&fake_libs.join(lib), EMPTY_ARCHIVE)?;
    }
    let vm_configs = build_guests(layout)?;
    check_lock(layout, sources)?;

    let log = start_log(layout, "build")?;
    let target_spec = layout.target_spec();
    if !target_spec.is_file() {
        bail!("axvisor build: {} is missing", target_spec.display());
    }
    let configs = std::env::join_paths(&vm_configs).context("a VM config path holds a `:`")?;
    let mut rustflags = std::ffi::OsString::from("-L");
    rustflags.push(&fake_libs);
    let level = options.log_level();
    let features = options.features();
    eprintln!(
        "xtask: axvisor: build (AX_LOG={level}, features: {}; {} VM{}; log: {})",
        if features.is_empty() {
            "none"
        } else {
            &features
        },
        vm_configs.len(),
        if vm_configs.len() == 1 { "" } else { "s" },
        rel(layout, &log)
    );
    let started = Instant::now();
    let mut cargo = inner_cargo();
    cargo
        .current_dir(&sources.axvisor)
        .env("AX_ARCH", "aarch64")
        .env("AX_LOG", &level)
        // The glue ships the trace dump to the host through semihosting, which our QEMU
        // command enables (`-semihosting-config enable=on,target=native`).
        .env("AXTRACE_SEMIHOSTING", "1")
        .env("CARGO_UNSTABLE_JSON_TARGET_SPEC", "true")
        .env("AXVISOR_VM_CONFIGS", configs)
        .env("RUSTFLAGS", rustflags)
        .env("CARGO_TARGET_DIR", layout.cargo_target())
        .env("CARGO_TERM_COLOR", "never")
        .args(["build", "--release", "-p", "axvisor", "--bin", "axvisor"]);
    if !features.is_empty() {
        cargo.args(["--features", &features]);
    }
    cargo
        .arg("--target")
        .arg(&target_spec)
        .args(["-Zbuild-std=std,panic_abort", "-Zjson-target-spec"]);
    run_logged(Step::Build, &mut cargo, &log, BUILD_TIMEOUT)?;
    eprintln!(
        "xtask: axvisor: cargo build took {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let target_name = target_spec
        .file_stem()
        .context("the target spec has no name")?;
    let elf = layout
        .cargo_target()
        .join(target_name)
        .join("release")
        .join("axvisor");
    fs::copy(&elf, layout.elf())
        .with_context(|| format!("axvisor build: no {} after the build", elf.display()))?;
    run_logged(
        Step::Build,
        Command::new("llvm-objcopy")
            .args(["--strip-all", "-O", "binary"])
            .arg(layout.elf())
            .arg(layout.bin()),
        &log,
        TOOL_TIMEOUT,
    )?;
    Ok(Built {
        bin: layout.bin(),
        elf: layout.elf(),
        vm_configs,
        elapsed: started.elapsed(),
    })
}

/// Installs the missing [`HOST_PACKAGES`] with apt-get (Debian); elsewhere checks that their
/// programs are there.
fn ensure_host_packages() -> Result<()> {
    let dpkg = Command::new("dpkg-query").arg("--version").output();
    if dpkg.is_ok_and(|out| out.status.success()) {
        let missing: Vec<&str> = HOST_PACKAGES
            .iter()
            .map(|(package, _)| *package)
            .filter(|package| {
                !Command::new("dpkg-query")
                    .args(["-W", "-f=${Status}", package])
                    .output()
                    .is_ok_and(|out| {
                        String::from_utf8_lossy(&out.stdout).ends_with("install ok installed")
                    })
            })
            .collect();
        if !missing.is_empty() {
            crate::apt_install(&missing)
                .context("axvisor build: AxVisor's build and QEMU need these packages")?;
        }
        return Ok(());
    }
    let missing: Vec<&str> = HOST_PACKAGES
        .iter()
        .filter(|(_, program)| !program.is_empty() && !Path::new(program).exists())
        .map(|(package, _)| *package)
        .collect();
    if !missing.is_empty() {
        bail!(
            "axvisor build needs clang, libclang, lld, llvm-objcopy and qemu-system-aarch64; \
             missing (Debian names): {}",
            missing.join(" ")
        );
    }
    Ok(())
}

/// Builds each guest of `guest.rs` (the test's and the bench's) into `target/axvisor/guests` and writes its VM configuration;
/// returns the configurations' paths in order. Images (`guest.rs` sees to it) and configurations
/// are rewritten only when their bytes change: AxVisor's build script embeds them and reruns on
/// a newer file, which would relink AxVisor for nothing.
fn build_guests(layout: &Layout) -> Result<Vec<PathBuf>> {
    let dir = layout.guests();
    fs::create_dir_all(&dir)?;
    let mut configs = Vec::new();
    for script in guest::scripts().into_iter().chain(guest::bench_scripts()) {
        let image = guest::build_guest(&script, &dir)
            .with_context(|| format!("axvisor build: guest {}", script.name))?;
        let config = dir.join(format!("{}.toml", script.name));
        write_if_changed(&config, guest::vm_config(&script, &image).as_bytes())?;
        configs.push(config);
    }
    Ok(configs)
}

/// Writes `bytes` to `path` unless it holds them already (keeping its modification time).
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if fs::read(path).ok().as_deref() != Some(bytes) {
        fs::write(path, bytes).with_context(|| format!("could not write {}", path.display()))?;
    }
    Ok(())
}

/// Adds our path crates to the copy's `Cargo.lock` (`cargo update --workspace`, which keeps every
/// locked version; nothing to add for a vanilla build) and checks that every package of AxVisor's published lock is still there at
/// the same version, axvm excepted (it becomes the path copy).
fn check_lock(layout: &Layout, sources: &Sources) -> Result<()> {
    let log = start_log(layout, "lock")?;
    let lock_path = sources.axvisor.join("Cargo.lock");
    let published = fs::read_to_string(&sources.published_lock)?;
    run_logged(
        Step::Lock,
        inner_cargo()
            .current_dir(&sources.axvisor)
            .args(["update", "--workspace"]),
        &log,
        LOCK_TIMEOUT,
    )?;
    let new: BTreeSet<LockedPackage> = locked_packages(&fs::read_to_string(&lock_path)?)
        .into_iter()
        .collect();
    let old: BTreeSet<LockedPackage> = locked_packages(&published).into_iter().collect();
    let changed: Vec<String> = old
        .difference(&new)
        // axvm becomes our copy.
        .filter(|package| package.name != "axvm")
        .map(|package| format!("{} {}", package.name, package.version))
        .collect();
    if !changed.is_empty() {
        bail!(
            "axvisor lock: adding our crates changed AxVisor's locked packages: {} (see {})",
            changed.join(", "),
            log.display()
        );
    }
    let axvm_path = new
        .iter()
        .any(|package| package.name == "axvm" && package.source.is_empty());
    if sources.integration == Integration::Axtrace && !axvm_path {
        bail!(
            "axvisor lock: axvm is not our patched copy in {} (is [patch.crates-io.axvm] used?)",
            lock_path.display()
        );
    }
    pin_to_workspace(
        layout,
        sources,
        &new.difference(&old).cloned().collect::<Vec<_>>(),
        &log,
    )?;
    let new: BTreeSet<LockedPackage> = locked_packages(&fs::read_to_string(&lock_path)?)
        .into_iter()
        .collect();
    let added: Vec<String> = new
        .difference(&old)
        .filter(|package| package.name != "axvm")
        .map(|package| format!("{} {}", package.name, package.version))
        .collect();
    if !added.is_empty() {
        fs::write(
            log.with_extension("added.txt"),
            format!("{}\n", added.join("\n")),
        )?;
    }
    Ok(())
}

/// Pins the registry crates our glue brought into the copy's lock to the versions the axtrace
/// workspace's `Cargo.lock` has (the ones its tests run with), where the two differ within one
/// semver-compatible series: a new release on crates.io cannot change what goes into AxVisor.
fn pin_to_workspace(
    layout: &Layout,
    sources: &Sources,
    added: &[LockedPackage],
    log: &Path,
) -> Result<()> {
    let ours = locked_packages(&fs::read_to_string(layout.root.join("Cargo.lock"))?);
    for package in added.iter().filter(|p| p.source.starts_with("registry+")) {
        let same_series: Vec<&LockedPackage> = ours
            .iter()
            .filter(|o| o.name == package.name && o.source == package.source)
            .filter(|o| semver_series(&o.version) == semver_series(&package.version))
            .collect();
        let [pinned] = same_series[..] else {
            continue; // not ours, or ambiguous
        };
        if pinned.version == package.version {
            continue;
        }
        run_logged(
            Step::Lock,
            inner_cargo().current_dir(&sources.axvisor).args([
                "update",
                "-p",
                &format!("{}@{}", package.name, package.version),
                "--precise",
                &pinned.version,
            ]),
            log,
            LOCK_TIMEOUT,
        )?;
    }
    Ok(())
}

/// The semver-compatible series of `version`: `1` for 1.x.y, `0.6` for 0.6.y, `0.0.3` for 0.0.3.
fn semver_series(version: &str) -> String {
    let parts: Vec<&str> = version.split(['.', '-', '+']).take(3).collect();
    match parts[..] {
        [major, ..] if major != "0" => major.to_string(),
        ["0", minor, ..] if minor != "0" => format!("0.{minor}"),
        _ => version.to_string(),
    }
}

#[cfg(test)]
mod pin_tests {
    use super::semver_series;

    #[test]
    fn semver_series_follow_cargo_compatibility() {
        assert_eq!(semver_series("1.25.3"), "1");
        assert_eq!(semver_series("0.40.0"), "0.40");
        assert_eq!(semver_series("0.0.3"), "0.0.3");
        assert_ne!(semver_series("0.39.1"), semver_series("0.40.0"));
    }
}
