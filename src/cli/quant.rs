//! `isolate quant --input F.. [--name R=T].. --reference Q --candidate Q|dumped [--xs-layout L] [--fp8 F]
//! [--show N] [--json PATH|-]`

use std::path::PathBuf;

use clap::Args;

use crate::backend::{self, BackendArg};
use crate::error::{Error, Result};
use crate::experiment::quant_verify::{verify_with, Candidate};
use crate::formats::Fp8Format;
use crate::io::Roles;
use crate::quant::layout::XsLayout;
use crate::quant::QuantSpec;
use crate::report::json::write_json;
use crate::report::quant::{render, to_json};

/// The presets and axes, shown under `--help` of `quant` (and `gemm`'s quant flags).
pub const SPEC_HELP: &str = "Quant specs: PRESET[,AXIS=VALUE]...
  presets: deepseek-v32, deepseek-v32-ue8m0 (DeepSeek-V3.2 TileLang act_quant), deepgemm, deepgemm-ue8m0
           (DeepGEMM per_token_cast_to_fp8), vllm, vllm-ue8m0 (vLLM CUDA per_token_group_quant), torch-e8m0
           (ATOM act_quant_inplace), aiter, aiter-fnuz (aiter HIP per-group quant), none
  axes:    fp8=e4m3fn|e4m3fnuz|e5m2  max=N  eps=N|none  eps_on=amax|scale|both  scale=div|mul
           pow2=none|ceil|float-ceil|nearest|floor|even  code_clamp=yes|no  q=div|mul  clamp=yes|no
           overflow=saturate|nan  nan=propagate|ignore|reject  pad=yes|no  group=G
  e.g.     deepgemm-ue8m0,eps=1e-10    vllm-ue8m0,pow2=ceil    aiter-fnuz,max=224";

#[derive(Args, Debug)]
#[command(after_help = SPEC_HELP)]
pub struct QuantArgs {
    /// Tensor files holding x (and xq, xs for `--candidate dumped`).
    #[arg(long = "input", required = true, value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
    /// Map a role (x, xq, xs) to a tensor name: `--name x=layer0.attn.qr`.
    #[arg(long = "name", value_name = "ROLE=TENSOR")]
    pub names: Vec<String>,
    /// The reference quantizer: `preset[,axis=value]...` (e.g. deepgemm-ue8m0).
    #[arg(long)]
    pub reference: String,
    /// The candidate: a quant spec, `dumped` to take the tensors xq and xs from the inputs, or
    /// `kernel:FILE.cu[:ENTRY]`, a CUDA kernel compiled with NVRTC and run on the GPU (ABI: README "GPU").
    #[arg(long)]
    pub candidate: String,
    #[command(flatten)]
    pub backend: BackendArg,
    /// Layout of a dumped xs: row | col | tma | packed-ue8m0.
    #[arg(long, default_value = "row")]
    pub xs_layout: String,
    /// FP8 format of a raw u8 xq: e4m3fn | e4m3fnuz | e5m2 (default: the reference's).
    #[arg(long)]
    pub fp8: Option<String>,
    /// How many differing codes and groups to list.
    #[arg(long, default_value_t = 10)]
    pub show: usize,
    /// Write the result as JSON to PATH (`-` = stdout, replacing the table).
    #[arg(long, value_name = "PATH")]
    pub json: Option<String>,
}

/// Parses `--fp8`.
pub fn parse_fp8(s: &Option<String>) -> Result<Option<Fp8Format>> {
    s.as_deref()
        .map(|f| {
            Fp8Format::parse(f).ok_or_else(|| {
                Error::Usage(format!(
                    "unknown --fp8 '{f}': expected e4m3fn, e4m3fnuz or e5m2"
                ))
            })
        })
        .transpose()
}

pub fn run(a: QuantArgs) -> Result<i32> {
    let reference = QuantSpec::parse(&a.reference)?;
    let layout = XsLayout::parse(&a.xs_layout)?;
    let fp8 = parse_fp8(&a.fp8)?;
    let roles = Roles::new(
        crate::io::load_all(&a.inputs)?,
        &a.names,
        &["x", "xq", "xs"],
    )?;
    let x = roles.get("x")?;
    let kernel = crate::backend::cuda::user::KernelRef::parse(&a.candidate);
    if let Some(k) = &kernel {
        crate::backend::cuda::user::check_exists(&k.path)?;
    }
    let chosen = match (&kernel, a.backend.backend) {
        // A kernel candidate runs on the GPU; the reference then runs there too unless --backend cpu.
        (Some(k), backend::BackendChoice::Auto) => {
            backend::Chosen::of(Box::new(crate::experiment::quant_kernel::gpu_for(k)?))
        }
        (_, choice) => backend::select_deferred(choice)?,
    };
    let be = &chosen.backend;
    let candidate = if let Some(k) = kernel {
        let own;
        let cuda = match be
            .as_any()
            .downcast_ref::<crate::backend::cuda::CudaBackend>()
        {
            Some(c) => c,
            None => {
                own = crate::experiment::quant_kernel::gpu_for(&k)?;
                &own
            }
        };
        Candidate::Computed {
            label: format!("kernel {}", a.candidate.trim_start_matches("kernel:")),
            q: crate::experiment::quant_kernel::run_user_kernel(cuda, &k, x, &reference)?,
        }
    } else if a.candidate == "dumped" {
        Candidate::Dumped {
            xq: roles.get("xq")?,
            xs: roles.get("xs")?,
            layout,
            fp8,
        }
    } else {
        Candidate::Spec(QuantSpec::parse(&a.candidate)?)
    };
    let rep = verify_with(be.as_ref(), x, &reference, candidate, a.show)?;
    if a.json.as_deref() != Some("-") {
        print!("{}", render(&rep));
    }
    if let Some(dest) = &a.json {
        write_json(dest, &to_json(&rep))?;
    }
    chosen.say_fallback();
    Ok(if rep.byte_equal { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    #[test]
    fn help_names_every_preset_and_axis() {
        for p in crate::quant::presets::names() {
            assert!(super::SPEC_HELP.contains(p), "{p}");
        }
        for a in crate::quant::spec::Axis::ALL {
            assert!(
                super::SPEC_HELP.contains(&format!("{}=", a.name())),
                "{a:?}"
            );
        }
    }
}
