//! The HdrHistogram interval log (`.hlog`) of a report: one V2+DEFLATE histogram per interval
//! and (VM, vCPU, exit reason), tagged `VM.vCPU.reason`, written with the `hdrhistogram`
//! crate's interval-log writer so HdrHistogram's own tools (`HistogramLogProcessor`, the
//! log analyzer) read it.
//!
//! The dump's clock is monotonic, not wall time: `StartTime` and `BaseTime` carry seconds on
//! that clock (a comment line says so), and each interval's start is relative to `BaseTime`
//! (the start of the first interval). The max column is in ms (values are ns, divided by 10⁶,
//! as Java's `HistogramLogWriter` does by default).

use std::io::{self, Write};
use std::time::Duration;

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use super::Report;

/// The max column's divisor: ns → ms, as Java's interval logs have it.
pub const MAX_VALUE_DIVISOR: f64 = 1e6;

/// The tag of (VM, vCPU, reason name): `1.0.IoWrite`. Characters a tag may not hold
/// (whitespace, `,`) become `_`.
pub fn tag(vm: u16, vcpu: u16, reason: &str) -> String {
    let reason: String = reason
        .chars()
        .map(|c| {
            if c.is_whitespace() || c == ',' {
                '_'
            } else {
                c
            }
        })
        .collect();
    format!("{vm}.{vcpu}.{reason}")
}

/// Writes the report's intervals (collected with `Options::log_interval_ns`) as an interval
/// log; returns how many interval histograms were written.
pub fn write(
    report: &Report,
    interval_ns: u64,
    source: &str,
    out: &mut impl Write,
) -> io::Result<usize> {
    let base_ns = report.intervals.first().map_or(0, |i| i.start_ns);
    let seconds = |ns: u64| ns as f64 / 1e9;
    writeln!(
        out,
        "#axtrace exit->entry latencies in ns per VM.vCPU.reason from {}; intervals of {} s",
        source.replace('\n', " "),
        seconds(interval_ns)
    )?;
    writeln!(
        out,
        "#StartTime and BaseTime are seconds on the dump's {} clock, not since the epoch",
        if report.metadata.clock.is_empty() {
            "unknown"
        } else {
            &report.metadata.clock
        }
    )?;
    writeln!(out, "#[Histogram log format version 1.3]")?;
    writeln!(
        out,
        "#[StartTime: {:.3} (seconds since epoch)]",
        seconds(report.first_ns.unwrap_or(base_ns))
    )?;
    writeln!(
        out,
        "#[BaseTime: {:.3} (seconds since epoch)]",
        seconds(base_ns)
    )?;
    writeln!(
        out,
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
    )?;
    let mut serializer = V2DeflateSerializer::new();
    let mut writer = IntervalLogWriterBuilder::new()
        .with_max_value_divisor(MAX_VALUE_DIVISOR)
        .begin_log_with(out, &mut serializer)?;
    let mut written = 0;
    for interval in &report.intervals {
        let Some(histogram) = interval.histogram() else {
            continue; // not serializable when closed (cannot happen with u32 latencies)
        };
        let cell = &report.cells[interval.cell];
        let name = tag(cell.vm, cell.vcpu, &report.reason_name(cell.reason));
        written += 1;
        writer
            .write_histogram(
                &histogram,
                Duration::from_nanos(interval.start_ns - base_ns),
                Duration::from_nanos(interval_ns),
                Tag::new(&name),
            )
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    Ok(written)
}
