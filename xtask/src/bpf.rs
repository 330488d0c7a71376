//! `cargo xtask bpf`: compiles the C eBPF sources (`*.bpf.c`) into objects (`*.bpf.o`) beside
//! them, with `clang -O2 -g -target bpf`, the way libbpf-based projects build their handlers.
//!
//! Folders: `axebpf-core/tests/objects/` (the loader's test objects, committed so tests need no
//! clang), `axebpf-core/bpf/` (the handlers), the benchmarks' and the verifier's objects, and the
//! examples.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Folders (relative to the workspace root) whose `*.bpf.c` files are compiled.
const SOURCE_DIRS: &[&str] = &[
    "axebpf-core/tests/objects",
    "axebpf-core/bpf",
    "benches/bpf",
    "axebpf-core/tests/verifier/objects",
    "examples/kvmexit",
];

/// Recompiles every `*.bpf.c` into a scratch folder and fails if a committed `*.bpf.o` differs
/// in what matters — its programs' names, sections and instructions, or its map definitions —
/// or is missing. File bytes are not compared: debug info may differ harmlessly.
pub fn check_all(root: &Path) -> Result<()> {
    let clang = find_clang()?;
    let scratch = std::env::temp_dir().join(format!("axtrace-bpf-check-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let mut stale = Vec::new();
    let mut checked = 0;
    for dir in SOURCE_DIRS {
        let dir = root.join(dir);
        if !dir.is_dir() {
            continue;
        }
        for source in sources(&dir)? {
            let committed = source.with_extension("o");
            let fresh = scratch.join(committed.file_name().unwrap_or_default());
            compile_to(&clang, &source, &fresh)?;
            checked += 1;
            let summary = |path: &Path| -> Result<String> {
                let bytes =
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                // Objects the loader refuses on purpose are compared by their verdict.
                Ok(match axebpf_core::loader::parse(&bytes) {
                    Ok(object) => format!(
                        "{:?}\n{:?}",
                        object
                            .programs
                            .iter()
                            .map(|p| (&p.name, &p.section, p.bytes().to_vec()))
                            .collect::<Vec<_>>(),
                        object.maps
                    ),
                    Err(error) => format!("refused: {error}"),
                })
            };
            if !committed.exists() {
                stale.push(format!("{} is missing", committed.display()));
            } else if summary(&committed)? != summary(&fresh)? {
                stale.push(format!("{} is stale", committed.display()));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    if !stale.is_empty() {
        bail!(
            "{}; run `cargo xtask bpf` and commit the objects",
            stale.join("; ")
        );
    }
    eprintln!("xtask: bpf: {checked} committed object(s) match their sources");
    Ok(())
}

/// Compiles every `*.bpf.c` of [`SOURCE_DIRS`] under `root` into `*.bpf.o` beside it.
pub fn build_all(root: &Path) -> Result<()> {
    let clang = find_clang()?;
    let mut built = 0;
    for dir in SOURCE_DIRS {
        let dir = root.join(dir);
        if !dir.is_dir() {
            continue;
        }
        for source in sources(&dir)? {
            compile(&clang, &source)?;
            built += 1;
        }
    }
    eprintln!("xtask: bpf: compiled {built} object(s)");
    Ok(())
}

/// The `clang` on PATH, after checking it runs.
fn find_clang() -> Result<PathBuf> {
    let clang = PathBuf::from(std::env::var_os("CLANG").unwrap_or_else(|| "clang".into()));
    let version = Command::new(&clang).arg("--version").output();
    match version {
        Ok(output) if output.status.success() => Ok(clang),
        Ok(output) => bail!(
            "`{} --version` failed: {}",
            clang.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(error) => bail!(
            "clang is needed to compile the eBPF C sources but `{}` could not be run ({error}); \
             install clang (e.g. `apt-get install clang`) or set CLANG to its path",
            clang.display()
        ),
    }
}

/// The `*.bpf.c` files of `dir`, sorted.
fn sources(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        if path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.ends_with(".bpf.c"))
        {
            sources.push(path);
        }
    }
    sources.sort();
    Ok(sources)
}

/// `clang -O2 -g -target bpf -c x.bpf.c -o x.bpf.o`, run in the source's folder with that
/// folder mapped to `.` in the debug info, so the object does not depend on the checkout's path.
fn compile(clang: &Path, source: &Path) -> Result<()> {
    let object = source.with_extension("o");
    eprintln!("xtask: bpf: {}", object.display());
    compile_to(clang, source, &object)
}

/// Compiles `source` into `out` (any path).
fn compile_to(clang: &Path, source: &Path, out: &Path) -> Result<()> {
    let (Some(dir), Some(file)) = (source.parent(), source.file_name()) else {
        bail!("{} is not a file in a folder", source.display());
    };
    // The workspace root, from this crate's manifest folder (`xtask/`).
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask has no parent folder")?
        .to_path_buf();
    let header_dir = root.join("axebpf-core/bpf/include");
    let out = if out.is_absolute() {
        out.to_path_buf()
    } else {
        std::env::current_dir()?.join(out)
    };
    let status = Command::new(clang)
        .current_dir(dir)
        .args(["-O2", "-g", "-target", "bpf", "-c", "-Wall", "-Werror"])
        // `axtrace.h`, for the handlers and the examples.
        .arg(format!("-I{}", header_dir.display()))
        .arg(format!("-fdebug-prefix-map={}=.", dir.display()))
        .arg(format!("-fdebug-prefix-map={}=.", root.display()))
        .arg(file)
        .arg("-o")
        .arg(out)
        .status()
        .with_context(|| format!("could not start {}", clang.display()))?;
    if !status.success() {
        bail!("clang failed on {} ({status})", source.display());
    }
    Ok(())
}
