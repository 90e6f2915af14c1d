//! `compare slot-invariance` on synthetic per-layer dumps written here.

use std::path::Path;

use crate::common::{isolate, Run};
use crate::compare_util::*;

const H: usize = 24;
const PER: usize = 5; // tokens per slot: 4 slots → 20 tokens, not a power of two

/// Per layer and class: call000 = warm-up (16 tokens), call001 = prefill of 4 slots, call002 = decode (4).
/// Slot `bad` gets `eps` · noise from layer `from` on (Block from `from`, Attention from `from + 1`).
fn write_calls(dir: &Path, layers: u64, bad: usize, from: u64, eps: f32) -> Vec<Vec<f32>> {
    let mut prefill = Vec::new();
    for l in 0..layers {
        for (ci, cls) in ["Attention", "Block"].iter().enumerate() {
            let key = l * 10 + ci as u64;
            let name = |c: u32| dir.join(format!("layer{l:02}_{cls}_rank0_call{c:03}.safetensors"));
            write(
                &name(0),
                vec![f32t("hidden", &[16, H], &values(16 * H, key + 7))],
            );
            let one = values(PER * H, key);
            let noise = values(PER * H, key + 99);
            let hit = (*cls == "Block" && l >= from) || l > from;
            let mut h = Vec::new();
            for s in 0..4 {
                if s == bad && hit {
                    h.extend(one.iter().zip(&noise).map(|(a, n)| a + eps * n));
                } else {
                    h.extend_from_slice(&one);
                }
            }
            write(&name(1), vec![f32t("hidden", &[4 * PER, H], &h)]);
            write(
                &name(2),
                vec![f32t("hidden", &[4, H], &values(4 * H, key + 3))],
            );
            prefill.push(h);
        }
    }
    prefill
}

fn slots(dir: &Path, extra: &[&str]) -> Run {
    let mut v = vec![
        "compare",
        "slot-invariance",
        "--dir",
        dir.to_str().unwrap(),
        "--json",
        "-",
    ];
    v.extend_from_slice(extra);
    isolate(&v)
}

#[test]
fn names_the_planted_slot_and_first_diverging_layer() {
    let d = tempfile::tempdir().unwrap();
    let prefill = write_calls(d.path(), 4, 2, 1, 0.05);
    let r = slots(d.path(), &[]);
    let j = r.json();
    assert_eq!(r.code, 1);
    assert_eq!(
        j["first_divergence"],
        serde_json::json!({"layer": 1, "stage": "Block", "call": 1, "odd_slots": [2]})
    );
    let rows = j["rows"].as_array().unwrap();
    // Natural order: layer, then Attention before Block (the block contains the attention).
    let order: Vec<(u64, &str)> = rows
        .iter()
        .map(|r| (r["layer"].as_u64().unwrap(), r["stage"].as_str().unwrap()))
        .collect();
    assert_eq!(
        order[..4],
        [
            (0, "Attention"),
            (0, "Block"),
            (1, "Attention"),
            (1, "Block")
        ]
    );
    for (row, h) in rows.iter().zip(&prefill) {
        assert_eq!(
            row["call"], 1,
            "the prefill call, not the warm-up or the decode"
        );
        assert_eq!(row["tok_per_slot"], PER);
        let slot = |k: usize| &h[k * PER * H..(k + 1) * PER * H];
        for s in row["slots"].as_array().unwrap() {
            let k = s["slot"].as_u64().unwrap() as usize;
            let (cos, max_abs, rel) = cos_max(slot(0), slot(k));
            assert!((f(&s["cos"]) - cos).abs() <= 1e-12, "{row}");
            assert!((f(&s["max_abs"]) - max_abs).abs() <= 1e-12 * max_abs.max(1e-300));
            assert!((f(&s["rel"]) - rel).abs() <= 1e-12 * rel.max(1e-300));
            assert_eq!(s["bitwise"], slot(0) == slot(k));
        }
    }
    let text = isolate(&[
        "compare",
        "slot-invariance",
        "--dir",
        d.path().to_str().unwrap(),
    ])
    .stdout;
    assert!(
        text.contains(
            "first divergence: layer 1 Block (call 1): slot 2 differs from slots 0, 1, 3"
        ),
        "{text}"
    );
    assert!(
        text.contains("8 (layer, stage) compared; 5 diverge."),
        "{text}"
    );
}

#[test]
fn clean_odd_slot_zero_and_the_flag_criterion() {
    let d = tempfile::tempdir().unwrap();
    write_calls(d.path(), 2, 1, 5, 0.05); // from layer 5: never
    let r = slots(d.path(), &[]);
    assert_eq!(
        (r.code, &r.json()["first_divergence"]),
        (0, &serde_json::Value::Null)
    );
    let d = tempfile::tempdir().unwrap();
    write_calls(d.path(), 2, 0, 0, 0.05);
    assert_eq!(
        slots(d.path(), &[]).json()["first_divergence"]["odd_slots"],
        serde_json::json!([0])
    );
    // A tiny difference: not bitwise (diverges by default) but ✓ by ATOM's flag (no divergence).
    let d = tempfile::tempdir().unwrap();
    write_calls(d.path(), 2, 3, 0, 1e-5);
    let r = slots(d.path(), &[]);
    assert_eq!(
        (r.code, r.json()["rows"][0]["flag"].as_str()),
        (1, Some("✓"))
    );
    let r = slots(d.path(), &["--criterion", "flag"]);
    assert_eq!((r.code, r.json()["criterion"].as_str()), (0, Some("flag")));
    slots(d.path(), &["--criterion", "fuzzy"]).assert_bad_input(&["--criterion fuzzy"]);
    slots(d.path(), &["--n-slots", "1"]).assert_bad_input(&["--n-slots 1"]);
    // Heatmap in the HTML report.
    let html = d.path().join("s.html");
    isolate(&[
        "compare",
        "slot-invariance",
        "--dir",
        d.path().to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(html).unwrap();
    assert!(
        html.contains("<svg") && html.contains(">slot 3<") && html.contains("L1 Block"),
        "heatmap"
    );
    assert!(!html.contains("<script"));
}

#[test]
fn one_shot_files_missing_hidden_and_bad_inputs() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().to_str().unwrap();
    slots(d.path(), &[]).assert_bad_input(&[
        "no per-layer dump files for rank 0",
        "layer{LL}_{Cls}_rank0",
    ]);
    // One-shot names (no _call): compared when divisible.
    let h: Vec<f32> = values(PER * H, 1).repeat(4);
    write(
        &d.path().join("layer00_rank1.safetensors"),
        vec![f32t("hidden", &[4 * PER, H], &h)],
    );
    slots(d.path(), &[]).assert_bad_input(&["rank 0", "found files for rank 1", "--rank"]);
    let r = slots(d.path(), &["--rank", "1"]);
    let j = r.json();
    assert_eq!(
        (r.code, &j["rows"][0]["stage"], &j["rows"][0]["call"]),
        (0, &serde_json::json!("Block"), &serde_json::Value::Null)
    );
    // Not divisible in any call: exit 2 naming the counts.
    isolate(&[
        "compare",
        "slot-invariance",
        "--dir",
        dir,
        "--rank",
        "1",
        "--n-slots",
        "3",
    ])
    .assert_bad_input(&["not divisible by --n-slots 3", "n_tok 20"]);
    // A key whose calls lack 'hidden' is skipped (listed), others still compared.
    write(
        &d.path().join("layer01_Moe_rank1_call000.safetensors"),
        vec![f32t("other", &[8, 2], &[0.0; 16])],
    );
    write(
        &d.path().join("layer01_Moe_rank1_call001.safetensors"),
        vec![f32t("other", &[8, 2], &[0.0; 16])],
    );
    let j = slots(d.path(), &["--rank", "1"]).json();
    assert_eq!(j["skipped"][0]["stage"], "Moe");
    assert!(j["skipped"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("call000: -1"));
    // Unreadable dump: one line, exit 2.
    std::fs::write(d.path().join("layer02_Block_rank1.pt"), b"not a zip").unwrap();
    slots(d.path(), &["--rank", "1"]).assert_bad_input(&["layer02_Block_rank1.pt"]);
}
