//! Neumaier-compensated f64 accumulation: the error of a sum of n terms stays O(ε) instead of O(nε). The order
//! of the terms is fixed too (`metrics::compare` merges its partial sums in task order), so the last bits of cos
//! never depend on the number of threads.

/// A compensated running sum.
#[derive(Clone, Copy, Debug, Default)]
pub struct Neumaier {
    sum: f64,
    c: f64,
}

impl Neumaier {
    /// Adds one term (Neumaier's variant of Kahan summation).
    #[inline]
    pub fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.c += (self.sum - t) + x;
        } else {
            self.c += (x - t) + self.sum;
        }
        self.sum = t;
    }

    /// Merges another partial sum.
    #[inline]
    pub fn merge(&mut self, o: Neumaier) {
        self.add(o.sum);
        self.add(o.c);
    }

    /// The compensated total.
    #[inline]
    pub fn value(&self) -> f64 {
        self.sum + self.c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancels_where_naive_sum_fails() {
        let mut s = Neumaier::default();
        let mut naive = 0.0f64;
        for x in [1.0, 1e100, 1.0, -1e100] {
            s.add(x);
            naive += x;
        }
        assert_eq!(s.value(), 2.0);
        assert_eq!(naive, 0.0);
    }
}
