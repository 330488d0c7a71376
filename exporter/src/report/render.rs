//! The report as text: the table (like `perf kvm stat report`, with percentiles), CSV and JSON.

use std::fmt::Write;

use serde_json::{Value, json};

use super::{By, Report, Row, SortColumn};
use crate::hist::Latencies;

/// The percentile columns, as quantiles and headers.
pub const PERCENTILES: [(f64, &str); 4] =
    [(0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p99.9")];

/// `ns` in a unit a person reads: `850ns`, `12.34us`, `1.23ms`, `1.23s`.
pub fn human_ns(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.0}ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2}us", ns / 1e3)
    } else if ns < 1_000_000_000.0 {
        format!("{:.2}ms", ns / 1e6)
    } else {
        format!("{:.2}s", ns / 1e9)
    }
}

/// The warning and note lines that come before any table: a cut or damaged dump, lost records
/// (never silent), addresses beyond [`super::MAX_ADDRESSES`], records of other events.
pub fn warnings(report: &Report, source: &str) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(stop) = &report.stop {
        lines.push(format!(
            "warning: {source} is cut or damaged ({stop}); this report covers the {} exit \
             records read before that",
            report.records
        ));
    }
    let lost = report.lost();
    if lost > 0 {
        let vcpus = report.rings.iter().filter(|r| r.lost > 0).count();
        lines.push(format!(
            "warning: {lost} records were lost on {vcpus} vCPU(s) (their rings were full); the \
             latencies below describe the records kept — see \"lost records per vCPU\""
        ));
    }
    if report.addresses_overflowed {
        lines.push(format!(
            "note: more than {} distinct addresses; exits at the others are in \"(other \
             addresses)\" rows",
            super::MAX_ADDRESSES
        ));
    }
    if report.other_events > 0 {
        lines.push(format!(
            "note: {} records of events other than vm_exit were skipped",
            report.other_events
        ));
    }
    lines
}

fn total(rows: &[Row]) -> Latencies {
    let mut all = Latencies::new();
    for row in rows {
        all.merge(&row.latencies);
    }
    all
}

fn percent(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        100.0 * part / whole
    } else {
        0.0
    }
}

fn what_rows_are(by: By) -> &'static str {
    match by {
        By::Reason => "per exit reason",
        By::Vm => "per VM and exit reason",
        By::Vcpu => "per vCPU and exit reason",
        By::Port => "IoRead/IoWrite exits per port and direction",
        By::Gpa => {
            "MmioRead/MmioWrite/NestedPageFault exits per guest-physical address, by device window"
        }
        By::Msr => "SysRegRead/SysRegWrite exits per MSR and direction",
        By::Hypercall => "Hypercall exits per hypercall number",
    }
}

/// The default output: warnings, a summary line, the table, the lost-records table.
pub fn table(report: &Report, by: By, sort: SortColumn, source: &str) -> String {
    let mut out = String::new();
    for line in warnings(report, source) {
        let _ = writeln!(out, "{line}");
    }
    let span = match (report.first_ns, report.last_ns) {
        (Some(first), Some(last)) => format!(", {:.3} s of trace", (last - first) as f64 / 1e9),
        _ => String::new(),
    };
    let vcpus = report.rings.len();
    let _ = writeln!(
        out,
        "{source}: {} VM exits on {vcpus} vCPU(s){span} (clock: {}; host: {})",
        report.records,
        or_unknown(&report.metadata.clock),
        or_unknown(&report.metadata.host)
    );
    let mut filters = Vec::new();
    if let Some(vm) = report.options.vm {
        filters.push(format!("VM {vm}"));
    }
    if let Some(vcpu) = report.options.vcpu {
        filters.push(format!("vCPU {vcpu}"));
    }
    let _ = writeln!(
        out,
        "exit->entry latency {}{}; raw values, no coordinated-omission correction\n",
        what_rows_are(by),
        if filters.is_empty() {
            String::new()
        } else {
            format!(" (only {})", filters.join(", "))
        }
    );

    let rows = report.rows(by, sort);
    let all = total(&rows);
    let label_width = rows
        .iter()
        .map(|r| r.label.len())
        .chain([12])
        .max()
        .unwrap_or(12);
    let _ = write!(
        out,
        "{:<label_width$} {:>10} {:>9} {:>8} {:>9}",
        match by {
            By::Port => "port",
            By::Gpa => "address",
            By::Msr => "msr",
            By::Hypercall => "hypercall",
            _ => "reason",
        },
        "samples",
        "samples%",
        "time%",
        "min"
    );
    for (_, name) in PERCENTILES {
        let _ = write!(out, " {name:>9}");
    }
    let _ = writeln!(out, " {:>9} {:>21}", "max", "mean ± stddev");
    let mut group = None;
    for row in &rows {
        if !row.group.is_empty() && group != Some(&row.group) {
            let _ = writeln!(out, "{}:", row.group);
            group = Some(&row.group);
        }
        line(&mut out, &row.label, &row.latencies, &all, label_width);
    }
    if rows.is_empty() {
        let _ = writeln!(out, "(no exits)");
    } else {
        line(&mut out, "total", &all, &all, label_width);
    }
    out += &lost_table(report);
    out
}

fn or_unknown(text: &str) -> &str {
    if text.is_empty() { "unknown" } else { text }
}

fn line(out: &mut String, label: &str, latencies: &Latencies, all: &Latencies, width: usize) {
    let _ = write!(
        out,
        "{label:<width$} {:>10} {:>8.2}% {:>7.2}% {:>9}",
        latencies.count(),
        percent(latencies.count() as f64, all.count() as f64),
        percent(latencies.sum_ns() as f64, all.sum_ns() as f64),
        human_ns(latencies.min_ns() as f64)
    );
    for (q, _) in PERCENTILES {
        let _ = write!(out, " {:>9}", human_ns(latencies.quantile_ns(q) as f64));
    }
    let _ = writeln!(
        out,
        " {:>9} {:>21}",
        human_ns(latencies.max_ns() as f64),
        format!(
            "{} ± {}",
            human_ns(latencies.mean_ns()),
            human_ns(latencies.stddev_ns())
        )
    );
}

/// Records and lost records per vCPU.
pub fn lost_table(report: &Report) -> String {
    let mut out = String::from("\nlost records per vCPU:\n");
    let _ = writeln!(
        out,
        "{:>6} {:>6} {:>6} {:>12} {:>10} {:>10}",
        "vm", "vcpu", "ring", "records", "lost", "peak fill"
    );
    let id = |v: Option<u16>| v.map_or_else(|| "?".to_string(), |v| v.to_string());
    for ring in &report.rings {
        let _ = writeln!(
            out,
            "{:>6} {:>6} {:>6} {:>12} {:>10} {:>10}",
            id(ring.vm),
            id(ring.vcpu),
            ring.ring,
            ring.records,
            ring.lost,
            ring.peak_fill_per_mille.map_or_else(
                || "?".to_string(),
                |f| format!("{:.1}%", f64::from(f) / 10.0)
            )
        );
    }
    let _ = writeln!(out, "total lost: {}", report.lost());
    out
}

fn row_json(row: &Row, all: &Latencies) -> Value {
    let l = &row.latencies;
    let mut value = json!({
        "group": row.group,
        "key": row.label,
        "samples": l.count(),
        "samples_pct": percent(l.count() as f64, all.count() as f64),
        "time_pct": percent(l.sum_ns() as f64, all.sum_ns() as f64),
        "total_ns": u64::try_from(l.sum_ns()).unwrap_or(u64::MAX),
        "min_ns": l.min_ns(),
        "p50_ns": l.quantile_ns(0.5),
        "p90_ns": l.quantile_ns(0.9),
        "p99_ns": l.quantile_ns(0.99),
        "p99_9_ns": l.quantile_ns(0.999),
        "max_ns": l.max_ns(),
        "mean_ns": l.mean_ns(),
        "stddev_ns": l.stddev_ns(),
    });
    let fields = value.as_object_mut().expect("an object");
    match row.key {
        super::RowKey::Reason(code) => {
            fields.insert("reason_code".into(), json!(code));
        }
        super::RowKey::VmReason(vm, code) => {
            fields.insert("vm".into(), json!(vm));
            fields.insert("reason_code".into(), json!(code));
        }
        super::RowKey::VcpuReason(vm, vcpu, code) => {
            fields.insert("vm".into(), json!(vm));
            fields.insert("vcpu".into(), json!(vcpu));
            fields.insert("reason_code".into(), json!(code));
        }
        super::RowKey::Address(code, address) => {
            fields.insert("reason_code".into(), json!(code));
            fields.insert("address".into(), json!(address));
        }
    }
    value
}

/// The report as one JSON object: `source`, `by`, `records`, `lost`, `stop` (null or
/// `{offset, reason}`), `warnings`, `rows` (ns values), `total`, `vcpus` (records and lost).
pub fn json(report: &Report, by: By, sort: SortColumn, source: &str) -> String {
    let rows = report.rows(by, sort);
    let all = total(&rows);
    let total_row = Row {
        key: super::RowKey::Reason(0),
        group: String::new(),
        label: "total".into(),
        latencies: all.clone(),
    };
    let mut total_json = row_json(&total_row, &all);
    if let Some(fields) = total_json.as_object_mut() {
        fields.remove("reason_code");
    }
    let value = json!({
        "source": source,
        "by": by.name(),
        "clock": report.metadata.clock,
        "host": report.metadata.host,
        "records": report.records,
        "lost": report.lost(),
        "stop": report.stop.as_ref().map(|s| json!({"offset": s.offset, "reason": s.reason.to_string()})),
        "warnings": warnings(report, source),
        "latency": "exit->entry ns, raw (no coordinated-omission correction)",
        "rows": rows.iter().map(|r| row_json(r, &all)).collect::<Vec<_>>(),
        "total": total_json,
        "vcpus": report.rings.iter().map(|r| json!({
            "ring": r.ring, "vm": r.vm, "vcpu": r.vcpu, "records": r.records, "lost": r.lost,
            "peak_fill_per_mille": r.peak_fill_per_mille,
        })).collect::<Vec<_>>(),
    });
    let mut text = serde_json::to_string_pretty(&value).expect("JSON values serialize");
    text.push('\n');
    text
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The table as CSV (ns values), one header line then one line per row; warnings are not in
/// the CSV (they go to stderr).
pub fn csv(report: &Report, by: By, sort: SortColumn) -> String {
    let rows = report.rows(by, sort);
    let all = total(&rows);
    let mut out = String::from(
        "group,key,samples,samples_pct,time_pct,min_ns,p50_ns,p90_ns,p99_ns,p99_9_ns,max_ns,\
         mean_ns,stddev_ns,total_ns\n",
    );
    for row in &rows {
        let l = &row.latencies;
        let _ = writeln!(
            out,
            "{},{},{},{:.4},{:.4},{},{},{},{},{},{},{:.1},{:.1},{}",
            csv_field(&row.group),
            csv_field(&row.label),
            l.count(),
            percent(l.count() as f64, all.count() as f64),
            percent(l.sum_ns() as f64, all.sum_ns() as f64),
            l.min_ns(),
            l.quantile_ns(0.5),
            l.quantile_ns(0.9),
            l.quantile_ns(0.99),
            l.quantile_ns(0.999),
            l.max_ns(),
            l.mean_ns(),
            l.stddev_ns(),
            l.sum_ns()
        );
    }
    out
}

/// A file name for a row's `.hgrm` (letters, digits, `.`, `-`, `_` kept; others `_`).
pub fn file_stem(row: &Row) -> String {
    let text = if row.group.is_empty() {
        row.label.clone()
    } else {
        format!("{}.{}", row.group, row.label)
    };
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
