//! `cargo xtask bench --peer lttng`: LTTng-UST, the trusted low-overhead userspace tracer, in the
//! same run as ours.
//!
//! Installs Debian's `lttng-tools` and `liblttng-ust-dev` if missing, builds the tiny provider
//! and driver of `benches/lttng/` with `cc`, starts `lttng-sessiond` (userspace only, with
//! `LTTNG_HOME` under the target folder), records 10 M events into a discard-mode channel, and
//! times them; then runs our side of the same loop twice (`tracing_loop`): like for like, one
//! tracepoint whose JIT handler (`benches/bpf/exit_record.bpf.c`) writes the same four fields
//! into a drained ring — the ratio the goal is about — and the full run-loop path, both
//! tracepoints with the `exit_latency` handler (latency statistics in maps plus the record).
//! Each side runs [`ROUNDS`] times, rotating which goes first; the medians are compared.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::metric;

/// Events per run, per side.
const EVENTS: u64 = 10_000_000;
/// Runs per side.
const ROUNDS: usize = 3;
/// The recording session's name.
const SESSION: &str = "axtrace-bench";
/// Debian packages: the session daemon and `lttng` client, and the UST headers and library.
const PACKAGES: &[&str] = &["lttng-tools", "liblttng-ust-dev"];
/// Channel buffers: LTTng's defaults (4 × 512 KiB per CPU), stated so both sides are known to
/// have 2 MiB (our ring: 65,536 records of 32 bytes).
const SUBBUF_SIZE: &str = "524288";
const SUBBUF_COUNT: &str = "4";

/// The comparison's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerResult {
    /// LTTng-UST's ns per event, one per round.
    pub lttng_ns: Vec<f64>,
    /// Ours like for like (`exit_record`: one tracepoint, a 4-field record), ns per event.
    pub ours_record_ns: Vec<f64>,
    /// Ours, the full path (two tracepoints + `exit_latency`), ns per traced exit, one per round.
    pub ours_ns: Vec<f64>,
    /// Events LTTng's discard-mode channel dropped, per round.
    pub lttng_discarded: Vec<u64>,
    /// Records our ring dropped, per round.
    pub ours_dropped: Vec<u64>,
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(0.0, f64::max)
}

impl PeerResult {
    /// Ours like for like ÷ LTTng's time per event: smaller is better; the goal is ≤ 1/3.
    pub fn ratio(&self) -> f64 {
        median(&self.ours_record_ns) / median(&self.lttng_ns)
    }

    /// The full `exit_latency` path ÷ LTTng's time per event.
    pub fn full_ratio(&self) -> f64 {
        median(&self.ours_ns) / median(&self.lttng_ns)
    }

    /// Adds `peer_lttng/lttng_ust_event`, `peer_lttng/axtrace_exit_record` and
    /// `peer_lttng/axtrace_exit` (each of ours with its ratio to LTTng) to a BMF summary.
    pub fn add_to(&self, summary: &mut Value) {
        let latency = |v: &[f64]| metric(median(v), min(v), max(v));
        summary["peer_lttng/lttng_ust_event"] = serde_json::json!({
            "latency": latency(&self.lttng_ns),
        });
        for (name, ours) in [
            ("peer_lttng/axtrace_exit_record", &self.ours_record_ns),
            ("peer_lttng/axtrace_exit", &self.ours_ns),
        ] {
            summary[name] = serde_json::json!({
                "latency": latency(ours),
                "ratio": metric(
                    median(ours) / median(&self.lttng_ns),
                    min(ours) / max(&self.lttng_ns),
                    max(ours) / min(&self.lttng_ns),
                ),
            });
        }
    }
}

impl fmt::Display for PeerResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ratio = self.ratio();
        writeln!(
            f,
            "LTTng-UST peer ({EVENTS} events per run, {} runs each, medians):",
            self.lttng_ns.len()
        )?;
        writeln!(
            f,
            "  LTTng-UST 2.13, one event, discard-mode channel: {:.1} ns/event (discarded: {:?})",
            median(&self.lttng_ns),
            self.lttng_discarded
        )?;
        writeln!(
            f,
            "  axtrace, one tracepoint + exit_record (JIT) writing the same 4 fields to the ring: {:.1} ns/event",
            median(&self.ours_record_ns),
        )?;
        writeln!(
            f,
            "  axtrace, two tracepoints + exit_latency (JIT) + ring record: {:.1} ns/exit \
             (dropped: {:?}; {:.2}× LTTng's time)",
            median(&self.ours_ns),
            self.ours_dropped,
            self.full_ratio()
        )?;
        let speed = if ratio <= 1.0 {
            format!("{:.2}× faster", 1.0 / ratio)
        } else {
            format!("{ratio:.2}× slower")
        };
        write!(
            f,
            "  like for like, ours/LTTng {ratio:.3}: ours {speed} (goal ≥ 3× faster: {})",
            if ratio <= 1.0 / 3.0 { "met" } else { "not met" }
        )
    }
}

/// Runs the comparison; an error says why it could not (the caller skips it).
pub fn compare(root: &Path, target_dir: &Path) -> Result<PeerResult> {
    install_missing_packages(PACKAGES)?;
    let work = target_dir.join("bench").join("lttng");
    let home = work.join("home");
    std::fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
    let driver = build_driver(root, &work)?;
    let ours = build_ours(root, target_dir)?;
    let daemon = Daemon::start(&home)?;
    let mut result = PeerResult {
        lttng_ns: Vec::new(),
        ours_record_ns: Vec::new(),
        ours_ns: Vec::new(),
        lttng_discarded: Vec::new(),
        ours_dropped: Vec::new(),
    };
    for round in 1..=ROUNDS {
        eprintln!("xtask: bench: LTTng comparison, round {round} of {ROUNDS}");
        // Which side goes first rotates, so a load that changes over time favours none.
        for step in 0..3 {
            match (round + step) % 3 {
                0 => {
                    let (ns, discarded) = record_lttng(&driver, &home, &work.join("trace"))?;
                    result.lttng_ns.push(ns);
                    result.lttng_discarded.push(discarded);
                }
                1 => {
                    let out = checked_output(
                        Command::new(&ours).args([&EVENTS.to_string(), "exit_record"]),
                        "tracing_loop exit_record",
                    )?;
                    result.ours_record_ns.push(field(&out, "ns_per_event")?);
                }
                _ => {
                    let out = checked_output(
                        Command::new(&ours).args([&EVENTS.to_string(), "exit_latency"]),
                        "tracing_loop exit_latency",
                    )?;
                    result.ours_ns.push(field(&out, "ns_per_event")?);
                    result.ours_dropped.push(field(&out, "dropped")? as u64);
                }
            }
        }
    }
    drop(daemon);
    Ok(result)
}

/// Installs those of `packages` that dpkg does not list as installed.
fn install_missing_packages(packages: &[&str]) -> Result<()> {
    let installed = |package: &str| {
        Command::new("dpkg-query")
            .args(["-W", "-f=${Status}", package])
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("install ok installed"))
    };
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    crate::apt_install(&missing)
}

/// `cc` builds the provider and the driver into `work/driver`.
fn build_driver(root: &Path, work: &Path) -> Result<PathBuf> {
    let source = root.join("benches").join("lttng");
    let driver = work.join("driver");
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    crate::run(
        "cc benches/lttng/{driver,tp}.c -llttng-ust",
        Command::new(cc)
            .args(["-O2", "-Wall", "-Werror", "-I"])
            .arg(&source)
            .arg(source.join("driver.c"))
            .arg(source.join("tp.c"))
            .arg("-o")
            .arg(&driver)
            .args(["-llttng-ust", "-ldl"]),
    )?;
    Ok(driver)
}

/// Builds our side (`tracing_loop`, bench profile) and returns its path.
fn build_ours(root: &Path, target_dir: &Path) -> Result<PathBuf> {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root).args([
        "build",
        "--quiet",
        "--profile",
        "bench",
        "-p",
        super::BENCH_PACKAGE,
        "--bin",
        "tracing_loop",
    ]);
    crate::run("cargo build --bin tracing_loop", &mut command)?;
    // The bench profile inherits from release and shares its folder.
    Ok(target_dir.join("release").join("tracing_loop"))
}

/// A session daemon this command started (stopped on drop), or one already running (left
/// alone).
struct Daemon {
    started_pid: Option<String>,
}

impl Daemon {
    fn start(home: &Path) -> Result<Self> {
        if lttng(home, &["list"]).is_ok() {
            eprintln!("xtask: bench: using the lttng-sessiond already running");
            return Ok(Self { started_pid: None });
        }
        let output = Command::new("lttng-sessiond")
            .args(["--daemonize", "--no-kernel"])
            .env("LTTNG_HOME", home)
            .output()
            .context("could not start lttng-sessiond")?;
        if !output.status.success() {
            bail!(
                "lttng-sessiond --daemonize --no-kernel failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        // Root's daemon keeps its run folder in /var/run/lttng, a user's in $LTTNG_HOME/.lttng.
        let pid_files = [
            PathBuf::from("/var/run/lttng/lttng-sessiond.pid"),
            home.join(".lttng").join("lttng-sessiond.pid"),
        ];
        let started_pid = pid_files
            .iter()
            .find_map(|f| std::fs::read_to_string(f).ok())
            .map(|pid| pid.trim().to_string())
            .filter(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        if started_pid.is_none() {
            eprintln!("xtask: bench: lttng-sessiond started but its pid file was not found");
        }
        lttng(home, &["list"]).context("lttng-sessiond started but does not answer")?;
        Ok(Self { started_pid })
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(pid) = &self.started_pid {
            let _ = Command::new("kill").arg(pid).status();
        }
    }
}

/// `lttng ARGS…` with our `LTTNG_HOME`; its output, or an error with what it said.
fn lttng(home: &Path, args: &[&str]) -> Result<Output> {
    checked_output(
        Command::new("lttng").args(args).env("LTTNG_HOME", home),
        &format!("lttng {}", args.join(" ")),
    )
}

fn checked_output(command: &mut Command, what: &str) -> Result<Output> {
    let output = command
        .output()
        .with_context(|| format!("could not run {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output)
}

/// One recording: session, discard-mode channel, the event, the driver's run; returns its ns
/// per event and the events the channel discarded. The session is destroyed and its trace
/// deleted even when a step fails.
fn record_lttng(driver: &Path, home: &Path, trace: &Path) -> Result<(f64, u64)> {
    let _ = std::fs::remove_dir_all(trace);
    let output = format!("--output={}", trace.display());
    lttng(home, &["create", SESSION, &output])?;
    let result = (|| {
        let session = format!("--session={SESSION}");
        lttng(
            home,
            &[
                "enable-channel",
                "--userspace",
                "--discard",
                &session,
                "--subbuf-size",
                SUBBUF_SIZE,
                "--num-subbuf",
                SUBBUF_COUNT,
                "ch0",
            ],
        )?;
        lttng(
            home,
            &[
                "enable-event",
                "--userspace",
                &session,
                "--channel=ch0",
                "axtrace_peer:vm_exit",
            ],
        )?;
        lttng(home, &["start", SESSION])?;
        let run = checked_output(
            Command::new(driver)
                .arg(EVENTS.to_string())
                .env("LTTNG_HOME", home),
            "the LTTng driver",
        );
        lttng(home, &["stop", SESSION])?;
        let ns = field(&run?, "ns_per_event")?;
        let listing = lttng(home, &["list", SESSION])?;
        Ok((
            ns,
            discarded_events(&String::from_utf8_lossy(&listing.stdout)),
        ))
    })();
    let _ = lttng(home, &["destroy", SESSION]);
    let _ = std::fs::remove_dir_all(trace);
    result
}

/// `Discarded events: N` of `lttng list SESSION` (0 when the line is absent).
fn discarded_events(listing: &str) -> u64 {
    listing
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Discarded events:"))
        .filter_map(|n| n.trim().parse::<u64>().ok())
        .sum()
}

/// `name=value` from a `key=value …` output line.
fn field(output: &Output, name: &str) -> Result<f64> {
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no `{name}=` number in the output `{}`", text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(stdout: &str) -> Output {
        Output {
            status: std::process::ExitStatus::default(),
            stdout: stdout.as_bytes().to_vec(),
            stderr: Vec::new(),
        }
    }

    #[test]
    fn driver_output_and_listing_are_read() {
        let out = output("events=10000000 elapsed_ns=1208211234 ns_per_event=120.821\n");
        assert_eq!(field(&out, "ns_per_event").unwrap(), 120.821);
        assert_eq!(field(&out, "events").unwrap(), 1e7);
        let error = field(&out, "dropped").unwrap_err();
        assert!(error.to_string().contains("dropped"), "{error}");
        let listing = "    Statistics:\n      Discarded events: 421546\n\n";
        assert_eq!(discarded_events(listing), 421_546);
        assert_eq!(discarded_events("no statistics"), 0);
    }

    #[test]
    fn peer_result_goes_into_the_summary_as_a_ratio() {
        let result = PeerResult {
            lttng_ns: vec![120.0, 100.0, 130.0],
            ours_record_ns: vec![45.0, 30.0, 50.0],
            ours_ns: vec![90.0, 80.0, 95.0],
            lttng_discarded: vec![0; 3],
            ours_dropped: vec![0; 3],
        };
        assert!((result.ratio() - 45.0 / 120.0).abs() < 1e-12);
        let mut summary = serde_json::json!({});
        result.add_to(&mut summary);
        assert!((result.full_ratio() - 90.0 / 120.0).abs() < 1e-12);
        let full = &summary["peer_lttng/axtrace_exit"]["ratio"]["value"];
        assert_eq!(full.as_f64(), Some(90.0 / 120.0));
        let ratio = &summary["peer_lttng/axtrace_exit_record"]["ratio"];
        assert_eq!(ratio["lower_value"].as_f64(), Some(30.0 / 130.0));
        assert_eq!(ratio["upper_value"].as_f64(), Some(50.0 / 100.0));
        assert_eq!(
            summary["peer_lttng/lttng_ust_event"]["latency"]["value"].as_f64(),
            Some(120.0)
        );
        assert!(result.to_string().contains("not met"));
        let fast = PeerResult {
            ours_record_ns: vec![20.0; 3],
            ..result
        };
        assert!(
            fast.to_string()
                .contains("6.00× faster (goal ≥ 3× faster: met)")
        );
    }
}
