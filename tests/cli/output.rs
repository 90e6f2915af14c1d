//! The one output path: every report command writes `--json`, `--markdown` and `--html`, and options after a
//! variadic list of values are options, not values.

use crate::common::{fixture, isolate, s};

const DEMO: &str = "fixtures/demo/quant_drift.safetensors";

/// `args` with `--json J --markdown M --html H` in a temp dir: (exit code, json, markdown, html).
fn three_ways(args: &[&str]) -> (i32, serde_json::Value, String, String) {
    let d = tempfile::tempdir().unwrap();
    let (j, m, h) = (
        d.path().join("r.json"),
        d.path().join("r.md"),
        d.path().join("r.html"),
    );
    let mut v: Vec<&str> = args.to_vec();
    v.extend(["--json", s(&j), "--markdown", s(&m), "--html", s(&h)]);
    let o = isolate(&v);
    assert!(o.code == 0 || o.code == 1, "{:?}: {}", args, o.stderr);
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap();
    (
        o.code,
        serde_json::from_str(&read(&j)).unwrap(),
        read(&m),
        read(&h),
    )
}

#[test]
fn every_report_command_writes_json_markdown_and_html() {
    let minilm = [
        "--input",
        "fixtures/minilm/ffn_act.safetensors",
        "--input",
        "fixtures/minilm/ffn_act_q.safetensors",
    ];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "gemm",
                "--input",
                DEMO,
                "--target-quant",
                "torch-e8m0",
                "--ref-quant",
                "deepgemm-ue8m0",
                "--target-gemm",
                "blockwise",
                "--ref-gemm",
                "blockwise",
            ],
            "verdict",
        ),
        (
            vec![
                "gemm",
                "fingerprint",
                "--input",
                "fixtures/demo/gemm_drift.safetensors",
            ],
            "ranking",
        ),
        (
            [
                &["quant"][..],
                &minilm,
                &["--reference", "deepgemm-ue8m0", "--candidate", "vllm"],
            ]
            .concat(),
            "byte_equal",
        ),
        ([&["fingerprint"][..], &minilm].concat(), "best"),
        (vec!["inspect", DEMO], ""),
        (vec!["e8m0", "decode", "127", "128"], ""),
        (vec!["selftest", "--backend", "cpu"], "checks"),
    ];
    for (args, field) in cases {
        let (_, j, md, html) = three_ways(&args);
        if field.is_empty() {
            assert!(j.as_array().is_some_and(|a| !a.is_empty()), "{args:?}: {j}");
        } else {
            assert!(!j[field].is_null(), "{args:?}: no `{field}` in {j}");
        }
        assert!(md.starts_with("# isolate"), "{args:?}: {md}");
        assert!(
            md.contains("| --: |") || md.contains("| :-- |"),
            "{args:?}: no table in {md}"
        );
        assert!(
            html.starts_with("<!DOCTYPE html>")
                && html.contains("<table>")
                && !html.contains("<script"),
            "{args:?}"
        );
    }
}

#[test]
fn the_gemm_page_plots_where_the_paths_differ() {
    let (code, _, md, html) = three_ways(&[
        "gemm",
        "--input",
        DEMO,
        "--target-quant",
        "torch-e8m0",
        "--ref-quant",
        "deepgemm-ue8m0",
        "--target-gemm",
        "blockwise",
        "--ref-gemm",
        "blockwise",
    ]);
    assert_eq!(code, 1);
    // The A/B/C1/C2 table and the verdict with its rule, in both documents.
    for doc in [&md, &html] {
        assert!(
            doc.contains("torch-e8m0")
                && doc.contains("verdict: quant")
                && doc.contains("rule: quant if")
        );
    }
    // Two figures: the ulp spread (one bar group per bucket, a bar per path) and the tile map of A vs B.
    assert_eq!(html.matches("<figure>").count(), 2, "{html}");
    assert!(
        html.contains("ulp distance to B")
            && html.contains("A vs B: fraction of differing elements per tile")
    );
    assert!(html.contains("C1: ") && html.contains("C2: "));
    // Markdown and the terminal leave figures out.
    assert!(!md.contains("<svg"));
}

#[test]
fn json_and_markdown_cannot_both_take_stdout() {
    let o = isolate(&["inspect", DEMO, "--json", "-", "--markdown", "-"]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("cannot both go to stdout"),
        "{}",
        o.stderr
    );
}

#[test]
fn options_after_variadic_values_are_options() {
    // The reported bug: `--json -` after the values was read as a value.
    let o = isolate(&["e8m0", "encode", "0.7", "1.0", "--json", "-"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let j = o.json();
    assert_eq!(j.as_array().unwrap().len(), 2);
    assert_eq!(j[0]["code"], 127); // ceil: 0.7 → 2^0
                                   // Negative values, a negative exponent and -inf are still values; options may come after them.
    let o = isolate(&[
        "e8m0", "encode", "-0.5", "-1e-5", "-inf", "--round", "nearest", "--json", "-",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let j = o.json();
    assert_eq!(j.as_array().unwrap().len(), 3);
    assert_eq!(j[0]["code"], 126);
    assert_eq!(j[2]["code"], 255, "{j}");
    // An unknown option after the values is one line, exit 2.
    let o = isolate(&["e8m0", "encode", "1.0", "--nonsense"]);
    assert_eq!(o.code, 2);
    assert_eq!(o.stderr.trim_end().lines().count(), 1, "{}", o.stderr);
    // The other variadic commands.
    let o = isolate(&["e8m0", "decode", "127", "0x80", "--json", "-"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.json()[1]["decoded"], 2.0);
    let o = isolate(&[
        "inspect",
        s(&fixture("demo/quant_drift.safetensors")),
        "--json",
        "-",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.json().as_array().is_some_and(|a| a.len() == 7));
}
