//! `axtrace-report diff A B`: per exit reason, the change in count, p50, p99 and max between two
//! reports, flagged when beyond noise.
//!
//! The noise rule:
//! - **Percentiles** (p50, p99): each side gets a distribution-free confidence interval for the
//!   quantile from binomial order statistics — ranks n·q ± z·√(n·q·(1−q)), z = 3 (≈ 99.7 %) —
//!   read from its histogram and widened to the histogram's value-equivalence range (0.1 %). A
//!   change is flagged when the two intervals do not overlap *and* the values differ by more
//!   than the relative threshold (default 5 %; a statistically certain 1 % shift is rarely worth
//!   a look). Both sides need at least 10 samples on each side of the quantile (p99: n ≥ 1,000;
//!   p50: n ≥ 20), or the change is "too few samples" and never flagged.
//! - **Counts**: two Poisson counts a and b differ beyond noise when |b − a| > z·√(a + b). Counts
//!   grow with the length of a run, so compare runs of the same length.
//! - **Max**: one sample, no noise estimate: shown, never flagged.

use std::fmt::Write;

use super::Report;
use crate::hist::Latencies;
use crate::report::render::human_ns;

/// How strict the rule is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoiseRule {
    /// Standard deviations for the quantile intervals and the count test.
    pub z: f64,
    /// Relative change (percent) below which a percentile change is never flagged.
    pub threshold_pct: f64,
    /// Samples needed on each side of a quantile.
    pub min_tail_samples: f64,
}

impl Default for NoiseRule {
    fn default() -> Self {
        Self {
            z: 3.0,
            threshold_pct: 5.0,
            min_tail_samples: 10.0,
        }
    }
}

/// What a change is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within noise.
    Noise,
    /// Not enough samples to tell.
    TooFewSamples,
    /// B is higher beyond noise (slower, or more exits).
    Higher,
    /// B is lower beyond noise.
    Lower,
}

impl Verdict {
    /// Whether the change is flagged.
    pub fn flagged(self) -> bool {
        matches!(self, Verdict::Higher | Verdict::Lower)
    }
}

/// One quantile on both sides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantileChange {
    /// A's value, ns.
    pub a: u64,
    /// B's value, ns.
    pub b: u64,
    /// A's confidence interval, ns.
    pub a_interval: (u64, u64),
    /// B's confidence interval, ns.
    pub b_interval: (u64, u64),
    /// The verdict.
    pub verdict: Verdict,
}

impl QuantileChange {
    /// Relative change B vs A, percent (infinite when A is 0 and B is not).
    pub fn change_pct(&self) -> f64 {
        relative_pct(self.a as f64, self.b as f64)
    }
}

fn relative_pct(a: f64, b: f64) -> f64 {
    if a == 0.0 {
        if b == 0.0 { 0.0 } else { f64::INFINITY }
    } else {
        100.0 * (b - a) / a
    }
}

/// One exit reason on both sides.
#[derive(Debug, Clone, PartialEq)]
pub struct ReasonDiff {
    /// Reason code.
    pub reason: u32,
    /// Its name.
    pub name: String,
    /// A's count.
    pub count_a: u64,
    /// B's count.
    pub count_b: u64,
    /// The count verdict.
    pub count: Verdict,
    /// Medians.
    pub p50: QuantileChange,
    /// 99th percentiles.
    pub p99: QuantileChange,
    /// A's max, ns.
    pub max_a: u64,
    /// B's max, ns.
    pub max_b: u64,
}

/// The confidence interval of quantile `q` of `latencies`, or `None` with too few samples.
pub fn quantile_interval(latencies: &Latencies, q: f64, rule: &NoiseRule) -> Option<(u64, u64)> {
    let n = latencies.count() as f64;
    if n * q < rule.min_tail_samples || n * (1.0 - q) < rule.min_tail_samples {
        return None;
    }
    let half = rule.z * (q * (1.0 - q) / n).sqrt();
    let histogram = latencies.histogram();
    let low = histogram.lowest_equivalent(latencies.quantile_ns((q - half).max(0.0)));
    let high = histogram.highest_equivalent(latencies.quantile_ns((q + half).min(1.0)));
    Some((low, high))
}

fn quantile_change(a: &Latencies, b: &Latencies, q: f64, rule: &NoiseRule) -> QuantileChange {
    let (value_a, value_b) = (a.quantile_ns(q), b.quantile_ns(q));
    let (interval_a, interval_b) = (quantile_interval(a, q, rule), quantile_interval(b, q, rule));
    let verdict = match (interval_a, interval_b) {
        (Some(ia), Some(ib)) => {
            let disjoint = ia.1 < ib.0 || ib.1 < ia.0;
            let big = relative_pct(value_a as f64, value_b as f64).abs() > rule.threshold_pct;
            if disjoint && big {
                if value_b > value_a {
                    Verdict::Higher
                } else {
                    Verdict::Lower
                }
            } else {
                Verdict::Noise
            }
        }
        _ => Verdict::TooFewSamples,
    };
    QuantileChange {
        a: value_a,
        b: value_b,
        a_interval: interval_a.unwrap_or((0, 0)),
        b_interval: interval_b.unwrap_or((0, 0)),
        verdict,
    }
}

/// The count verdict for Poisson counts `a` and `b`.
pub fn count_verdict(a: u64, b: u64, rule: &NoiseRule) -> Verdict {
    let (fa, fb) = (a as f64, b as f64);
    if (fb - fa).abs() > rule.z * (fa + fb).sqrt() {
        if b > a {
            Verdict::Higher
        } else {
            Verdict::Lower
        }
    } else {
        Verdict::Noise
    }
}

/// Every exit reason present in either report, in code order.
pub fn diff(a: &Report, b: &Report, rule: &NoiseRule) -> Vec<ReasonDiff> {
    let (by_a, by_b) = (a.by_reason(), b.by_reason());
    let mut codes: Vec<u32> = by_a.keys().chain(by_b.keys()).copied().collect();
    codes.sort_unstable();
    codes.dedup();
    let empty = Latencies::new();
    codes
        .into_iter()
        .map(|code| {
            let la = by_a.get(&code).unwrap_or(&empty);
            let lb = by_b.get(&code).unwrap_or(&empty);
            let name = if by_a.contains_key(&code) {
                a.reason_name(code)
            } else {
                b.reason_name(code)
            };
            ReasonDiff {
                reason: code,
                name,
                count_a: la.count(),
                count_b: lb.count(),
                count: count_verdict(la.count(), lb.count(), rule),
                p50: quantile_change(la, lb, 0.5, rule),
                p99: quantile_change(la, lb, 0.99, rule),
                max_a: la.max_ns(),
                max_b: lb.max_ns(),
            }
        })
        .collect()
}

/// Reasons whose p50 or p99 got slower beyond noise by at least `pct` percent, as lines.
pub fn regressions(diffs: &[ReasonDiff], pct: f64) -> Vec<String> {
    let mut found = Vec::new();
    for d in diffs {
        for (name, change) in [("p50", &d.p50), ("p99", &d.p99)] {
            if change.verdict == Verdict::Higher && change.change_pct() >= pct {
                found.push(format!(
                    "{} {name}: {} -> {} ({:+.1}%)",
                    d.name,
                    human_ns(change.a as f64),
                    human_ns(change.b as f64),
                    change.change_pct()
                ));
            }
        }
    }
    found
}

fn pct_text(a: f64, b: f64) -> String {
    let pct = relative_pct(a, b);
    if pct.is_infinite() {
        "new".into()
    } else if pct >= 1000.0 {
        format!("{:.0}x", b / a)
    } else {
        format!("{pct:+.1}%")
    }
}

fn mark(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Higher | Verdict::Lower => "*",
        Verdict::TooFewSamples => "?",
        Verdict::Noise => " ",
    }
}

/// The diff as a table: counts, p50, p99 and max on both sides with their changes; `*` marks a
/// change beyond noise, `?` too few samples to tell.
pub fn render(diffs: &[ReasonDiff], a_name: &str, b_name: &str, rule: &NoiseRule) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "A: {a_name}\nB: {b_name}\n");
    let width = diffs
        .iter()
        .map(|d| d.name.len())
        .chain([12])
        .max()
        .unwrap_or(12);
    let _ = writeln!(
        out,
        "{:<width$} {:>9} {:>9} {:>9}  {:>9} {:>9} {:>9}  {:>9} {:>9} {:>9}  {:>9} {:>9} {:>8}  flags",
        "reason",
        "count A",
        "count B",
        "change",
        "p50 A",
        "p50 B",
        "change",
        "p99 A",
        "p99 B",
        "change",
        "max A",
        "max B",
        "change"
    );
    let mut flagged = 0;
    for d in diffs {
        let mut flags = Vec::new();
        for (name, verdict) in [
            ("count", d.count),
            ("p50", d.p50.verdict),
            ("p99", d.p99.verdict),
        ] {
            match verdict {
                Verdict::Higher if name == "count" => flags.push("more exits".to_string()),
                Verdict::Lower if name == "count" => flags.push("fewer exits".to_string()),
                Verdict::Higher => flags.push(format!("{name} slower")),
                Verdict::Lower => flags.push(format!("{name} faster")),
                _ => {}
            }
            flagged += usize::from(verdict.flagged());
        }
        let _ = writeln!(
            out,
            "{:<width$} {:>9} {:>9} {:>8}{}  {:>9} {:>9} {:>8}{}  {:>9} {:>9} {:>8}{}  {:>9} {:>9} {:>8}  {}",
            d.name,
            d.count_a,
            d.count_b,
            pct_text(d.count_a as f64, d.count_b as f64),
            mark(d.count),
            human_ns(d.p50.a as f64),
            human_ns(d.p50.b as f64),
            pct_text(d.p50.a as f64, d.p50.b as f64),
            mark(d.p50.verdict),
            human_ns(d.p99.a as f64),
            human_ns(d.p99.b as f64),
            pct_text(d.p99.a as f64, d.p99.b as f64),
            mark(d.p99.verdict),
            human_ns(d.max_a as f64),
            human_ns(d.max_b as f64),
            pct_text(d.max_a as f64, d.max_b as f64),
            flags.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "\n{flagged} change(s) beyond noise (*); ? = too few samples to tell.\nrule: percentiles \
         flagged when their {z}-sigma order-statistic confidence intervals (widened to the \
         histogram's resolution) do not overlap and they differ by more than {t}%; counts when \
         |B-A| > {z}*sqrt(A+B) (Poisson); max is one sample and never flagged.",
        z = rule.z,
        t = rule.threshold_pct
    );
    out
}
