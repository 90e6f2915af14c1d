//! GEMM checks: the `blockwise` kernel bit for bit against the CPU block-exact definition on random shapes,
//! every promote interval / scale order / split / output format, e4m3fn and e4m3fnuz operands with edge codes
//! (±0, subnormals, ±448, NaN, all-zero rows); then the tensor-core GEMMs and cuBLASLt against blockwise by
//! relative error (they are real hardware accumulations, not exact definitions).

use rayon::prelude::*;

use crate::backend::cuda::cublaslt::{lt_scaling, LtGemm};
use crate::backend::cuda::gemm::{blockwise, BlockwiseArgs};
use crate::backend::cuda::tc::{tc, TcKind};
use crate::backend::cuda::CudaBackend;
use crate::error::Result;
use crate::experiment::bench::rel_l2;
use crate::experiment::selftest::Check;
use crate::formats::Fp8Format;
use crate::quant::Quantized;
use crate::testdata::{random_quantized, Codes, Rng, Scales};

/// The block-exact definition (docs/numerics.md §8.2, §8.3, `acc=block-exact`), directly: for each promotion
/// interval p = fl32(Σ decode(a)·decode(b)) — the f64 sum is exact for e4m3 operands — then
/// fused c = fma(p, fl32(sa·sb), c) or left c = fl32(fl32(fl32(p·sa)·sb) + c); splits added in f32 in
/// order; bf16 output rounded to nearest-even.
pub fn block_exact_reference(a: &Quantized, b: &Quantized, args: &BlockwiseArgs) -> Vec<f32> {
    let (m, n, k) = (a.rows, b.rows, a.cols);
    let (ta, tb) = (a.fmt.table(), b.fmt.table());
    let n_int = k / args.interval;
    let s = args.split_k;
    let mut out = vec![0f32; m * n];
    out.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        for (j, o) in row.iter_mut().enumerate() {
            let mut total = 0f32;
            for sp in 0..s {
                let mut c = 0f32;
                for iv in sp * n_int / s..(sp + 1) * n_int / s {
                    let k0 = iv * args.interval;
                    let mut sum = 0f64;
                    for kk in k0..k0 + args.interval {
                        sum += ta[a.q[i * k + kk] as usize] as f64
                            * tb[b.q[j * k + kk] as usize] as f64;
                    }
                    let p = sum as f32;
                    let (sa, sb) = (a.scale_at(i, k0), b.scale_at(j, k0));
                    c = if args.left {
                        p * sa * sb + c
                    } else {
                        p.mul_add(sa * sb, c)
                    };
                }
                total = if sp == 0 { c } else { total + c };
            }
            *o = if args.out_bf16 {
                half::bf16::from_f32(total).to_f32()
            } else {
                total
            };
        }
    });
    out
}

/// Plants edge codes in an operand: ±0, subnormals, ±max, NaN (when `nan`), and all-zero rows.
fn plant_edges(rng: &mut Rng, x: &mut Quantized, nan: bool) {
    let fmt = x.fmt;
    let mut codes = vec![
        0x00u8,
        0x01,
        0x02,
        0x07,
        0x08,
        0x81,
        0x87,
        fmt.max_code(),
        fmt.max_code() | 0x80,
    ];
    if fmt != Fp8Format::E4m3fnuz {
        codes.push(0x80);
    }
    let total = x.q.len();
    for _ in 0..total / 50 {
        let i = rng.below(total);
        x.q[i] = codes[rng.below(codes.len())];
    }
    if nan {
        let i = rng.below(total);
        x.q[i] = if fmt == Fp8Format::E4m3fnuz {
            0x80
        } else {
            0x7F
        };
    }
    let zr = rng.below(x.rows);
    x.q[zr * x.cols..(zr + 1) * x.cols]
        .iter_mut()
        .for_each(|c| *c = 0);
}

fn same_f32(a: &f32, b: &f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// The blockwise kernel variants every case runs with each promote interval: (scale order `left` —
/// fl32(fl32(p·sa)·sb) instead of fused p·fl32(sa·sb) —, split-K parts, bf16 output).
const BLOCKWISE_VARIANTS: [(bool, usize, bool); 4] = [
    (false, 1, true),
    (true, 1, false),
    (false, 2, false),
    (true, 3, true),
];

/// Every GEMM check on a CUDA backend.
pub fn checks(be: &CudaBackend, seed: u64) -> Result<Vec<Check>> {
    let mut rng = Rng::new(seed ^ 0x6E44);
    let mut out = Vec::new();
    let cases: &[(usize, usize, usize, Fp8Format, Fp8Format, usize)] = &[
        (70, 150, 512, Fp8Format::E4m3fn, Fp8Format::E4m3fn, 128),
        (128, 256, 384, Fp8Format::E4m3fn, Fp8Format::E4m3fn, 128),
        (33, 130, 256, Fp8Format::E4m3fnuz, Fp8Format::E4m3fn, 128),
        (64, 64, 256, Fp8Format::E4m3fn, Fp8Format::E4m3fn, 64),
        (1, 17, 128, Fp8Format::E4m3fnuz, Fp8Format::E4m3fnuz, 128),
    ];
    for (ci, &(m, n, k, fa, fb, ga)) in cases.iter().enumerate() {
        let mut a = random_quantized(
            &mut rng,
            m,
            k,
            (1, ga),
            fa,
            Codes::Normal,
            if ci % 2 == 0 {
                Scales::Pow2
            } else {
                Scales::Any
            },
        );
        let mut b = random_quantized(
            &mut rng,
            n,
            k,
            (128, 128),
            fb,
            Codes::Normal,
            if ci % 2 == 1 {
                Scales::Pow2
            } else {
                Scales::Any
            },
        );
        plant_edges(&mut rng, &mut a, ci == 0);
        plant_edges(&mut rng, &mut b, false);
        for &interval in &[32usize, 64, 128] {
            if ga % interval != 0 {
                continue;
            }
            for &(left, split_k, out_bf16) in &BLOCKWISE_VARIANTS {
                if split_k > k / interval {
                    continue;
                }
                let args = BlockwiseArgs {
                    interval,
                    split_k,
                    left,
                    out_bf16,
                };
                let got = blockwise(be, &a, &b, &args)?;
                // The CPU twin: crate::gemm's block-exact emulation of the same spec (and, as a second
                // opinion, the definition written out directly here).
                let spec = crate::gemm::GemmSpec::parse(&format!(
                    "blockwise,promote={interval},scale_order={},split_k={split_k},out={}",
                    if left { "left" } else { "fused" },
                    if out_bf16 { "bf16" } else { "f32" }
                ))?;
                let (oa, ob) = (a.clone().into(), b.clone().into());
                let want = crate::gemm::gemm(&spec, &oa, &ob)?.values;
                let direct = block_exact_reference(&a, &b, &args);
                let agree = want.iter().zip(&direct).all(|(x, y)| same_f32(x, y));
                if !agree {
                    out.push(Check {
                        name: format!(
                            "gemm block-exact definition vs crate::gemm {m}×{n}×{k} {spec}"
                        ),
                        n: want.len(),
                        mismatches: 1,
                        first: Some("the direct definition and crate::gemm disagree".into()),
                    });
                }
                let name = format!(
                    "gemm blockwise {m}×{n}×{k} {}·{} P={interval} {} split={split_k} {}",
                    fa.name(),
                    fb.name(),
                    if left { "left" } else { "fused" },
                    if out_bf16 { "bf16" } else { "f32" }
                );
                out.push(Check::compare(name, &got, &want, same_f32, |i| {
                    format!(
                        "C[{}, {}] = {:e} vs cpu {:e}",
                        i / n,
                        i % n,
                        got[i],
                        want[i]
                    )
                }));
            }
        }
    }
    out.extend(hardware_checks(be, &mut rng)?);
    Ok(out)
}

/// A relative-error check: passes when ‖got − want‖/‖want‖ ≤ tol.
fn rel_check(name: String, got: &[f32], want: &[f32], tol: f64) -> Check {
    let r = rel_l2(got, want);
    Check {
        name,
        n: want.len(),
        mismatches: if r <= tol { 0 } else { want.len() },
        first: Some(format!("rel {r:.2e} (tolerance {tol:.0e})")),
    }
}

/// tc, tc-fast-accum and cuBLASLt against blockwise (f32 outputs, no NaN).
fn hardware_checks(be: &CudaBackend, rng: &mut Rng) -> Result<Vec<Check>> {
    let mut out = Vec::new();
    let (m, n, k) = (200, 272, 1024);
    let a = random_quantized(
        rng,
        m,
        k,
        (1, 128),
        Fp8Format::E4m3fn,
        Codes::Normal,
        Scales::Any,
    );
    let b = random_quantized(
        rng,
        n,
        k,
        (128, 128),
        Fp8Format::E4m3fn,
        Codes::Normal,
        Scales::Any,
    );
    let args = BlockwiseArgs {
        interval: 128,
        split_k: 1,
        left: false,
        out_bf16: false,
    };
    let exact = blockwise(be, &a, &b, &args)?;
    let got = tc(be, TcKind::Promote, &a, &b, false)?;
    let kind = if crate::backend::cuda::wgmma::wgmma_fits(be, &a, &b) {
        "wgmma"
    } else {
        "mma.sync"
    };
    out.push(rel_check(
        format!("gemm tc ({kind}) {m}×{n}×{k} vs blockwise"),
        &got,
        &exact,
        1e-3,
    ));
    let got = tc(be, TcKind::PromoteMma, &a, &b, false)?;
    out.push(rel_check(
        format!("gemm tc (mma.sync) {m}×{n}×{k} vs blockwise"),
        &got,
        &exact,
        1e-3,
    ));
    let bf = tc(be, TcKind::Promote, &a, &b, true)?;
    let bad = bf
        .iter()
        .filter(|v| half::bf16::from_f32(**v).to_f32().to_bits() != v.to_bits())
        .count();
    out.push(Check {
        name: format!("gemm tc {m}×{n}×{k} out=bf16 values are bf16"),
        n: bf.len(),
        mismatches: bad,
        first: None,
    });
    // Row-constant scales for fast accumulation.
    let (fa, fb) = (a.with_row_constant_scales(), b.with_row_constant_scales());
    let exact_flat = blockwise(be, &fa, &fb, &args)?;
    let got = tc(be, TcKind::FastAccum, &fa, &fb, false)?;
    out.push(rel_check(
        format!("gemm tc-fast-accum {m}×{n}×{k} vs blockwise"),
        &got,
        &exact_flat,
        1e-3,
    ));
    if lt_scaling(&a, &b).is_ok() {
        match LtGemm::new(be, &a, &b, false) {
            Ok(lt) => {
                let got = lt.run_host(be)?;
                out.push(rel_check(
                    format!("gemm cublaslt {m}×{n}×{k} vs blockwise"),
                    &got,
                    &exact,
                    1e-3,
                ));
            }
            Err(e) => out.push(Check {
                name: "gemm cublaslt".into(),
                n: 0,
                mismatches: 1,
                first: Some(e.to_string()),
            }),
        }
    }
    Ok(out)
}

/// The GEMM kernels of a backend without CUDA's (simt-cpu, hip) through `Backend::gemm`, bit for bit against
/// the CPU definition: `blockwise` (kernels/gemm_blockwise.cu) on e4m3fn and e4m3fnuz operands with every
/// scale order and a split, and `cdna3-blockwise` (kernels/gemm_mfma.cu, the MFMA model) on e4m3fnuz. Shapes
/// are small: the CPU executor runs them too. A spec the backend hands to the CPU is still compared (and its
/// note says so).
pub fn backend_checks(be: &dyn crate::backend::Backend, seed: u64) -> Result<Vec<Check>> {
    use crate::gemm::{gemm, GemmSpec, Operand};
    let mut rng = Rng::new(seed ^ 0x4D46_4D41);
    let mut out = Vec::new();
    for (fmt, specs) in [
        (
            Fp8Format::E4m3fn,
            &["blockwise", "blockwise-v3,split_k=2,out=f32"][..],
        ),
        (
            Fp8Format::E4m3fnuz,
            &[
                "blockwise,promote=64",
                "cdna3-blockwise",
                "cdna3-blockwise,split_k=2,scale_order=left,out=f32",
            ][..],
        ),
    ] {
        let a = random_quantized(&mut rng, 33, 256, (1, 128), fmt, Codes::Groups, Scales::Any);
        let b = random_quantized(
            &mut rng,
            48,
            256,
            (128, 128),
            fmt,
            Codes::Groups,
            Scales::Any,
        );
        let (oa, ob) = (Operand::Quantized(a), Operand::Quantized(b));
        for s in specs {
            let spec = GemmSpec::parse(s)?;
            let got = be.gemm(&spec, &oa, &ob, &|_, _| {})?;
            let want = gemm(&spec, &oa, &ob)?;
            out.push(Check::compare(
                format!("gemm {s} {fmt:?} 33×48×256 ({})", be.name()),
                &got.values,
                &want.values,
                |x, y| x.to_bits() == y.to_bits(),
                |i| {
                    format!(
                        "C[{}][{}] = {:e}, cpu {:e}",
                        i / 48,
                        i % 48,
                        got.values[i],
                        want.values[i]
                    )
                },
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block-exact definition the GPU kernel was checked against on the H100 equals `crate::gemm`'s CPU
    /// emulation on the selftest's operands (edge codes and NaN included), for every axis the kernel covers.
    #[test]
    fn direct_definition_equals_crate_gemm() {
        let mut rng = Rng::new(17);
        for (ci, &(m, n, k, fa, fb)) in [
            (
                70usize,
                150usize,
                512usize,
                Fp8Format::E4m3fn,
                Fp8Format::E4m3fn,
            ),
            (33, 130, 256, Fp8Format::E4m3fnuz, Fp8Format::E4m3fn),
        ]
        .iter()
        .enumerate()
        {
            let mut a = random_quantized(
                &mut rng,
                m,
                k,
                (1, 128),
                fa,
                Codes::Normal,
                if ci == 0 { Scales::Pow2 } else { Scales::Any },
            );
            let mut b = random_quantized(
                &mut rng,
                n,
                k,
                (128, 128),
                fb,
                Codes::Normal,
                if ci == 1 { Scales::Pow2 } else { Scales::Any },
            );
            plant_edges(&mut rng, &mut a, ci == 0);
            plant_edges(&mut rng, &mut b, false);
            for interval in [32, 64, 128] {
                for (left, split_k, out_bf16) in BLOCKWISE_VARIANTS {
                    if split_k > k / interval {
                        continue;
                    }
                    let args = BlockwiseArgs {
                        interval,
                        split_k,
                        left,
                        out_bf16,
                    };
                    let spec = crate::gemm::GemmSpec::parse(&format!(
                        "blockwise,promote={interval},scale_order={},split_k={split_k},out={}",
                        if left { "left" } else { "fused" },
                        if out_bf16 { "bf16" } else { "f32" }
                    ))
                    .unwrap();
                    let want = crate::gemm::gemm(&spec, &a.clone().into(), &b.clone().into())
                        .unwrap()
                        .values;
                    let direct = block_exact_reference(&a, &b, &args);
                    let bad = want
                        .iter()
                        .zip(&direct)
                        .filter(|(x, y)| !same_f32(x, y))
                        .count();
                    assert_eq!(bad, 0, "{spec} on case {ci}");
                }
            }
        }
    }
}
