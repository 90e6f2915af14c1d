//! Hand-checkable GEMM cases and the properties the presets promise: order-independence of block-exact
//! partials, blockwise ≈ exact within the f32 rounding bound, fused ≠ left, split-K, bf16 output
//! rounding, and the errors for bad shapes.

use isolate::error::Error;
use isolate::formats::{Fp8Format, Overflow};
use isolate::gemm::{gemm, GemmSpec, Operand, Preset};
use isolate::quant::Quantized;
use isolate::testdata::{quantized, Rng, Scales};

const FN: Fp8Format = Fp8Format::E4m3fn;

fn code(x: f32) -> u8 {
    let c = FN.encode(x, Overflow::Nan);
    assert_eq!(FN.decode(c), x, "{x} is not an e4m3fn value");
    c
}

/// An operand from values per (row, k) and scales per (row block, k block).
fn op(
    rows: usize,
    k: usize,
    br: usize,
    vals: impl Fn(usize, usize) -> f32,
    scales: Vec<f32>,
) -> Operand {
    let q = (0..rows * k).map(|i| code(vals(i / k, i % k))).collect();
    Operand::Quantized(Quantized {
        rows,
        cols: k,
        fmt: FN,
        q,
        block_rows: br,
        block_cols: 128,
        scales,
    })
}

fn run(spec: &str, a: &Operand, b: &Operand) -> Vec<f32> {
    gemm(&GemmSpec::parse(spec).unwrap(), a, b).unwrap().values
}

#[test]
fn k256_by_hand() {
    // Block 0: 128 products 1 · 2 = 256, σ0 = 2^-2 · 2^1 = 1/2 → 128.
    // Block 1: 128 products 0.5 · (−3) = −192, σ1 = 2^-3 · 2^-1 = 1/16 → −12.   C = 116 for every preset.
    let a = op(
        1,
        256,
        1,
        |_, k| if k < 128 { 1.0 } else { 0.5 },
        vec![0.25, 0.125],
    );
    let b = op(
        2,
        256,
        128,
        |r, k| if k < 128 { 2.0 * (r + 1) as f32 } else { -3.0 },
        vec![2.0, 0.5],
    );
    // Row 1 of B doubles block 0: 2·128 + (−12) = 244.
    for p in Preset::ALL {
        // Presets that cannot take these operands (per-tensor/row epilogues on 128-wide K blocks, fnuz-only
        // models) refuse them in plan(); every other one gets the exact answer.
        let spec = GemmSpec::parse(p.name()).unwrap();
        if isolate::gemm::plan::plan(&spec, &a, &b).is_err() {
            continue;
        }
        assert_eq!(run(p.name(), &a, &b), vec![116.0, 244.0], "{}", p.name());
    }
}

/// Applies the same permutation of K inside every 128-block to the columns of an operand.
fn permute(o: &Operand, perm: &[usize]) -> Operand {
    let Operand::Quantized(q) = o else {
        unreachable!()
    };
    let mut p = q.clone();
    for r in 0..q.rows {
        for k in 0..q.cols {
            let (blk, i) = (k / 128, k % 128);
            p.q[r * q.cols + k] = q.q[r * q.cols + blk * 128 + perm[i]];
        }
    }
    Operand::Quantized(p)
}

#[test]
fn block_exact_partials_do_not_depend_on_the_order_of_k_in_a_block() {
    let (m, n, k) = (8, 96, 512);
    let a: Operand = quantized(m, k, (1, 128), FN, Scales::Any, 1).into();
    let b: Operand = quantized(n, k, (128, 128), FN, Scales::Any, 2).into();
    let mut g = Rng::new(3);
    let mut perm: Vec<usize> = (0..128).collect();
    for i in (1..128).rev() {
        perm.swap(i, g.below(i + 1));
    }
    let (pa, pb) = (permute(&a, &perm), permute(&b, &perm));
    let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
    for s in [
        "blockwise,out=f32",
        "blockwise-v3,out=f32",
        "exact",
        "blockwise,promote=none,out=f32",
    ] {
        assert_eq!(bits(run(s, &a, &b)), bits(run(s, &pa, &pb)), "{s}");
    }
    // The same permutation does change a sequential f32 accumulation: the test can see order.
    let s = "blockwise,acc=f32-seq,out=f32";
    assert_ne!(bits(run(s, &a, &b)), bits(run(s, &pa, &pb)));
}

#[test]
fn blockwise_differs_from_exact_only_by_f32_rounding() {
    let (m, n, k) = (6, 80, 1024);
    let a: Operand = quantized(m, k, (1, 128), FN, Scales::Any, 4).into();
    let b: Operand = quantized(n, k, (128, 128), FN, Scales::Any, 5).into();
    let bw = run("blockwise,out=f32", &a, &b);
    let ex = run("exact", &a, &b);
    let nb = k / 128;
    let u = 2f64.powi(-24);
    let mut differ = 0;
    for i in 0..m {
        for j in 0..n {
            // Σ over blocks of |S_b| · σ_b: each of the nb partial roundings and nb FMA roundings errs by at most
            // u times a quantity bounded by this magnitude sum, plus the final rounding of exact to f32.
            let mut mag = 0f64;
            for blk in 0..nb {
                let s: f64 = (blk * 128..(blk + 1) * 128)
                    .map(|kk| a.code_value(i, kk) as f64 * b.code_value(j, kk) as f64)
                    .sum();
                mag += s.abs() * (a.scale(i, blk * 128) as f64 * b.scale(j, blk * 128) as f64);
            }
            let (x, y) = (bw[i * n + j] as f64, ex[i * n + j] as f64);
            let bound = (2 * nb + 2) as f64 * u * mag * 1.0001;
            assert!(
                (x - y).abs() <= bound,
                "({i},{j}): blockwise {x} exact {y} bound {bound}"
            );
            differ += (x != y) as usize;
        }
    }
    assert!(
        differ > 0,
        "blockwise and exact should not be bit-identical on random data"
    );
}

#[test]
fn fused_and_left_scale_orders_round_differently() {
    // One block whose partial is 3; sa = 1 + 3·2^-23, sb = 1 + 10·2^-23 (f32 scales).
    // fused: fl32(3 · fl32(sa·sb)); left: fl32(fl32(3·sa)·sb).
    let (sa, sb) = (f32::from_bits(1065353219), f32::from_bits(1065353226));
    let a = op(1, 128, 1, |_, k| if k < 3 { 1.0 } else { 0.0 }, vec![sa]);
    let b = op(1, 128, 128, |_, _| 1.0, vec![sb]);
    let fused = 3f32.mul_add(sa * sb, 0.0);
    let left = 3f32 * sa * sb;
    assert_ne!(fused, left);
    assert_eq!(run("blockwise,out=f32", &a, &b), vec![fused]);
    assert_eq!(run("blockwise-v3,out=f32", &a, &b), vec![left]);
    assert_eq!(
        (fused as f64, left as f64),
        (3.000004768371582, 3.000004529953003)
    );
}

#[test]
fn split_k_sums_partial_gemms_at_the_end() {
    // σ·partial per block: 2^24, 1, 1, −2^24. One accumulator: 2^24 + 1 + 1 − 2^24 = 0 in f32 (each +1 is
    // lost at 2^24). Two splits: (2^24 + 1) + (1 − 2^24) = 2^24 + (−16777215) = 1.
    let vals = |_: usize, k: usize| match k / 128 {
        0 => 1.0,
        1 | 2 => (k % 128 == 0) as u8 as f32,
        _ => -1.0,
    };
    let a = op(
        1,
        512,
        1,
        vals,
        vec![2f32.powi(17), 1.0, 1.0, 2f32.powi(17)],
    );
    let b = op(1, 512, 128, |_, _| 1.0, vec![1.0; 4]);
    assert_eq!(run("blockwise,out=f32", &a, &b), vec![0.0]);
    assert_eq!(run("blockwise,out=f32,split_k=2", &a, &b), vec![1.0]);
    assert_eq!(run("blockwise,out=f32,split_k=4", &a, &b), vec![0.0]); // ((2^24 + 1) + 1) − 2^24
    assert_eq!(run("exact", &a, &b), vec![2.0]);
}

#[test]
fn bf16_output_rounds_the_f32_result_to_nearest_even() {
    // 257 = 2^8 (1 + 2^-8) is a bf16 tie → 256 (even); 258 is a bf16 value.
    let a = op(
        2,
        256,
        1,
        |r, k| {
            if k < 128 {
                2.0
            } else {
                (k == 128 || (r == 1 && k == 129)) as u8 as f32
            }
        },
        vec![1.0; 4],
    );
    let b = op(1, 256, 128, |_, _| 1.0, vec![1.0; 2]);
    assert_eq!(run("blockwise,out=f32", &a, &b), vec![257.0, 258.0]);
    assert_eq!(run("blockwise", &a, &b), vec![256.0, 258.0]);
    // On random data bf16 output is exactly bf16(f32 output).
    let a: Operand = quantized(4, 384, (1, 128), FN, Scales::Any, 8).into();
    let b: Operand = quantized(70, 384, (128, 128), FN, Scales::Any, 9).into();
    let f = run("blockwise,out=f32", &a, &b);
    let h = run("blockwise", &a, &b);
    assert!(f
        .iter()
        .zip(&h)
        .all(|(x, y)| half::bf16::from_f32(*x).to_f32().to_bits() == y.to_bits()));
    assert!(f.iter().zip(&h).any(|(x, y)| x != y));
    let t = gemm(&GemmSpec::parse("blockwise").unwrap(), &a, &b)
        .unwrap()
        .to_tensor("c")
        .unwrap();
    assert_eq!(
        (t.dtype, t.shape.clone()),
        (isolate::formats::DType::BF16, vec![4, 70])
    );
    assert_eq!(t.to_f32(), h);
}

fn err(spec: &str, a: &Operand, b: &Operand) -> Error {
    gemm(&GemmSpec::parse(spec).unwrap(), a, b).unwrap_err()
}

#[test]
fn bad_shapes_are_errors_not_panics() {
    let a: Operand = quantized(2, 256, (1, 128), FN, Scales::Pow2, 1).into();
    let b: Operand = quantized(3, 384, (128, 128), FN, Scales::Pow2, 2).into();
    let e = err("blockwise", &a, &b);
    assert!(
        matches!(&e, Error::BadTensor(m) if m.contains("inner dimensions disagree") && m.contains("[2, 256]") && m.contains("[3, 384]")),
        "{e}"
    );

    let mut bq = quantized(3, 256, (128, 128), FN, Scales::Pow2, 3);
    bq.scales.push(1.0);
    let e = err("blockwise", &a, &bq.into());
    assert!(
        matches!(&e, Error::BadTensor(m) if m.contains("weight") && m.contains("[1, 2] scale grid")),
        "{e}"
    );

    let a2: Operand = quantized(2, 200, (1, 128), FN, Scales::Pow2, 4).into();
    let b2: Operand = quantized(3, 200, (128, 128), FN, Scales::Pow2, 5).into();
    let e = err("blockwise", &a2, &b2);
    assert!(
        matches!(&e, Error::BadTensor(m) if m.contains("K = 200 is not a multiple")),
        "{e}"
    );
    // A dequantized (plain) GEMM has no blocks: any K works.
    assert_eq!(run("dequant-bf16", &a2, &b2).len(), 6);

    let mut short = quantized(2, 256, (1, 128), FN, Scales::Pow2, 6);
    short.q.pop();
    let e = err("blockwise", &short.into(), &b);
    assert!(
        matches!(&e, Error::BadTensor(m) if m.contains("activation") && m.contains("512 FP8 codes")),
        "{e}"
    );

    let b3: Operand = quantized(3, 256, (128, 128), FN, Scales::Pow2, 7).into();
    assert!(matches!(
        err("blockwise,split_k=3", &a, &b3),
        Error::Usage(_)
    ));
    let a4: Operand = quantized(2, 256, (1, 64), FN, Scales::Pow2, 8).into();
    assert!(
        matches!(err("blockwise", &a4, &b3), Error::Usage(m) if m.contains("promote=128 does not fit the activation's 64-wide"))
    );
    assert_eq!(run("blockwise,promote=64", &a4, &b3).len(), 6);
}
