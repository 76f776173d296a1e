//! Order statistics of a sample.

/// n, median, p90 (nearest rank), min, max of a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub n: usize,
    pub median: f64,
    pub p90: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    /// `None` for an empty sample; NaNs are dropped.
    pub fn of(sample: &[f64]) -> Option<Stats> {
        let mut v: Vec<f64> = sample.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        // Nearest rank: the smallest value with at least 90% of the sample at or below it.
        let rank = (n * 9).div_ceil(10).max(1);
        Some(Stats {
            n,
            median,
            p90: v[rank - 1],
            min: v[0],
            max: v[n - 1],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_even_and_p90() {
        let s = Stats::of(&[3.0, 1.0, 2.0]).expect("stats");
        assert_eq!(
            (s.n, s.median, s.min, s.max, s.p90),
            (3, 2.0, 1.0, 3.0, 3.0)
        );
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        let s = Stats::of(&v).expect("stats");
        assert_eq!((s.median, s.p90), (5.5, 9.0));
        assert!(Stats::of(&[]).is_none());
    }
}
