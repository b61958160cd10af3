//! Timings as ZooKeeper's `ServerMetrics` keeps them: a count, a sum, the smallest and largest
//! value, and a histogram for quantiles (`AvgMinMaxCounter` / `AvgMinMaxPercentileCounter`
//! and the Prometheus provider's summaries). Values are whole milliseconds, as ZooKeeper
//! records them.
//! Owns: [`Timing`] (the recorder), [`SharedTiming`] (one behind a lock, for a thread that
//! records while the node loop reports) and [`Summary`] (what `mntr`, the AdminServer and
//! `/metrics` print from it).
//! Must never: read a clock or do I/O; callers hand it durations they measured.

use hdrhistogram::Histogram;
use std::sync::Mutex;

/// Rounded to 4 places, half up, as ZooKeeper prints its averages.
pub fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

/// The quantiles a [`Summary`] carries: `mntr` prints 0.5, 0.95, 0.99 and 0.999 (ZooKeeper's
/// `p50`…`p999`), the Prometheus endpoint 0.5, 0.9 and 0.99.
pub const QUANTILES: [f64; 5] = [0.5, 0.9, 0.95, 0.99, 0.999];

/// The largest value told apart (an hour in ms); larger ones count as this.
const HIGHEST: u64 = 3_600_000;

/// Count/sum/min/max of a metric plus its [`QUANTILES`], e.g. fsync times in ms.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub sum: u64,
    pub min: u64,
    pub max: u64,
    /// The values at [`QUANTILES`], in that order (0 while empty).
    pub quantiles: [u64; QUANTILES.len()],
}

impl Summary {
    /// Average rounded to 4 places, half up (as ZooKeeper does); 0 when empty.
    pub fn avg(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        round4(self.sum as f64 / self.count as f64)
    }

    /// The value at quantile `q`, one of [`QUANTILES`].
    pub fn quantile(&self, q: f64) -> u64 {
        QUANTILES.iter().position(|x| *x == q).map_or(0, |i| self.quantiles[i])
    }
}

/// Records durations (or sizes) and summarises them: count, sum, minimum and maximum exact,
/// quantiles from the histogram.
#[derive(Debug, Clone)]
pub struct Timing {
    hist: Histogram<u64>,
    sum: u64,
    min: u64,
    max: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing::new()
    }
}

impl Timing {
    pub fn new() -> Self {
        // Two significant digits: a value is placed within 1%; a few KiB per timing.
        let hist = Histogram::new_with_bounds(1, HIGHEST, 2).expect("valid histogram bounds");
        Timing { hist, sum: 0, min: 0, max: 0 }
    }

    pub fn record(&mut self, value: u64) {
        self.min = if self.hist.is_empty() { value } else { self.min.min(value) };
        self.max = self.max.max(value);
        self.hist.saturating_record(value.min(HIGHEST));
        self.sum = self.sum.saturating_add(value);
    }

    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    pub fn reset(&mut self) {
        self.hist.reset();
        (self.sum, self.min, self.max) = (0, 0, 0);
    }

    pub fn summary(&self) -> Summary {
        if self.hist.is_empty() {
            return Summary::default();
        }
        let mut quantiles = [0; QUANTILES.len()];
        for (slot, q) in quantiles.iter_mut().zip(QUANTILES) {
            *slot = self.hist.value_at_quantile(q);
        }
        Summary { count: self.hist.len(), sum: self.sum, min: self.min, max: self.max, quantiles }
    }
}

/// A [`Timing`] recorded by one thread and reported by another; a poisoned lock is taken over
/// (a timing is never left half-updated).
#[derive(Debug, Default)]
pub struct SharedTiming(Mutex<Timing>);

impl SharedTiming {
    pub fn record(&self, value: u64) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).record(value);
    }

    pub fn summary(&self) -> Summary {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).summary()
    }

    pub fn reset(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).reset();
    }
}

/// A summary of one value (a startup figure), with no histogram to build.
pub fn once(value: u64) -> Summary {
    Summary { count: 1, sum: value, min: value, max: value, quantiles: [value; QUANTILES.len()] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_timing_is_all_zero() {
        assert_eq!(Timing::new().summary(), Summary::default());
        assert_eq!(Summary::default().avg(), 0.0);
    }

    #[test]
    fn quantiles_min_max_and_sum_follow_the_values() {
        let mut t = Timing::new();
        for v in 1..=100 {
            t.record(v);
        }
        let s = t.summary();
        assert_eq!((s.count, s.sum, s.min, s.max), (100, 5050, 1, 100));
        assert_eq!(s.quantile(0.5), 50);
        assert_eq!(s.quantile(0.9), 90);
        assert_eq!(s.quantile(0.99), 99);
        assert_eq!(s.quantile(0.999), 100);
        assert_eq!(s.avg(), 50.5);
    }

    #[test]
    fn zero_and_huge_values_are_counted() {
        let mut t = Timing::new();
        t.record(0);
        t.record(u64::MAX);
        let s = t.summary();
        assert_eq!((s.count, s.min), (2, 0));
        assert_eq!(s.max, u64::MAX, "minimum and maximum are exact");
        assert!(s.quantile(0.999) >= HIGHEST, "{s:?}");
        assert_eq!(s.sum, u64::MAX, "the sum saturates");
        t.reset();
        assert_eq!(t.summary(), Summary::default());
    }

    #[test]
    fn min_and_max_are_exact_past_the_histograms_precision() {
        let mut t = Timing::new();
        for v in [257, 300, 1001] {
            t.record(v);
        }
        let s = t.summary();
        assert_eq!((s.min, s.max), (257, 1001));
        let shared = SharedTiming::default();
        shared.record(300);
        assert_eq!(shared.summary().max, 300);
        assert_eq!(once(7), Summary { count: 1, sum: 7, min: 7, max: 7, quantiles: [7; 5] });
        shared.reset();
        assert_eq!(shared.summary(), Summary::default());
    }

    #[test]
    fn average_rounds_to_four_places() {
        let mut t = Timing::new();
        for v in [1, 1, 2] {
            t.record(v);
        }
        assert_eq!(t.summary().avg(), 1.3333);
    }
}
