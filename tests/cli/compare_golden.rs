//! Golden tests of the compare suite on real MiniLM-L6 dumps written by PyTorch in ATOM's layouts
//! (fixtures/gen/compare_fixtures.py, run on the GPU machine): every cos / rel / max_abs against ATOM's
//! `cos_max` computed independently in f64 PyTorch, the planted layer and slot, the schema verdicts.

use std::path::PathBuf;

use serde_json::Value;

use crate::common::{fixture, isolate};
use crate::compare_util::*;

fn dir(sub: &str) -> PathBuf {
    fixture("compare").join(sub)
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir("expected.json")).expect("expected.json"))
        .unwrap()
}

fn close(ours: &Value, theirs: &Value, rel_tol: f64, what: &str) {
    let (a, b) = (f(ours), f(theirs));
    assert!(
        (a - b).abs() <= rel_tol * b.abs().max(f64::MIN_POSITIVE),
        "{what}: ours {a:e} vs torch {b:e}"
    );
}

#[test]
fn ref_vs_target_every_stage_matches_torch_f64() {
    let exp = expected();
    let r = isolate(&[
        "compare",
        "ref-vs-target",
        "--dir",
        dir("fwd").to_str().unwrap(),
        "--json",
        "-",
    ]);
    let j = r.json();
    assert_eq!(j["input_ids"]["status"], "match");
    let rows = exp["ref_vs_target"]["stages"].as_array().unwrap();
    let ours = j["stages"].as_array().unwrap();
    // Natural order of a .pt dump = the order the forward wrote it (post-norm BERT: attn_out before attn_norm_out).
    let names = |v: &[Value]| {
        v.iter()
            .map(|s| s["stage"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(ours), names(rows));
    for (o, e) in ours.iter().zip(rows) {
        let st = e["stage"].as_str().unwrap();
        assert_eq!(o["status"], "compared", "{st}");
        assert_eq!(o["target_shape"], e["shape"], "{st}: squeezed shape");
        assert!(
            (f(&o["cos"]) - f(&e["cos"])).abs() <= 1e-12,
            "{st}: cos {} vs {}",
            o["cos"],
            e["cos"]
        );
        close(&o["rel"], &e["rel"], 1e-12, &format!("{st} rel"));
        close(
            &o["max_abs"],
            &e["max_abs"],
            1e-12,
            &format!("{st} max_abs"),
        );
        assert_eq!(f(&o["byte_equal_bytes"]), f(&e["byte_equal_bytes"]), "{st}");
        assert_eq!(f(&o["byte_equal"]), f(&e["byte_equal"]), "{st}");
    }
}

#[test]
fn layer_bisect_names_the_planted_layer() {
    let exp = &expected()["ref_vs_target"];
    let d = dir("fwd");
    let r = isolate(&[
        "compare",
        "layer-bisect",
        "--dir",
        d.to_str().unwrap(),
        "--cos",
        "0.99999",
        "--json",
        "-",
    ]);
    let j = r.json();
    assert_eq!(r.code, 1);
    assert_eq!(j["first_bad"]["stage"], exp["planted_stage"]);
    assert_eq!(j["first_bad"]["layer"], exp["planted_layer"]);
    assert_eq!(
        j["classification"]["kind"], "sudden",
        "{}",
        j["classification"]
    );
    assert_eq!(j["classification"]["layer"], exp["planted_layer"]);
    assert_eq!(f(&j["classification"]["drift_before"]), 0.0);
    // Default thresholds: whatever torch's rule finds (maybe nothing: an FP8 GEMM is a small drift).
    let r = isolate(&[
        "compare",
        "layer-bisect",
        "--dir",
        d.to_str().unwrap(),
        "--json",
        "-",
    ]);
    let j = r.json();
    assert_eq!(
        j["first_bad"]["stage"].as_str(),
        exp["first_bad_default"].as_str()
    );
    assert_eq!(r.code, exp["first_bad_default"].is_string() as i32);
    // The HTML report renders the decay curve.
    let html = tempfile::NamedTempFile::new().unwrap();
    isolate(&[
        "compare",
        "layer-bisect",
        "--dir",
        d.to_str().unwrap(),
        "--html",
        html.path().to_str().unwrap(),
    ]);
    let page = std::fs::read_to_string(html.path()).unwrap();
    assert!(page.contains("<polyline") && page.contains("hidden_out"));
}

#[test]
fn input_ids_mismatch_stops() {
    let exp = &expected()["input_ids_mismatch"];
    for cmd in ["ref-vs-target", "layer-bisect"] {
        isolate(&["compare", cmd, "--dir", dir("fwd_ids").to_str().unwrap()]).assert_bad_input(&[
            "embed.input_ids differ",
            "STOP",
            &format!("({} tokens)", exp["target_tokens"]),
            &format!("({} tokens)", exp["ref_tokens"]),
            &format!("token 0: {} vs {}", exp["target_id"], exp["ref_id"]),
        ]);
    }
}

#[test]
fn slot_invariance_names_the_planted_slot() {
    let exp = &expected()["slot_invariance"];
    let r = isolate(&[
        "compare",
        "slot-invariance",
        "--dir",
        dir("slots").to_str().unwrap(),
        "--json",
        "-",
    ]);
    let j = r.json();
    assert_eq!(r.code, 1);
    let fd = &j["first_divergence"];
    assert_eq!(
        (&fd["layer"], &fd["stage"], &fd["odd_slots"]),
        (
            &exp["first_divergence"]["layer"],
            &exp["first_divergence"]["stage"],
            &exp["first_divergence"]["odd_slots"]
        )
    );
    assert_eq!(exp["first_divergence"]["odd_slots"][0], exp["planted_slot"]);
    let rows = j["rows"].as_array().unwrap();
    let erows = exp["rows"].as_array().unwrap();
    assert_eq!(rows.len(), erows.len());
    for (o, e) in rows.iter().zip(erows) {
        assert_eq!((&o["layer"], &o["stage"]), (&e["layer"], &e["stage"]));
        assert_eq!(
            o["call"], exp["picked_call"],
            "pick_prefill_call skips the warm-up and the decode"
        );
        assert_eq!(o["shape"][0], e["n_tok"]);
        for (os, es) in o["slots"]
            .as_array()
            .unwrap()
            .iter()
            .zip(e["slots"].as_array().unwrap())
        {
            assert_eq!(os["slot"], es["slot"]);
            assert_eq!(os["bitwise"], es["bitwise"]);
            assert!((f(&os["cos"]) - f(&es["cos"])).abs() <= 1e-12, "{o}");
            close(&os["rel"], &es["rel"], 1e-12, "slot rel");
            close(&os["max_abs"], &es["max_abs"], 1e-12, "slot max_abs");
        }
    }
}

#[test]
fn schema_lists_the_right_names() {
    let exp = &expected()["schema"];
    let a = dir("weights/atom/weight_rank0_layer0.pt");
    let b = dir("weights/ref/weight_rank0_layer0.pt");
    let run = |extra: &[&str]| {
        let mut v = vec![
            "compare",
            "schema",
            "--a",
            a.to_str().unwrap(),
            "--b",
            b.to_str().unwrap(),
            "--json",
            "-",
        ];
        v.extend_from_slice(extra);
        isolate(&v)
    };
    let r = run(&["--unshuffle", "aiter16x16"]);
    let j = r.json();
    assert_eq!(r.code, 1);
    for k in ["only_a", "only_b", "shape_diff", "dtype_diff"] {
        assert_eq!(j[k], exp[k], "{k}");
    }
    let status = exp["status_unshuffled"].as_object().unwrap();
    let common = j["common"].as_array().unwrap();
    assert_eq!(common.len(), status.len());
    for c in common {
        let name = c["name"].as_str().unwrap();
        assert_eq!(c["status"], status[name], "{name}: {c}");
    }
    let norm = common.iter().find(|c| c["a_dtype"] == "bf16").unwrap();
    assert!((f(&norm["cos"]) - f(&exp["bf16_norm"]["cos"])).abs() <= 1e-12);
    close(
        &norm["rel"],
        &exp["bf16_norm"]["rel"],
        1e-12,
        "bf16 norm rel",
    );
    // Without --unshuffle the fp8 bytes are aiter's permutation: not equal.
    let j = run(&[]).json();
    let w = j["common"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["a_dtype"] == "e4m3fn")
        .unwrap();
    assert_ne!(w["status"], "bytes_equal");
    assert_eq!(
        f(&w["byte_equal"]),
        f(&exp["shuffled_bytes_equal_without_unshuffle"])
    );
}
