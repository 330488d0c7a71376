//! `axtrace convert DUMP [--perfetto OUT [--split vm|window=DURATION]] [--ctf DIR]`: writes the
//! dump as Perfetto trace(s) ([`axtrace_exporter::perfetto`]) and/or a CTF trace
//! ([`axtrace_exporter::ctf`]) and says what was written and how to open it.
//!
//! A progress bar shows on stderr when a conversion takes over a second (never when stderr is not
//! a terminal), and a warning when one Perfetto output is on its way past [`LARGE_OUTPUT`]
//! bytes: browsers cap a trace at ~2 GB of memory, 2–4× its file size.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axtrace_exporter::ctf;
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
    /// The CTF trace directory to write.
    pub ctf: Option<PathBuf>,
    /// Perfetto options.
    pub options: Options,
}

/// Parses a duration such as `250ms`, `1s`, `500us`, `10000ns`, `2m` into ns; a unit is required.
pub fn parse_duration(text: &str) -> Result<u64> {
    parse_duration_ns(text, None)
}

/// The one duration parser of the tools: a number and a unit (ns, us, ms, s, m) into ns, the unit
/// `default_unit` when the text has none (`None`: a unit is required), at least 1 ns.
pub fn parse_duration_ns(text: &str, default_unit: Option<&str>) -> Result<u64> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let unit = match (unit, default_unit) {
        ("", Some(default)) => default,
        ("", None) => {
            bail!("`{text}`: a duration is a number and a unit (ns, us, ms, s, m), e.g. `100ms`")
        }
        (unit, _) => unit,
    };
    let scale = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        other => bail!("`{text}`: unknown unit `{other}` (ns, us, ms, s, m)"),
    };
    let number: f64 = number.parse().with_context(|| {
        format!("`{text}`: `{number}` is not a number (a duration such as 5s, 500ms or 2m)")
    })?;
    let ns = number * scale;
    if !(ns >= 1.0 && ns < u64::MAX as f64) {
        bail!("`{text}`: the duration must be positive (at least 1 ns)");
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
        ctf: None,
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
    if request.perfetto.is_none() && request.ctf.is_none() {
        bail!("nothing to write: give --perfetto FILE and/or --ctf DIR");
    }
    let mut text = String::new();
    if let Some(output) = &request.perfetto {
        text += &perfetto_output(dump, output, request.options)?;
    }
    if let Some(dir) = &request.ctf {
        text += &ctf_output(dump, dir)?;
    }
    Ok(text)
}

/// The largest output's size as far as it can be told: for one output, its bytes per dump byte
/// so far times the dump's length, once 4 MiB (or half the dump) were read; for a split, the
/// largest output so far (how the rest of the dump spreads over the outputs is unknown).
fn projected_size(progress: &perfetto::Progress, dump_len: u64, whole: bool) -> u64 {
    let enough = (4 << 20).min(dump_len / 2).max(1);
    if whole && progress.dump_bytes >= enough {
        let ratio = progress.written_bytes as f64 / progress.dump_bytes as f64;
        ((ratio * dump_len as f64) as u64).max(progress.largest_output)
    } else {
        progress.largest_output
    }
}

fn perfetto_output(dump: &Path, output: &Path, options: Options) -> Result<String> {
    let (reader, dump_len) = open_dump(dump)?;
    let mut bar = Bar::new(dump_len, "perfetto");
    let mut warned = false;
    let whole = options.split == Split::None;
    let open = |key: &OutputKey| File::create(output_path(output, key));
    let progress = |p: &perfetto::Progress| {
        bar.set(p.dump_bytes);
        let projected = projected_size(p, dump_len, whole);
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
                projected / 1_000_000,
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

fn ctf_output(dump: &Path, dir: &Path) -> Result<String> {
    let input = File::open(dump).with_context(|| format!("opening {}", dump.display()))?;
    let dump_len = input.metadata().map(|m| m.len()).unwrap_or(0);
    let mut bar = Bar::new(dump_len, "ctf");
    let counting = Counting {
        input: BufReader::with_capacity(1 << 20, input),
        read: 0,
        bar: &mut bar,
    };
    let reader =
        DumpReader::open(counting).with_context(|| format!("reading {}", dump.display()))?;
    let stats = ctf::convert_dir(reader, dir)
        .with_context(|| format!("writing the CTF trace {}", dir.display()))?;
    drop(bar);
    let mut text = stop_warning(dump, stats.stop.as_ref());
    if stats.reordered > 0 {
        text += &format!(
            "note: {} records were earlier than the one before them on their vCPU; their CTF \
             timestamps were moved forward to keep each stream in order\n",
            stats.reordered
        );
    }
    text += &format!(
        "{}: CTF 1.8, {} events ({} VM exits) in {} packets, {} streams ({}), {} events \
         discarded\n",
        dir.display(),
        stats.events,
        stats.exits,
        stats.packets,
        stats.streams.len(),
        stats.streams.join(", "),
        stats.discarded
    );
    text += &format!(
        "read it with `babeltrace2 {}` or open it in Trace Compass\n",
        dir.display()
    );
    Ok(text)
}

/// A `Read` that moves a progress bar.
struct Counting<'b, R> {
    input: R,
    read: u64,
    bar: &'b mut Bar,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.input.read(buf)?;
        self.read += n as u64;
        self.bar.set(self.read);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axebpf_core::dump::{DumpWriter, Metadata};
    use axebpf_core::record::Record;

    #[test]
    fn durations_and_splits_parse_or_say_why_not() {
        assert_eq!(parse_duration("10ms").unwrap(), 10_000_000);
        assert_eq!(parse_duration("1.5s").unwrap(), 1_500_000_000);
        assert_eq!(parse_duration("250us").unwrap(), 250_000);
        assert_eq!(parse_duration("2m").unwrap(), 120_000_000_000);
        assert!(
            parse_duration("10")
                .unwrap_err()
                .to_string()
                .contains("unit")
        );
        assert!(
            parse_duration("0s")
                .unwrap_err()
                .to_string()
                .contains("at least")
        );
        assert_eq!(parse_split("vm").unwrap(), Split::Vm);
        assert_eq!(
            parse_split("window=10s").unwrap(),
            Split::Window(10_000_000_000)
        );
        assert!(
            parse_split("cpu")
                .unwrap_err()
                .to_string()
                .contains("expected `vm`")
        );
    }

    #[test]
    fn a_large_output_is_projected_from_the_first_megabytes() {
        let at = |dump_bytes, written_bytes, largest_output| perfetto::Progress {
            dump_bytes,
            written_bytes,
            largest_output,
        };
        let gb = 1_000_000_000;
        // 1.5 trace bytes per dump byte, 10 % of a 400 MB dump read: about 600 MB at the end.
        let p = at(40_000_000, 60_000_000, 60_000_000);
        assert_eq!(projected_size(&p, 400_000_000, true), 600_000_000);
        assert!(projected_size(&p, 400_000_000, true) > LARGE_OUTPUT);
        // Too little read to tell: what was written.
        let p = at(1_000_000, 1_500_000, 1_500_000);
        assert_eq!(projected_size(&p, gb, true), 1_500_000);
        // Split: the largest output so far, not the sum.
        let p = at(40_000_000, 60_000_000, 20_000_000);
        assert_eq!(projected_size(&p, gb, false), 20_000_000);
    }

    #[test]
    fn split_outputs_are_named_after_the_requested_file() {
        let base = Path::new("out/run.pftrace");
        assert_eq!(output_path(base, &OutputKey::Whole), base);
        assert_eq!(
            output_path(base, &OutputKey::Vm(3)),
            Path::new("out/run.vm3.pftrace")
        );
        assert_eq!(
            output_path(base, &OutputKey::Window(42)),
            Path::new("out/run.w000042.pftrace")
        );
        assert_eq!(
            output_path(Path::new("trace"), &OutputKey::Vm(1)),
            Path::new("trace.vm1")
        );
    }

    #[test]
    fn a_cut_dump_converts_and_the_summary_says_where_it_stopped() {
        let dir = std::env::temp_dir().join(format!("axtrace-convert-cut-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut writer = DumpWriter::new(Vec::new(), &Metadata::default()).unwrap();
        for chunk in 0..3u64 {
            let records: Vec<Record> = (0..5u64)
                .map(|k| Record {
                    timestamp_ns: chunk * 1_000 + k * 100,
                    event: 1,
                    aux: 50,
                    ..Record::default()
                })
                .collect();
            writer.write_records(0, &records, 0).unwrap();
        }
        let bytes = writer.into_sink();
        let dump = dir.join("cut.axdump");
        std::fs::write(&dump, &bytes[..bytes.len() - 10]).unwrap();
        let request = Request {
            perfetto: Some(dir.join("cut.pftrace")),
            ctf: Some(dir.join("ctf")),
            options: Options::default(),
        };
        let text = run_request(&dump, &request).unwrap();
        let offset = bytes.len() - 10 - (48 + 5 * 32 - 10);
        assert!(
            text.contains(&format!("stopped at byte {offset}"))
                && text.contains(&format!("converted the {offset} bytes before it")),
            "{text}"
        );
        assert!(text.contains("10 exit slices"), "{text}");
        assert!(text.contains("10 events"), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
