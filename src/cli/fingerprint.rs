//! `isolate fingerprint --input F.. [--name R=T].. [--top N] [--xs-layout L] [--fp8 F] [--group G]`: flags →
//! [`FingerprintRequest`].

use clap::Args;

use crate::cli::args::{say_where_it_ran, BackendArg, OutputArgs, SourceArgs};
use crate::cli::quant::DumpArgs;
use crate::error::Result;
use crate::experiment::quant::{run_fingerprint, FingerprintRequest};
use crate::report::emit;

#[derive(Args, Debug)]
pub struct FingerprintArgs {
    /// Tensor files holding x, xq and xs, or a capture directory with --site.
    #[command(flatten)]
    pub input: SourceArgs,
    /// Map a role (x, xq, xs) to a tensor name: `--name xq=layer0.q_fp8`.
    #[arg(long = "name", value_name = "ROLE=TENSOR")]
    pub names: Vec<String>,
    /// Rows of the ranking to print.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    #[command(flatten)]
    pub dump: DumpArgs,
    /// Group size G, when the scale shape leaves it ambiguous (default: inferred from xs).
    #[arg(long)]
    pub group: Option<usize>,
    #[command(flatten)]
    pub out: OutputArgs,
    /// The variant search always runs on the CPU (it shares per-group work across ~900 variants); on a GPU
    /// backend the best variants are then re-run by the GPU quantizer and checked against the dump.
    #[command(flatten)]
    pub backend: BackendArg,
}

pub fn run(a: FingerprintArgs) -> Result<i32> {
    let req = FingerprintRequest {
        source: a.input.spec(),
        names: a.names,
        top: a.top,
        dump: a.dump.flags(),
        group: a.group,
        backend: a.backend.backend,
    };
    let rep = run_fingerprint(&req)?;
    emit(&rep, &a.out.outputs())?;
    say_where_it_ran(&rep.fallback, &rep.notes);
    Ok(rep.exit_code())
}
