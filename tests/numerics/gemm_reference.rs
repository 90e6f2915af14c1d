//! The CPU emulation against a naive, independent reference written straight from the definitions in
//! `src/gemm/cpu.rs`: one output element at a time, exact sums as i128 integers in a common power-of-two
//! unit (rounded with Rust's correctly rounded `i128 as f32/f64`), truncation on the integer, f32 steps with
//! `mul_add`. Random operands over every FP8 format, pow2 and arbitrary scales, every preset and the axis
//! overrides, on shapes that exercise partial tiles (N not a multiple of 64, M not of 4).

use isolate::formats::Fp8Format;
use isolate::gemm::operand::Bounds;
use isolate::gemm::{gemm, Acc, Dequant, GemmSpec, Operand, OutType, Promote, ScaleOrder};
use isolate::testdata::{quantized, Rng, Scales};

/// A value as an exact integer multiple of 2^unit.
fn to_int(x: f64, unit: i32) -> i128 {
    let s = x * 2f64.powi(-unit);
    assert!(
        s.fract() == 0.0 && s.abs() < 2f64.powi(100),
        "{x} is not a multiple of 2^{unit}"
    );
    s as i128
}

/// v·2^unit rounded once to f32 (v as f32 is correctly rounded; the power-of-two scaling is exact here).
fn int_to_f32(v: i128, unit: i32) -> f32 {
    let r = (v as f32) as f64 * 2f64.powi(unit);
    assert!(
        r == 0.0 || r.abs() >= 2f64.powi(-126),
        "test values must stay normal"
    );
    r as f32
}

/// Truncation of v toward zero to n + 1 significant bits.
fn trunc_int(v: i128, n: u32) -> i128 {
    let mag = v.unsigned_abs();
    let len = 128 - mag.leading_zeros();
    if len <= n + 1 {
        return v;
    }
    let drop = len - n - 1;
    let t = ((mag >> drop) << drop) as i128;
    if v < 0 {
        -t
    } else {
        t
    }
}

struct Ref<'a> {
    spec: GemmSpec,
    a: &'a Operand,
    b: &'a Operand,
    /// Units of the code values of A and B (every code value is a multiple).
    ua: i32,
    ub: i32,
    /// Unit of the scale products σ = fl32(sa·sb) (every σ is a multiple).
    us: i32,
}

impl Ref<'_> {
    fn code(&self, o: &Operand, r: usize, k: usize) -> f32 {
        o.code_value(r, k)
    }

    /// Exact Σ a_k·b_k over [k0, k1) as an integer in units 2^(ua+ub).
    fn sum_int(&self, m: usize, n: usize, k0: usize, k1: usize) -> i128 {
        (k0..k1)
            .map(|k| {
                to_int(self.code(self.a, m, k) as f64, self.ua)
                    * to_int(self.code(self.b, n, k) as f64, self.ub)
            })
            .sum()
    }

    fn element(
        &self,
        m: usize,
        n: usize,
        k: usize,
        interval: usize,
        splits: &[std::ops::Range<usize>],
    ) -> f32 {
        let s = &self.spec;
        let mut total32 = 0f32;
        let mut total64 = 0f64;
        for (si, r) in splits.iter().enumerate() {
            let (mut c32, mut c64) = (0f32, 0f64);
            let mut exact_none: i128 = 0; // block-exact, promote=none: units 2^(ua+ub+us)
            let mut t_none: i128 = 0; // trunc, promote=none: same units
            for iv in r.clone() {
                let (k0, k1) = (iv * interval, ((iv + 1) * interval).min(k));
                let (sa, sb) = (self.a.scale(m, k0), self.b.scale(n, k0));
                let sigma = sa * sb;
                let unit = self.ua + self.ub;
                let fold = |p: f32, c: &mut f32| {
                    *c = match s.scale_order {
                        ScaleOrder::Fused => p.mul_add(sigma, *c),
                        ScaleOrder::Left => p * sa * sb + *c,
                    }
                };
                match (s.acc, s.promote) {
                    (Acc::BlockExact, Promote::Every(_)) => {
                        fold(int_to_f32(self.sum_int(m, n, k0, k1), unit), &mut c32)
                    }
                    (Acc::Exact, _) => {
                        let p = self.sum_int(m, n, k0, k1) as f64 * 2f64.powi(unit);
                        let (a, b) = (sa as f64, sb as f64);
                        c64 = match s.scale_order {
                            ScaleOrder::Fused => c64 + p * (a * b),
                            ScaleOrder::Left => p * a * b + c64,
                        };
                    }
                    (Acc::F32Seq, Promote::Every(_)) => {
                        let mut p = 0f32;
                        for kk in k0..k1 {
                            p = self
                                .code(self.a, m, kk)
                                .mul_add(self.code(self.b, n, kk), p);
                        }
                        fold(p, &mut c32);
                    }
                    (Acc::F32Seq, Promote::None) => {
                        for kk in k0..k1 {
                            let (x, y) = (self.code(self.a, m, kk), self.code(self.b, n, kk));
                            c32 = if matches!(
                                (self.a, self.b),
                                (Operand::Plain { .. }, Operand::Plain { .. })
                            ) {
                                x.mul_add(y, c32)
                            } else {
                                (x * y).mul_add(sigma, c32)
                            };
                        }
                    }
                    (Acc::BlockExact, Promote::None) => {
                        exact_none += self.sum_int(m, n, k0, k1) * to_int(sigma as f64, self.us);
                    }
                    (Acc::Trunc(bits), Promote::Every(_)) => {
                        let mut t: i128 = 0;
                        for s0 in (k0..k1).step_by(32) {
                            t = trunc_int(t + self.sum_int(m, n, s0, (s0 + 32).min(k1)), bits);
                        }
                        fold(int_to_f32(t, unit), &mut c32);
                    }
                    // The accumulator models have their own references (src/gemm/mma, tests/tc_*.rs).
                    (Acc::Mma(_), _) => unreachable!("acc=sm90|… is not in this test's grid"),
                    (Acc::Trunc(bits), Promote::None) => {
                        for s0 in (k0..k1).step_by(32) {
                            let x = self.sum_int(m, n, s0, (s0 + 32).min(k1))
                                * to_int(sigma as f64, self.us);
                            t_none = trunc_int(t_none + x, bits);
                        }
                    }
                }
            }
            match (s.acc, s.promote) {
                (Acc::BlockExact, Promote::None) => {
                    c32 = int_to_f32(exact_none, self.ua + self.ub + self.us)
                }
                (Acc::Trunc(_), Promote::None) => {
                    c32 = int_to_f32(t_none, self.ua + self.ub + self.us)
                }
                _ => {}
            }
            if si == 0 {
                (total32, total64) = (c32, c64);
            } else {
                total32 += c32;
                total64 += c64;
            }
        }
        let r = if s.acc == Acc::Exact {
            total64 as f32
        } else {
            total32
        };
        match s.out {
            OutType::Bf16 => half::bf16::from_f32(r).to_f32(),
            OutType::F32 => r,
        }
    }
}

fn unit_of(o: &Operand) -> i32 {
    let mut b = Bounds::default();
    for r in 0..o.rows() {
        for k in 0..o.cols() {
            b.include(o.code_value(r, k));
        }
    }
    b.lsb.min(0)
}

/// The reference output of `spec` (dequant applied first, as the emulation does).
fn reference(spec: &GemmSpec, a: &Operand, b: &Operand) -> Vec<f32> {
    let (a, b) = match spec.dequant {
        Dequant::None => (a.clone(), b.clone()),
        Dequant::Bf16 => (a.dequant_bf16(), b.dequant_bf16()),
    };
    let p = isolate::gemm::plan::plan(spec, &a, &b).unwrap();
    let mut sig = Bounds::default();
    for m in 0..p.m {
        for n in 0..p.n {
            for iv in 0..p.n_intervals {
                sig.include(a.scale(m, iv * p.interval) * b.scale(n, iv * p.interval));
            }
        }
    }
    let r = Ref {
        spec: *spec,
        a: &a,
        b: &b,
        ua: unit_of(&a),
        ub: unit_of(&b),
        us: sig.lsb.min(0),
    };
    let mut out = Vec::with_capacity(p.m * p.n);
    for m in 0..p.m {
        for n in 0..p.n {
            out.push(r.element(m, n, p.k, p.interval, &p.splits));
        }
    }
    out
}

fn check(spec_str: &str, a: &Operand, b: &Operand) {
    let spec = GemmSpec::parse(spec_str).unwrap();
    let got = gemm(&spec, a, b).unwrap();
    let want = reference(&spec, a, b);
    for (i, (g, w)) in got.values.iter().zip(&want).enumerate() {
        assert_eq!(
            g.to_bits(),
            w.to_bits(),
            "{spec_str}: element {i} (row {}, col {}): got {g:e}, reference {w:e}",
            i / got.cols,
            i % got.cols
        );
    }
}

const SPECS: [&str; 20] = [
    "blockwise",
    "blockwise-v3",
    "blockwise,promote=none,acc=trunc:13",
    "dequant-bf16",
    "exact",
    "exact,scale_order=left",
    "blockwise,promote=32",
    "blockwise,promote=64,scale_order=left",
    "blockwise,split_k=3",
    "blockwise,out=f32",
    "blockwise,acc=f32-seq",
    "blockwise,acc=trunc:13",
    "blockwise,acc=trunc:5,promote=64",
    "blockwise,promote=none",
    "blockwise,promote=none,acc=f32-seq",
    "blockwise,promote=none,acc=trunc:20,split_k=2",
    "exact,promote=none,split_k=2",
    "exact,out=bf16",
    "dequant-bf16,acc=block-exact,promote=128",
    "dequant-bf16,acc=trunc:8,promote=32,out=f32",
];

#[test]
fn every_preset_and_override_matches_the_reference_on_all_formats() {
    let (m, n, k) = (5, 70, 384);
    for (i, fa) in Fp8Format::ALL.into_iter().enumerate() {
        for (j, fb) in Fp8Format::ALL.into_iter().enumerate() {
            for kind in [Scales::Pow2, Scales::Any] {
                let seed = (i * 3 + j) as u64 * 2 + (kind == Scales::Any) as u64;
                let a: Operand = quantized(m, k, (1, 128), fa, kind, 100 + seed).into();
                let b: Operand = quantized(n, k, (128, 128), fb, kind, 200 + seed).into();
                for s in SPECS {
                    check(s, &a, &b);
                }
            }
        }
    }
}

/// bf16 values 2^e · (1 + j/128) with e ∈ [-12, 2], and at the K positions where `pairs` is set a big
/// product that the next position cancels (a[k+1] = −a[k], b[k+1] = b[k]): an f64 running sum loses the
/// small products in between, so these blocks need the slow exact path.
fn wide_plain(rows: usize, cols: usize, seed: u64, pairs: &[bool], negate: bool) -> Operand {
    let mut g = Rng::new(seed);
    let mut values = vec![0f32; rows * cols];
    for r in 0..rows {
        for k in 0..cols {
            let e = g.below(15) as i32 - 12;
            let m = 1.0 + g.below(128) as f32 / 128.0;
            let s = if g.below(2) == 0 { -1.0 } else { 1.0 };
            let v = if g.below(10) == 0 {
                0.0
            } else {
                s * m * 2f32.powi(e)
            };
            values[r * cols + k] = if k > 0 && pairs[k - 1] {
                let prev = values[r * cols + k - 1];
                if negate {
                    -prev
                } else {
                    prev
                }
            } else if pairs[k] {
                s * m * 2f32.powi(20 + g.below(8) as i32)
            } else {
                v
            };
        }
    }
    Operand::plain(rows, cols, values).unwrap()
}

#[test]
fn plain_operands_and_inexact_blocks_match_the_reference() {
    let (m, n, k) = (6, 67, 384);
    let mut g = Rng::new(9);
    let mut pairs = vec![false; k];
    let mut kk = 0;
    while kk + 1 < k {
        if g.below(8) == 0 {
            pairs[kk] = true;
            kk += 2;
        } else {
            kk += 1;
        }
    }
    let a = wide_plain(m, k, 1, &pairs, true);
    let b = wide_plain(n, k, 2, &pairs, false);
    // The inputs do need the exact path: a naive f64 sum of some 128-block rounds to another f32.
    let naive_wrong = (0..m * n * 3).any(|e| {
        let (i, j, blk) = (e / (n * 3), (e / 3) % n, e % 3);
        let mut s = 0f64;
        let mut x = isolate::gemm::exact::ExactSum::new();
        for kk in blk * 128..(blk + 1) * 128 {
            let p = a.code_value(i, kk) as f64 * b.code_value(j, kk) as f64;
            s += p;
            x.add(p);
        }
        s as f32 != x.to_f32()
    });
    assert!(naive_wrong);
    let bq: Operand = quantized(n, k, (128, 128), Fp8Format::E5m2, Scales::Pow2, 3).into();
    for s in SPECS {
        check(s, &a, &b);
        check(s, &a, &bq);
    }
}

#[test]
fn non_finite_codes_propagate_as_ieee() {
    let (m, n, k) = (2, 3, 128);
    let mut a = quantized(m, k, (1, 128), Fp8Format::E5m2, Scales::Pow2, 5);
    let b: Operand = quantized(n, k, (128, 128), Fp8Format::E5m2, Scales::Pow2, 6).into();
    a.q[0] = 0x7C; // +inf in row 0
    a.q[k] = 0x7F; // NaN in row 1
    let a: Operand = a.into();
    for s in [
        "blockwise",
        "exact",
        "blockwise,promote=none,acc=trunc:13",
        "blockwise,promote=none",
    ] {
        let out = gemm(&GemmSpec::parse(s).unwrap(), &a, &b).unwrap();
        let bk0 = b.code_value(0, 0);
        assert_eq!(out.values[0].is_infinite(), bk0 != 0.0, "{s}");
        assert!(out.values[n..2 * n].iter().all(|v| v.is_nan()), "{s}");
    }
}
