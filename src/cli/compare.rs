//! `isolate compare ref-vs-target | layer-bisect | schema | slot-invariance` (the seed's compare CLI).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::error::{Error, Result};
use crate::experiment::compare::dumps::{load_dump, locate_fwd_pair, OrderChoice};
use crate::experiment::compare::layer_bisect::layer_bisect;
use crate::experiment::compare::ref_vs_target::{ref_vs_target, RefVsTarget};
use crate::experiment::compare::schema::{schema, SchemaOptions, SideId};
use crate::experiment::compare::slots::{slot_invariance, Criterion};
use crate::experiment::compare::Thresholds;
use crate::report::doc::Doc;
use crate::report::json::write_json;
use crate::report::{compare_fwd, compare_json, compare_schema, compare_slots};

#[derive(Args, Debug)]
pub struct CompareArgs {
    #[command(subcommand)]
    pub cmd: CompareCmd,
}

#[derive(Subcommand, Debug)]
pub enum CompareCmd {
    /// Compare every stage of a target forward dump with a reference dump (seed Phase 3).
    ///
    /// Exit 0: no stage past --cos/--rel; 1: a stage past them or a shape mismatch; 2: bad input
    /// (embed.input_ids differ, no common stage, nothing comparable, files not found).
    RefVsTarget(FwdArgs),
    /// Find the first stage past the thresholds and classify the per-layer decay curve (seed Phase 4).
    ///
    /// Exit 0: none; 1: a bad stage was found; 2: bad input.
    LayerBisect(FwdArgs),
    /// Parameter names, shapes, dtypes and bytes of two weight dumps (seed Phase 1).
    ///
    /// Exit 0: same names, every parameter byte- or value-equal or ✓; 1: otherwise; 2: bad input.
    Schema(SchemaArgs),
    /// Bitwise batch invariance: every slot of a prefill against slot 0, per layer (seed Phase 8).
    ///
    /// Exit 0: no (layer, stage) diverges; 1: one does; 2: bad input (no dumps, n_tok not divisible).
    SlotInvariance(SlotArgs),
}

/// Report destinations.
#[derive(Args, Debug)]
pub struct Output {
    /// Write JSON to PATH (`-` = stdout, which then replaces the table).
    #[arg(long, value_name = "PATH")]
    pub json: Option<String>,
    /// Write Markdown to PATH (`-` = stdout, which then replaces the table).
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<String>,
    /// Write one self-contained HTML page (tables and SVG plots) to PATH.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct FwdArgs {
    /// ATOM dump directory holding atom_rank{R}_fwd.pt and ref_rank{R}_fwd.pt.
    #[arg(long, conflicts_with_all = ["target", "reference"])]
    pub dir: Option<PathBuf>,
    /// Rank of the files in --dir.
    #[arg(long, default_value_t = 0)]
    pub rank: u32,
    /// Target dump (any .pt / .safetensors dict stage → tensor); with --ref.
    #[arg(long, requires = "reference")]
    pub target: Option<PathBuf>,
    /// Reference dump; with --target.
    #[arg(long = "ref", requires = "target")]
    pub reference: Option<PathBuf>,
    /// Order of stages within a layer: auto (file order for .pt, canonical for safetensors) | file | canonical.
    #[arg(long, default_value = "auto")]
    pub order: String,
    /// A stage is bad when cos is below this (ATOM's --threshold is accepted as an alias).
    #[arg(long, alias = "threshold", default_value_t = 0.999)]
    pub cos: f64,
    /// A stage is bad when rel = max|t − r| / max|r| is above this.
    #[arg(long, default_value_t = 0.1)]
    pub rel: f64,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Args, Debug)]
pub struct SchemaArgs {
    /// Side A file(s) (several = tensor-parallel shards or several layers).
    #[arg(long = "a", required = true, value_name = "FILE")]
    pub a: Vec<PathBuf>,
    /// Side B file(s).
    #[arg(long = "b", required = true, value_name = "FILE")]
    pub b: Vec<PathBuf>,
    /// Prefix stripped from names (also after `buffer:`); repeatable, first match wins. Default: model.
    #[arg(long = "strip-prefix", value_name = "P")]
    pub strip_prefix: Vec<String>,
    /// Dimension along which tensor-parallel shards are concatenated.
    #[arg(long)]
    pub tp_dim: Option<usize>,
    /// Undo a weight byte layout before comparing: aiter16x16 (aiter shuffle_weight(x, (16, 16))).
    #[arg(long, value_name = "LAYOUT")]
    pub unshuffle: Option<String>,
    /// The side whose 1-byte weights are shuffled: a | b.
    #[arg(long, default_value = "a")]
    pub unshuffle_side: String,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Args, Debug)]
pub struct SlotArgs {
    /// Directory of layer{LL}_{Cls}_rank{R}[_call{NNN}].pt files.
    #[arg(long)]
    pub dir: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub rank: u32,
    /// Number of batch slots holding the same prompt.
    #[arg(long, default_value_t = 4)]
    pub n_slots: usize,
    /// When a (layer, stage) diverges: bitwise (any slot ≠ slot 0 bit for bit) | flag (ATOM: ✗ or ✗✗).
    #[arg(long, default_value = "bitwise")]
    pub criterion: String,
    /// The module class that contains the others (sorted last within a layer).
    #[arg(long, default_value = "Block")]
    pub block_class: String,
    #[command(flatten)]
    pub out: Output,
}

/// Writes the requested reports; prints the terminal text unless JSON or Markdown goes to stdout.
fn emit(
    out: &Output,
    doc: impl Fn(bool) -> Doc,
    json: impl Fn() -> serde_json::Value,
) -> Result<()> {
    if out.json.as_deref() == Some("-") && out.markdown.as_deref() == Some("-") {
        return Err(Error::Usage(
            "--json - and --markdown - cannot both go to stdout".into(),
        ));
    }
    let to_stdout = out.json.as_deref() == Some("-") || out.markdown.as_deref() == Some("-");
    if !to_stdout {
        print!("{}", doc(false).to_terminal());
    }
    if let Some(dest) = &out.json {
        write_json(dest, &json())?;
    }
    if let Some(dest) = &out.markdown {
        let md = doc(false).to_markdown();
        if dest == "-" {
            print!("{md}");
        } else {
            std::fs::write(dest, md).map_err(|e| Error::io(dest, e))?;
        }
    }
    if let Some(dest) = &out.html {
        std::fs::write(dest, doc(true).to_html()).map_err(|e| Error::io(dest, e))?;
    }
    Ok(())
}

fn check_threshold(name: &str, v: f64) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "--{name} {v}: expected a finite number"
        )))
    }
}

fn fwd(a: &FwdArgs) -> Result<RefVsTarget> {
    check_threshold("cos", a.cos)?;
    check_threshold("rel", a.rel)?;
    let order = OrderChoice::parse(&a.order)?;
    let (t, r) = match (&a.dir, &a.target, &a.reference) {
        (Some(d), _, _) => locate_fwd_pair(d, a.rank)?,
        (None, Some(t), Some(r)) => (t.clone(), r.clone()),
        _ => {
            return Err(Error::Usage(
                "give --dir DIR (ATOM layout) or --target FILE --ref FILE".into(),
            ))
        }
    };
    let (t, r) = (load_dump(&t)?, load_dump(&r)?);
    ref_vs_target(
        &t,
        &r,
        order,
        Thresholds {
            cos: a.cos,
            rel: a.rel,
        },
    )
}

fn side(s: &str) -> Result<SideId> {
    match s {
        "a" | "A" => Ok(SideId::A),
        "b" | "B" => Ok(SideId::B),
        _ => Err(Error::Usage(format!(
            "--unshuffle-side {s}: expected a or b"
        ))),
    }
}

fn load(paths: &[PathBuf]) -> Result<Vec<crate::io::TensorFile>> {
    paths
        .iter()
        .map(|p| crate::io::load(Path::new(p)))
        .collect()
}

/// Runs a compare subcommand; returns its exit code.
pub fn run(a: CompareArgs) -> Result<i32> {
    match a.cmd {
        CompareCmd::RefVsTarget(f) => {
            let r = fwd(&f)?;
            emit(
                &f.out,
                |fig| compare_fwd::ref_vs_target_doc(&r, fig),
                || compare_json::ref_vs_target(&r),
            )?;
            Ok(r.exit_code())
        }
        CompareCmd::LayerBisect(f) => {
            let b = layer_bisect(fwd(&f)?);
            emit(
                &f.out,
                |fig| compare_fwd::layer_bisect_doc(&b, fig),
                || compare_json::layer_bisect(&b),
            )?;
            Ok(b.exit_code())
        }
        CompareCmd::Schema(s) => {
            let unshuffle = match s.unshuffle.as_deref() {
                None => None,
                Some("aiter16x16") => Some(side(&s.unshuffle_side)?),
                Some(other) => {
                    return Err(Error::Usage(format!(
                        "--unshuffle {other}: the one known layout is aiter16x16"
                    )))
                }
            };
            let opts = SchemaOptions {
                strip_prefixes: if s.strip_prefix.is_empty() {
                    vec!["model.".into()]
                } else {
                    s.strip_prefix.clone()
                },
                tp_dim: s.tp_dim,
                unshuffle,
            };
            let r = schema(&load(&s.a)?, &load(&s.b)?, opts)?;
            emit(
                &s.out,
                |_| compare_schema::schema_doc(&r),
                || compare_json::schema(&r),
            )?;
            Ok(r.exit_code())
        }
        CompareCmd::SlotInvariance(s) => {
            let crit = Criterion::parse(&s.criterion)?;
            let r = slot_invariance(&s.dir, s.rank, s.n_slots, crit, &s.block_class)?;
            emit(
                &s.out,
                |fig| compare_slots::slots_doc(&r, fig),
                || compare_json::slots(&r),
            )?;
            Ok(r.exit_code())
        }
    }
}
