//! `isolate fingerprint --input F.. [--name R=T].. [--top N] [--xs-layout L] [--fp8 F] [--group G]
//! [--json PATH|-]`

use std::path::PathBuf;

use clap::Args;

use crate::backend::{self, BackendArg};
use crate::error::{Error, Result};
use crate::experiment::fingerprint::{fingerprint, Dump};
use crate::experiment::fingerprint_gpu::gpu_check;
use crate::io::Roles;
use crate::quant::cpu::{matrix_dims, to_matrix};
use crate::quant::layout::{infer_group_for, payload_bytes, payload_format, read_scales, XsLayout};
use crate::report::fingerprint::{render, to_json};
use crate::report::json::write_json;

#[derive(Args, Debug)]
pub struct FingerprintArgs {
    /// Tensor files holding x, xq and xs.
    #[arg(long = "input", required = true, value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
    /// Map a role (x, xq, xs) to a tensor name: `--name xq=layer0.q_fp8`.
    #[arg(long = "name", value_name = "ROLE=TENSOR")]
    pub names: Vec<String>,
    /// Rows of the ranking to print.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Layout of xs: row | col | tma | packed-ue8m0.
    #[arg(long, default_value = "row")]
    pub xs_layout: String,
    /// FP8 format of a raw u8 xq: e4m3fn | e4m3fnuz | e5m2.
    #[arg(long)]
    pub fp8: Option<String>,
    /// Group size G, when the scale shape leaves it ambiguous (default: inferred from xs).
    #[arg(long)]
    pub group: Option<usize>,
    /// Write the result as JSON to PATH (`-` = stdout, replacing the table).
    #[arg(long, value_name = "PATH")]
    pub json: Option<String>,
    /// The variant search always runs on the CPU (it shares per-group work across ~900 variants); on a GPU
    /// backend the best variants are then re-run by the GPU quantizer and checked against the dump.
    #[command(flatten)]
    pub backend: BackendArg,
}

/// Best variants re-run on a GPU backend.
const GPU_CHECK_MAX: usize = 16;

pub fn run(a: FingerprintArgs) -> Result<i32> {
    let layout = XsLayout::parse(&a.xs_layout)?;
    let fp8 = super::quant::parse_fp8(&a.fp8)?;
    let roles = Roles::new(
        crate::io::load_all(&a.inputs)?,
        &a.names,
        &["x", "xq", "xs"],
    )?;
    let (x, xq, xs) = (roles.get("x")?, roles.get("xq")?, roles.get("xs")?);
    let (m, k) = matrix_dims(x, "x")?;
    let fmt = payload_format(xq, fp8, None)?;
    let q = payload_bytes(xq, m, k)?;
    let (g, ng) = match a.group {
        Some(0) => return Err(Error::Usage("--group must be at least 1".into())),
        Some(g) => (g, k.div_ceil(g)),
        None => infer_group_for(xs, layout, m, k)?,
    };
    let scales = read_scales(xs, layout, m, ng)?;
    let chosen = backend::select_deferred(a.backend.backend)?;
    let be = &chosen.backend;
    let (_, _, xv) = to_matrix(x, "x")?;
    let f = fingerprint(&Dump {
        x: &xv,
        rows: m,
        cols: k,
        q,
        fmt,
        scales: &scales.values,
        codes: scales.codes.as_deref(),
        group: g,
    });
    let gpu = if be.name() == "cpu" {
        None
    } else {
        Some(gpu_check(
            be.as_ref(),
            &f,
            x,
            q,
            &scales.values,
            GPU_CHECK_MAX,
        )?)
    };
    if a.json.as_deref() != Some("-") {
        let header = format!(
            "fingerprint of xq ({} {:?}) with xs ({} {:?}, {} scales, --xs-layout {}) from x ({} [{m}, {k}])",
            xq.dtype,
            xq.shape,
            xs.dtype,
            xs.shape,
            scales.kind,
            layout.name(),
            x.dtype
        );
        print!("{}", render(&f, &header, a.top));
        if let Some(g) = &gpu {
            println!("{}", g.line());
        }
    }
    if let Some(dest) = &a.json {
        let mut j = to_json(&f, a.top);
        if let Some(g) = &gpu {
            j["gpu_check"] = g.to_json();
        }
        write_json(dest, &j)?;
    }
    chosen.say_fallback();
    Ok(if f.reproduced() { 0 } else { 1 })
}
