//! Quant checks: the GPU quantizer bit for bit against `crate::quant::{quantize_activation, quantize_weight}`
//! over every preset and every axis override, 1×G groups (fast and generic kernels, padded partial groups) and
//! 128×128 weight blocks, bf16 / f16 / f32 input, with edge values planted (±0, subnormals, all-zero groups,
//! ties and the 448/464/480 boundaries after scaling, ±inf and NaN where the spec defines them).

use crate::backend::cuda::quant::quantize;
use crate::backend::cuda::CudaBackend;
use crate::error::Result;
use crate::experiment::selftest::data::{edge_values, Rng};
use crate::experiment::selftest::Check;
use crate::formats::DType;
use crate::io::Tensor;
use crate::quant::spec::NanRule;
use crate::quant::{presets, quantize_activation, quantize_weight, QuantSpec, Quantized};

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

/// A [rows, cols] input of `dtype`: scaled normals, with planted edges and one all-zero group per row block;
/// NaN/inf only when `nonfinite`.
fn input(rng: &mut Rng, rows: usize, cols: usize, dtype: DType, nonfinite: bool) -> Tensor {
    let edges: Vec<f32> = edge_values()
        .into_iter()
        .filter(|v| nonfinite || v.is_finite())
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
            mismatches: 0,
            first: Some(format!("both refuse: {a}")),
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

/// Every quant check on a CUDA backend.
pub fn checks(be: &CudaBackend, seed: u64) -> Result<Vec<Check>> {
    let mut rng = Rng::new(seed ^ 0x0A47);
    let mut out = Vec::new();
    for (i, s) in specs().iter().enumerate() {
        let spec = QuantSpec::parse(s)?;
        let nonfinite = spec.nan != NanRule::Reject;
        let dtype = [DType::BF16, DType::F16, DType::F32][i % 3];
        let g = spec.group;
        let cols = if spec.pad { g * 5 + g / 2 } else { g * 7 };
        let rows = 37 + i;
        let x = input(&mut rng, rows, cols, dtype, nonfinite);
        out.push(compare(
            format!("quant x {s} {dtype} [{rows}, {cols}]"),
            &quantize(be, &spec, &x, false),
            &quantize_activation(&spec, &x),
        ));
        if dtype != DType::BF16 {
            // The fast kernel takes bf16; check it on every preset too.
            let xb = input(&mut rng, rows, cols, DType::BF16, nonfinite);
            out.push(compare(
                format!("quant x {s} bf16 [{rows}, {cols}]"),
                &quantize(be, &spec, &xb, false),
                &quantize_activation(&spec, &xb),
            ));
        }
        if !s.contains("group") {
            let (n, k) = if spec.pad { (200, 300) } else { (256, 384) };
            let w = input(&mut rng, n, k, dtype, nonfinite);
            out.push(compare(
                format!("quant w {s} {dtype} [{n}, {k}]"),
                &quantize(be, &spec, &w, true),
                &quantize_weight(&spec, &w),
            ));
        }
    }
    // NaN input under nan=reject: both refuse with the same message.
    let spec = QuantSpec::parse("deepseek-v32")?;
    let x = Tensor::from_f32(
        "x",
        vec![2, 128],
        &[vec![1.0f32; 200], vec![f32::NAN], vec![0.5; 55]].concat(),
    )?;
    out.push(compare(
        "quant x deepseek-v32 NaN input (rejected)".into(),
        &quantize(be, &spec, &x, false),
        &quantize_activation(&spec, &x),
    ));
    Ok(out)
}
