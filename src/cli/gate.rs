//! `isolate gate RULES.toml --input RUN.json [--site NAME] [--junit PATH]`, and the `--gate RULES.toml
//! [--junit PATH]` flags of `isolate gemm` and the compare suite (docs/contract.md §8): flags → a
//! [`GateRequest`].

use std::path::PathBuf;

use clap::Args;

use crate::cli::args::OutputArgs;
use crate::error::Result;
use crate::experiment::gate::{evaluate, load_rules, load_run, GateRequest, Rules};
use crate::report::gate::{write_junit, GateReport, Gated};
use crate::report::{emit, Render};

/// `isolate gate`.
#[derive(Args, Debug)]
#[command(
    after_help = "Exit: 0 every rule holds, 1 a rule is violated (or matches nothing and is not optional), \
2 bad input (a rules file error names its line). The run's own verdict does not count here: the rules alone \
decide (with --gate on the run command, both do)."
)]
pub struct GateCmdArgs {
    /// The rules file: TOML, one [[rule]] table per rule (docs/contract.md §8.2; examples/gate-rules.toml).
    #[arg(value_name = "RULES.toml")]
    pub rules: PathBuf,
    /// The run to gate: the JSON `isolate gemm … --json PATH` or `isolate compare … --json PATH` wrote.
    #[arg(long, value_name = "RUN.json")]
    pub input: PathBuf,
    /// The site a gemm run is named by, for the rules' `match` (a gemm run's JSON does not name its site).
    #[arg(long, value_name = "NAME")]
    pub site: Option<String>,
    /// Also write the result as JUnit XML to PATH.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `--gate RULES.toml [--junit PATH]` on a run command.
#[derive(Args, Debug, Clone, Default)]
pub struct GateArgs {
    /// After the run, check these rules (docs/contract.md §8): exit 1 also when a rule is violated. The
    /// gate's result is added to the report (and as `gate` to the JSON).
    #[arg(long, value_name = "RULES.toml")]
    pub gate: Option<PathBuf>,
    /// With --gate: write the gate's result as JUnit XML to PATH.
    #[arg(long, value_name = "PATH", requires = "gate")]
    pub junit: Option<PathBuf>,
}

impl GateArgs {
    /// The rules, read before the run so that a bad rules file costs no run (exit 2, its line named).
    pub fn load(&self) -> Result<Option<Rules>> {
        self.gate.as_deref().map(load_rules).transpose()
    }
}

/// Reports a run, with its gate when `--gate` was given, and returns the exit code: 2 was an error before
/// this; 1 when the run's own exit is 1 or a rule fails; else 0 (docs/contract.md §8.4).
pub fn emit_run(
    run: &dyn Render,
    run_exit: i32,
    args: &GateArgs,
    rules: Option<&Rules>,
    out: &OutputArgs,
    site: Option<&str>,
) -> Result<i32> {
    let (Some(rules), Some(rules_file)) = (rules, args.gate.as_deref()) else {
        emit(run, &out.outputs())?;
        return Ok(run_exit);
    };
    let json = run.json();
    let g = evaluate(&GateRequest {
        rules_file,
        rules,
        run: &json,
        run_file: None,
        site,
    })?;
    emit(&Gated { run, gate: &g }, &out.outputs())?;
    if let Some(p) = &args.junit {
        write_junit(p, &g)?;
    }
    Ok(run_exit.max(g.exit_code()))
}

pub fn run(a: GateCmdArgs) -> Result<i32> {
    let rules = load_rules(&a.rules)?;
    let json = load_run(&a.input)?;
    let g = evaluate(&GateRequest {
        rules_file: &a.rules,
        rules: &rules,
        run: &json,
        run_file: Some(a.input.as_path()),
        site: a.site.as_deref(),
    })?;
    emit(&GateReport(g.clone()), &a.out.outputs())?;
    if let Some(p) = &a.junit {
        write_junit(p, &g)?;
    }
    Ok(g.exit_code())
}
