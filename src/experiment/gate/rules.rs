//! The rules file of `isolate gate` (docs/contract.md §8.2): TOML, one `[[rule]]` table per rule. Every error
//! names the line it is on (the TOML parser's byte spans turned into line numbers), so that a typo in a CI
//! rules file is one line that says where.

use serde::Deserialize;
use toml::Spanned;

use super::glob::Glob;

/// A metric a rule bounds: named after the JSON field the runs export it as (docs/contract.md §6.2, §6.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    Cos,
    Rel,
    MaxAbs,
    CalcDiff,
    UlpP50,
    UlpP99,
    UlpMax,
    ValueEqual,
    ByteEqual,
    /// `envelope.ratio.one_minus_cos` of `isolate gemm`: drift(A, B) over the quantization floor.
    EnvelopeRatio,
}

impl Metric {
    pub const ALL: [Metric; 10] = [
        Metric::Cos,
        Metric::Rel,
        Metric::MaxAbs,
        Metric::CalcDiff,
        Metric::UlpP50,
        Metric::UlpP99,
        Metric::UlpMax,
        Metric::ValueEqual,
        Metric::ByteEqual,
        Metric::EnvelopeRatio,
    ];

    /// The name in a rules file (and the JSON field it reads).
    pub fn name(self) -> &'static str {
        match self {
            Metric::Cos => "cos",
            Metric::Rel => "rel",
            Metric::MaxAbs => "max_abs",
            Metric::CalcDiff => "calc_diff",
            Metric::UlpP50 => "ulp_p50",
            Metric::UlpP99 => "ulp_p99",
            Metric::UlpMax => "ulp_max",
            Metric::ValueEqual => "value_equal",
            Metric::ByteEqual => "byte_equal",
            Metric::EnvelopeRatio => "envelope_ratio",
        }
    }

    /// Whether a larger value is closer (cos, the equal fractions); the worst of several is then the least.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::Cos | Metric::ValueEqual | Metric::ByteEqual)
    }

    /// Whether a path of `isolate gemm` exports it (in `paths.P.vs_ref` / `vs_target`).
    pub fn per_gemm_path(self) -> bool {
        matches!(
            self,
            Metric::Cos | Metric::Rel | Metric::MaxAbs | Metric::ValueEqual | Metric::ByteEqual
        )
    }

    fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// A path of `isolate gemm` (docs/contract.md §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmPath {
    A,
    B,
    C1,
    C2,
}

impl GemmPath {
    pub const ALL: [GemmPath; 4] = [GemmPath::A, GemmPath::B, GemmPath::C1, GemmPath::C2];
    pub fn name(self) -> &'static str {
        match self {
            GemmPath::A => "A",
            GemmPath::B => "B",
            GemmPath::C1 => "C1",
            GemmPath::C2 => "C2",
        }
    }
}

/// What a gemm path's metrics are measured against: `vs_ref` or `vs_target` (docs/contract.md §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Against {
    Ref,
    Target,
}

impl Against {
    pub const ALL: [Against; 2] = [Against::Ref, Against::Target];
    pub fn name(self) -> &'static str {
        match self {
            Against::Ref => "ref",
            Against::Target => "target",
        }
    }
    /// The JSON field of a path that holds these metrics.
    pub fn field(self) -> &'static str {
        match self {
            Against::Ref => "vs_ref",
            Against::Target => "vs_target",
        }
    }
}

/// One rule, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// The line of its `[[rule]]` header (1-based).
    pub line: usize,
    pub name: Option<String>,
    /// `match`; `*` when left out.
    pub pattern: Glob,
    pub metric: Metric,
    /// Inclusive bounds; at least one is there.
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// For a gemm run: the path (default A) and what it is measured against (default ref). None for
    /// `envelope_ratio` and for compare runs.
    pub path: Option<GemmPath>,
    pub against: Option<Against>,
    /// A rule that matches nothing is a warning, not a failure.
    pub optional: bool,
}

/// A rules file, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    pub rules: Vec<Rule>,
}

/// What is wrong with a rules file, and on which line (None: the file as a whole).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{msg}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct RulesError {
    pub line: Option<usize>,
    pub msg: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<Spanned<String>>,
    #[serde(rename = "match")]
    pattern: Option<Spanned<String>>,
    metric: Option<Spanned<String>>,
    min: Option<Spanned<f64>>,
    max: Option<Spanned<f64>>,
    path: Option<Spanned<String>>,
    against: Option<Spanned<String>>,
    optional: Option<bool>,
}

/// The 1-based line of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> String {
    all.iter().map(|&t| name(t)).collect::<Vec<_>>().join(", ")
}

impl Rule {
    /// How the rule reads: its `name`, else `A vs ref cos >= 0.999 on layer*`.
    pub fn title(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let mut t = String::new();
        if let (Some(p), Some(a)) = (self.path, self.against) {
            t.push_str(&format!("{} vs {} ", p.name(), a.name()));
        }
        t.push_str(&format!("{} {}", self.metric.name(), self.bounds()));
        if self.pattern.as_str() != "*" {
            t.push_str(&format!(" on {}", self.pattern.as_str()));
        }
        t
    }

    /// `>= 0.999`, `<= 0.1`, or `in [a, b]`.
    pub fn bounds(&self) -> String {
        match (self.min, self.max) {
            (Some(lo), Some(hi)) => format!("in [{lo}, {hi}]"),
            (Some(lo), None) => format!(">= {lo}"),
            (None, Some(hi)) => format!("<= {hi}"),
            (None, None) => String::new(),
        }
    }

    /// Whether `v` is within the bounds (inclusive; NaN never is).
    pub fn holds(&self, v: f64) -> bool {
        !v.is_nan() && self.min.is_none_or(|lo| v >= lo) && self.max.is_none_or(|hi| v <= hi)
    }
}

impl Rules {
    /// Parses and checks a rules file. Unknown keys, an unknown metric or path, a bad `match` pattern, a rule
    /// without `metric` or without a bound, a NaN bound or `min > max` are errors naming the line.
    pub fn parse(text: &str) -> Result<Rules, RulesError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| RulesError {
            line: e.span().map(|s| line_of(text, s.start)),
            msg: e.message().trim_end().replace('\n', " "),
        })?;
        if raw.rule.is_empty() {
            return Err(RulesError {
                line: None,
                msg: "no [[rule]] table: a gate needs at least one rule".into(),
            });
        }
        let rules = raw
            .rule
            .into_iter()
            .map(|r| {
                let line = line_of(text, r.span().start);
                rule(text, line, r.into_inner())
            })
            .collect::<Result<_, _>>()?;
        Ok(Rules { rules })
    }
}

fn rule(text: &str, line: usize, r: RawRule) -> Result<Rule, RulesError> {
    let at = |span: std::ops::Range<usize>| line_of(text, span.start);
    let err = |line: usize, msg: String| RulesError {
        line: Some(line),
        msg,
    };
    let metric_s = r.metric.as_ref().ok_or_else(|| {
        err(
            line,
            format!(
                "a rule needs `metric` (one of {})",
                names(&Metric::ALL, Metric::name)
            ),
        )
    })?;
    let metric = Metric::parse(metric_s.get_ref()).ok_or_else(|| {
        err(
            at(metric_s.span()),
            format!(
                "unknown metric '{}' (metrics: {})",
                metric_s.get_ref(),
                names(&Metric::ALL, Metric::name)
            ),
        )
    })?;
    let pattern = match &r.pattern {
        None => Glob::new("*").expect("`*` is a pattern"),
        Some(p) => Glob::new(p.get_ref()).map_err(|e| {
            err(
                at(p.span()),
                format!("bad match pattern '{}': {e}", p.get_ref()),
            )
        })?,
    };
    let bound = |b: &Option<Spanned<f64>>, key: &str| -> Result<Option<f64>, RulesError> {
        match b {
            Some(v) if v.get_ref().is_nan() => Err(err(
                at(v.span()),
                format!("`{key}` is NaN, which bounds nothing"),
            )),
            Some(v) => Ok(Some(*v.get_ref())),
            None => Ok(None),
        }
    };
    let (min, max) = (bound(&r.min, "min")?, bound(&r.max, "max")?);
    match (min, max) {
        (None, None) => {
            return Err(err(
                line,
                format!("the rule on {} needs `min` or `max`", metric.name()),
            ))
        }
        (Some(lo), Some(hi)) if lo > hi => {
            return Err(err(line, format!("min {lo} is above max {hi}")));
        }
        _ => {}
    }
    let path = match &r.path {
        None => None,
        Some(p) => Some(
            GemmPath::ALL
                .into_iter()
                .find(|g| g.name() == p.get_ref())
                .ok_or_else(|| {
                    err(
                        at(p.span()),
                        format!(
                            "unknown path '{}' (paths of isolate gemm: {})",
                            p.get_ref(),
                            names(&GemmPath::ALL, GemmPath::name)
                        ),
                    )
                })?,
        ),
    };
    let against = match &r.against {
        None => None,
        Some(a) => Some(
            Against::ALL
                .into_iter()
                .find(|g| g.name() == a.get_ref())
                .ok_or_else(|| {
                    err(
                        at(a.span()),
                        format!(
                            "unknown against '{}' (one of {})",
                            a.get_ref(),
                            names(&Against::ALL, Against::name)
                        ),
                    )
                })?,
        ),
    };
    if (path.is_some() || against.is_some()) && !metric.per_gemm_path() {
        return Err(err(
            line,
            format!(
                "`path`/`against` select a path of isolate gemm, which exports no {} per path (per path: cos, \
                 rel, max_abs, value_equal, byte_equal)",
                metric.name()
            ),
        ));
    }
    Ok(Rule {
        line,
        name: r.name.map(Spanned::into_inner),
        pattern,
        metric,
        min,
        max,
        path,
        against,
        optional: r.optional.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_file_parses() {
        let r = Rules::parse(
            "# comment\n[[rule]]\nmatch = \"layer*.ffn.*\"\nmetric = \"cos\"\nmin = 0.999\n\n\
             [[rule]]\nname = \"envelope\"\nmetric = \"envelope_ratio\"\nmax = 10\noptional = true\n",
        )
        .unwrap();
        assert_eq!(r.rules.len(), 2);
        assert_eq!(r.rules[0].line, 2);
        assert_eq!(r.rules[0].title(), "cos >= 0.999 on layer*.ffn.*");
        assert_eq!(r.rules[1].line, 7);
        assert_eq!(r.rules[1].max, Some(10.0));
        assert!(r.rules[1].optional);
    }

    fn error(text: &str) -> RulesError {
        Rules::parse(text).unwrap_err()
    }

    #[test]
    fn errors_name_their_line() {
        let e = error(
            "[[rule]]\nmetric = \"cos\"\nmin = 0.9\n\n[[rule]]\nmetric = \"coss\"\nmin = 1\n",
        );
        assert_eq!(e.line, Some(6), "{e}");
        assert!(e.msg.contains("unknown metric 'coss'"), "{e}");
        let e = error("[[rule]]\nmetric = \"cos\"\nmatch = \"layer[0-9\"\nmin = 0.9\n");
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.msg.contains("bad match pattern"), "{e}");
        let e = error("[[rule]]\nmetric = \"cos\"\nmin = 0.9\nmaxx = 1\n");
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.msg.contains("maxx"), "{e}");
        let e = error("[[rule]]\nmetric = \"cos\"\nmin = \"high\"\n");
        assert_eq!(e.line, Some(3), "{e}");
        let e = error("[[rule]]\nmetric = \"cos\"\n");
        assert_eq!(e.line, Some(1), "{e}");
        assert!(e.msg.contains("`min` or `max`"), "{e}");
        let e = error("\n\n[[rule]]\nmetric = \"cos\"\nmin = 1\nmax = 0.5\n");
        assert_eq!(e.line, Some(3), "{e}");
        let e = error("[[rule]]\nmetric = \"ulp_max\"\npath = \"A\"\nmax = 4\n");
        assert!(e.msg.contains("per path"), "{e}");
        let e = error("[[rule]]\nmetric = \"cos\"\npath = \"D\"\nmin = 0\n");
        assert_eq!(e.line, Some(3), "{e}");
        let e = error("[[rules]]\nmetric = \"cos\"\n");
        assert_eq!(e.line, Some(1), "{e}");
        let e = error("[[rule]]\nmetric = \"cos\"\nmin = nan\n");
        assert_eq!(e.line, Some(3), "{e}");
        assert_eq!(error("# nothing\n").line, None);
        assert_eq!(error("[[rule]\n").line, Some(1));
    }

    #[test]
    fn bounds_are_inclusive_and_nan_fails() {
        let r = &Rules::parse("[[rule]]\nmetric = \"cos\"\nmin = 0.5\nmax = 1\n")
            .unwrap()
            .rules[0];
        assert!(r.holds(0.5) && r.holds(1.0) && !r.holds(0.49) && !r.holds(f64::NAN));
        assert!(!r.holds(1.01));
    }
}
