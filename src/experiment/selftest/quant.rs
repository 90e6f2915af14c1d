//! Quant checks: the kernel quantizer (CUDA, or the kernel sources on simt-cpu) bit for bit against
//! `crate::quant::{quantize_activation, quantize_weight}` over every preset and every axis override, 1×G groups
//! (fast and generic kernels, padded partial groups) and 128×128 weight blocks, bf16 / f16 / f32 input, with edge
//! values planted (±0, subnormals, all-zero groups, ties and the 448/464/480 boundaries after scaling, ±inf and NaN
//! where the spec defines them).

use crate::backend::Backend;
use crate::error::Result;
use crate::experiment::selftest::Check;
use crate::formats::DType;
use crate::io::Tensor;
use crate::quant::spec::NanRule;
use crate::quant::{presets, quantize_activation, quantize_weight, QuantSpec, Quantized};
use crate::testdata::{edge_values, Rng};

/// The specs checked: every preset, then each axis moved away from a base.
fn specs() -> Vec<String> {
    let mut v: Vec<String> = presets::names()
        .into_iter()
        .filter(|n| *n != "none")
        .map(String::from)
        .collect();
    for o in [
        "deepgemm-ue8m0,code_clamp=no",
        "deepseek-v32,pow2=float-ceil",
        "deepseek-v32,pow2=float-ceil,code_clamp=yes",
        "deepseek-v32,pow2=nearest,code_clamp=yes",
        "deepseek-v32,pow2=floor",
        "deepseek-v32,pow2=even",
        "aiter,pow2=even,fp8=e5m2",
        "aiter,pow2=floor,fp8=e4m3fnuz",
        "vllm,eps_on=scale",
        "vllm,eps_on=both",
        "vllm,scale=mul,q=mul",
        "vllm,clamp=no,overflow=nan",
        "vllm,clamp=no,overflow=saturate",
        "deepgemm,fp8=e5m2",
        "deepgemm,fp8=e4m3fnuz,overflow=nan",
        "vllm,max=224,fp8=e4m3fnuz",
        "deepgemm,nan=ignore",
        "vllm,nan=propagate",
        "deepgemm,group=64",
        "deepgemm-ue8m0,group=32",
        "vllm-ue8m0,group=256",
        "deepgemm,group=100,pad=yes",
        "deepgemm-ue8m0,group=48,pad=yes",
    ] {
        v.push(o.to_string());
    }
    v
}

/// Whether `v` stays finite stored as `dtype` (f32::MAX or 65536 become inf in bf16 / f16).
fn finite_in(v: f32, dtype: DType) -> bool {
    match dtype {
        DType::BF16 => half::bf16::from_f32(v).is_finite(),
        DType::F16 => half::f16::from_f32(v).is_finite(),
        _ => v.is_finite(),
    }
}

/// A [rows, cols] input of `dtype`: scaled normals, with planted edges and one all-zero group per row block;
/// NaN/inf only when `nonfinite` (else only the edges that stay finite in `dtype`, so that a spec which
/// refuses non-finite input really compares codes).
fn input(rng: &mut Rng, rows: usize, cols: usize, dtype: DType, nonfinite: bool) -> Tensor {
    let edges: Vec<f32> = edge_values()
        .into_iter()
        .filter(|&v| nonfinite || finite_in(v, dtype))
        .collect();
    let mut v: Vec<f32> = (0..rows * cols)
        .map(|_| (rng.normal() * 2f64.powi(rng.below(16) as i32 - 8)) as f32)
        .collect();
    for _ in 0..(rows * cols) / 40 {
        let i = rng.below(v.len());
        v[i] = edges[rng.below(edges.len())];
    }
    // Ties after scaling: x = amax · (odd multiple of half a code step) / 448 relative to the row's first value.
    for r in 0..rows {
        let base = r * cols;
        if cols >= 8 {
            v[base] = 448.0;
            v[base + 1] = 464.0 / 448.0 * 448.0 * 0.5;
            v[base + 2] = -480.0 * 0.5;
        }
    }
    let zr = rng.below(rows);
    let zc = rng.below(cols.div_ceil(32)) * 32;
    for c in zc..(zc + 32).min(cols) {
        v[zr * cols + c] = 0.0;
    }
    let shape = vec![rows, cols];
    match dtype {
        DType::F32 => Tensor::from_f32("x", shape, &v).unwrap(),
        DType::BF16 => {
            let b = v
                .iter()
                .flat_map(|x| half::bf16::from_f32(*x).to_bits().to_le_bytes())
                .collect();
            Tensor::new("x", DType::BF16, shape, b).unwrap()
        }
        _ => {
            let b = v
                .iter()
                .flat_map(|x| half::f16::from_f32(*x).to_bits().to_le_bytes())
                .collect();
            Tensor::new("x", DType::F16, shape, b).unwrap()
        }
    }
}

fn compare(name: String, got: &Result<Quantized>, want: &Result<Quantized>) -> Check {
    match (got, want) {
        (Ok(g), Ok(w)) => {
            let mut c = Check::compare(
                name.clone(),
                &g.q,
                &w.q,
                |a, b| a == b,
                |i| {
                    format!(
                        "q[{}, {}] = {:#04x} vs cpu {:#04x}",
                        i / w.cols,
                        i % w.cols,
                        g.q[i],
                        w.q[i]
                    )
                },
            );
            // Scales bit for bit, except that any NaN equals any NaN: CUDA arithmetic returns the canonical
            // 0x7FFFFFFF where x86 keeps the operand's payload (0x7FC00000); `isolate quant` counts the same.
            let s = Check::compare(
                name,
                &g.scales,
                &w.scales,
                |a, b| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                |i| format!("scale[{i}] = {:e} vs cpu {:e}", g.scales[i], w.scales[i]),
            );
            c.n += s.n;
            c.mismatches += s.mismatches;
            c.first = c.first.or(s.first);
            c
        }
        (Err(a), Err(_)) => Check {
            name,
            n: 1,
            mismatches: 1,
            first: Some(format!("both refuse, so nothing was compared: {a}")),
        },
        (g, w) => Check {
            name,
            n: 1,
            mismatches: 1,
            first: Some(format!(
                "gpu {} vs cpu {}",
                g.as_ref()
                    .map(|_| "Ok".to_string())
                    .unwrap_or_else(|e| e.to_string()),
                w.as_ref()
                    .map(|_| "Ok".to_string())
                    .unwrap_or_else(|e| e.to_string())
            )),
        },
    }
}

/// A check that both sides refuse the input with the same message.
fn refusal(name: &str, got: &Result<Quantized>, want: &Result<Quantized>) -> Check {
    let (n, mismatches, first) = match (got, want) {
        (Err(g), Err(w)) if g.to_string() == w.to_string() => (1, 0, format!("both refuse: {g}")),
        (g, w) => (
            1,
            1,
            format!(
                "expected the same refusal; gpu {}, cpu {}",
                g.as_ref()
                    .map(|_| "Ok".into())
                    .unwrap_or_else(|e| e.to_string()),
                w.as_ref()
                    .map(|_| "Ok".into())
                    .unwrap_or_else(|e| e.to_string())
            ),
        ),
    };
    Check {
        name: name.into(),
        n,
        mismatches,
        first: Some(first),
    }
}

/// One GPU-vs-CPU quantization.
struct Case {
    name: String,
    spec: QuantSpec,
    x: Tensor,
    weight: bool,
}

/// The spec × input cases: every spec on an activation of the dtype its turn gives (bf16 too when that is not
/// bf16, for the fast kernel) and, unless it sets the group, on a weight.
fn cases(rng: &mut Rng) -> Result<Vec<Case>> {
    let mut v = Vec::new();
    for (i, s) in specs().iter().enumerate() {
        let spec = QuantSpec::parse(s)?;
        let nonfinite = spec.nan != NanRule::Reject;
        let dtype = [DType::BF16, DType::F16, DType::F32][i % 3];
        let g = spec.group;
        let cols = if spec.pad { g * 5 + g / 2 } else { g * 7 };
        let rows = 37 + i;
        let mut dtypes = vec![dtype];
        if dtype != DType::BF16 {
            dtypes.push(DType::BF16);
        }
        for d in dtypes {
            v.push(Case {
                name: format!("quant x {s} {d} [{rows}, {cols}]"),
                spec,
                x: input(rng, rows, cols, d, nonfinite),
                weight: false,
            });
        }
        if !s.contains("group") {
            let (n, k) = if spec.pad { (200, 300) } else { (256, 384) };
            v.push(Case {
                name: format!("quant w {s} {dtype} [{n}, {k}]"),
                spec,
                x: input(rng, n, k, dtype, nonfinite),
                weight: true,
            });
        }
    }
    Ok(v)
}

/// Every quant check on a kernel backend (CUDA, simt-cpu).
pub fn checks(be: &dyn Backend, seed: u64) -> Result<Vec<Check>> {
    let mut rng = Rng::new(seed ^ 0x0A47);
    let mut out = Vec::new();
    for c in cases(&mut rng)? {
        let (got, want) = if c.weight {
            (
                be.quantize_weight(&c.spec, &c.x),
                quantize_weight(&c.spec, &c.x),
            )
        } else {
            (
                be.quantize_activation(&c.spec, &c.x),
                quantize_activation(&c.spec, &c.x),
            )
        };
        out.push(compare(c.name, &got, &want));
    }
    // Non-finite input under nan=reject: both refuse with the same message (the only rows where a refusal
    // passes: a refusal anywhere else would compare nothing).
    let spec = QuantSpec::parse("deepseek-v32")?;
    let x = Tensor::from_f32(
        "x",
        vec![2, 128],
        &[vec![1.0f32; 200], vec![f32::NAN], vec![0.5; 55]].concat(),
    )?;
    out.push(refusal(
        "quant x deepseek-v32 NaN input (rejected)",
        &be.quantize_activation(&spec, &x),
        &quantize_activation(&spec, &x),
    ));
    // 65536 overflows f16 to inf.
    let spec = QuantSpec::parse("aiter")?;
    let x = input(&mut rng, 4, 256, DType::F32, false);
    let mut v = x.to_f32();
    v[300] = 65536.0;
    let b = v
        .iter()
        .flat_map(|x| half::f16::from_f32(*x).to_bits().to_le_bytes())
        .collect();
    let x = Tensor::new("x", DType::F16, vec![4, 256], b)?;
    out.push(refusal(
        "quant x aiter f16 inf input (rejected)",
        &be.quantize_activation(&spec, &x),
        &quantize_activation(&spec, &x),
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No spec refuses its selftest input (a refusal on both sides would compare nothing): specs that refuse
    /// NaN/inf get finite edges, also where f32 edges overflow bf16 / f16.
    #[test]
    fn every_case_is_accepted_by_the_cpu_reference() {
        for seed in [1, 5, 11] {
            let mut rng = Rng::new(seed ^ 0x0A47);
            for c in cases(&mut rng).unwrap() {
                let r = if c.weight {
                    quantize_weight(&c.spec, &c.x)
                } else {
                    quantize_activation(&c.spec, &c.x)
                };
                assert!(r.is_ok(), "{}: {}", c.name, r.unwrap_err());
            }
        }
    }
}
