//! `isolate compare ref-vs-target | layer-bisect | schema | slot-invariance` (docs/method.md §3's compare
//! suite): flags → the compare requests.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::args::{one_of, OutputArgs};
use crate::cli::gate::{emit_run, GateArgs};
use crate::error::{Error, Result};
use crate::experiment::compare::dumps::OrderChoice;
use crate::experiment::compare::schema::{SchemaOptions, SideId};
use crate::experiment::compare::slots::Criterion;
use crate::experiment::compare::{
    run_layer_bisect, run_ref_vs_target, run_schema, run_slots, FwdRequest, FwdSource,
    SchemaRequest, SlotRequest, StageThresholds,
};

const ORDERS: [OrderChoice; 3] = [OrderChoice::Auto, OrderChoice::File, OrderChoice::Canonical];
const CRITERIA: [Criterion; 2] = [Criterion::Bitwise, Criterion::Flag];
const SIDES: [SideId; 2] = [SideId::A, SideId::B];
/// The weight layouts `--unshuffle` undoes.
const UNSHUFFLE: [&str; 1] = ["aiter16x16"];

fn order_name(o: OrderChoice) -> &'static str {
    match o {
        OrderChoice::Auto => "auto",
        OrderChoice::File => "file",
        OrderChoice::Canonical => "canonical",
    }
}

fn side_name(s: SideId) -> &'static str {
    match s {
        SideId::A => "a",
        SideId::B => "b",
    }
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    #[command(subcommand)]
    pub cmd: CompareCmd,
}

#[derive(Subcommand, Debug)]
pub enum CompareCmd {
    /// Compare every stage of a target forward dump with a reference dump (docs/method.md §3.3).
    ///
    /// Exit 0: no stage past --cos/--rel; 1: a stage past them or a shape mismatch; 2: bad input
    /// (embed.input_ids differ, no common stage, nothing comparable, files not found).
    RefVsTarget(FwdArgs),
    /// Find the first stage past the thresholds and classify the per-layer decay curve (docs/method.md §3.4).
    ///
    /// Exit 0: none; 1: a bad stage was found; 2: bad input.
    LayerBisect(FwdArgs),
    /// Parameter names, shapes, dtypes and bytes of two weight dumps (docs/method.md §3.1).
    ///
    /// Exit 0: same names, every parameter byte- or value-equal or ✓; 1: otherwise; 2: bad input.
    Schema(SchemaArgs),
    /// Bitwise batch invariance: every slot of a prefill against slot 0, per layer (docs/method.md §3.8).
    ///
    /// Exit 0: no (layer, stage) diverges; 1: one does; 2: bad input (no dumps, n_tok not divisible).
    SlotInvariance(SlotArgs),
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
    /// Order of stages within a layer: auto (file order for .pt, canonical for safetensors), file, canonical.
    #[arg(long, value_parser = one_of(&ORDERS, order_name), default_value = "auto")]
    pub order: OrderChoice,
    /// A stage is bad when cos is below this (ATOM's --threshold is accepted as an alias).
    #[arg(long, alias = "threshold", default_value_t = 0.999)]
    pub cos: f64,
    /// A stage is bad when rel = max|t − r| / max|r| is above this.
    #[arg(long, default_value_t = 0.1)]
    pub rel: f64,
    #[command(flatten)]
    pub out: OutputArgs,
    #[command(flatten)]
    pub gate: GateArgs,
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
    #[arg(long, value_name = "LAYOUT", value_parser = clap::builder::PossibleValuesParser::new(UNSHUFFLE))]
    pub unshuffle: Option<String>,
    /// The side whose 1-byte weights are shuffled.
    #[arg(long, value_parser = one_of(&SIDES, side_name), default_value = "a")]
    pub unshuffle_side: SideId,
    #[command(flatten)]
    pub out: OutputArgs,
    #[command(flatten)]
    pub gate: GateArgs,
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
    #[arg(long, value_parser = one_of(&CRITERIA, Criterion::name), default_value = "bitwise")]
    pub criterion: Criterion,
    /// The module class that contains the others (sorted last within a layer).
    #[arg(long, default_value = "Block")]
    pub block_class: String,
    #[command(flatten)]
    pub out: OutputArgs,
    #[command(flatten)]
    pub gate: GateArgs,
}

fn fwd(a: &FwdArgs) -> Result<FwdRequest> {
    Ok(FwdRequest {
        source: match (&a.dir, &a.target, &a.reference) {
            (Some(d), _, _) => FwdSource::Dir {
                dir: d.clone(),
                rank: a.rank,
            },
            (None, Some(t), Some(r)) => FwdSource::Files {
                target: t.clone(),
                reference: r.clone(),
            },
            _ => {
                return Err(Error::Usage(
                    "give --dir DIR (ATOM layout) or --target FILE --ref FILE".into(),
                ))
            }
        },
        order: a.order,
        thresholds: StageThresholds {
            cos: a.cos,
            rel: a.rel,
        },
    })
}

/// Runs a compare subcommand; returns its exit code (with `--gate`, 1 also when a rule is violated).
pub fn run(a: CompareArgs) -> Result<i32> {
    match a.cmd {
        CompareCmd::RefVsTarget(f) => {
            let rules = f.gate.load()?;
            let r = run_ref_vs_target(&fwd(&f)?)?;
            emit_run(&r, r.exit_code(), &f.gate, rules.as_ref(), &f.out, None)
        }
        CompareCmd::LayerBisect(f) => {
            let rules = f.gate.load()?;
            let b = run_layer_bisect(&fwd(&f)?)?;
            emit_run(&b, b.exit_code(), &f.gate, rules.as_ref(), &f.out, None)
        }
        CompareCmd::Schema(s) => {
            let rules = s.gate.load()?;
            let r = run_schema(&SchemaRequest {
                a: s.a,
                b: s.b,
                options: SchemaOptions {
                    strip_prefixes: if s.strip_prefix.is_empty() {
                        vec!["model.".into()]
                    } else {
                        s.strip_prefix
                    },
                    tp_dim: s.tp_dim,
                    unshuffle: s.unshuffle.map(|_| s.unshuffle_side),
                },
            })?;
            emit_run(&r, r.exit_code(), &s.gate, rules.as_ref(), &s.out, None)
        }
        CompareCmd::SlotInvariance(s) => {
            let rules = s.gate.load()?;
            let r = run_slots(&SlotRequest {
                dir: s.dir,
                rank: s.rank,
                n_slots: s.n_slots,
                criterion: s.criterion,
                block_class: s.block_class,
            })?;
            emit_run(&r, r.exit_code(), &s.gate, rules.as_ref(), &s.out, None)
        }
    }
}
