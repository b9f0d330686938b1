//! Points, kept exact.
//!
//! A score is counted in hundredths of a point, so that 10 points split over 3 tests is
//! 3.34 + 3.33 + 3.33 and the parts always add up to the whole: no report ever shows a total
//! of 9.99 or 10.01 for a finished exercise.

use std::fmt;
use std::iter::Sum;
use std::ops::Add;

/// An amount of points, in hundredths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Points(u64);

impl Points {
    pub const ZERO: Points = Points(0);

    pub const fn from_hundredths(hundredths: u64) -> Points {
        Points(hundredths)
    }

    pub fn hundredths(self) -> u64 {
        self.0
    }

    /// Rounds a non-negative number of points to the nearest hundredth.
    pub fn from_f64(points: f64) -> Option<Points> {
        let hundredths = (points * 100.0).round();
        (0.0..1e15)
            .contains(&hundredths)
            .then_some(Points(hundredths as u64))
    }

    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }

    /// Always two decimals, for columns: `3.50`, `10.00`.
    pub fn fixed(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }

    /// Splits `self` over parts in proportion to `weights`, in whole hundredths that add up
    /// exactly to `self` (largest remainder; ties go to the earlier part). All-zero weights
    /// give every part zero.
    pub fn split(self, weights: &[f64]) -> Vec<Points> {
        let total: f64 = weights.iter().sum();
        if weights.is_empty() || total <= 0.0 {
            return vec![Points::ZERO; weights.len()];
        }
        let quotas: Vec<f64> = weights.iter().map(|w| self.0 as f64 * w / total).collect();
        let mut parts: Vec<u64> = quotas.iter().map(|q| q.floor() as u64).collect();
        let given: u64 = parts.iter().sum();
        let mut left = self.0.saturating_sub(given);
        let mut order: Vec<usize> = (0..parts.len()).filter(|&i| weights[i] > 0.0).collect();
        // Stable sort: equal remainders keep their order.
        order.sort_by(|&a, &b| {
            let (ra, rb) = (quotas[a] - quotas[a].floor(), quotas[b] - quotas[b].floor());
            rb.total_cmp(&ra)
        });
        for &i in order.iter().cycle() {
            if left == 0 {
                break;
            }
            parts[i] += 1;
            left -= 1;
        }
        parts.into_iter().map(Points).collect()
    }
}

/// The shortest form: `3.5`, `10`, `3.34` (also valid as a JSON number).
impl fmt::Display for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, cents) = (self.0 / 100, self.0 % 100);
        match cents {
            0 => write!(f, "{whole}"),
            c if c % 10 == 0 => write!(f, "{whole}.{}", c / 10),
            c => write!(f, "{whole}.{c:02}"),
        }
    }
}

impl Add for Points {
    type Output = Points;
    fn add(self, other: Points) -> Points {
        Points(self.0 + other.0)
    }
}

impl Sum for Points {
    fn sum<I: Iterator<Item = Points>>(iter: I) -> Points {
        iter.fold(Points::ZERO, Add::add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(hundredths: u64) -> Points {
        Points::from_hundredths(hundredths)
    }

    #[test]
    fn ten_points_over_three_tests_add_up_to_ten() {
        let parts = p(1000).split(&[1.0, 1.0, 1.0]);
        assert_eq!(parts, [p(334), p(333), p(333)]);
        assert_eq!(parts.into_iter().sum::<Points>(), p(1000));
    }

    #[test]
    fn weights_are_proportional() {
        assert_eq!(p(1000).split(&[2.0, 1.0, 1.0]), [p(500), p(250), p(250)]);
        assert_eq!(p(1000).split(&[0.0, 1.0]), [p(0), p(1000)]);
        assert_eq!(p(1000).split(&[0.0, 0.0]), [p(0), p(0)]);
        assert_eq!(p(700).split(&[]), Vec::<Points>::new());
    }

    #[test]
    fn an_awkward_split_still_adds_up() {
        for count in 1..40 {
            let parts = p(1000).split(&vec![1.0; count]);
            assert_eq!(parts.iter().copied().sum::<Points>(), p(1000), "{count}");
            let (min, max) = (parts.iter().min().unwrap(), parts.iter().max().unwrap());
            assert!(max.0 - min.0 <= 1, "{count}: {parts:?}");
        }
    }

    #[test]
    fn points_print_short_and_fixed() {
        assert_eq!(p(1000).to_string(), "10");
        assert_eq!(p(350).to_string(), "3.5");
        assert_eq!(p(334).to_string(), "3.34");
        assert_eq!(p(5).to_string(), "0.05");
        assert_eq!(p(350).fixed(), "3.50");
        assert_eq!(p(0).fixed(), "0.00");
        assert_eq!(Points::from_f64(2.5), Some(p(250)));
        assert_eq!(Points::from_f64(-1.0), None);
    }
}
