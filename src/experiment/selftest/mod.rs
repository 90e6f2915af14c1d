//! `isolate selftest`: every kernel of a backend against its CPU twin on random shapes and edge values, bit for
//! bit. What a user runs on a new machine, and what CI-less GPU work is checked with.

use crate::backend::{BackendKind, Device};
use crate::error::Result;

pub mod codecs;
pub mod compare;
pub mod gemm;
pub mod quant;
pub mod tc_twin;

/// The outcome of one check.
#[derive(Clone, Debug)]
pub struct Check {
    /// What was compared (kernel and parameters).
    pub name: String,
    /// Elements compared.
    pub n: usize,
    /// Elements that differ.
    pub mismatches: usize,
    /// The first difference, described.
    pub first: Option<String>,
}

impl Check {
    pub fn passed(&self) -> bool {
        self.mismatches == 0 && self.n > 0
    }

    /// Compares two equally long outputs with `same`, describing the first difference with `show(i)`.
    pub fn compare<T>(
        name: impl Into<String>,
        got: &[T],
        want: &[T],
        same: impl Fn(&T, &T) -> bool,
        show: impl Fn(usize) -> String,
    ) -> Check {
        let name = name.into();
        if got.len() != want.len() {
            return Check {
                name,
                n: want.len(),
                mismatches: want.len().max(1),
                first: Some(format!("length {} ≠ {}", got.len(), want.len())),
            };
        }
        let mut mismatches = 0;
        let mut first = None;
        for i in 0..want.len() {
            if !same(&got[i], &want[i]) {
                if first.is_none() {
                    first = Some(show(i));
                }
                mismatches += 1;
            }
        }
        Check {
            name,
            n: want.len(),
            mismatches,
            first,
        }
    }
}

/// Selftest options.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Seed of the random inputs.
    pub seed: u64,
    /// Elements per codec check.
    pub codec_n: usize,
    /// Also sweep every f32 bit pattern through the encoders (float-ceil over all 2^31 magnitudes).
    pub exhaustive: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: 0x150_1A7E,
            codec_n: 1 << 20,
            exhaustive: false,
        }
    }
}

/// Runs every check of `device` against the CPU.
pub fn checks(device: &Device, opt: &Options) -> Result<Vec<Check>> {
    let mut checks = codecs::checks(device.backend(), opt)?;
    match device {
        Device::Cuda(cuda) => {
            checks.extend(quant::checks(cuda.as_ref(), opt.seed)?);
            checks.extend(gemm::checks(cuda, opt.seed)?);
            checks.extend(tc_twin::checks(cuda, opt.seed)?);
            checks.extend(compare::checks(opt.seed, &|a, b, sides, n, shape| {
                crate::backend::cuda::compare::compare_bytes(cuda, a, b, sides, n, shape)
            })?);
        }
        // The quantizer and GEMM kernel sources on the CPU executor, or on an AMD GPU.
        Device::Simt(simt) => {
            checks.extend(quant::checks(simt, opt.seed)?);
            checks.extend(gemm::backend_checks(simt, opt.seed)?);
            let m = crate::backend::simt::builtin("compare", crate::backend::simt::Mode::Cuda)?;
            checks.extend(compare::checks(opt.seed, &|a, b, sides, n, shape| {
                crate::backend::simt::kernels::compare(m, 32, a, b, sides, n, shape)
            })?);
        }
        Device::Hip(hip) => {
            checks.extend(quant::checks(hip.as_ref(), opt.seed)?);
            checks.extend(gemm::backend_checks(hip.as_ref(), opt.seed)?);
        }
        Device::Cpu(_) => {}
    }
    if opt.exhaustive {
        checks.extend(codecs::exhaustive(device)?);
    }
    Ok(checks)
}

/// What `isolate selftest` found.
pub struct SelftestReport {
    /// The backend's name and device line.
    pub backend: String,
    pub checks: Vec<Check>,
    /// Why `auto` fell back to the CPU.
    pub fallback: Option<String>,
}

impl SelftestReport {
    /// How many checks failed.
    pub fn failed(&self) -> usize {
        self.checks.iter().filter(|c| !c.passed()).count()
    }
    /// Exit 0 when every check passed, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        (self.failed() > 0) as i32
    }
}

/// Opens the backend `kind` asks for and runs every check on it.
pub fn run(kind: BackendKind, opt: &Options) -> Result<SelftestReport> {
    let selected = crate::backend::select(kind)?;
    let be = selected.backend();
    Ok(SelftestReport {
        backend: format!("{} — {}", be.name(), be.describe()),
        checks: checks(&selected.device, opt)?,
        fallback: selected.fallback,
    })
}
