//! The report of `isolate gate` (docs/contract.md §8): one row per rule × matched subject (value, bound,
//! pass/fail), the JSON of §8.5, the run and its gate together for `--gate` ([`Gated`]), and the JUnit XML of
//! `--junit` ([`junit`]).

use serde_json::{json, Value};

use crate::experiment::gate::{Check, GateResult, Metric, RuleOutcome};
use crate::report::doc::{Block, Doc, DocTable, Tone};
use crate::report::fmt::{fcos, fsci};
use crate::report::json::num;
use crate::report::Render;

/// `isolate gate`'s result.
pub struct GateReport(pub GateResult);

fn fvalue(m: Metric, v: f64) -> String {
    match m {
        Metric::Cos => fcos(v),
        Metric::UlpP50 | Metric::UlpP99 | Metric::UlpMax if v.fract() == 0.0 => format!("{v}"),
        _ => fsci(v),
    }
}

/// `PASS: 3 rules, 12 checks, none failed` (or `FAIL: … 2 failed`, with the optional rules that matched
/// nothing).
fn summary(r: &GateResult) -> String {
    let c = r.counts();
    let mut s = format!(
        "{}: {} rule{}, {} check{}, {}",
        if r.passed() { "PASS" } else { "FAIL" },
        c.rules,
        if c.rules == 1 { "" } else { "s" },
        c.tests - c.skipped,
        if c.tests - c.skipped == 1 { "" } else { "s" },
        if c.failures == 0 {
            "none failed".to_string()
        } else {
            format!("{} failed", c.failures)
        }
    );
    if c.skipped > 0 {
        s.push_str(&format!(
            ", {} optional rule{} matched nothing",
            c.skipped,
            if c.skipped == 1 { "" } else { "s" }
        ));
    }
    s
}

/// The gate as document blocks (a table and the summary line), for its own report and under a run's.
fn blocks(r: &GateResult, doc: &mut Doc) {
    let mut t = DocTable::new([
        "rule",
        "line",
        r.kind.subject_word(),
        "value",
        "bound",
        "result",
    ])
    .left(&[0, 2, 5]);
    for o in &r.outcomes {
        let title = o.rule.title();
        let line = o.rule.line.to_string();
        if o.checks.is_empty() {
            let (tone, result) = if o.rule.optional {
                (Tone::Drift, "warning: matched nothing")
            } else {
                (Tone::Bad, "FAIL: matched nothing")
            };
            t.row(
                tone,
                vec![
                    title,
                    line,
                    format!("({})", o.rule.pattern.as_str()),
                    String::new(),
                    o.rule.bounds(),
                    result.into(),
                ],
            );
            continue;
        }
        for c in &o.checks {
            t.row(
                if c.pass { Tone::Ok } else { Tone::Bad },
                vec![
                    title.clone(),
                    line.clone(),
                    c.subject.clone(),
                    match &c.value {
                        Ok(v) => fvalue(o.rule.metric, *v),
                        Err(_) => "—".into(),
                    },
                    o.rule.bounds(),
                    if c.pass {
                        "pass".into()
                    } else {
                        format!("FAIL: {}", o.message(c))
                    },
                ],
            );
        }
    }
    doc.push(Block::Table(t));
    doc.push(Block::Verdict(
        if r.passed() { Tone::Ok } else { Tone::Bad },
        format!("gate {}", summary(r)),
    ));
}

fn check_json(o: &RuleOutcome, c: &Check) -> Value {
    json!({
        "subject": c.subject,
        "value": c.value.as_ref().ok().map(|&v| num(v)),
        "pass": c.pass,
        "message": if c.pass { Value::Null } else { o.message(c).into() },
    })
}

/// The gate's JSON (docs/contract.md §8.5).
pub fn gate_json(r: &GateResult) -> Value {
    let c = r.counts();
    json!({
        "command": "gate",
        "rules_file": r.rules_file.display().to_string(),
        "run_file": r.run_file.as_ref().map(|p| p.display().to_string()),
        "run_kind": r.kind.name(),
        "site": r.site,
        "run_exit_code": r.run_exit_code,
        "passed": r.passed(),
        "exit_code": r.exit_code(),
        "counts": {"rules": c.rules, "tests": c.tests, "failures": c.failures, "skipped": c.skipped},
        "rules": r.outcomes.iter().map(|o| json!({
            "title": o.rule.title(),
            "name": o.rule.name,
            "line": o.rule.line,
            "match": o.rule.pattern.as_str(),
            "metric": o.rule.metric.name(),
            "min": o.rule.min.map(num),
            "max": o.rule.max.map(num),
            "path": o.rule.path.map(|p| p.name()),
            "against": o.rule.against.map(|a| a.name()),
            "optional": o.rule.optional,
            "status": o.status().name(),
            "checks": o.checks.iter().map(|c| check_json(o, c)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

impl Render for GateReport {
    fn document(&self, _figures: bool) -> Doc {
        let r = &self.0;
        let mut doc = Doc::new(format!(
            "isolate gate: {}",
            if r.passed() { "PASS" } else { "FAIL" }
        ));
        let mut fields = vec![
            ("rules".to_string(), r.rules_file.display().to_string()),
            (
                "run".to_string(),
                match &r.run_file {
                    Some(p) => format!("{} ({})", p.display(), r.kind.name()),
                    None => r.kind.name().to_string(),
                },
            ),
        ];
        if let Some(s) = &r.site {
            fields.push(("site".into(), s.clone()));
        }
        if let Some(e) = r.run_exit_code {
            fields.push((
                "run exit".into(),
                format!("{e} (the run's own verdict; the gate's exit is the rules' alone)"),
            ));
        }
        doc.push(Block::Fields(fields));
        blocks(r, &mut doc);
        doc
    }

    fn json(&self) -> Value {
        gate_json(&self.0)
    }
}

/// A run and its gate (`--gate` on `isolate gemm` / `isolate compare …`): the run's report followed by the
/// gate's; the run's JSON with a `gate` object added.
pub struct Gated<'a> {
    pub run: &'a dyn Render,
    pub gate: &'a GateResult,
}

impl Render for Gated<'_> {
    fn document(&self, figures: bool) -> Doc {
        let mut doc = self.run.document(figures);
        doc.push(Block::Heading(format!(
            "gate: {}",
            self.gate.rules_file.display()
        )));
        blocks(self.gate, &mut doc);
        doc
    }

    fn json(&self) -> Value {
        let mut v = self.run.json();
        if let Some(o) = v.as_object_mut() {
            o.insert("gate".into(), gate_json(self.gate));
        }
        v
    }
}

/// Text for XML: `&`, `<`, `>`, `"`, `'` escaped, and the characters XML 1.0 cannot hold at all (control
/// characters other than tab, newline, carriage return) replaced by U+FFFD, since stage names come from files.
fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\t' | '\n' | '\r' => o.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

/// The gate as JUnit XML (docs/contract.md §8.6): `<testsuites>` with one `<testsuite>` per rule and one
/// `<testcase>` per matched subject; a failed check has a `<failure message=…>`; a rule that matched nothing is
/// one testcase with a `<failure>` (or `<skipped>` when the rule is optional).
///
/// Written here rather than with an XML crate: the format is four elements and five attributes, and the one
/// subtle part, escaping text that comes from user files, is [`xml_escape`]; the tests read the output back with
/// a real XML parser.
pub fn junit(r: &GateResult) -> String {
    let c = r.counts();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">\n",
        xml_escape(&format!("isolate gate {}", r.rules_file.display())),
        c.tests,
        c.failures,
        c.skipped
    ));
    for o in &r.outcomes {
        let title = format!("line {}: {}", o.rule.line, o.rule.title());
        let failures = if o.checks.is_empty() {
            usize::from(!o.rule.optional)
        } else {
            o.checks.iter().filter(|k| !k.pass).count()
        };
        let skipped = usize::from(o.checks.is_empty() && o.rule.optional);
        x.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">\n",
            xml_escape(&title),
            o.checks.len().max(1),
        ));
        let case = |name: &str| {
            format!(
                "    <testcase classname=\"{}\" name=\"{}\"",
                xml_escape(&title),
                xml_escape(name)
            )
        };
        if o.checks.is_empty() {
            let name = format!(
                "{} matching {}",
                r.kind.subject_word(),
                o.rule.pattern.as_str()
            );
            let msg = xml_escape(&format!(
                "no {} matches {}",
                r.kind.subject_word(),
                o.rule.pattern.as_str()
            ));
            let inner = if o.rule.optional {
                format!("<skipped message=\"{msg}\"/>")
            } else {
                format!("<failure message=\"{msg}\" type=\"no_match\"/>")
            };
            x.push_str(&format!("{}>{inner}</testcase>\n", case(&name)));
        } else {
            for k in &o.checks {
                if k.pass {
                    x.push_str(&format!("{}/>\n", case(&k.subject)));
                } else {
                    let msg = xml_escape(&o.message(k));
                    x.push_str(&format!(
                        "{}><failure message=\"{msg}\" type=\"{}\">{msg}</failure></testcase>\n",
                        case(&k.subject),
                        if k.value.is_err() {
                            "no_value"
                        } else {
                            "bound"
                        }
                    ));
                }
            }
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

/// Writes [`junit`] to `path`.
pub fn write_junit(path: &std::path::Path, r: &GateResult) -> crate::error::Result<()> {
    std::fs::write(path, junit(r)).map_err(|e| crate::error::Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_text_is_escaped_and_cleaned() {
        assert_eq!(
            xml_escape("a<b>&\"c'\u{1}\td"),
            "a&lt;b&gt;&amp;&quot;c&apos;\u{FFFD}\td"
        );
    }
}
