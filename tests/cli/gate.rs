//! `isolate gate RULES.toml --input RUN.json` and `--gate` on `isolate gemm` / `isolate compare`
//! (docs/contract.md §8): the example rules pass on the README's demo run, a violated rule exits 1, a rules
//! file error exits 2 naming its line, and `--junit` writes XML that a real XML parser reads with the right
//! structure and counts.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::common::{isolate, s};

const DEMO: [&str; 11] = [
    "gemm",
    "--input",
    "fixtures/demo/quant_drift.safetensors",
    "--target-quant",
    "torch-e8m0",
    "--ref-quant",
    "deepgemm-ue8m0",
    "--target-gemm",
    "blockwise",
    "--ref-gemm",
    "blockwise",
];

/// The README's first command's `--json` (made once per test binary).
fn demo_run() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gate-demo-run.json");
        let mut a = DEMO.to_vec();
        a.extend(["--json", s(&p)]);
        let r = isolate(&a);
        assert_eq!(r.code, 1, "the demo's verdict is quant: {}", r.stderr);
        p
    })
}

/// A rules file with `text` in a fresh temporary directory (kept alive by the returned guard).
fn rules(text: &str) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("rules.toml");
    std::fs::write(&p, text).unwrap();
    (d, p)
}

#[test]
fn the_example_rules_pass_on_the_demo_run() {
    let r = isolate(&[
        "gate",
        "examples/gate-rules.toml",
        "--input",
        s(demo_run()),
        "--json",
        "-",
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["command"], "gate");
    assert_eq!(j["run_kind"], "gemm");
    assert_eq!(j["passed"], true);
    assert_eq!(j["run_exit_code"], 1, "the run's own verdict is reported");
    let rules = j["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 6);
    let env = rules
        .iter()
        .find(|r| r["metric"] == "envelope_ratio")
        .unwrap();
    let ratio = env["checks"][0]["value"].as_f64().unwrap();
    assert!(ratio > 1.0 && ratio < 10.0, "{ratio}");
    // The site-scoped rule matches nothing here (the run names no site): optional, so a warning.
    assert_eq!(rules[5]["status"], "no_match");
    assert_eq!(j["counts"]["skipped"], 1);
    // Named by its capture site, the same run satisfies the site rule too.
    let r = isolate(&[
        "gate",
        "examples/gate-rules.toml",
        "--input",
        s(demo_run()),
        "--site",
        "layer3.ffn.down",
        "--json",
        "-",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["rules"][5]["status"], "pass");
}

#[test]
fn a_violated_rule_exits_1_and_says_which() {
    let (_d, p) = rules(
        "[[rule]]\nmetric = \"cos\"\nmin = 0.999\n\n\
         [[rule]]\nname = \"tight\"\nmetric = \"cos\"\nmin = 0.9999\n",
    );
    let r = isolate(&["gate", s(&p), "--input", s(demo_run())]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("FAIL: cos 0.99904"), "{}", r.stdout);
    assert!(
        r.stdout.contains("gate FAIL: 2 rules, 2 checks, 1 failed"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    // A rule whose pattern matches nothing fails too, unless it is optional.
    let (_d, p) = rules("[[rule]]\nmatch = \"layer*\"\nmetric = \"rel\"\nmax = 1\n");
    let r = isolate(&["gate", s(&p), "--input", s(demo_run())]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("FAIL: matched nothing"), "{}", r.stdout);
}

#[test]
fn rules_file_errors_exit_2_naming_the_line() {
    let (_d, p) =
        rules("[[rule]]\nmetric = \"cos\"\nmin = 0.9\n\n[[rule]]\nmetric = \"coss\"\nmin = 1\n");
    isolate(&["gate", s(&p), "--input", s(demo_run())])
        .assert_bad_input(&["rules.toml line 6: unknown metric 'coss'", "envelope_ratio"]);
    let (_d, p) =
        rules("# a comment\n[[rule]]\nmetric = \"cos\"\nmatch = \"layer[0-9.ffn\"\nmin = 0.9\n");
    isolate(&["gate", s(&p), "--input", s(demo_run())])
        .assert_bad_input(&["rules.toml line 4: bad match pattern", "not closed"]);
    let (_d, p) = rules("[[rule]]\nmetric = \"cos\"\nminimum = 0.9\n");
    isolate(&["gate", s(&p), "--input", s(demo_run())])
        .assert_bad_input(&["rules.toml line 3:", "minimum"]);
    let (_d, p) =
        rules("[[rule]]\nmetric = \"cos\"\nmin = 0.9\n[[rule]]\nmetric = \"ulp_p99\"\nmax = 4\n");
    isolate(&["gate", s(&p), "--input", s(demo_run())])
        .assert_bad_input(&["rules.toml line 4: metric ulp_p99 is not in a gemm run"]);
    // --gate reads the rules before the run: a bad file costs no GEMM and is the one line.
    let (_d, p) = rules("[[rule]]\nmetric = \"cos\"\nmatch = \"{a\"\nmin = 0\n");
    let mut a = DEMO.to_vec();
    a.extend(["--gate", s(&p)]);
    isolate(&a).assert_bad_input(&["rules.toml line 3: bad match pattern"]);
    // Not a run's JSON.
    isolate(&["gate", "examples/gate-rules.toml", "--input", "Cargo.toml"])
        .assert_bad_input(&["Cargo.toml", "not valid JSON"]);
    let (_d, p) = rules("{\"ranking\": [], \"best\": []}");
    isolate(&["gate", "examples/gate-rules.toml", "--input", s(&p)])
        .assert_bad_input(&["fingerprint"]);
}

/// A testsuite as read back: its name and its testcases as (name, failure message).
type Suite = (String, Vec<(String, Option<String>)>);

/// Reads `xml` with roxmltree and checks the JUnit shape: the counts on `testsuites` and on each `testsuite`
/// are the numbers of its `testcase`, `failure` and `skipped` elements. Returns the testsuites.
fn check_junit(xml: &str) -> Vec<Suite> {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let attr = |n: roxmltree::Node, a: &str| -> usize {
        n.attribute(a)
            .unwrap_or_else(|| panic!("no {a} on {n:?}"))
            .parse()
            .unwrap()
    };
    let count =
        |n: roxmltree::Node, tag: &str| n.descendants().filter(|d| d.has_tag_name(tag)).count();
    assert_eq!(attr(root, "tests"), count(root, "testcase"));
    assert_eq!(attr(root, "failures"), count(root, "failure"));
    assert_eq!(attr(root, "skipped"), count(root, "skipped"));
    assert_eq!(attr(root, "errors"), 0);
    let mut suites = Vec::new();
    for suite in root.children().filter(|n| n.is_element()) {
        assert_eq!(suite.tag_name().name(), "testsuite");
        assert_eq!(attr(suite, "tests"), count(suite, "testcase"));
        assert_eq!(attr(suite, "failures"), count(suite, "failure"));
        assert_eq!(attr(suite, "skipped"), count(suite, "skipped"));
        let cases = suite
            .children()
            .filter(|n| n.is_element())
            .map(|c| {
                assert_eq!(c.tag_name().name(), "testcase");
                assert!(c.attribute("classname").is_some());
                let failure = c
                    .children()
                    .find(|f| f.has_tag_name("failure"))
                    .map(|f| f.attribute("message").unwrap().to_string());
                (c.attribute("name").unwrap().to_string(), failure)
            })
            .collect();
        suites.push((suite.attribute("name").unwrap().to_string(), cases));
    }
    suites
}

#[test]
fn junit_is_read_by_an_xml_parser_with_the_right_counts() {
    let d = tempfile::tempdir().unwrap();
    let xml = d.path().join("gate.xml");
    // A compare run: per-stage rules, one violated on two stages, one matching nothing, one optional.
    let (_r, p) = rules(
        "[[rule]]\nname = \"layer 3 <exact> & \\\"close\\\"\"\nmatch = \"layer3.*\"\nmetric = \"cos\"\nmin = 0.99999\n\
         [[rule]]\nmatch = \"layer{0,1,2}.hidden_out\"\nmetric = \"ulp_max\"\nmax = 0\n\
         [[rule]]\nmatch = \"layer9*\"\nmetric = \"rel\"\nmax = 0.1\n\
         [[rule]]\nmatch = \"mtp.*\"\nmetric = \"rel\"\nmax = 0.1\noptional = true\n",
    );
    let r = isolate(&[
        "compare",
        "ref-vs-target",
        "--dir",
        "fixtures/compare/fwd",
        "--gate",
        s(&p),
        "--junit",
        s(&xml),
        "--json",
        "-",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["exit_code"], 0, "the run's own thresholds pass");
    assert_eq!(j["gate"]["passed"], false);
    let text = std::fs::read_to_string(&xml).unwrap();
    let suites = check_junit(&text);
    assert_eq!(suites.len(), 4);
    let (name, cases) = &suites[0];
    assert_eq!(
        name, "line 1: layer 3 <exact> & \"close\"",
        "escaped and read back"
    );
    let failed: Vec<&str> = cases
        .iter()
        .filter(|c| c.1.is_some())
        .map(|c| c.0.as_str())
        .collect();
    assert_eq!(failed, ["layer3.ffn_out", "layer3.hidden_out"]);
    assert!(cases[3].1.as_deref().unwrap().starts_with("cos 0.99968"));
    assert_eq!(suites[1].1.len(), 3);
    assert!(suites[1].1.iter().all(|c| c.1.is_none()));
    assert_eq!(
        suites[2].1[0].1.as_deref(),
        Some("no stage matches layer9*")
    );
    let doc = roxmltree::Document::parse(&text).unwrap();
    let root = doc.root_element();
    assert_eq!(root.attribute("tests"), Some("10"));
    assert_eq!(root.attribute("failures"), Some("3"));
    assert_eq!(root.attribute("skipped"), Some("1"));
    // The same rules over the run's JSON give the same JUnit (the gate reads what --json wrote).
    let run = d.path().join("run.json");
    std::fs::write(&run, r.stdout.as_bytes()).unwrap();
    let xml2 = d.path().join("gate2.xml");
    let g = isolate(&["gate", s(&p), "--input", s(&run), "--junit", s(&xml2)]);
    assert_eq!(g.code, 1);
    assert_eq!(std::fs::read_to_string(&xml2).unwrap(), text);
}

#[test]
fn gate_flag_on_gemm_adds_to_the_runs_exit_code() {
    // Target and reference quantize alike: verdict none, the run alone exits 0.
    let same = [
        "gemm",
        "--input",
        "fixtures/demo/quant_drift.safetensors",
        "--target-quant",
        "deepgemm-ue8m0",
        "--ref-quant",
        "deepgemm-ue8m0",
        "--target-gemm",
        "blockwise",
        "--ref-gemm",
        "blockwise",
        "--no-envelope",
    ];
    let (_d, pass) = rules("[[rule]]\nmetric = \"cos\"\nmin = 0.999\n");
    let (_e, fail) = rules(
        "[[rule]]\nmetric = \"cos\"\nmin = 0.999\n\
         [[rule]]\nname = \"A reproduces target_out\"\nmetric = \"value_equal\"\nagainst = \"target\"\nmin = 1\n",
    );
    let run = |extra: &[&str]| {
        let mut a = same.to_vec();
        a.extend(extra);
        isolate(&a)
    };
    let r = run(&["--gate", s(&pass)]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("verdict: none") && r.stdout.contains("gate PASS"),
        "{}",
        r.stdout
    );
    // The run is fine, a rule is not (target_out was made by torch-e8m0, not by this quantizer): exit 1.
    let d = tempfile::tempdir().unwrap();
    let xml = d.path().join("g.xml");
    let r = run(&["--gate", s(&fail), "--junit", s(&xml), "--json", "-"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["verdict"], "none");
    assert_eq!(j["gate"]["exit_code"], 1);
    assert_eq!(j["gate"]["rules"][1]["status"], "fail");
    let suites = check_junit(&std::fs::read_to_string(&xml).unwrap());
    assert_eq!(suites[1].1[0].0, "A vs target");
    assert!(suites[1].1[0]
        .1
        .as_deref()
        .unwrap()
        .starts_with("value_equal 0.039"));
    // Without --gate the same run exits 0: the gate is what failed.
    assert_eq!(run(&[]).code, 0);
    // The run's own verdict still counts under --gate: the demo (verdict quant) passes its rules, exits 1.
    let mut a = DEMO.to_vec();
    a.extend(["--gate", "examples/gate-rules.toml", "--json", "-"]);
    let r = isolate(&a);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["verdict"], "quant");
    assert_eq!(j["gate"]["passed"], true);
}
