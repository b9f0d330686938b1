//! Latencies in a fixed-size histogram: memory does not grow with the number of messages.
//!
//! Below 64 µs each microsecond has its own bucket; above, each power of two is cut into 64
//! buckets, so a percentile is off by less than 1/64 (1.6 %), from 1 µs to hours.

use std::time::Duration;

const SUB: u64 = 64;
const SUB_BITS: u32 = 6;
const BUCKETS: usize = (SUB as usize) * (64 - SUB_BITS as usize + 1);

#[derive(Clone, Debug)]
pub(crate) struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }
}

impl Histogram {
    pub(crate) fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket(micros)] += 1;
        self.total += 1;
        self.max = self.max.max(micros);
    }

    pub(crate) fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// The latency below which a fraction `p` (0.5 for the median) of the samples fall.
    pub(crate) fn percentile(&self, p: f64) -> Option<Duration> {
        if self.total == 0 {
            return None;
        }
        let rank = ((p * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                // The bucket's upper end, but never above the largest sample seen.
                let upper = lower_bound(index + 1).saturating_sub(1).min(self.max);
                return Some(Duration::from_micros(upper.max(lower_bound(index))));
            }
        }
        Some(Duration::from_micros(self.max))
    }

    pub(crate) fn max(&self) -> Option<Duration> {
        (self.total > 0).then(|| Duration::from_micros(self.max))
    }
}

fn bucket(micros: u64) -> usize {
    if micros < SUB {
        return micros as usize;
    }
    let exponent = 63 - micros.leading_zeros(); // >= SUB_BITS
    let mantissa = (micros >> (exponent - SUB_BITS)) & (SUB - 1);
    ((exponent - SUB_BITS + 1) as u64 * SUB + mantissa) as usize
}

fn lower_bound(index: usize) -> u64 {
    let index = index as u64;
    if index < SUB {
        return index;
    }
    let exponent = index / SUB + u64::from(SUB_BITS) - 1;
    let mantissa = index % SUB;
    (SUB + mantissa)
        .checked_shl((exponent - u64::from(SUB_BITS)) as u32)
        .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lands_in_the_bucket_whose_bounds_hold_it() {
        for micros in (0..5000).chain([65_535, 65_536, 1 << 40, u64::MAX / 2]) {
            let index = bucket(micros);
            assert!(
                lower_bound(index) <= micros,
                "{micros} below bucket {index}"
            );
            assert!(
                micros < lower_bound(index + 1),
                "{micros} above bucket {index}"
            );
        }
    }

    #[test]
    fn percentiles_are_within_two_percent() {
        let mut histogram = Histogram::default();
        for micros in 1..=10_000 {
            histogram.record(Duration::from_micros(micros));
        }
        let median = histogram.percentile(0.5).unwrap().as_micros() as f64;
        let p99 = histogram.percentile(0.99).unwrap().as_micros() as f64;
        assert!((median - 5000.0).abs() / 5000.0 < 0.02, "median {median}");
        assert!((p99 - 9900.0).abs() / 9900.0 < 0.02, "p99 {p99}");
        assert_eq!(histogram.max(), Some(Duration::from_micros(10_000)));
    }

    #[test]
    fn an_empty_histogram_has_no_percentiles() {
        assert_eq!(Histogram::default().percentile(0.5), None);
        assert_eq!(Histogram::default().max(), None);
    }
}
