//! The percentile-distribution plot as SVG, drawn like HdrHistogram's plotter: x is the
//! percentile on a log scale of 1/(1−p) (ticks at 0 %, 90 %, 99 %, 99.9 % …), y the latency (on a
//! log scale too: exit latencies span decades), one line (a `<polyline>`) per table row — per
//! exit reason by default.

use std::fmt::Write;

use super::Row;
use crate::hist::HGRM_TICKS_PER_HALF_DISTANCE;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 540.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 220.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

/// Distinct line colours (cycled).
const COLOURS: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// Escapes text for XML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The plot of `rows` (each row's percentile distribution). `title` goes on top.
pub fn plot(rows: &[Row], title: &str) -> String {
    let rows: Vec<&Row> = rows.iter().filter(|r| r.latencies.count() > 0).collect();
    // The x axis reaches the percentile the largest row resolves: 1/(1-p) up to its count.
    let most = rows.iter().map(|r| r.latencies.count()).max().unwrap_or(1);
    let decades = ((most as f64).log10().ceil()).clamp(1.0, 7.0);
    // Latencies span decades (hundreds of ns to the ms of a descheduled vCPU): y is log-scale,
    // from the decade below the smallest minimum to the decade above the largest maximum.
    let smallest = rows
        .iter()
        .map(|r| r.latencies.min_ns().max(1) as f64)
        .fold(f64::INFINITY, f64::min);
    let largest = rows
        .iter()
        .map(|r| r.latencies.max_ns().max(1) as f64)
        .fold(1.0, f64::max);
    let y_low = if smallest.is_finite() {
        smallest.log10().floor()
    } else {
        0.0
    };
    let y_high = (largest.log10().ceil()).max(y_low + 1.0);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x_of = |q: f64| {
        let inverse = if q >= 1.0 {
            f64::INFINITY
        } else {
            1.0 / (1.0 - q)
        };
        LEFT + plot_w * (inverse.log10().min(decades) / decades)
    };
    let y_of = |ns: f64| {
        let decades = (ns.max(1.0).log10().clamp(y_low, y_high) - y_low) / (y_high - y_low);
        TOP + plot_h * (1.0 - decades)
    };

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>"#,
        LEFT + plot_w / 2.0,
        escape(title)
    );
    // Axes and grid.
    let _ = writeln!(
        svg,
        r#"<g stroke="black" fill="none"><rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}"/></g>"#
    );
    for decade in 0..=decades as u32 {
        let x = LEFT + plot_w * f64::from(decade) / decades;
        let label = if decade == 0 {
            "0%".to_string()
        } else {
            let nines = 100.0 - 100.0 / 10f64.powi(decade as i32);
            format!("{}%", trim_float(nines))
        };
        let _ = writeln!(
            svg,
            r##"<line x1="{x}" y1="{TOP}" x2="{x}" y2="{}" stroke="#ddd"/><text x="{x}" y="{}" text-anchor="middle">{label}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 16.0
        );
    }
    for decade in y_low as i32..=y_high as i32 {
        let ns = 10f64.powi(decade);
        let y = y_of(ns);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0,
            decade_label(decade)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">percentile (log scale of 1/(1-p))</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 16.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="18" y="{}" text-anchor="middle" transform="rotate(-90 18 {})">exit-&gt;entry latency (log scale)</text>"#,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0
    );
    // One polyline per row, and its legend entry.
    for (index, row) in rows.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let name = if row.group.is_empty() {
            row.label.clone()
        } else {
            format!("{} {}", row.group, row.label)
        };
        let mut points = String::new();
        for step in row
            .latencies
            .histogram()
            .iter_quantiles(HGRM_TICKS_PER_HALF_DISTANCE)
        {
            let ns = (step.value_iterated_to().min(row.latencies.max_ns())) as f64;
            let _ = write!(
                points,
                "{:.1},{:.1} ",
                x_of(step.quantile_iterated_to()),
                y_of(ns)
            );
        }
        let _ = writeln!(
            svg,
            r#"<polyline class="row" data-name="{}" fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"#,
            escape(&name),
            points.trim_end()
        );
        let y = TOP + 14.0 + 18.0 * index as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{} ({})</text>"#,
            WIDTH - RIGHT + 12.0,
            WIDTH - RIGHT + 32.0,
            WIDTH - RIGHT + 38.0,
            y + 4.0,
            escape(&name),
            row.latencies.count()
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// `10^decade` ns as a tick label: `100ns`, `1us`, `10ms`, `1s`, `100s`.
fn decade_label(decade: i32) -> String {
    let (unit, base) = match decade {
        ..=2 => ("ns", 0),
        3..=5 => ("us", 3),
        6..=8 => ("ms", 6),
        _ => ("s", 9),
    };
    format!("{}{unit}", 10u64.pow((decade - base).max(0) as u32))
}

fn trim_float(value: f64) -> String {
    let text = format!("{value:.7}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}
