//! Latencies in an HDR histogram (the `hdrhistogram` crate): three significant digits from a
//! microsecond to an hour, in a fixed few hundred KiB however many messages are recorded,
//! and each bench thread's histogram merges into the report's.

use std::time::Duration;

use hdrhistogram::Histogram as Hdr;

/// The longest latency told apart from longer ones: an hour, in microseconds.
const HIGHEST_MICROS: u64 = 3_600_000_000;

#[derive(Clone, Debug)]
pub(crate) struct Histogram(Hdr<u64>);

impl Default for Histogram {
    fn default() -> Self {
        Histogram(
            Hdr::new_with_bounds(1, HIGHEST_MICROS, 3).expect("constant, valid histogram bounds"),
        )
    }
}

impl Histogram {
    /// Records one latency; under a microsecond counts as one, over an hour as an hour.
    pub(crate) fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(micros.clamp(1, HIGHEST_MICROS));
    }

    pub(crate) fn merge(&mut self, other: &Histogram) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    pub(crate) fn total(&self) -> u64 {
        self.0.len()
    }

    /// The latency below which a fraction `p` (0.5 for the median) of the samples fall.
    pub(crate) fn percentile(&self, p: f64) -> Option<Duration> {
        (self.total() > 0).then(|| Duration::from_micros(self.0.value_at_quantile(p)))
    }

    pub(crate) fn max(&self) -> Option<Duration> {
        (self.total() > 0).then(|| Duration::from_micros(self.0.max()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_within_a_tenth_of_a_percent() {
        let mut histogram = Histogram::default();
        for micros in 1..=10_000 {
            histogram.record(Duration::from_micros(micros));
        }
        let median = histogram.percentile(0.5).unwrap().as_micros() as f64;
        let p99 = histogram.percentile(0.99).unwrap().as_micros() as f64;
        assert!((median - 5000.0).abs() / 5000.0 < 0.001, "median {median}");
        assert!((p99 - 9900.0).abs() / 9900.0 < 0.001, "p99 {p99}");
        let max = histogram.max().unwrap().as_micros() as f64;
        assert!((max - 10_000.0).abs() / 10_000.0 < 0.001, "max {max}");
    }

    #[test]
    fn merged_histograms_count_both_sides() {
        let mut fast = Histogram::default();
        let mut slow = Histogram::default();
        for _ in 0..99 {
            fast.record(Duration::from_micros(50));
        }
        slow.record(Duration::from_secs(2));
        fast.merge(&slow);
        assert_eq!(fast.total(), 100);
        assert!(fast.percentile(0.99).unwrap() < Duration::from_millis(1));
        assert!(fast.max().unwrap() >= Duration::from_secs(2));
    }

    #[test]
    fn an_empty_histogram_has_no_percentiles() {
        assert_eq!(Histogram::default().percentile(0.5), None);
        assert_eq!(Histogram::default().max(), None);
    }
}
