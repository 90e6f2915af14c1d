//! `isolate quant --input F.. [--name R=T].. --reference Q --candidate Q|dumped|kernel:FILE.cu [--xs-layout L]
//! [--fp8 F] [--show N]`: flags → [`VerifyRequest`].

use clap::Args;

use crate::cli::args::{one_of, parsed, say_where_it_ran, BackendArg, OutputArgs, SourceArgs};
use crate::error::Result;
use crate::experiment::quant::{
    run_verify, CandidateChoice, DumpFlags, Fp8Format, QuantSpec, VerifyRequest, XsLayout,
};
use crate::report::emit;

/// The presets and axes, shown under `--help` of `quant` (and `gemm`'s quant flags).
pub const SPEC_HELP: &str = "Quant specs: PRESET[,AXIS=VALUE]...
  presets: deepseek-v32, deepseek-v32-ue8m0 (DeepSeek-V3.2 TileLang act_quant), deepgemm, deepgemm-ue8m0
           (DeepGEMM per_token_cast_to_fp8), vllm, vllm-ue8m0 (vLLM CUDA per_token_group_quant), torch-e8m0
           (ATOM act_quant_inplace), aiter, aiter-fnuz (aiter HIP per-group quant), none
  axes:    fp8=e4m3fn|e4m3fnuz|e5m2  max=N  eps=N|none  eps_on=amax|scale|both  scale=div|mul
           pow2=none|ceil|float-ceil|nearest|floor|even  code_clamp=yes|no  q=div|mul  clamp=yes|no
           overflow=saturate|nan  nan=propagate|ignore|reject  pad=yes|no  group=G
  e.g.     deepgemm-ue8m0,eps=1e-10    vllm-ue8m0,pow2=ceil    aiter-fnuz,max=224";

/// `--xs-layout` and `--fp8` of the commands that read a dumped xq/xs.
#[derive(Args, Debug, Clone, Copy)]
pub struct DumpArgs {
    /// Layout of a dumped xs (default: as a capture recorded it, else row).
    #[arg(long, value_parser = one_of(&XsLayout::ALL, XsLayout::name))]
    pub xs_layout: Option<XsLayout>,
    /// FP8 format of a raw u8 xq (default: as a capture recorded it, else the reference's, or e4m3fn).
    #[arg(long, value_parser = one_of(&Fp8Format::ALL, Fp8Format::name))]
    pub fp8: Option<Fp8Format>,
}

impl DumpArgs {
    /// The flags as the experiments take them.
    pub fn flags(&self) -> DumpFlags {
        DumpFlags {
            fp8: self.fp8,
            xs_layout: self.xs_layout,
        }
    }
}

#[derive(Args, Debug)]
#[command(after_help = SPEC_HELP)]
pub struct QuantArgs {
    /// Tensor files holding x (and xq, xs for `--candidate dumped`), or a capture directory with --site.
    #[command(flatten)]
    pub input: SourceArgs,
    /// Map a role (x, xq, xs) to a tensor name: `--name x=layer0.attn.qr`.
    #[arg(long = "name", value_name = "ROLE=TENSOR")]
    pub names: Vec<String>,
    /// The reference quantizer: `preset[,axis=value]...` (e.g. deepgemm-ue8m0).
    #[arg(long, value_parser = parsed::<QuantSpec>)]
    pub reference: QuantSpec,
    /// The candidate: a quant spec, `dumped` to take the tensors xq and xs from the inputs, or
    /// `kernel:FILE.cu|FILE.hip[:ENTRY]`, a kernel compiled with NVRTC and run on the GPU, or with
    /// `--backend simt-cpu` compiled by the C++ compiler and run on the CPU (ABI: README "GPU").
    #[arg(long, value_parser = parsed::<CandidateChoice>)]
    pub candidate: CandidateChoice,
    #[command(flatten)]
    pub backend: BackendArg,
    #[command(flatten)]
    pub dump: DumpArgs,
    /// How many differing codes and groups to list.
    #[arg(long, default_value_t = 10)]
    pub show: usize,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub fn run(a: QuantArgs) -> Result<i32> {
    let req = VerifyRequest {
        source: a.input.spec(),
        names: a.names,
        reference: a.reference,
        candidate: a.candidate,
        dump: a.dump.flags(),
        show: a.show,
        backend: a.backend.backend,
    };
    let out = run_verify(&req)?;
    emit(&out, &a.out.outputs())?;
    let notes: Vec<String> = out
        .notes
        .iter()
        .chain(&out.backend_notes)
        .cloned()
        .collect();
    say_where_it_ran(&out.fallback, &notes);
    Ok(out.exit_code())
}
