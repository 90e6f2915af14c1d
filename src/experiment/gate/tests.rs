use std::path::Path;

use serde_json::json;

use super::*;

fn gate(rules: &str, run: &Value, site: Option<&str>) -> Result<GateResult> {
    let rules = Rules::parse(rules).unwrap();
    evaluate(&GateRequest {
        rules_file: Path::new("r.toml"),
        rules: &rules,
        run,
        run_file: Some(Path::new("run.json")),
        site,
    })
}

fn gemm_run() -> Value {
    let m = |cos: Value| json!({"cos": cos, "rel": 0.01, "max_abs": 0.5, "bitwise": false, "byte_equal": null, "value_equal": 0.1, "flag": "?"});
    json!({
        "verdict": "quant",
        "paths": {
            "A": {"vs_ref": m(json!(0.999)), "vs_target": null},
            "B": {"vs_ref": m(json!(1.0)), "vs_target": null},
            "C1": {"vs_ref": m(json!(1.0)), "vs_target": null},
            "C2": {"vs_ref": m(json!("NaN")), "vs_target": null},
        },
        "envelope": {"available": true, "ratio": {"one_minus_cos": 5.1}},
    })
}

fn fwd_run() -> Value {
    json!({
        "command": "compare ref-vs-target", "exit_code": 1,
        "stages": [
            {"stage": "layer0.ffn_out", "status": "compared", "cos": 0.9999, "rel": 0.01, "ulp_max": 3},
            {"stage": "layer1.ffn_out", "status": "compared", "cos": "NaN", "rel": 0.01, "ulp_max": null},
            {"stage": "layer1.attn_out", "status": "shape_mismatch"},
        ],
    })
}

#[test]
fn kinds_are_told_by_shape() {
    assert_eq!(RunKind::detect(&gemm_run()), Ok(RunKind::Gemm));
    assert_eq!(RunKind::detect(&fwd_run()), Ok(RunKind::RefVsTarget));
    assert!(RunKind::detect(&json!({"ranking": [], "best": []}))
        .unwrap_err()
        .contains("fingerprint"));
    assert!(RunKind::detect(&json!([1])).is_err());
    assert!(RunKind::detect(&json!({"command": "quant"})).is_err());
}

#[test]
fn a_gemm_run_is_gated_per_path_and_envelope() {
    let g = gate(
        "[[rule]]\nmetric = \"cos\"\nmin = 0.998\n\
         [[rule]]\nmetric = \"envelope_ratio\"\nmax = 10\n\
         [[rule]]\nmetric = \"cos\"\npath = \"C2\"\nmin = 0\n\
         [[rule]]\nmetric = \"cos\"\nagainst = \"target\"\nmin = 0.9\n",
        &gemm_run(),
        Some("layer3.ffn.down"),
    )
    .unwrap();
    let st: Vec<RuleStatus> = g.outcomes.iter().map(RuleOutcome::status).collect();
    assert_eq!(
        st,
        [
            RuleStatus::Pass,
            RuleStatus::Pass,
            RuleStatus::Fail,
            RuleStatus::Fail
        ]
    );
    assert_eq!(g.outcomes[0].checks[0].subject, "layer3.ffn.down A vs ref");
    assert_eq!(g.outcomes[1].checks[0].value, Ok(5.1));
    let o = &g.outcomes[2];
    assert_eq!(o.message(&o.checks[0]), "cos is NaN");
    let o = &g.outcomes[3];
    assert!(o.message(&o.checks[0]).contains("no target_out"));
    assert_eq!(g.run_exit_code, Some(1));
    assert_eq!(g.exit_code(), 1);
    assert_eq!(
        g.counts(),
        Counts {
            rules: 4,
            tests: 4,
            failures: 2,
            skipped: 0
        }
    );
}

#[test]
fn a_site_pattern_selects_the_gemm_run() {
    let rules = "[[rule]]\nmatch = \"layer*.attn.*\"\nmetric = \"cos\"\nmin = 0.9\n";
    let g = gate(rules, &gemm_run(), Some("layer3.ffn.down")).unwrap();
    assert_eq!(g.outcomes[0].status(), RuleStatus::NoMatch);
    assert_eq!(g.exit_code(), 1, "a rule matching nothing fails");
    let g = gate(&format!("{rules}optional = true\n"), &gemm_run(), None).unwrap();
    assert_eq!(g.exit_code(), 0, "an optional rule matching nothing warns");
    assert_eq!(g.counts().skipped, 1);
}

#[test]
fn compare_stages_fail_closed() {
    let g = gate(
        "[[rule]]\nmatch = \"layer*.ffn_out\"\nmetric = \"cos\"\nmin = 0.999\n\
         [[rule]]\nmatch = \"layer1.*\"\nmetric = \"rel\"\nmax = 0.1\n\
         [[rule]]\nmatch = \"layer0.*\"\nmetric = \"ulp_max\"\nmax = 2\n",
        &fwd_run(),
        None,
    )
    .unwrap();
    let o = &g.outcomes[0];
    assert_eq!(o.checks.len(), 2);
    assert!(o.checks[0].pass && !o.checks[1].pass);
    let o = &g.outcomes[1];
    assert_eq!(o.message(&o.checks[1]), "no rel: status shape_mismatch");
    let o = &g.outcomes[2];
    assert_eq!(o.message(&o.checks[0]), "ulp_max 3 > max 2");
    assert_eq!(g.counts().failures, 3);
}

#[test]
fn rules_the_run_cannot_answer_name_their_line() {
    let e = gate(
        "[[rule]]\nmetric = \"cos\"\nmin = 0\n\n[[rule]]\nmetric = \"ulp_max\"\nmax = 1\n",
        &gemm_run(),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("r.toml line 5: metric ulp_max"), "{e}");
    let e = gate(
        "[[rule]]\nmetric = \"cos\"\npath = \"A\"\nmin = 0\n",
        &fwd_run(),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("line 1") && e.contains("compare ref-vs-target"),
        "{e}"
    );
    let e = gate(
        "[[rule]]\nmetric = \"cos\"\nmin = 0\n",
        &fwd_run(),
        Some("x"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("--site"), "{e}");
    let e = gate(
        "[[rule]]\nmetric = \"cos\"\nmin = 0\n",
        &json!({"command": "compare schema"}),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("run.json: ") && e.contains("`common`"), "{e}");
}

#[test]
fn slot_rows_take_the_worst_slot() {
    let run = json!({
        "command": "compare slot-invariance", "exit_code": 1,
        "rows": [{"layer": 1, "stage": "BertAttention", "slots": [
            {"slot": 1, "cos": 1.0, "max_abs": 0.0},
            {"slot": 2, "cos": 0.5, "max_abs": 2.0},
            {"slot": 3, "cos": 0.9, "max_abs": 1.0},
        ]}],
    });
    let g = gate(
        "[[rule]]\nmatch = \"layer1.*\"\nmetric = \"cos\"\nmin = 0.6\n\
         [[rule]]\nmetric = \"max_abs\"\nmax = 3\n",
        &run,
        None,
    )
    .unwrap();
    assert_eq!(g.outcomes[0].checks[0].subject, "layer1.BertAttention");
    assert_eq!(g.outcomes[0].checks[0].value, Ok(0.5));
    assert_eq!(g.outcomes[1].checks[0].value, Ok(2.0));
    assert_eq!(g.exit_code(), 1);
}
