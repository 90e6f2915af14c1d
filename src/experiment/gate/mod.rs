//! `isolate gate RULES.toml --input RUN.json` and `--gate RULES.toml` on `isolate gemm` and the compare suite
//! (docs/contract.md §8): a CI gate. A rules file bounds metrics per stage, parameter or site pattern; the run
//! is the JSON `isolate gemm` or `isolate compare …` writes (recognised by its shape); the result is, per rule
//! and per matched subject, the value, the bound and pass/fail. Pure evaluation: nothing here prints.

pub mod glob;
pub mod rules;

use std::path::{Path, PathBuf};

use serde_json::Value;

pub use rules::{Against, GemmPath, Metric, Rule, Rules, RulesError};

use crate::error::{Error, Result};

/// The kind of run a JSON holds (docs/contract.md §6.2, §6.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunKind {
    Gemm,
    RefVsTarget,
    LayerBisect,
    Schema,
    SlotInvariance,
}

impl RunKind {
    /// The command that writes it.
    pub fn name(self) -> &'static str {
        match self {
            RunKind::Gemm => "gemm",
            RunKind::RefVsTarget => "compare ref-vs-target",
            RunKind::LayerBisect => "compare layer-bisect",
            RunKind::Schema => "compare schema",
            RunKind::SlotInvariance => "compare slot-invariance",
        }
    }

    /// What a rule's `match` is matched against in this kind of run.
    pub fn subject_word(self) -> &'static str {
        match self {
            RunKind::Gemm => "site",
            RunKind::RefVsTarget | RunKind::LayerBisect => "stage",
            RunKind::Schema => "parameter",
            RunKind::SlotInvariance => "layer.stage",
        }
    }

    /// The kind of `run`, from its shape: `verdict` + `paths` is `isolate gemm`; the compare suite says its
    /// `command`. Anything else (a `gemm fingerprint` ranking, another file) is an error saying what it is not.
    pub fn detect(run: &Value) -> std::result::Result<RunKind, String> {
        let o = run
            .as_object()
            .ok_or("not a JSON object (the gate reads what `isolate gemm` or `isolate compare` write with --json)")?;
        if o.contains_key("verdict") && o.get("paths").is_some_and(Value::is_object) {
            return Ok(RunKind::Gemm);
        }
        match o.get("command").and_then(Value::as_str) {
            Some("compare ref-vs-target") => Ok(RunKind::RefVsTarget),
            Some("compare layer-bisect") => Ok(RunKind::LayerBisect),
            Some("compare schema") => Ok(RunKind::Schema),
            Some("compare slot-invariance") => Ok(RunKind::SlotInvariance),
            Some(c) => Err(format!("the JSON of `{c}`, which the gate does not read (it reads isolate gemm and isolate compare runs)")),
            None if o.contains_key("ranking") => Err(
                "the JSON of a fingerprint ranking, which the gate does not read (it reads isolate gemm and \
                 isolate compare runs)"
                    .into(),
            ),
            None => Err(
                "not the JSON of an isolate gemm run (no `verdict` and `paths`) nor of an isolate compare run \
                 (no `command`)"
                    .into(),
            ),
        }
    }
}

/// One rule checked on one subject: the value (or why there is none) and whether it holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// The stage, parameter, `layer.stage` or site (for a gemm run with the path: `SITE A vs ref`).
    pub subject: String,
    /// The value, or why the run has none for this subject (a shape mismatch, no target_out, …): a failure.
    pub value: std::result::Result<f64, String>,
    pub pass: bool,
}

/// How a rule came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleStatus {
    Pass,
    Fail,
    /// Its pattern matched nothing: a failure unless the rule is `optional` (then a warning).
    NoMatch,
}

impl RuleStatus {
    pub fn name(self) -> &'static str {
        match self {
            RuleStatus::Pass => "pass",
            RuleStatus::Fail => "fail",
            RuleStatus::NoMatch => "no_match",
        }
    }
}

/// A rule and its checks.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleOutcome {
    pub rule: Rule,
    pub checks: Vec<Check>,
}

impl RuleOutcome {
    pub fn status(&self) -> RuleStatus {
        if self.checks.is_empty() {
            RuleStatus::NoMatch
        } else if self.checks.iter().all(|c| c.pass) {
            RuleStatus::Pass
        } else {
            RuleStatus::Fail
        }
    }

    /// Whether the rule fails the gate (a failed check, or matching nothing when not optional).
    pub fn fails(&self) -> bool {
        match self.status() {
            RuleStatus::Pass => false,
            RuleStatus::Fail => true,
            RuleStatus::NoMatch => !self.rule.optional,
        }
    }

    /// Why a check failed, in one line: `cos 0.9985 < min 0.999`, `cos is NaN`, or the reason for no value.
    pub fn message(&self, c: &Check) -> String {
        let m = self.rule.metric.name();
        match &c.value {
            Err(why) => format!("no {m}: {why}"),
            Ok(v) if v.is_nan() => format!("{m} is NaN"),
            Ok(v) => match (self.rule.min, self.rule.max) {
                (Some(lo), _) if *v < lo => format!("{m} {v} < min {lo}"),
                (_, Some(hi)) if *v > hi => format!("{m} {v} > max {hi}"),
                _ => format!("{m} {v} {}", self.rule.bounds()),
            },
        }
    }
}

/// The gate's result.
#[derive(Clone, Debug, PartialEq)]
pub struct GateResult {
    pub rules_file: PathBuf,
    /// The run's JSON file (None for `--gate` on a run just made).
    pub run_file: Option<PathBuf>,
    pub kind: RunKind,
    /// The site a gemm run is named by (`--site`), if any.
    pub site: Option<String>,
    /// The run's own exit code (compare: its `exit_code`; gemm: 0 for verdict none, else 1), when the JSON
    /// says it.
    pub run_exit_code: Option<i64>,
    pub outcomes: Vec<RuleOutcome>,
}

/// The counts behind a result (the JUnit attributes, the JSON's `counts`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub rules: usize,
    /// Checks, plus one per rule that matched nothing.
    pub tests: usize,
    pub failures: usize,
    /// Optional rules that matched nothing.
    pub skipped: usize,
}

impl GateResult {
    /// Whether every rule holds.
    pub fn passed(&self) -> bool {
        !self.outcomes.iter().any(RuleOutcome::fails)
    }

    /// 0 every rule holds, 1 one does not (docs/contract.md §8.4).
    pub fn exit_code(&self) -> i32 {
        (!self.passed()) as i32
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            rules: self.outcomes.len(),
            ..Counts::default()
        };
        for o in &self.outcomes {
            if o.checks.is_empty() {
                c.tests += 1;
                if o.rule.optional {
                    c.skipped += 1;
                } else {
                    c.failures += 1;
                }
            } else {
                c.tests += o.checks.len();
                c.failures += o.checks.iter().filter(|k| !k.pass).count();
            }
        }
        c
    }
}

/// Reads and checks a rules file; an error is one line `RULES.toml line N: …` (exit 2).
pub fn load_rules(path: &Path) -> Result<Rules> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    Rules::parse(&text).map_err(|e| rules_error(path, &e))
}

fn rules_error(path: &Path, e: &RulesError) -> Error {
    match e.line {
        Some(l) => Error::Usage(format!("{} line {l}: {}", path.display(), e.msg)),
        None => Error::Usage(format!("{}: {}", path.display(), e.msg)),
    }
}

/// Reads a run's JSON file.
pub fn load_run(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::format(path, format!("not valid JSON: {e}")))
}

/// What to gate.
pub struct GateRequest<'a> {
    pub rules_file: &'a Path,
    pub rules: &'a Rules,
    pub run: &'a Value,
    /// The run's file, for messages (None: a run just made).
    pub run_file: Option<&'a Path>,
    /// The name of a gemm run's site (what `match` is matched against there).
    pub site: Option<&'a str>,
}

/// A number of the run's JSON: a number, or one of the strings JSON writes non-finite numbers as
/// (docs/contract.md §6.1).
fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// One subject of a run and its JSON.
enum Subject<'a> {
    /// A compare stage or schema parameter: the comparison's fields are on the object.
    Compared { name: String, obj: &'a Value },
    /// A slot-invariance row: the worst over its slots.
    Slots { name: String, row: &'a Value },
    /// The one site of a gemm run.
    Gemm { name: String, run: &'a Value },
}

impl Subject<'_> {
    fn name(&self) -> &str {
        match self {
            Subject::Compared { name, .. }
            | Subject::Slots { name, .. }
            | Subject::Gemm { name, .. } => name,
        }
    }
}

fn status_words(obj: &Value) -> String {
    let status = obj.get("status").and_then(Value::as_str).unwrap_or("?");
    match obj.get("reason").and_then(Value::as_str) {
        Some(r) => format!("status {status} ({r})"),
        None => format!("status {status}"),
    }
}

/// A metric of a comparison object, or why it has none.
fn compared_value(obj: &Value, m: Metric) -> std::result::Result<f64, String> {
    match number(obj.get(m.name())) {
        Some(v) => Ok(v),
        None if obj.get("status").and_then(Value::as_str) == Some("compared")
            || obj.get(m.name()).is_some() =>
        {
            Err(format!("{} is null in the run", m.name()))
        }
        None => Err(status_words(obj)),
    }
}

fn value(s: &Subject, r: &Rule) -> std::result::Result<f64, String> {
    let m = r.metric;
    match s {
        Subject::Compared { obj, .. } => compared_value(obj, m),
        Subject::Slots { row, .. } => {
            let slots = row.get("slots").and_then(Value::as_array);
            let vals = slots
                .into_iter()
                .flatten()
                .map(|sl| compared_value(sl, m))
                .collect::<std::result::Result<Vec<f64>, String>>()?;
            let worst = if m.higher_is_better() {
                vals.iter()
                    .copied()
                    .reduce(|a, b| if b < a || b.is_nan() { b } else { a })
            } else {
                vals.iter()
                    .copied()
                    .reduce(|a, b| if b > a || b.is_nan() { b } else { a })
            };
            worst.ok_or_else(|| "no slot compared with slot 0".to_string())
        }
        Subject::Gemm { run, .. } if m == Metric::EnvelopeRatio => {
            let Some(env) = run.get("envelope").filter(|e| !e.is_null()) else {
                return Err("the run has no noise envelope (made with --no-envelope)".into());
            };
            match number(env.get("ratio").and_then(|r| r.get("one_minus_cos"))) {
                Some(v) => Ok(v),
                None => Err(format!(
                    "the envelope is not available ({})",
                    env.get("reason")
                        .and_then(Value::as_str)
                        .unwrap_or("no ratio")
                )),
            }
        }
        Subject::Gemm { run, .. } => {
            let p = r.path.unwrap_or(GemmPath::A);
            let a = r.against.unwrap_or(Against::Ref);
            let Some(metrics) = run
                .get("paths")
                .and_then(|ps| ps.get(p.name()))
                .and_then(|p| p.get(a.field()))
                .filter(|v| !v.is_null())
            else {
                return Err(match a {
                    Against::Target => "the run had no target_out (vs_target is null)".into(),
                    Against::Ref => format!("the run has no path {} {}", p.name(), a.field()),
                });
            };
            number(metrics.get(m.name())).ok_or_else(|| format!("{} is null in the run", m.name()))
        }
    }
}

fn subjects<'a>(
    kind: RunKind,
    run: &'a Value,
    site: Option<&str>,
) -> std::result::Result<Vec<Subject<'a>>, String> {
    let list = |key: &str| {
        run.get(key)
            .and_then(Value::as_array)
            .ok_or_else(|| format!("a {} run without a `{key}` list", kind.name()))
    };
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    Ok(match kind {
        RunKind::Gemm => vec![Subject::Gemm {
            name: site.unwrap_or("").to_string(),
            run,
        }],
        RunKind::RefVsTarget | RunKind::LayerBisect => list("stages")?
            .iter()
            .map(|o| {
                text(o, "stage")
                    .map(|name| Subject::Compared { name, obj: o })
                    .ok_or_else(|| "a stage without its `stage` name".to_string())
            })
            .collect::<std::result::Result<_, _>>()?,
        RunKind::Schema => list("common")?
            .iter()
            .map(|o| {
                text(o, "name")
                    .map(|name| Subject::Compared { name, obj: o })
                    .ok_or_else(|| "a parameter without its `name`".to_string())
            })
            .collect::<std::result::Result<_, _>>()?,
        RunKind::SlotInvariance => list("rows")?
            .iter()
            .map(|row| {
                let stage = text(row, "stage").ok_or("a row without its `stage`")?;
                let name = match row.get("layer").and_then(Value::as_i64) {
                    Some(l) => format!("layer{l}.{stage}"),
                    None => stage,
                };
                Ok(Subject::Slots { name, row })
            })
            .collect::<std::result::Result<_, String>>()?,
    })
}

/// Whether `rule` can be asked of this kind of run: an error naming the rule's line otherwise.
fn applies(kind: RunKind, r: &Rule) -> std::result::Result<(), RulesError> {
    let why = match kind {
        RunKind::Gemm if !(r.metric.per_gemm_path() || r.metric == Metric::EnvelopeRatio) => {
            Some(format!(
                "metric {} is not in a gemm run's JSON (gemm exports cos, rel, max_abs, value_equal, \
                 byte_equal per path, and envelope_ratio)",
                r.metric.name()
            ))
        }
        RunKind::Gemm if r.metric == Metric::EnvelopeRatio && r.path.is_some() => Some(
            "envelope_ratio is one number per gemm run (A against B): no `path`/`against`".into(),
        ),
        RunKind::Gemm => None,
        _ if r.metric == Metric::EnvelopeRatio => Some(format!(
            "envelope_ratio is a metric of isolate gemm runs; this is a {} run",
            kind.name()
        )),
        _ if r.path.is_some() || r.against.is_some() => Some(format!(
            "`path`/`against` select a path of isolate gemm; this is a {} run",
            kind.name()
        )),
        _ => None,
    };
    match why {
        Some(msg) => Err(RulesError {
            line: Some(r.line),
            msg,
        }),
        None => Ok(()),
    }
}

/// Evaluates every rule on the run. A rule the run's kind cannot answer is an error naming its line; a run
/// JSON of the wrong shape an error naming the file (exit 2 both).
pub fn evaluate(req: &GateRequest) -> Result<GateResult> {
    let run_err = |msg: String| match req.run_file {
        Some(p) => Error::format(p, msg),
        None => Error::Usage(format!("the run's JSON: {msg}")),
    };
    let kind = RunKind::detect(req.run).map_err(run_err)?;
    if req.site.is_some() && kind != RunKind::Gemm {
        return Err(Error::Usage(format!(
            "--site names the site of a gemm run; this is a {} run, whose stages name themselves",
            kind.name()
        )));
    }
    for r in &req.rules.rules {
        applies(kind, r).map_err(|e| rules_error(req.rules_file, &e))?;
    }
    let subjects = subjects(kind, req.run, req.site).map_err(run_err)?;
    let outcomes = req
        .rules
        .rules
        .iter()
        .map(|rule| {
            let mut rule = rule.clone();
            if kind == RunKind::Gemm && rule.metric != Metric::EnvelopeRatio {
                rule.path.get_or_insert(GemmPath::A);
                rule.against.get_or_insert(Against::Ref);
            }
            let checks = subjects
                .iter()
                .filter(|s| rule.pattern.matches(s.name()))
                .map(|s| {
                    let v = value(s, &rule);
                    Check {
                        subject: check_subject(s, &rule),
                        pass: v.as_ref().is_ok_and(|&v| rule.holds(v)),
                        value: v,
                    }
                })
                .collect();
            RuleOutcome { rule, checks }
        })
        .collect();
    let run_exit_code = match kind {
        RunKind::Gemm => req
            .run
            .get("verdict")
            .and_then(Value::as_str)
            .map(|v| (v != "none") as i64),
        _ => req.run.get("exit_code").and_then(Value::as_i64),
    };
    Ok(GateResult {
        rules_file: req.rules_file.to_path_buf(),
        run_file: req.run_file.map(Path::to_path_buf),
        kind,
        site: req.site.map(str::to_string),
        run_exit_code,
        outcomes,
    })
}

/// A check's subject as the report names it: the stage, or for gemm `SITE A vs ref` / `SITE envelope`.
fn check_subject(s: &Subject, r: &Rule) -> String {
    match s {
        Subject::Gemm { name, .. } => {
            let what = match (r.path, r.against) {
                (Some(p), Some(a)) => format!("{} vs {}", p.name(), a.name()),
                _ => "envelope".to_string(),
            };
            if name.is_empty() {
                what
            } else {
                format!("{name} {what}")
            }
        }
        _ => s.name().to_string(),
    }
}

#[cfg(test)]
mod tests;
