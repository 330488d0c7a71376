//! Exit-latency histograms: an [`hdrhistogram`] of ns values at 3 significant digits plus the
//! exact count, sum, min and max, and the HdrHistogram percentile-distribution table (`.hgrm`,
//! the layout of Java's `outputPercentileDistribution`) written and parsed back.
//!
//! The `hdrhistogram` crate has no `.hgrm` writer, so [`write_hgrm`] writes it; [`Hgrm::parse`]
//! reads one back (tests check the layout with it, and it refuses bad text by line).

use std::fmt::Write;

use hdrhistogram::Histogram;

/// Significant decimal digits every latency histogram keeps: values are exact below 2,048 ns
/// and within 0.1 % above.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// Percentile ticks per half distance in `.hgrm` tables (HdrHistogram's default).
pub const HGRM_TICKS_PER_HALF_DISTANCE: u32 = 5;

/// The latencies of one set of exits, in ns.
#[derive(Debug, Clone)]
pub struct Latencies {
    histogram: Histogram<u64>,
    sum_ns: u128,
    min_ns: u64,
    max_ns: u64,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    /// An empty set. The histogram grows with the largest value recorded, not with the count.
    pub fn new() -> Self {
        Self {
            histogram: Histogram::new(SIGNIFICANT_DIGITS)
                .expect("1..=2 at 3 significant digits are valid bounds"),
            sum_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
        }
    }

    /// Records one latency.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        // The histogram grows to take any value up to i64::MAX / 2 (`saturating_record` would
        // not grow it); beyond that it saturates (a VM_EXIT latency is a u32 anyway).
        if self.histogram.record(ns).is_err() {
            self.histogram.saturating_record(ns);
        }
        self.sum_ns += u128::from(ns);
        self.min_ns = self.min_ns.min(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Latencies) {
        if other.count() == 0 {
            return;
        }
        // Both histograms auto-resize with the same precision, so adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
        self.sum_ns += other.sum_ns;
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// Exact sum of the values, ns.
    pub fn sum_ns(&self) -> u128 {
        self.sum_ns
    }

    /// Exact smallest value (0 when empty).
    pub fn min_ns(&self) -> u64 {
        if self.count() == 0 { 0 } else { self.min_ns }
    }

    /// Exact largest value.
    pub fn max_ns(&self) -> u64 {
        self.max_ns
    }

    /// Exact mean (0 when empty).
    pub fn mean_ns(&self) -> f64 {
        if self.count() == 0 {
            0.0
        } else {
            self.sum_ns as f64 / self.count() as f64
        }
    }

    /// Standard deviation, from the histogram (within its 0.1 % resolution).
    pub fn stddev_ns(&self) -> f64 {
        if self.count() == 0 {
            0.0
        } else {
            self.histogram.stdev()
        }
    }

    /// The value at quantile `q` (0..=1): the highest value equivalent to the recorded value at
    /// that rank, as HdrHistogram reports it (exact below 2,048 ns). The maximum is exact.
    pub fn quantile_ns(&self, q: f64) -> u64 {
        if self.count() == 0 {
            0
        } else if q >= 1.0 {
            self.max_ns
        } else {
            self.histogram.value_at_quantile(q).min(self.max_ns)
        }
    }

    /// The histogram itself.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.histogram
    }
}

/// Writes `histogram` as HdrHistogram's `outputPercentileDistribution` does: the header line
/// and a blank line, one `Value Percentile TotalCount 1/(1-Percentile)` line per percentile tick
/// (5 ticks per half distance; the 100 % line has no last column), then the
/// `#[Mean …]`, `#[Max …]` and `#[Buckets …]` footer. Values are divided by
/// `value_unit_scaling_ratio` (1000 for µs, as HdrHistogram's plotter shows them).
pub fn write_hgrm(histogram: &Histogram<u64>, value_unit_scaling_ratio: f64) -> String {
    let digits = usize::from(histogram.sigfig());
    let ratio = value_unit_scaling_ratio;
    let mut out = String::new();
    let _ = write!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    if !histogram.is_empty() {
        for step in histogram.iter_quantiles(HGRM_TICKS_PER_HALF_DISTANCE) {
            total += step.count_since_last_iteration();
            let value = step.value_iterated_to() as f64 / ratio;
            let quantile = step.quantile_iterated_to();
            if quantile < 1.0 {
                let _ = writeln!(
                    out,
                    "{value:>12.digits$} {quantile:>2.12} {total:>10} {:>14.2}",
                    1.0 / (1.0 - quantile)
                );
            } else {
                let _ = writeln!(out, "{value:>12.digits$} {quantile:>2.12} {total:>10}");
            }
        }
    }
    let (mean, stddev) = if histogram.is_empty() {
        (0.0, 0.0)
    } else {
        (histogram.mean() / ratio, histogram.stdev() / ratio)
    };
    let _ = writeln!(
        out,
        "#[Mean    = {mean:>12.digits$}, StdDeviation   = {stddev:>12.digits$}]"
    );
    let _ = writeln!(
        out,
        "#[Max     = {:>12.digits$}, Total count    = {:>12}]",
        histogram.max() as f64 / ratio,
        histogram.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        histogram.buckets(),
        sub_bucket_count(histogram.sigfig())
    );
    out
}

/// HdrHistogram's sub-bucket count for `sigfig` digits: the power of two at or above
/// 2 × 10^sigfig (2,048 for 3 digits).
pub fn sub_bucket_count(sigfig: u8) -> u64 {
    (2 * 10u64.pow(u32::from(sigfig))).next_power_of_two()
}

/// One line of a `.hgrm` table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HgrmLine {
    /// The value (scaled).
    pub value: f64,
    /// The percentile as a fraction (0..=1).
    pub percentile: f64,
    /// Values at or below this one.
    pub total_count: u64,
    /// `1/(1-Percentile)`; `None` on the 100 % line.
    pub inverse: Option<f64>,
}

/// A `.hgrm` table read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Hgrm {
    /// The percentile lines, in order.
    pub lines: Vec<HgrmLine>,
    /// `#[Mean = …]`.
    pub mean: f64,
    /// `StdDeviation = …`.
    pub stddev: f64,
    /// `#[Max = …]`.
    pub max: f64,
    /// `Total count = …`.
    pub total_count: u64,
    /// `#[Buckets = …]`.
    pub buckets: u64,
    /// `SubBuckets = …`.
    pub sub_buckets: u64,
}

/// Why a `.hgrm` text is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: expected {expected}")]
pub struct HgrmError {
    /// 1-based line number.
    pub line: usize,
    /// What the line should have held.
    pub expected: &'static str,
}

impl Hgrm {
    /// Parses the layout [`write_hgrm`] writes (and HdrHistogram's Java writer).
    pub fn parse(text: &str) -> Result<Self, HgrmError> {
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        let err = |line, expected| HgrmError { line, expected };
        let header = "Value Percentile TotalCount 1/(1-Percentile)";
        match lines.next() {
            Some((_, l)) if l.split_whitespace().collect::<Vec<_>>().join(" ") == header => {}
            _ => {
                return Err(err(
                    1,
                    "the header `Value Percentile TotalCount 1/(1-Percentile)`",
                ));
            }
        }
        match lines.next() {
            Some((_, "")) => {}
            _ => return Err(err(2, "an empty line after the header")),
        }
        let mut table = Hgrm {
            lines: Vec::new(),
            mean: 0.0,
            stddev: 0.0,
            max: 0.0,
            total_count: 0,
            buckets: 0,
            sub_buckets: 0,
        };
        let mut footer = 0;
        for (number, line) in lines {
            if let Some(inner) = line.strip_prefix("#[").and_then(|l| l.strip_suffix(']')) {
                let pairs: Vec<(&str, &str)> = inner
                    .split(',')
                    .filter_map(|p| p.split_once('='))
                    .map(|(k, v)| (k.trim(), v.trim()))
                    .collect();
                let expected = "a footer `#[Key = value, Key = value]`";
                let [(k1, v1), (k2, v2)] = pairs[..] else {
                    return Err(err(number, expected));
                };
                let float = |v: &str| v.parse::<f64>().map_err(|_| err(number, expected));
                let int = |v: &str| v.parse::<u64>().map_err(|_| err(number, expected));
                match (k1, k2) {
                    ("Mean", "StdDeviation") => {
                        (table.mean, table.stddev) = (float(v1)?, float(v2)?)
                    }
                    ("Max", "Total count") => {
                        (table.max, table.total_count) = (float(v1)?, int(v2)?)
                    }
                    ("Buckets", "SubBuckets") => {
                        (table.buckets, table.sub_buckets) = (int(v1)?, int(v2)?)
                    }
                    _ => {
                        return Err(err(
                            number,
                            "Mean/StdDeviation, Max/Total count or Buckets/SubBuckets",
                        ));
                    }
                }
                footer += 1;
                continue;
            }
            if footer > 0 {
                return Err(err(number, "only footer lines after the first footer line"));
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let expected = "`Value Percentile TotalCount [1/(1-Percentile)]` numbers";
            if !(3..=4).contains(&fields.len()) {
                return Err(err(number, expected));
            }
            let float = |v: &str| v.parse::<f64>().map_err(|_| err(number, expected));
            table.lines.push(HgrmLine {
                value: float(fields[0])?,
                percentile: float(fields[1])?,
                total_count: fields[2].parse().map_err(|_| err(number, expected))?,
                inverse: fields.get(3).map(|v| float(v)).transpose()?,
            });
        }
        if footer != 3 {
            return Err(err(
                text.lines().count() + 1,
                "three footer lines (Mean, Max, Buckets)",
            ));
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_give_known_quantiles() {
        let mut latencies = Latencies::new();
        for ns in 1..=1000 {
            latencies.record(ns);
        }
        assert_eq!(latencies.count(), 1000);
        assert_eq!(latencies.quantile_ns(0.5), 500);
        assert_eq!(latencies.quantile_ns(0.99), 990);
        assert_eq!(latencies.quantile_ns(1.0), 1000);
        assert_eq!(latencies.min_ns(), 1);
        assert_eq!(latencies.sum_ns(), 500_500);
        assert!((latencies.mean_ns() - 500.5).abs() < 1e-9);
        let mut other = Latencies::new();
        other.record(1_000_000);
        latencies.merge(&other);
        assert_eq!(latencies.max_ns(), 1_000_000);
        assert_eq!(latencies.count(), 1001);
    }

    #[test]
    fn hgrm_reads_back_with_monotone_percentiles_and_the_footer() {
        let mut latencies = Latencies::new();
        for ns in (1..=10_000u64).map(|i| i * 37 % 90_001 + 100) {
            latencies.record(ns);
        }
        let text = write_hgrm(latencies.histogram(), 1000.0);
        assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
        let table = Hgrm::parse(&text).unwrap();
        assert!(table.lines.len() > 20);
        for pair in table.lines.windows(2) {
            assert!(pair[0].value <= pair[1].value);
            assert!(pair[0].percentile <= pair[1].percentile);
            assert!(pair[0].total_count <= pair[1].total_count);
        }
        for line in &table.lines {
            match line.inverse {
                Some(inverse) => {
                    assert!((inverse - 1.0 / (1.0 - line.percentile)).abs() < 0.01 * inverse)
                }
                None => assert_eq!(line.percentile, 1.0),
            }
        }
        let last = table.lines.last().unwrap();
        assert_eq!(last.total_count, 10_000);
        assert_eq!(last.inverse, None);
        assert_eq!(table.total_count, 10_000);
        assert_eq!(table.sub_buckets, 2048);
        assert_eq!(table.buckets, u64::from(latencies.histogram().buckets()));
        assert!((table.max - latencies.histogram().max() as f64 / 1000.0).abs() < 1e-3);
        assert!((table.mean - latencies.histogram().mean() / 1000.0).abs() < 1e-3);
    }

    #[test]
    fn bad_hgrm_text_is_refused_by_line() {
        assert_eq!(Hgrm::parse("").unwrap_err().line, 1);
        let good = write_hgrm(Latencies::new().histogram(), 1.0);
        assert!(Hgrm::parse(&good).is_ok());
        let bad = good.replace("Total count", "Count");
        assert!(
            Hgrm::parse(&bad)
                .unwrap_err()
                .expected
                .contains("Mean/StdDeviation")
        );
        let bad = format!("{}{}", &good[..good.find("#[").unwrap()], "1.0 x 3\n");
        assert_eq!(Hgrm::parse(&bad).unwrap_err().line, 3);
    }
}
