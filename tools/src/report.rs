//! `axtrace-report DUMP` (also `axtrace report`): the exit-latency report of a dump — a table
//! like `perf kvm stat report` with percentiles, per reason, VM, vCPU, port, guest-physical
//! address, MSR or hypercall; JSON, CSV, HdrHistogram `.hgrm` tables and interval logs, an SVG
//! plot — and `axtrace-report diff A B`, which flags changes beyond noise.
//!
//! The model is [`axtrace_exporter::report`]; this module reads the files, picks the device
//! windows, writes the outputs and sets the exit status.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use axtrace_exporter::dump::{DumpMetadata, DumpReader};
use axtrace_exporter::hist::write_hgrm;
use axtrace_exporter::report::diff::{self, NoiseRule};
use axtrace_exporter::report::{By, Collector, Options, Report, SortColumn, Window};
use axtrace_exporter::report::{hlog, render, svg};
use clap::{Parser, Subcommand, ValueEnum};

/// Exit status of `diff --fail-on-regression` when a regression was found (errors exit 1).
pub const REGRESSION_EXIT_STATUS: u8 = 3;

/// `axtrace-report`'s command line.
#[derive(Parser, Debug)]
#[command(
    name = "axtrace-report",
    version,
    about = "VM-exit latency report of an axtrace dump: percentiles per exit reason, VM, vCPU, \
             port, address, MSR or hypercall; HdrHistogram files; plots; diffs",
    long_about = "VM-exit latency report of an axtrace dump (written by `axtrace record`).\n\n\
                  Latencies are exit->entry times as the exit_latency handler measured them, in \
                  ns, kept in HDR histograms at 3 significant digits. They are recorded raw: \
                  exits are observed, not driven at a fixed rate, so there is no \
                  coordinated-omission correction.\n\n\
                  Lost records (rings that were full) are listed per vCPU and any loss prints a \
                  warning first. A cut or damaged dump is reported up to its last whole chunk, \
                  and the report says where it stopped.",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    report: ReportArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Compare two dumps per exit reason: count, p50, p99, max, with changes beyond noise
    /// flagged. Percentiles: flagged when their 3-sigma order-statistic confidence intervals do
    /// not overlap and they differ by more than --threshold; counts: when |B-A| > 3*sqrt(A+B).
    Diff(DiffArgs),
}

/// The unit of `.hgrm` values.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Unit {
    /// Nanoseconds (ratio 1).
    Ns,
    /// Microseconds (ratio 1,000).
    Us,
    /// Milliseconds (ratio 1,000,000; what HdrHistogram's plotter labels its axis with).
    Ms,
}

impl Unit {
    /// The unit's symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::Ns => "ns",
            Unit::Us => "us",
            Unit::Ms => "ms",
        }
    }

    /// The value unit scaling ratio.
    pub fn ratio(self) -> f64 {
        match self {
            Unit::Ns => 1.0,
            Unit::Us => 1e3,
            Unit::Ms => 1e6,
        }
    }
}

#[derive(clap::Args, Debug)]
struct ReportArgs {
    /// The dump to read.
    #[arg(required = true)]
    dump: Option<PathBuf>,
    /// Group rows by reason, vm, vcpu, port (and direction), gpa (grouped by device window),
    /// msr or hypercall.
    #[arg(long, value_enum, default_value = "reason")]
    by: By,
    /// Sort rows (within each group) by name, samples, time, min, p50, p90, p99, p99.9, max,
    /// mean or stddev; numbers sort descending.
    #[arg(long, default_value = "samples")]
    sort: String,
    #[command(flatten)]
    filter: Filter,
    /// Print JSON instead of the table (warnings go to stderr).
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV instead of the table (warnings go to stderr).
    #[arg(long)]
    csv: bool,
    /// Write one HdrHistogram percentile-distribution table (.hgrm) per row into DIR.
    #[arg(long, value_name = "DIR")]
    hgrm: Option<PathBuf>,
    /// The unit of .hgrm values.
    #[arg(long, value_enum, default_value = "us")]
    hgrm_unit: Unit,
    /// Write an HdrHistogram interval log (.hlog): one histogram per interval and
    /// VM.vCPU.reason tag, V2+DEFLATE, base64.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// The interval log's interval (500ms, 1s, 1m).
    #[arg(long, default_value = "1s")]
    log_interval: String,
    /// Write the percentile-distribution plot (SVG), one line per row.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// A device window for --by gpa: NAME=START-END (END exclusive; hex with 0x). Repeatable;
    /// dumps recorded by `axtrace record` get the VMM's device window and hole by default.
    #[arg(long = "window", value_name = "NAME=START-END")]
    windows: Vec<String>,
}

#[derive(clap::Args, Debug, Clone, Copy)]
struct Filter {
    /// Only this VM.
    #[arg(long)]
    vm: Option<u16>,
    /// Only this vCPU (with --vm: of that VM; else of every VM).
    #[arg(long)]
    vcpu: Option<u16>,
}

#[derive(clap::Args, Debug)]
struct DiffArgs {
    /// The baseline dump.
    a: PathBuf,
    /// The dump compared with it.
    b: PathBuf,
    #[command(flatten)]
    filter: Filter,
    /// Percentile changes smaller than this (percent) are never flagged.
    #[arg(long, default_value_t = 5.0)]
    threshold: f64,
    /// Exit with status 3 when a reason's p50 or p99 got slower beyond noise by at least PCT
    /// percent.
    #[arg(long, value_name = "PCT")]
    fail_on_regression: Option<f64>,
}

/// The device windows of the VMM `axtrace record` drives (axtrace-kvm's guest layout).
pub fn axtrace_kvm_windows() -> Vec<Window> {
    use axtrace_kvm::layout::{DEVICE_WINDOW, HOLE};
    vec![
        Window {
            name: "device window".into(),
            start: DEVICE_WINDOW.start,
            end: DEVICE_WINDOW.end,
        },
        Window {
            name: "hole (unbacked)".into(),
            start: HOLE.start,
            end: HOLE.end,
        },
    ]
}

/// Whether the dump was recorded by `axtrace record` (its host line names one of axtrace-kvm's
/// backends), so its guest-physical layout is axtrace-kvm's. The dump format carries no device
/// windows of its own.
pub fn recorded_by_axtrace_kvm(metadata: &DumpMetadata) -> bool {
    let backend = metadata.host.rsplit_once(", ").map_or("", |(_, b)| b);
    metadata
        .programs
        .iter()
        .any(|p| p.starts_with("exit_latency"))
        && axtrace_kvm::backend::is_run_label(backend)
}

/// Reads `path` into a report.
fn collect(path: &Path, mut options: Options, windows: &[String]) -> Result<Report> {
    let input = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = DumpReader::open(BufReader::with_capacity(1 << 20, input))
        .with_context(|| format!("reading {}", path.display()))?;
    for spec in windows {
        options
            .windows
            .push(Window::parse(spec).map_err(anyhow::Error::msg)?);
    }
    if recorded_by_axtrace_kvm(reader.metadata()) {
        options.windows.extend(axtrace_kvm_windows());
    }
    let mut collector = Collector::new(reader.metadata().clone(), options);
    while let Some(chunk) = reader.next_chunk() {
        collector.add_chunk(chunk.ring, &chunk.records, chunk.dropped);
        if let Some(fill) = chunk.ring_fill_per_mille {
            collector.note_ring_fill(chunk.ring, fill);
        }
    }
    Ok(collector.finish(reader.stop().cloned()))
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Writes one `.hgrm` per row into `dir`; returns the files written.
fn write_hgrms(
    report: &Report,
    by: By,
    sort: SortColumn,
    dir: &Path,
    unit: Unit,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for row in report.rows(by, sort) {
        let path = dir.join(format!("{}.hgrm", render::file_stem(&row)));
        write_file(&path, &write_hgrm(row.latencies.histogram(), unit.ratio()))?;
        written.push(path);
    }
    Ok(written)
}

fn write_log(report: &Report, interval_ns: u64, source: &str, path: &Path) -> Result<usize> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::new(file);
    let count = hlog::write(report, interval_ns, source, &mut out)
        .and_then(|count| out.flush().map(|()| count))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(count)
}

/// Runs the command line; the table, JSON or CSV goes to `out`, warnings for machine formats
/// and the names of files written to `err`.
pub fn run(cli: &Cli, out: &mut dyn Write, err: &mut dyn Write) -> Result<ExitCode> {
    match &cli.command {
        Some(Command::Diff(args)) => run_diff(args, out, err),
        None => run_report(&cli.report, out, err),
    }
}

fn run_report(args: &ReportArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<ExitCode> {
    let dump = args.dump.as_deref().context("a dump to read is required")?;
    let by = args.by;
    let sort = SortColumn::parse(&args.sort).map_err(anyhow::Error::msg)?;
    let interval_ns = match &args.log {
        Some(_) => Some(
            crate::convert::parse_duration_ns(&args.log_interval, Some("s"))
                .context("--log-interval")?,
        ),
        None => None,
    };
    let options = Options {
        by,
        vm: args.filter.vm,
        vcpu: args.filter.vcpu,
        windows: Vec::new(),
        log_interval_ns: interval_ns,
    };
    let report = collect(dump, options, &args.windows)?;
    let source = dump.display().to_string();
    let machine = args.json || args.csv;
    if args.json {
        out.write_all(render::json(&report, by, sort, &source).as_bytes())?;
    } else if args.csv {
        out.write_all(render::csv(&report, by, sort).as_bytes())?;
    } else {
        out.write_all(render::table(&report, by, sort, &source).as_bytes())?;
    }
    if machine {
        for line in render::warnings(&report, &source) {
            writeln!(err, "{line}")?;
        }
    }
    let mut notes = Vec::new();
    if let Some(dir) = &args.hgrm {
        let files = write_hgrms(&report, by, sort, dir, args.hgrm_unit)?;
        notes.push(format!(
            "wrote {} .hgrm tables (values in {}) to {}",
            files.len(),
            args.hgrm_unit.symbol(),
            dir.display()
        ));
    }
    if let (Some(path), Some(interval_ns)) = (&args.log, interval_ns) {
        let count = write_log(&report, interval_ns, &source, path)?;
        notes.push(format!(
            "wrote {count} interval histograms to {}",
            path.display()
        ));
    }
    if let Some(path) = &args.svg {
        let rows = report.rows(by, sort);
        let title = format!("{source}: exit->entry latency by {}", by.name());
        write_file(path, &svg::plot(&rows, &title))?;
        notes.push(format!(
            "wrote the plot ({} lines) to {}",
            rows.len(),
            path.display()
        ));
    }
    for note in notes {
        if machine {
            writeln!(err, "{note}")?;
        } else {
            writeln!(out, "{note}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_diff(args: &DiffArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<ExitCode> {
    if args.threshold.is_nan() || args.threshold < 0.0 {
        bail!(
            "--threshold {}: expected a percentage of 0 or more",
            args.threshold
        );
    }
    let options = Options {
        vm: args.filter.vm,
        vcpu: args.filter.vcpu,
        ..Options::default()
    };
    let a = collect(&args.a, options.clone(), &[])?;
    let b = collect(&args.b, options, &[])?;
    for (report, path) in [(&a, &args.a), (&b, &args.b)] {
        for line in render::warnings(report, &path.display().to_string()) {
            writeln!(out, "{line}")?;
        }
    }
    let rule = NoiseRule {
        threshold_pct: args.threshold,
        ..NoiseRule::default()
    };
    let diffs = diff::diff(&a, &b, &rule);
    let name = |path: &Path, report: &Report| {
        format!(
            "{} ({} exits, {} lost)",
            path.display(),
            report.records,
            report.lost()
        )
    };
    out.write_all(diff::render(&diffs, &name(&args.a, &a), &name(&args.b, &b), &rule).as_bytes())?;
    if let Some(pct) = args.fail_on_regression {
        let found = diff::regressions(&diffs, pct);
        if !found.is_empty() {
            writeln!(err, "regression beyond noise and {pct}%:")?;
            for line in found {
                writeln!(err, "  {line}")?;
            }
            return Ok(ExitCode::from(REGRESSION_EXIT_STATUS));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `axtrace demo` adds after recording: the report table of `dump`, with every reason's
/// `.hgrm` in `dir/hgrm`, the interval log `dir/run.hlog` and the plot `dir/run.svg`.
pub fn demo(dump: &Path, dir: &Path) -> Result<String> {
    let arg = |p: &Path| p.display().to_string();
    let cli = Cli::try_parse_from([
        "axtrace-report".to_string(),
        arg(dump),
        "--hgrm".into(),
        arg(&dir.join("hgrm")),
        "--log".into(),
        arg(&dir.join("run.hlog")),
        "--svg".into(),
        arg(&dir.join("run.svg")),
    ])?;
    let mut out = Vec::new();
    let mut err = Vec::new();
    run(&cli, &mut out, &mut err)?;
    out.extend(err);
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The report of one dump with the defaults (per reason, by samples), as the table prints it.
pub fn table(dump: &Path) -> Result<String> {
    let report = collect(dump, Options::default(), &[])?;
    Ok(render::table(
        &report,
        By::Reason,
        SortColumn::Samples,
        &dump.display().to_string(),
    ))
}
