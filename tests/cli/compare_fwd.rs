//! `compare ref-vs-target` and `compare layer-bisect` on synthetic safetensors dumps written here.

use std::path::Path;

use crate::common::{isolate, Run};
use crate::compare_util::*;

const T: usize = 12;
const H: usize = 40;
const STAGES: [&str; 6] = [
    "hidden_in",
    "attn_norm_out",
    "attn_out",
    "ffn_norm_out",
    "ffn_out",
    "hidden_out",
];

/// Writes `atom_rank0_fwd.safetensors` / `ref_rank0_fwd.safetensors`: input_ids, embed_out, the six stages of
/// each layer, final_h. Target = ref + eps(layer, stage) · noise; `hidden_out` of the target gets a leading 1.
fn write_pair(
    dir: &Path,
    layers: &[u64],
    eps: impl Fn(u64, &str) -> f32,
) -> Vec<(String, Vec<f32>, Vec<f32>)> {
    let mut names: Vec<(String, Option<u64>, &str)> = vec![("embed.embed_out".into(), None, "")];
    for &l in layers {
        for s in STAGES {
            names.push((format!("layer{l}.{s}"), Some(l), s));
        }
    }
    names.push(("embed.final_h".into(), None, ""));
    let (mut rt, mut tt, mut out) = (
        vec![i64t("embed.input_ids", &[7; T])],
        vec![i64t("embed.input_ids", &[7; T])],
        vec![],
    );
    for (i, (name, l, s)) in names.iter().enumerate() {
        let r = values(T * H, 1000 + i as u64);
        let e = l.map(|l| eps(l, s)).unwrap_or(0.0);
        let noise = values(T * H, 5000 + i as u64);
        let t: Vec<f32> = r.iter().zip(&noise).map(|(a, n)| a + e * n).collect();
        rt.push(f32t(name, &[T, H], &r));
        let shape: Vec<usize> = if *s == "hidden_out" {
            vec![1, T, H]
        } else {
            vec![T, H]
        };
        tt.push(f32t(name, &shape, &t));
        out.push((name.clone(), t, r));
    }
    write(&dir.join("ref_rank0_fwd.safetensors"), rt);
    write(&dir.join("atom_rank0_fwd.safetensors"), tt);
    out
}

fn bisect(dir: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "compare",
        "layer-bisect",
        "--dir",
        dir.to_str().unwrap(),
        "--json",
        "-",
    ];
    args.extend_from_slice(extra);
    isolate(&args)
}

#[test]
fn natural_order_squeeze_and_metrics_match_an_independent_f64_cos_max() {
    let d = tempfile::tempdir().unwrap();
    let layers = [0, 1, 2, 10];
    let data = write_pair(d.path(), &layers, |l, s| {
        if l == 2 && s != "hidden_in" {
            0.02
        } else {
            0.0
        }
    });
    let r = isolate(&[
        "compare",
        "ref-vs-target",
        "--dir",
        d.path().to_str().unwrap(),
        "--json",
        "-",
    ]);
    let j = r.json();
    assert_eq!(j["input_ids"]["status"], "match");
    let stages: Vec<&str> = j["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    let mut want = vec!["embed.input_ids".to_string(), "embed.embed_out".into()];
    for l in layers {
        want.extend(STAGES.iter().map(|s| format!("layer{l}.{s}")));
    }
    want.push("embed.final_h".into());
    assert_eq!(stages, want);
    for s in j["stages"].as_array().unwrap() {
        assert_eq!(s["status"], "compared", "{s}");
        assert_eq!(s["target_shape"], s["ref_shape"]); // the leading 1 of hidden_out was squeezed
        let Some((_, t, rf)) = data
            .iter()
            .find(|(n, _, _)| n == s["stage"].as_str().unwrap())
        else {
            continue;
        };
        let (cos, max_abs, rel) = cos_max(t, rf);
        assert!(
            (f(&s["cos"]) - cos).abs() <= 1e-12,
            "{}: {} vs {cos}",
            s["stage"],
            s["cos"]
        );
        assert!(
            (f(&s["max_abs"]) - max_abs).abs() <= 1e-12 * max_abs.max(1e-300),
            "{}",
            s["stage"]
        );
        assert!(
            (f(&s["rel"]) - rel).abs() <= 1e-12 * rel.max(1e-300),
            "{}",
            s["stage"]
        );
        if max_abs == 0.0 {
            assert_eq!(f(&s["byte_equal"]), 1.0);
        }
    }
    assert_eq!(j["exit_code"], r.code);
    // Drift 0.02 at layer 2: cos ≈ 0.9998 > 0.999, rel ≈ 0.02 < 0.1: nothing past the default thresholds.
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn shape_mismatch_is_reported_per_stage_never_truncated() {
    let d = tempfile::tempdir().unwrap();
    write_pair(d.path(), &[0, 1], |_, _| 0.0);
    // Replace one target stage by a shorter one (ATOM would compare the first 6 rows silently).
    let p = d.path().join("atom_rank0_fwd.safetensors");
    let mut ts = isolate::io::load(&p).unwrap().tensors;
    let i = ts.iter().position(|t| t.name == "layer1.ffn_out").unwrap();
    ts[i] = f32t("layer1.ffn_out", &[6, H], &ts[i].to_f32()[..6 * H]);
    write(&p, ts);
    let r = isolate(&[
        "compare",
        "ref-vs-target",
        "--dir",
        d.path().to_str().unwrap(),
        "--json",
        "-",
    ]);
    let j = r.json();
    let s = j["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "layer1.ffn_out")
        .unwrap();
    assert_eq!(s["status"], "shape_mismatch");
    assert_eq!(s["target_shape"], serde_json::json!([6, H]));
    assert_eq!(s["ref_shape"], serde_json::json!([T, H]));
    assert!(s.get("cos").is_none());
    assert_eq!(r.code, 1, "a shape mismatch is a finding");
    let text = isolate(&[
        "compare",
        "ref-vs-target",
        "--dir",
        d.path().to_str().unwrap(),
    ])
    .stdout;
    assert!(
        text.contains("[6, 40] vs [12, 40]") && text.contains("shape differs"),
        "{text}"
    );
}

#[test]
fn nothing_comparable_no_overlap_and_input_ids_mismatch_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (
        d.path().join("a.safetensors"),
        d.path().join("b.safetensors"),
    );
    // Every common stage has another shape.
    write(
        &a,
        vec![
            f32t("layer0.hidden_out", &[4, 8], &[0.5; 32]),
            f32t("layer1.hidden_out", &[2, 8], &[0.5; 16]),
        ],
    );
    write(
        &b,
        vec![
            f32t("layer0.hidden_out", &[8, 8], &[0.5; 64]),
            f32t("layer1.hidden_out", &[4, 8], &[0.5; 32]),
        ],
    );
    let run = |extra: &[&str]| {
        let mut v = vec![
            "compare",
            "ref-vs-target",
            "--target",
            a.to_str().unwrap(),
            "--ref",
            b.to_str().unwrap(),
        ];
        v.extend_from_slice(extra);
        isolate(&v)
    };
    run(&[]).assert_bad_input(&[
        "nothing could be compared",
        "layer0.hidden_out: [4, 8] vs [8, 8]",
    ]);
    // No stage names in common.
    write(&b, vec![f32t("layers.0.out", &[4, 8], &[0.5; 32])]);
    run(&[]).assert_bad_input(&[
        "no stage names in common",
        "layers.0.out",
        "layer0.hidden_out",
    ]);
    // input_ids differ: STOP before anything else.
    write(
        &a,
        vec![
            i64t("embed.input_ids", &[101, 7, 8, 102]),
            f32t("layer0.hidden_out", &[4, 8], &[0.5; 32]),
        ],
    );
    write(
        &b,
        vec![
            i64t("embed.input_ids", &[101, 7, 9, 102]),
            f32t("layer0.hidden_out", &[4, 8], &[0.5; 32]),
        ],
    );
    run(&[]).assert_bad_input(&["embed.input_ids differ", "token 2: 8 vs 9", "STOP"]);
    write(
        &b,
        vec![
            i64t("embed.input_ids", &[7, 8]),
            f32t("layer0.hidden_out", &[4, 8], &[0.5; 32]),
        ],
    );
    run(&[]).assert_bad_input(&["embed.input_ids differ", "(4 tokens)", "(2 tokens)"]);
    isolate(&[
        "compare",
        "layer-bisect",
        "--target",
        a.to_str().unwrap(),
        "--ref",
        b.to_str().unwrap(),
    ])
    .assert_bad_input(&["STOP"]);
    // Same ids with another shape ([1, 4] vs [4]) and dtype (i32) match, as ATOM's long().flatten().
    let ids32: Vec<u8> = [101i32, 7, 8, 102]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    write(
        &b,
        vec![
            raw(
                "embed.input_ids",
                isolate::formats::DType::I32,
                &[1, 4],
                ids32,
            ),
            f32t("layer0.hidden_out", &[4, 8], &[0.5; 32]),
        ],
    );
    let r = run(&["--json", "-"]);
    assert_eq!(
        r.json()["input_ids"],
        serde_json::json!({"status": "match", "n": 4})
    );
    assert_eq!(r.code, 0);
    // Bad flags.
    run(&["--order", "sideways"]).assert_bad_input(&["--order sideways"]);
    run(&["--cos", "NaN"]).assert_bad_input(&["--cos"]);
}

#[test]
fn directory_without_the_expected_files_says_what_it_looked_for() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().to_str().unwrap();
    isolate(&["compare", "ref-vs-target", "--dir", dir]).assert_bad_input(&[
        "atom_rank0_fwd.pt",
        "ref_rank0_fwd.pt",
        "missing",
    ]);
    write_pair(d.path(), &[0], |_, _| 0.0);
    isolate(&["compare", "layer-bisect", "--dir", dir, "--rank", "3"]).assert_bad_input(&[
        "rank 3",
        "atom_rank3_fwd.pt",
        "atom_rank0_fwd.safetensors",
    ]);
    std::fs::remove_file(d.path().join("ref_rank0_fwd.safetensors")).unwrap();
    isolate(&["compare", "ref-vs-target", "--dir", dir])
        .assert_bad_input(&["missing ref_rank0_fwd.pt"]);
    isolate(&["compare", "ref-vs-target", "--dir", &format!("{dir}/nope")])
        .assert_bad_input(&["not a directory"]);
    let r = isolate(&["compare", "ref-vs-target", "--dir", dir, "--target", "x"]);
    assert_eq!(r.code, 2, "clap: --dir conflicts with --target");
    isolate(&["compare", "ref-vs-target"]).assert_bad_input(&["--dir", "--target"]);
}

#[test]
fn thresholds_are_honoured() {
    let d = tempfile::tempdir().unwrap();
    // Layer 2's ffn_out drifts to cos ≈ 0.9996 (rel ≈ 0.03): past 0.9999 but not past 0.999.
    write_pair(d.path(), &[0, 1, 2, 3], |l, s| {
        if l == 2 && s == "ffn_out" {
            0.03
        } else {
            0.0
        }
    });
    let r = bisect(d.path(), &[]);
    let j = r.json();
    assert_eq!(
        (
            r.code,
            &j["first_bad"],
            j["classification"]["kind"].as_str()
        ),
        (0, &serde_json::Value::Null, Some("clean"))
    );
    for extra in [&["--cos", "0.9999"][..], &["--threshold", "0.9999"][..]] {
        let r = bisect(d.path(), extra);
        let j = r.json();
        assert_eq!(r.code, 1);
        assert_eq!(j["first_bad"]["stage"], "layer2.ffn_out");
        assert_eq!(j["first_bad"]["why"], "cos");
        assert_eq!(j["thresholds"]["cos"], 0.9999);
        assert_eq!(j["classification"]["kind"], "sudden");
        assert_eq!(j["classification"]["layer"], 2);
    }
    let r = bisect(d.path(), &["--rel", "0.01"]);
    assert_eq!(
        (r.json()["first_bad"]["why"].as_str(), r.code),
        (Some("rel"), 1)
    );
    // ref-vs-target uses the same thresholds for its exit code.
    let dir = d.path().to_str().unwrap();
    assert_eq!(isolate(&["compare", "ref-vs-target", "--dir", dir]).code, 0);
    assert_eq!(
        isolate(&["compare", "ref-vs-target", "--dir", dir, "--cos", "0.9999"]).code,
        1
    );
}

#[test]
fn classifies_sudden_compounding_and_periodic() {
    let layers: Vec<u64> = (0..10).collect();
    let kind = |eps: &dyn Fn(u64, &str) -> f32| {
        let d = tempfile::tempdir().unwrap();
        write_pair(d.path(), &layers, eps);
        let j = bisect(d.path(), &[]).json();
        (
            j["classification"].clone(),
            j["first_bad"]["stage"].as_str().map(String::from),
        )
    };
    // One layer goes wrong and stays wrong.
    let (c, first) = kind(&|l, s| {
        if l > 4 || (l == 4 && (s == "ffn_out" || s == "hidden_out")) {
            0.3
        } else {
            0.0
        }
    });
    assert_eq!(
        (c["kind"].as_str(), c["layer"].as_u64()),
        (Some("sudden"), Some(4)),
        "{c}"
    );
    assert_eq!(first.as_deref(), Some("layer4.ffn_out"));
    // Drift ×1.5 per layer from the start: 1−cos ×2.25 per layer.
    let (c, _) = kind(&|l, _| 0.004 * 1.5f32.powi(l as i32));
    assert_eq!(c["kind"], "compounding", "{c}");
    assert_eq!(c["from_layer"], 0);
    let g = f(&c["growth_per_layer"]);
    assert!((2.0..2.5).contains(&g), "{g}");
    // Every other layer bad, the rest exact.
    let (c, _) = kind(&|l, _| if l % 2 == 1 { 0.3 } else { 0.0 });
    assert_eq!(c["kind"], "periodic", "{c}");
    assert_eq!(c["period"], 2);
    assert_eq!(c["layers"], serde_json::json!([1, 3, 5, 7, 9]));
    let (c, _) = kind(&|l, _| if l == 2 || l == 3 || l == 7 { 0.3 } else { 0.0 });
    assert_eq!(c["kind"], "intermittent", "{c}");
}

#[test]
fn reports_markdown_html_and_order_modes() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().to_str().unwrap();
    write_pair(d.path(), &[0, 1], |l, _| if l == 1 { 0.3 } else { 0.0 });
    let (md, html) = (d.path().join("r.md"), d.path().join("r.html"));
    let r = isolate(&[
        "compare",
        "layer-bisect",
        "--dir",
        dir,
        "--markdown",
        md.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("first bad stage: layer1.hidden_in"),
        "{}",
        r.stdout
    );
    let md = std::fs::read_to_string(md).unwrap();
    assert!(
        md.starts_with("# isolate compare layer-bisect")
            && md.contains("| ✗✗ | layer1.hidden_in |"),
        "{md}"
    );
    let html = std::fs::read_to_string(html).unwrap();
    assert!(
        html.contains("<svg")
            && html.contains("1 − cos per stage across layers")
            && html.contains("<polyline")
    );
    for bad in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(bad), "{bad}");
    }
    let md_out = isolate(&["compare", "ref-vs-target", "--dir", dir, "--markdown", "-"]);
    assert!(md_out.stdout.starts_with("# isolate compare ref-vs-target"));
    isolate(&[
        "compare",
        "ref-vs-target",
        "--dir",
        dir,
        "--markdown",
        "-",
        "--json",
        "-",
    ])
    .assert_bad_input(&["stdout"]);
    // --order: safetensors sorts names, so auto = canonical; file = the file's (sorted) order.
    let order = |o: &str| -> Vec<String> {
        let j = isolate(&[
            "compare",
            "ref-vs-target",
            "--dir",
            dir,
            "--json",
            "-",
            "--order",
            o,
        ])
        .json();
        j["stages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["layer"] == 0)
            .map(|s| s["stage"].as_str().unwrap().into())
            .collect()
    };
    let canonical: Vec<String> = STAGES.iter().map(|s| format!("layer0.{s}")).collect();
    assert_eq!(order("auto"), canonical);
    assert_eq!(order("canonical"), canonical);
    let mut sorted = canonical.clone();
    sorted.sort();
    assert_eq!(order("file"), sorted);
}
