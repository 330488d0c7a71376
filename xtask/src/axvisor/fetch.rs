//! Getting AxVisor's source: the dated toolchain, `cargo fetch --locked` of the throwaway
//! package in `axvisor/fetch` (its committed lock pins AxVisor and every crate it builds with,
//! checksums included), and fresh copies of axvisor and axvm with our integration applied.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::{
    AXVISOR_VERSION, AXVM_VERSION, Integration, Layout, Step, TOOLCHAIN, rel, run_logged, start_log,
};

/// Bump when what `prepare` does to the copies changes, so existing copies are redone.
const PREPARE_FORMAT: u32 = 1;
/// `rustup toolchain install` and `cargo fetch`.
const FETCH_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// Copying and patching the sources.
const PATCH_TIMEOUT: Duration = Duration::from_secs(60);

/// The prepared sources.
#[derive(Debug, Clone)]
pub(crate) struct Sources {
    /// `target/axvisor/src/axvisor-0.8.2`, where AxVisor is built.
    pub(crate) axvisor: PathBuf,
    /// `target/axvisor/src/axvm-0.8.5` (used only with our integration).
    pub(crate) axvm: PathBuf,
    /// AxVisor's `Cargo.lock` as published, to check that our path crates changed nothing
    /// else in it.
    pub(crate) published_lock: PathBuf,
    /// Whether our integration was applied.
    pub(crate) integration: Integration,
}

/// A `cargo` of the dated toolchain AxVisor builds with, with nothing inherited from the cargo
/// running xtask (its toolchain, its rustc, its package, its target directory).
pub(crate) fn inner_cargo() -> Command {
    let mut command = Command::new("cargo");
    command.arg(format!("+{TOOLCHAIN}"));
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let inherited = matches!(
            key,
            "CARGO"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_DIR"
                | "CARGO_BUILD_TARGET"
                | "CARGO_BUILD_TARGET_DIR"
                | "CARGO_BUILD_RUSTFLAGS"
                | "CARGO_ENCODED_RUSTFLAGS"
                | "RUSTFLAGS"
                | "RUSTDOCFLAGS"
                | "RUSTC"
                | "RUSTDOC"
                | "RUSTC_WRAPPER"
                | "RUSTC_WORKSPACE_WRAPPER"
                | "RUSTUP_TOOLCHAIN"
                | "RUSTUP_TOOLCHAIN_SOURCE"
                | "RUST_RECURSION_COUNT"
        ) || key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_");
        if inherited {
            command.env_remove(key);
        }
    }
    // `cargo run` puts the outer toolchain's and xtask's library directories first.
    if let Some(paths) = std::env::var_os("LD_LIBRARY_PATH") {
        let rustup_home = std::env::var_os("RUSTUP_HOME").map(PathBuf::from);
        let target = crate::workspace_root().join("target");
        let kept: Vec<PathBuf> = std::env::split_paths(&paths)
            .filter(|path| {
                !path.starts_with(&target)
                    && !rustup_home
                        .as_ref()
                        .is_some_and(|home| path.starts_with(home))
                    && !path.components().any(|c| c.as_os_str() == ".rustup")
            })
            .collect();
        if kept.is_empty() {
            command.env_remove("LD_LIBRARY_PATH");
        } else if let Ok(joined) = std::env::join_paths(kept) {
            command.env("LD_LIBRARY_PATH", joined);
        }
    }
    command
}

/// Installs the dated nightly with `rust-src` if it or the component is missing.
pub(crate) fn ensure_toolchain(layout: &Layout) -> Result<()> {
    let installed = Command::new("rustup")
        .args(["component", "list", "--installed", "--toolchain", TOOLCHAIN])
        .output()
        .context("rustup is needed to install AxVisor's toolchain; install rustup first")?;
    let has_rust_src = installed.status.success()
        && String::from_utf8_lossy(&installed.stdout)
            .lines()
            .any(|line| line.trim() == "rust-src");
    if has_rust_src {
        return Ok(());
    }
    let log = start_log(layout, "toolchain")?;
    eprintln!("xtask: axvisor: installing the {TOOLCHAIN} toolchain with rust-src");
    let mut install = Command::new("rustup");
    install.args([
        "toolchain",
        "install",
        TOOLCHAIN,
        "--profile",
        "minimal",
        "-c",
        "rust-src",
    ]);
    run_logged(Step::Toolchain, &mut install, &log, FETCH_TIMEOUT)
}

/// Downloads AxVisor and its dependencies (checksum-verified against `axvisor/fetch/Cargo.lock`)
/// and prepares `target/axvisor/src`: fresh copies of axvisor and axvm with our patches applied
/// and the glue crate added, redone only when the patches (or the lock) changed.
pub(crate) fn prepare(layout: &Layout, integration: Integration) -> Result<Sources> {
    ensure_toolchain(layout)?;
    let log = start_log(layout, "fetch")?;
    let project = layout.fetch_project();
    let manifest = project.join("Cargo.toml");
    eprintln!("xtask: axvisor: fetch (cargo fetch --locked in axvisor/fetch)");
    run_logged(
        Step::Fetch,
        inner_cargo()
            .current_dir(&project)
            .args(["fetch", "--locked", "--manifest-path"])
            .arg(&manifest),
        &log,
        FETCH_TIMEOUT,
    )?;

    let sources = Sources {
        axvisor: layout.axvisor_src(),
        axvm: layout.axvm_src(),
        published_lock: layout
            .src()
            .join(format!("axvisor-{AXVISOR_VERSION}.Cargo.lock")),
        integration,
    };
    let inputs = Inputs::gather(layout, integration)?;
    let stamp_path = layout.src().join("stamp");
    let stamp = inputs.stamp(layout)?;
    if fs::read_to_string(&stamp_path).is_ok_and(|old| old == stamp)
        && sources.axvisor.join("Cargo.toml").is_file()
        && sources.published_lock.is_file()
        && (integration == Integration::Vanilla || sources.axvm.join("Cargo.toml").is_file())
    {
        return Ok(sources);
    }

    // Something changed (or nothing was prepared yet): start again from the registry's copies.
    let patch_log = start_log(layout, "patch")?;
    fs::remove_file(&stamp_path).ok();
    let (axvisor_registry, axvm_registry) = registry_sources(layout, &manifest, &log)?;
    for dir in [&sources.axvisor, &sources.axvm] {
        if dir.exists() {
            fs::remove_dir_all(dir)
                .with_context(|| format!("could not remove {}", dir.display()))?;
        }
    }
    copy_dir(&axvisor_registry, &sources.axvisor)?;
    let lock_path = sources.axvisor.join("Cargo.lock");
    let lock = fs::read_to_string(&lock_path)
        .with_context(|| format!("AxVisor comes without {}", lock_path.display()))?;
    let axvm_locked = locked_versions(&lock, "axvm");
    if axvm_locked != [AXVM_VERSION] {
        bail!(
            "axvisor patch: AxVisor {AXVISOR_VERSION}'s Cargo.lock pins axvm {axvm_locked:?}, but \
             our axvm patches are for axvm {AXVM_VERSION}"
        );
    }
    fs::write(&sources.published_lock, &lock)?;

    // Outside the axtrace workspace, although it sits under its target directory.
    let mut axvisor_manifest = String::from(
        "\n# Added by `cargo xtask axvisor`: a workspace of its own, not a member of axtrace's.\n\
         [workspace]\n",
    );
    if integration == Integration::Axtrace {
        copy_dir(&axvm_registry, &sources.axvm)?;
        apply_patches(&inputs.axvisor_patches, &sources.axvisor, &patch_log)?;
        apply_patches(&inputs.axvm_patches, &sources.axvm, &patch_log)?;
        axvisor_manifest.push_str(&format!(
            "\n# Added by `cargo xtask axvisor`: the patched axvm.\n\
             [patch.crates-io.axvm]\npath = {}\n",
            toml_string(&sources.axvm)
        ));
        if inputs.glue {
            let glue = toml_string(&layout.glue());
            axvisor_manifest.push_str(&format!(
                "\n# Added by `cargo xtask axvisor`: axtrace.\n\
                 [dependencies.axtrace-axvisor]\npath = {glue}\n"
            ));
            append(
                &sources.axvm.join("Cargo.toml"),
                &format!(
                    "\n# Added by `cargo xtask axvisor`: axtrace.\n\
                     [dependencies.axtrace-axvisor]\npath = {glue}\n"
                ),
            )?;
        }
        for note in inputs.notes(layout) {
            eprintln!("xtask: axvisor: note: {note}");
        }
    }
    append(&sources.axvisor.join("Cargo.toml"), &axvisor_manifest)?;
    fs::write(&stamp_path, stamp)?;
    eprintln!(
        "xtask: axvisor: prepared {}{}",
        rel(layout, &sources.axvisor),
        match integration {
            Integration::Axtrace => format!(" and {}", rel(layout, &sources.axvm)),
            Integration::Vanilla => " (vanilla: no patches, no glue)".to_string(),
        }
    );
    Ok(sources)
}

/// What the prepared sources are made from.
struct Inputs {
    integration: Integration,
    /// `axvisor/patches/axvisor/*.patch`, in name order.
    axvisor_patches: Vec<PathBuf>,
    /// `axvisor/patches/axvm/*.patch`, in name order.
    axvm_patches: Vec<PathBuf>,
    /// Whether `axvisor/glue` exists.
    glue: bool,
}

impl Inputs {
    fn gather(layout: &Layout, integration: Integration) -> Result<Self> {
        let axtrace = integration == Integration::Axtrace;
        Ok(Self {
            integration,
            axvisor_patches: if axtrace {
                patch_files(&layout.patches("axvisor"))?
            } else {
                Vec::new()
            },
            axvm_patches: if axtrace {
                patch_files(&layout.patches("axvm"))?
            } else {
                Vec::new()
            },
            glue: axtrace && layout.glue().join("Cargo.toml").is_file(),
        })
    }

    /// A digest of everything the copies depend on: the pinned lock, the patches, the glue's
    /// presence and path, and this code's format.
    fn stamp(&self, layout: &Layout) -> Result<String> {
        let mut hash = Fnv::new();
        hash.write(&PREPARE_FORMAT.to_le_bytes());
        hash.write(format!("{:?}", self.integration).as_bytes());
        hash.write(&fs::read(layout.fetch_project().join("Cargo.lock"))?);
        for patch in self.axvisor_patches.iter().chain(&self.axvm_patches) {
            hash.write(patch.to_string_lossy().as_bytes());
            hash.write(&fs::read(patch)?);
        }
        hash.write(&[u8::from(self.glue)]);
        hash.write(layout.root.to_string_lossy().as_bytes());
        Ok(format!("{:016x}\n", hash.finish()))
    }

    /// What is missing from the integration, to say so.
    fn notes(&self, layout: &Layout) -> Vec<String> {
        let mut notes = Vec::new();
        for krate in ["axvisor", "axvm"] {
            let patches = if krate == "axvisor" {
                &self.axvisor_patches
            } else {
                &self.axvm_patches
            };
            if patches.is_empty() {
                notes.push(format!(
                    "no patches in {}: {krate} is built as published",
                    rel(layout, &layout.patches(krate))
                ));
            }
        }
        if !self.glue {
            notes.push(format!(
                "no {}/Cargo.toml: built without the axtrace-axvisor crate",
                rel(layout, &layout.glue())
            ));
        }
        notes
    }
}

/// `dir/*.patch` in name order (none if `dir` does not exist).
fn patch_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut patches = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "patch") && path.is_file() {
            patches.push(path);
        }
    }
    patches.sort();
    Ok(patches)
}

/// Applies `patches` in order inside `dir`; a failure names the patch and shows patch's output.
fn apply_patches(patches: &[PathBuf], dir: &Path, log: &Path) -> Result<()> {
    for patch in patches {
        let name = dir.file_name().unwrap_or_default().to_string_lossy();
        eprintln!(
            "xtask: axvisor: patch {name} with {}",
            patch.file_name().unwrap_or_default().to_string_lossy()
        );
        run_logged(
            Step::Patch,
            Command::new("patch")
                .current_dir(dir)
                .args([
                    "-p1",
                    "--forward",
                    "--batch",
                    "--no-backup-if-mismatch",
                    "-i",
                ])
                .arg(patch),
            log,
            PATCH_TIMEOUT,
        )
        .with_context(|| {
            format!(
                "axvisor patch: {} does not apply to {name}",
                patch.display()
            )
        })?;
    }
    Ok(())
}

/// The directories where cargo unpacked axvisor and axvm (from `cargo metadata` of the fetch
/// project).
fn registry_sources(layout: &Layout, manifest: &Path, log: &Path) -> Result<(PathBuf, PathBuf)> {
    let output = inner_cargo()
        .current_dir(layout.fetch_project())
        .args([
            "metadata",
            "--locked",
            "--offline",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(manifest)
        .output()
        .context("axvisor fetch: could not run cargo metadata")?;
    fs::write(log.with_extension("metadata.log"), &output.stderr).ok();
    if !output.status.success() {
        bail!(
            "axvisor fetch: cargo metadata of {} failed:\n{}",
            manifest.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("axvisor fetch: cargo metadata")?;
    let find = |name: &str, version: &str| -> Result<PathBuf> {
        let packages = metadata["packages"].as_array().into_iter().flatten();
        let found: BTreeSet<String> = packages
            .clone()
            .filter(|package| package["name"] == name)
            .filter_map(|package| package["version"].as_str().map(str::to_string))
            .collect();
        packages
            .filter(|package| package["name"] == name && package["version"] == version)
            .find_map(|package| package["manifest_path"].as_str())
            .and_then(|path| Path::new(path).parent().map(Path::to_path_buf))
            .with_context(|| {
                format!(
                    "axvisor fetch: axvisor/fetch/Cargo.lock has {name} {found:?}, not {version}"
                )
            })
    };
    Ok((
        find("axvisor", AXVISOR_VERSION)?,
        find("axvm", AXVM_VERSION)?,
    ))
}

/// The versions of `name` in a `Cargo.lock`.
pub(crate) fn locked_versions(lock: &str, name: &str) -> Vec<String> {
    locked_packages(lock)
        .into_iter()
        .filter(|package| package.name == name)
        .map(|package| package.version)
        .collect()
}

/// One `[[package]]` of a `Cargo.lock`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct LockedPackage {
    pub(crate) name: String,
    pub(crate) version: String,
    /// `registry+…`, `git+…`, or empty for a path package.
    pub(crate) source: String,
}

/// The packages of a `Cargo.lock` (its `name`, `version` and `source` lines).
pub(crate) fn locked_packages(lock: &str) -> Vec<LockedPackage> {
    let mut packages: Vec<LockedPackage> = Vec::new();
    for line in lock.lines() {
        let line = line.trim();
        if line == "[[package]]" {
            packages.push(LockedPackage {
                name: String::new(),
                version: String::new(),
                source: String::new(),
            });
            continue;
        }
        let Some(package) = packages.last_mut() else {
            continue;
        };
        let Some((key, value)) = line.split_once(" = ") else {
            continue;
        };
        let value = value.trim_matches('"').to_string();
        match key {
            "name" => package.name = value,
            "version" => package.version = value,
            "source" => package.source = value,
            _ => {}
        }
    }
    packages
}

/// Copies the directory tree `from` to `to` (which must not exist). The copies get fresh
/// modification times, so cargo rebuilds them.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("could not create {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("could not read {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path())?, &target)?;
        } else {
            fs::write(&target, fs::read(entry.path())?)
                .with_context(|| format!("could not write {}", target.display()))?;
        }
    }
    Ok(())
}

fn append(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .with_context(|| format!("could not append to {}", path.display()))
}

/// `path` as a TOML basic string.
fn toml_string(path: &Path) -> String {
    let mut out = String::from("\"");
    for c in path.to_string_lossy().chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// 64-bit FNV-1a: a digest that stays the same across Rust releases (the stamp).
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        // Length first, so that consecutive fields cannot run into each other.
        for byte in (bytes.len() as u64).to_le_bytes().iter().chain(bytes) {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_packages() {
        let lock = "version = 4\n\n[[package]]\nname = \"axvm\"\nversion = \"0.8.5\"\n\
                    source = \"registry+https://github.com/rust-lang/crates.io-index\"\n\
                    checksum = \"22\"\ndependencies = [\n \"log\",\n]\n\n\
                    [[package]]\nname = \"axvisor\"\nversion = \"0.8.2\"\n";
        assert_eq!(locked_versions(lock, "axvm"), ["0.8.5"]);
        let packages = locked_packages(lock);
        assert_eq!(packages.len(), 2);
        assert_eq!(packages[1].source, "");
        assert!(packages[0].source.starts_with("registry+"));
    }

    #[test]
    fn toml_strings() {
        assert_eq!(toml_string(Path::new("/a b/\"c\"")), "\"/a b/\\\"c\\\"\"");
    }
}
