//! `fingerprint --backend cuda`: the best variants of a fingerprint re-run by a GPU quantizer and checked
//! against the dump, so that a user sees the GPU kernels reproduce their data (and agree with the CPU search).

use crate::backend::Backend;
use crate::error::Result;
use crate::experiment::quant::fingerprint::Fingerprint;
use crate::io::Tensor;

/// What the GPU re-run found.
#[derive(Clone, Debug)]
pub struct GpuCheck {
    /// Backend name and device line.
    pub device: String,
    /// Variants re-run (the best ones, at most the cap).
    pub checked: usize,
    /// Of those, how many reproduce every code and scale of the dump on the GPU.
    pub reproduce: usize,
    /// How many the CPU search says reproduce every group.
    pub cpu_reproduce: usize,
    /// Variants the GPU refused (e.g. a source that rejects non-finite input), with the reason.
    pub refused: Vec<(String, String)>,
    /// Variants whose GPU result disagrees with the CPU verdict.
    pub disagree: Vec<String>,
}

/// Scales equal bit for bit, or both NaN (a GPU returns the canonical NaN, x86 keeps the payload).
fn same_scale(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Re-runs up to `max` of the best variants of `f` on `be` over `x` and compares with the dumped codes `q`
/// and scale values `scales` (row-major `[M, ceil(K/G)]`).
pub fn gpu_check(
    be: &dyn Backend,
    f: &Fingerprint,
    x: &Tensor,
    q: &[u8],
    scales: &[f32],
    max: usize,
) -> Result<GpuCheck> {
    let best = &f.best()[..f.best().len().min(max)];
    let mut c = GpuCheck {
        device: be.describe(),
        checked: best.len(),
        reproduce: 0,
        cpu_reproduce: 0,
        refused: Vec::new(),
        disagree: Vec::new(),
    };
    for v in best {
        let cpu_ok = v.exact == f.groups;
        c.cpu_reproduce += cpu_ok as usize;
        match be.quantize_activation(&v.spec, x) {
            Err(e) => c.refused.push((v.label.clone(), e.to_string())),
            Ok(out) => {
                let ok = out.q == q
                    && out.scales.len() == scales.len()
                    && out
                        .scales
                        .iter()
                        .zip(scales)
                        .all(|(&a, &b)| same_scale(a, b));
                c.reproduce += ok as usize;
                if ok != cpu_ok {
                    c.disagree.push(v.label.clone());
                }
            }
        }
    }
    Ok(c)
}
