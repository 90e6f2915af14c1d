//! ATOM's per-**byte** equality fraction, next to our per-element `Comparison::byte_equal`.

use crate::io::Tensor;

/// `byte_equal_pct(a, b)` of ATOM compare.py (docs/numerics.md §9.6): 0.0 when the shapes or dtypes differ,
/// else the fraction (in [0, 1], despite the name) of **bytes** that are equal, both tensors viewed as u8.
/// It differs from the per-element `byte_equal` of [`crate::metrics::compare`] whenever an element differs
/// in some of its bytes only (a bf16 pair differing in the low byte counts ½ here, 0 there).
pub fn byte_equal_fraction_per_byte(a: &Tensor, b: &Tensor) -> f64 {
    if a.shape != b.shape || a.dtype != b.dtype {
        return 0.0;
    }
    let (x, y) = (a.bytes(), b.bytes());
    if x.is_empty() {
        // torch: mean of an empty tensor is NaN.
        return f64::NAN;
    }
    let eq = x.iter().zip(y).filter(|(p, q)| p == q).count();
    eq as f64 / x.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::DType;

    #[test]
    fn counts_bytes_not_elements() {
        let a = Tensor::new("a", DType::BF16, vec![2], vec![0x00, 0x3F, 0x80, 0x3F]).unwrap();
        let b = Tensor::new("b", DType::BF16, vec![2], vec![0x01, 0x3F, 0x80, 0x3F]).unwrap();
        assert_eq!(byte_equal_fraction_per_byte(&a, &b), 0.75);
        assert_eq!(
            crate::metrics::compare(&a, &b).unwrap().byte_equal,
            Some(0.5)
        );
        let c = b.reshaped(vec![1, 2]).unwrap();
        assert_eq!(byte_equal_fraction_per_byte(&a, &c), 0.0);
        let d = b.reinterpret(DType::F16).unwrap();
        assert_eq!(byte_equal_fraction_per_byte(&a, &d), 0.0);
    }
}
