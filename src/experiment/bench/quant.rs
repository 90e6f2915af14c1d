//! `isolate bench quant`: the 1×128 activation quantizer (default preset deepgemm-ue8m0, bf16 → e4m3 + f32 or
//! E8M0 scales) at M×K (default 16384×7168), GB/s as a fraction of the card's D2D copy bandwidth measured in the
//! same run, outputs checked byte for byte against the CPU; a user kernel (`--kernel FILE.cu[:ENTRY]`, quant ABI
//! v1) verified and timed beside it.

use crate::backend::cuda::quant::{kernel_for, launch_named, QuantBuffers};
use crate::backend::cuda::timing::{copy_bandwidth, time, time_synced};
use crate::backend::cuda::user;
use crate::backend::cuda::{gpu_err, CudaBackend};
use crate::error::Result;
use crate::experiment::bench::BenchRow;
use crate::formats::DType;
use crate::io::Tensor;
use crate::kernel_ref::KernelRef;
use crate::quant::{quantize_activation, QuantSpec};
use crate::testdata::Rng;

/// Options of `bench quant`.
pub struct QuantBench {
    pub m: usize,
    pub k: usize,
    pub spec: QuantSpec,
    pub reps: usize,
    pub kernel: Option<KernelRef>,
}

/// The measured figures.
pub struct QuantBenchReport {
    pub rows: Vec<BenchRow>,
    pub copy_gbs: f64,
    /// The copy timed with a synchronization after every repetition (the method of quant v1–v4, docs/kernels.md §3.5).
    pub copy_synced_gbs: f64,
    /// Whether every output equalled the CPU's bytes.
    pub all_equal: bool,
}

/// bf16 activations: normals of varied magnitude per row (row r drawn from its own seed, in parallel).
fn activations(seed: u64, m: usize, k: usize) -> Tensor {
    use rayon::prelude::*;
    let mut b = vec![0u8; m * k * 2];
    b.par_chunks_mut(k * 2).enumerate().for_each(|(r, row)| {
        let mut rng = Rng::new(seed ^ (r as u64).wrapping_mul(0x9E37_79B9));
        let s = 2f64.powi(rng.below(12) as i32 - 6);
        for c in row.chunks_exact_mut(2) {
            c.copy_from_slice(
                &half::bf16::from_f32((rng.normal() * s) as f32)
                    .to_bits()
                    .to_le_bytes(),
            );
        }
    });
    Tensor::new("x", DType::BF16, vec![m, k], b).expect("shape matches")
}

/// Runs the benchmark.
pub fn run(be: &CudaBackend, o: &QuantBench) -> Result<QuantBenchReport> {
    let (m, k, g) = (o.m, o.k, o.spec.group);
    let s = &be.stream;
    let user = o.kernel.as_ref().map(|kr| user::load(be, kr)).transpose()?;
    let x = activations(5, m, k);
    let want = quantize_activation(&o.spec, &x)?;
    // Two device copies of the input (each 2·M·K bytes, larger than L2), alternated.
    let xs = [
        s.clone_htod(x.bytes())
            .map_err(|e| gpu_err("copy to GPU", e))?,
        s.clone_htod(x.bytes())
            .map_err(|e| gpu_err("copy to GPU", e))?,
    ];
    let bytes_in = (m * k * 2) as f64;
    let copy = copy_bandwidth(be, m * k * 2, false)?;
    let copy_synced = copy_bandwidth(be, m * k * 2, true)?;
    let mut rows = Vec::new();
    let mut all_equal = true;
    let ng = m * k.div_ceil(g);
    let mut variants: Vec<(bool, &'static str)> = vec![(false, ""), (true, "")];
    if g == 128 {
        // docs/kernels.md §3.4–§3.8: v4 (16 bytes per thread) and its forms, v5 (32 bytes, one wave and flat), the v6
        // kernel with a one-wave grid, 128 bytes per thread; the default timed with a synchronization after every
        // repetition.
        variants.extend(
            [
                "quant_act_fast16",
                "quant_act_fast16_u1",
                "quant_act_fast16_u4",
                "quant_act_w32_8",
                "quant_act_w32_8+flat",
                "quant_act_w64_4",
                "quant_act_w128_2+flat",
                "quant_act_w64_4_v6+flat",
                "synced",
            ]
            .map(|v| (false, v)),
        );
    }
    for (e8m0, variant) in variants {
        let synced = variant == "synced";
        let variant = if synced { "" } else { variant };
        let mut bufs = vec![];
        for xd in &xs {
            bufs.push(QuantBuffers::new(
                be,
                xd.try_clone().map_err(|e| gpu_err("alloc", e))?,
                DType::BF16,
                m,
                k,
                1,
                g,
                e8m0,
            )?);
        }
        let name = if variant.is_empty() {
            kernel_for(&bufs[0]).0
        } else {
            variant
        };
        let launch = |i: usize| launch_named(be, &o.spec, &mut bufs[i % 2], name);
        let t = if synced {
            time_synced(be, 3, o.reps, launch)?
        } else {
            time(be, 3, o.reps, launch)?
        };
        let q = s.clone_dtoh(&bufs[0].q).map_err(|e| gpu_err("quant", e))?;
        let sb = s.clone_dtoh(&bufs[0].s).map_err(|e| gpu_err("quant", e))?;
        let q_ok = q[..m * k] == want.q[..];
        let s_ok = if e8m0 {
            sb[..ng]
                .iter()
                .zip(&want.scales)
                .all(|(&c, w)| c as u32 == (w.to_bits() >> 23) & 0xFF)
        } else {
            sb[..ng * 4]
                .chunks_exact(4)
                .zip(&want.scales)
                .all(|(c, w)| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) == w.to_bits())
        };
        all_equal &= q_ok && s_ok;
        let moved = bytes_in + (m * k) as f64 + (ng * if e8m0 { 1 } else { 4 }) as f64;
        let gbs = moved / (t.median() * 1e-3) / 1e9;
        rows.push(BenchRow {
            name: format!(
                "{} ({name}, {} scales{})",
                o.spec,
                if e8m0 { "e8m0" } else { "f32" },
                if synced { ", synced per rep" } else { "" }
            ),
            median_ms: t.median(),
            min_ms: t.min(),
            rate: gbs,
            of_baseline: gbs * 1e9 / if synced { copy_synced } else { copy },
            baseline: "D2D copy".into(),
            check: if q_ok && s_ok {
                "byte-equal to CPU".into()
            } else {
                format!("MISMATCH (codes {q_ok}, scales {s_ok})")
            },
        });
    }
    if g == 128 {
        rows.extend(crate::experiment::bench::traffic::rows(
            be,
            &xs,
            m * k * 2,
            copy,
            o.reps,
        )?);
    }
    if let Some(uk) = &user {
        let mut q = s
            .alloc_zeros::<u8>(m * k)
            .map_err(|e| gpu_err("alloc", e))?;
        let mut sc = s.alloc_zeros::<f32>(ng).map_err(|e| gpu_err("alloc", e))?;
        let (q0, s0) = user::run_quant(be, uk, x.bytes(), DType::BF16, m, k, g)?;
        let q_eq = q0.iter().zip(&want.q).filter(|(a, b)| a == b).count();
        let s_eq = s0
            .iter()
            .zip(&want.scales)
            .filter(|(a, b)| a.to_bits() == b.to_bits())
            .count();
        all_equal &= q_eq == m * k && s_eq == ng;
        let t = time(be, 3, o.reps, |i| {
            user::launch_quant(be, uk, &xs[i % 2], DType::BF16, &mut q, &mut sc, m, k, g)
        })?;
        let moved = bytes_in + (m * k) as f64 + (ng * 4) as f64;
        let gbs = moved / (t.median() * 1e-3) / 1e9;
        rows.push(BenchRow {
            name: format!("user {}::{}", uk.path.display(), uk.entry),
            median_ms: t.median(),
            min_ms: t.min(),
            rate: gbs,
            of_baseline: gbs * 1e9 / copy,
            baseline: "D2D copy".into(),
            check: if q_eq == m * k && s_eq == ng {
                format!("byte-equal to {}", o.spec)
            } else {
                format!(
                    "codes {:.6} equal, scales {:.6} equal vs {}",
                    q_eq as f64 / (m * k) as f64,
                    s_eq as f64 / ng as f64,
                    o.spec
                )
            },
        });
    }
    Ok(QuantBenchReport {
        rows,
        copy_gbs: copy / 1e9,
        copy_synced_gbs: copy_synced / 1e9,
        all_equal,
    })
}
