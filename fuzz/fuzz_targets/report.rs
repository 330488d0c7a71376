//! Any bytes as a dump for `axtrace-report`, and as the records inside one: the report in every
//! grouping and every format (table, JSON, CSV, `.hgrm`, interval log, SVG, diff) is written
//! without a panic. Bytes that are not a dump are refused with an error that renders. Any bytes
//! as `.hgrm` text, a `--window` and a `--sort` column: `Ok` or an error, never a panic.
#![no_main]

use axebpf_core::record::{RECORD_SIZE, Record};
use axtrace_exporter::hist::{Hgrm, write_hgrm};
use axtrace_exporter::report::diff::{self, NoiseRule};
use axtrace_exporter::report::{
    self, By, Collector, Options, Report, SortColumn, Window, hlog, render, svg,
};
use libfuzzer_sys::fuzz_target;

fn windows() -> Vec<Window> {
    vec![Window {
        name: "device, <window>".into(),
        start: 0x1000_0000,
        end: 0x1010_0000,
    }]
}

/// Every format of `report` grouped `by` and sorted by `sort`; the interval log and a diff
/// when `by` is `Reason`.
fn render_all(report: &Report, by: By, sort: SortColumn) {
    let _ = render::table(report, by, sort, "fuzz");
    let _ = render::json(report, by, sort, "fuzz");
    let _ = render::csv(report, by, sort);
    let rows = report.rows(by, sort);
    for row in &rows {
        let text = write_hgrm(row.latencies.histogram(), 1000.0);
        Hgrm::parse(&text).expect("what write_hgrm writes parses back");
        let _ = render::file_stem(row);
    }
    let _ = svg::plot(&rows, "fuzz");
    if by != By::Reason {
        return;
    }
    let mut log = Vec::new();
    hlog::write(report, 1_000_000, "fuzz", &mut log).expect("writing to memory works");
    let rule = NoiseRule::default();
    let _ = diff::render(&diff::diff(report, report, &rule), "a", "b", &rule);
}

fn collect_all(data: &[u8], sort: SortColumn) {
    for by in By::ALL {
        let options = Options {
            by,
            windows: windows(),
            log_interval_ns: Some(1_000_000),
            ..Options::default()
        };
        match report::collect(data, options) {
            Ok(report) => render_all(&report, by, sort),
            Err(error) => {
                let _ = error.to_string();
                return;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let sort = SortColumn::ALL[data.len() % SortColumn::ALL.len()].0;
    collect_all(data, sort);

    // The same bytes as records: any codes, ids, latencies and timestamps. A few suffice (each
    // distinct key costs a histogram, and the dump path above covers volume).
    let records: Vec<Record> = data
        .chunks_exact(RECORD_SIZE)
        .take(16)
        .map(bytemuck::pod_read_unaligned::<Record>)
        .collect();
    let mut collector = Collector::new(
        Default::default(),
        Options {
            by: By::Gpa,
            windows: windows(),
            log_interval_ns: Some(1 + u64::from(data.first().copied().unwrap_or(0))),
            ..Options::default()
        },
    );
    collector.add_chunk(0, &records, u64::from(data.len() as u32));
    let report = collector.finish(None);
    render_all(&report, By::Gpa, sort);
    render_all(&report, By::Reason, sort);

    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Hgrm::parse(text).map_err(|e| e.to_string());
        let _ = Window::parse(text);
        let _ = SortColumn::parse(text);
    }
});
