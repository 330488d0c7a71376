//! `axtrace convert DUMP --perfetto OUT [--split vm|window=DURATION]`: writes the dump as
//! Perfetto trace(s) ([`axtrace_exporter::perfetto`]) and says what was written and how to open it.
//!
//! A progress bar shows on stderr when a conversion takes over a second (never when stderr is not
//! a terminal), and a warning when one Perfetto output is on its way past [`LARGE_OUTPUT`]
//! bytes: browsers cap a trace at ~2 GB of memory, 2–4× its file size.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axtrace_exporter::dump::DumpReader;
use axtrace_exporter::perfetto::{self, Options, OutputKey, Split};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One Perfetto output larger than this gets a warning (with the advice to `--split`).
pub const LARGE_OUTPUT: u64 = 500_000_000;

/// What `axtrace convert` was asked for.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The Perfetto trace to write (with `split`, the name the outputs' names derive from).
    pub perfetto: Option<PathBuf>,
    /// Perfetto options.
    pub options: Options,
}

/// Parses a duration such as `250ms`, `1s`, `500us`, `10000ns`, `2m` into ns.
pub fn parse_duration(text: &str) -> Result<u64> {
    let digits = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let scale = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        _ => bail!("`{text}`: a duration is a number and a unit (ns, us, ms, s, m), e.g. `100ms`"),
    };
    let number: f64 = number
        .parse()
        .with_context(|| format!("`{text}`: `{number}` is not a number"))?;
    let ns = number * scale;
    if !(ns >= 1.0 && ns < u64::MAX as f64) {
        bail!("`{text}`: the duration must be at least 1 ns");
    }
    Ok(ns as u64)
}

/// Parses `--split vm` or `--split window=DURATION`.
pub fn parse_split(text: &str) -> Result<Split> {
    match text.split_once('=') {
        None if text == "vm" => Ok(Split::Vm),
        Some(("window", duration)) => Ok(Split::Window(parse_duration(duration)?)),
        _ => bail!("`--split {text}`: expected `vm` or `window=DURATION` (e.g. `window=10s`)"),
    }
}

/// The file output `key` of a conversion to `base` goes to: `run.pftrace` → `run.vm1.pftrace`,
/// `run.w000042.pftrace`.
pub fn output_path(base: &Path, key: &OutputKey) -> PathBuf {
    let suffix = key.suffix();
    match (base.file_stem(), base.extension()) {
        (Some(stem), Some(ext)) => base.with_file_name(format!(
            "{}{suffix}.{}",
            stem.to_string_lossy(),
            ext.to_string_lossy()
        )),
        _ => PathBuf::from(format!("{}{suffix}", base.display())),
    }
}

/// Converts `dump` into the Perfetto trace `output` and returns the summary to print. A cut or
/// damaged dump converts up to its last whole chunk, and the summary says where it stopped.
pub fn run(dump: &Path, output: &Path, guest_slices: bool) -> Result<String> {
    let request = Request {
        perfetto: Some(output.to_path_buf()),
        options: Options {
            guest_slices,
            ..Options::default()
        },
    };
    run_request(dump, &request)
}

fn open_dump(dump: &Path) -> Result<(DumpReader<BufReader<File>>, u64)> {
    let input = File::open(dump).with_context(|| format!("opening {}", dump.display()))?;
    let len = input.metadata().map(|m| m.len()).unwrap_or(0);
    let reader = DumpReader::open(BufReader::with_capacity(1 << 20, input))
        .with_context(|| format!("reading {}", dump.display()))?;
    Ok((reader, len))
}

/// A progress bar over `len` dump bytes, drawn on stderr only after a second and only on a
/// terminal (indicatif hides a stderr bar that is not one).
struct Bar {
    bar: ProgressBar,
    started: Instant,
    shown: bool,
}

impl Bar {
    fn new(len: u64, what: &str) -> Self {
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_string());
        Self {
            bar,
            started: Instant::now(),
            shown: false,
        }
    }

    fn set(&mut self, position: u64) {
        if !self.shown && self.started.elapsed() > Duration::from_secs(1) {
            self.shown = true;
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        self.bar.set_position(position);
    }

    fn warn(&self, text: &str) {
        self.bar.suspend(|| eprintln!("{text}"));
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// What the stop of a damaged dump means for the user.
fn stop_warning(dump: &Path, stop: Option<&axtrace_exporter::dump::Stop>) -> String {
    stop.map_or(String::new(), |stop| {
        format!(
            "warning: {} is cut or damaged ({stop}); converted the {} bytes before it\n",
            dump.display(),
            stop.offset
        )
    })
}

/// Does what `request` asks and returns the summary to print.
pub fn run_request(dump: &Path, request: &Request) -> Result<String> {
    let mut text = String::new();
    if let Some(output) = &request.perfetto {
        text += &perfetto_output(dump, output, request.options)?;
    }
    Ok(text)
}

fn perfetto_output(dump: &Path, output: &Path, options: Options) -> Result<String> {
    let (reader, dump_len) = open_dump(dump)?;
    let mut bar = Bar::new(dump_len, "perfetto");
    let mut warned = false;
    let whole = options.split == Split::None;
    let open = |key: &OutputKey| File::create(output_path(output, key));
    let progress = |p: &perfetto::Progress| {
        bar.set(p.dump_bytes);
        // Project the single output's size from the ratio so far, once enough was read.
        let projected = if whole && p.dump_bytes >= (4 << 20).min(dump_len / 2).max(1) {
            (p.written_bytes as f64 / p.dump_bytes as f64 * dump_len as f64) as u64
        } else {
            p.largest_output
        };
        if !warned && projected > LARGE_OUTPUT {
            warned = true;
            bar.warn(&format!(
                "warning: {} will be about {} MB (over {} MB): the Perfetto UI may run out of \
                 memory (browsers cap a trace at ~2 GB, 2-4x the file); consider `--split vm` or \
                 `--split window=DURATION`",
                if whole {
                    output.display().to_string()
                } else {
                    "one of the split traces".into()
                },
                projected.max(p.largest_output) / 1_000_000,
                LARGE_OUTPUT / 1_000_000
            ));
        }
    };
    let stats = perfetto::convert_split(reader, options, open, progress)
        .with_context(|| format!("writing {}", output.display()))?;
    drop(bar);
    let mut text = stop_warning(dump, stats.stop.as_ref());
    if stats.late_exits > 0 {
        text += &format!(
            "note: {} exits reached the dump over {} s after later ones of their VM and are \
             missing from the exits/s counter (their slices are there)\n",
            stats.late_exits,
            perfetto::COUNTER_LAG_NS / 1_000_000_000
        );
    }
    text += &format!(
        "{} packets, {} exit slices, {} guest slices, {} drop markers ({} records dropped), {} \
         counter samples (window {} us)\n",
        stats.packets,
        stats.slices,
        stats.guest_slices,
        stats.dropped_instants,
        stats.dropped_records,
        stats.counter_samples,
        options.counter_window_ns / 1_000
    );
    if stats.outputs.is_empty() {
        text += "nothing to write: the dump holds no records\n";
    }
    for (key, output_stats) in &stats.outputs {
        text += &format!(
            "{}: {} bytes, {} exit slices\n",
            output_path(output, key).display(),
            output_stats.bytes,
            output_stats.slices
        );
    }
    text += "open it at https://ui.perfetto.dev (\"Open trace file\")\n";
    Ok(text)
}
