//! Capture directories (python/FORMAT.md) as input: `--input DIR --site NAME` on every data command, `capture
//! ls|check`, `capture import sglang`, and the bad inputs (missing/corrupt files name the file and the site).

use crate::common::{bad, fixture, isolate, s};

const SITE: &str = "layer3.ffn.down";

fn minilm() -> std::path::PathBuf {
    fixture("capture/minilm-torch-e8m0")
}

/// A copy of the MiniLM capture fixture to damage.
fn copy() -> (tempfile::TempDir, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("cap");
    for rel in [
        "manifest.json",
        "sites/layer3.ffn.down/call000.rank0.safetensors",
        "fwd/call000/atom_rank0_fwd.safetensors",
    ] {
        let to = d.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(minilm().join(rel), to).unwrap();
    }
    (t, d)
}

#[test]
fn gemm_on_a_capture_site_names_the_planted_quantizer() {
    let d = minilm();
    let r = isolate(&[
        "gemm",
        "--input",
        s(&d),
        "--site",
        SITE,
        "--target-quant",
        "dumped",
        "--ref-quant",
        "deepgemm-ue8m0",
        "--target-gemm",
        "blockwise",
        "--ref-gemm",
        "blockwise",
        "--backend",
        "cpu",
        "--json",
        "-",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["verdict"], "quant", "{j}");
    assert!(
        r.stderr.contains("input: ") && r.stderr.contains("site layer3.ffn.down call 0 rank 0"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("xs-layout row, fp8 e4m3fn, group 128, weight block 128x128"),
        "{}",
        r.stderr
    );
    // The same file given directly gives the same verdict (the capture adds meaning, not numbers).
    let f = d.join("sites/layer3.ffn.down/call000.rank0.safetensors");
    let r2 = isolate(&[
        "gemm",
        "--input",
        s(&f),
        "--target-quant",
        "dumped",
        "--ref-quant",
        "deepgemm-ue8m0",
        "--target-gemm",
        "blockwise",
        "--ref-gemm",
        "blockwise",
        "--backend",
        "cpu",
        "--json",
        "-",
    ]);
    assert_eq!(r2.json()["shares"], j["shares"]);
}

#[test]
fn quant_fingerprint_and_gemm_fingerprint_take_a_site() {
    let d = minilm();
    let q = isolate(&[
        "quant",
        "--input",
        s(&d),
        "--site",
        SITE,
        "--reference",
        "torch-e8m0",
        "--candidate",
        "dumped",
        "--backend",
        "cpu",
    ]);
    assert_eq!(q.code, 0, "{}{}", q.stdout, q.stderr);
    let q = isolate(&[
        "quant",
        "--input",
        s(&d),
        "--site",
        SITE,
        "--call",
        "0",
        "--reference",
        "deepgemm-ue8m0",
        "--candidate",
        "dumped",
        "--backend",
        "cpu",
    ]);
    assert_eq!(q.code, 1, "{}{}", q.stdout, q.stderr);
    let f = isolate(&[
        "fingerprint",
        "--input",
        s(&d),
        "--site",
        SITE,
        "--backend",
        "cpu",
        "--top",
        "3",
    ]);
    assert!(
        f.code <= 1 && f.stdout.contains("fingerprint of xq"),
        "{}{}",
        f.stdout,
        f.stderr
    );
    let g = isolate(&[
        "gemm",
        "fingerprint",
        "--input",
        s(&d),
        "--site",
        SITE,
        "--backend",
        "cpu",
        "--top",
        "3",
    ]);
    assert!(
        g.code <= 1 && g.stdout.contains("GEMM variants"),
        "{}{}",
        g.stdout,
        g.stderr
    );
    // An explicit flag wins over the record (and is wrong here: the scales are not packed, so the layout
    // fingerprint reads them as they are and names the mistake: exit 1, docs/contract.md §6.8).
    let r = isolate(&[
        "quant",
        "--input",
        s(&d),
        "--site",
        SITE,
        "--reference",
        "torch-e8m0",
        "--candidate",
        "dumped",
        "--xs-layout",
        "packed-ue8m0",
        "--backend",
        "cpu",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("layout: xs is in another layout: 100 % of groups consistent as row"),
        "{}",
        r.stdout
    );
}

#[test]
fn capture_ls_and_check() {
    let d = minilm();
    let r = isolate(&["capture", "ls", s(&d)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("layer3.ffn.down  [gemm]"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("1x128 f32 stored row (source col) pow2=true"),
        "{}",
        r.stdout
    );
    let j = isolate(&["capture", "ls", s(&d), "--json", "-"]).json();
    assert_eq!(
        j["files"]["sites/layer3.ffn.down/call000.rank0.safetensors"],
        true
    );
    let c = isolate(&["capture", "check", s(&d)]);
    assert_eq!(c.code, 0, "{}{}", c.stdout, c.stderr);
    assert!(
        c.stdout
            .contains("1 sites, 1 calls, 2 files checked: complete"),
        "{}",
        c.stdout
    );
}

#[test]
fn check_finds_an_incomplete_or_inconsistent_capture() {
    let (_t, d) = copy();
    let m = d.join("manifest.json");
    let text = std::fs::read_to_string(&m).unwrap();
    // The manifest claims a shape the file does not hold, and an orphan file sits beside it.
    std::fs::write(
        &m,
        text.replacen(
            "\"shape\": [\n        114,\n        12\n       ]",
            "\"shape\": [\n 114,\n 13\n ]",
            1,
        ),
    )
    .unwrap();
    std::fs::copy(
        d.join("sites/layer3.ffn.down/call000.rank0.safetensors"),
        d.join("sites/layer3.ffn.down/call001.rank0.safetensors"),
    )
    .unwrap();
    let c = isolate(&["capture", "check", s(&d), "--json", "-"]);
    assert_eq!(c.code, 1, "{}{}", c.stdout, c.stderr);
    let j = c.json();
    let text = j["problems"].to_string();
    assert!(
        text.contains("role xs: the manifest says F32 [114, 13], the file holds F32 [114, 12]"),
        "{text}"
    );
    assert!(text.contains("call001.rank0.safetensors"), "{text}");
    // A manifest whose gemm site lacks a role is incomplete.
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(minilm().join("manifest.json")).unwrap())
            .unwrap();
    let mut v2 = v.clone();
    v2["sites"][SITE]["kind"] = "linear".into();
    std::fs::write(&m, v2.to_string()).unwrap();
    std::fs::remove_file(d.join("sites/layer3.ffn.down/call001.rank0.safetensors")).unwrap();
    assert_eq!(isolate(&["capture", "check", s(&d)]).code, 0);
    bad(
        &[
            "gemm",
            "--input",
            s(&d),
            "--site",
            SITE,
            "--target-quant",
            "dumped",
            "--ref-quant",
            "deepgemm-ue8m0",
            "--target-gemm",
            "blockwise",
            "--ref-gemm",
            "blockwise",
            "--backend",
            "cpu",
        ],
        &["--target-quant dumped", "is a `linear` site"],
    );
}

#[test]
fn bad_capture_inputs_name_the_file_and_the_site() {
    let (_t, d) = copy();
    let site_file = d.join("sites/layer3.ffn.down/call000.rank0.safetensors");
    let gemm = |extra: &[&str]| {
        let mut a = vec![
            "gemm",
            "--input",
            s(&d),
            "--target-quant",
            "dumped",
            "--ref-quant",
            "deepgemm-ue8m0",
            "--target-gemm",
            "blockwise",
            "--ref-gemm",
            "blockwise",
            "--backend",
            "cpu",
        ];
        a.extend_from_slice(extra);
        a.iter().map(|x| x.to_string()).collect::<Vec<_>>()
    };
    let run = |extra: &[&str]| isolate(&gemm(extra));
    run(&["--site", "layer9.x"]).assert_bad_input(&["no site layer9.x (sites: layer3.ffn.down)"]);
    run(&["--site", SITE, "--call", "5"])
        .assert_bad_input(&["has no call 5 for rank 0 (it has: call 0 rank 0)"]);
    std::fs::write(&site_file, b"\x10\0\0\0\0\0\0\0{\"broken").unwrap();
    run(&["--site", SITE])
        .assert_bad_input(&["call000.rank0.safetensors", "site layer3.ffn.down call 0"]);
    isolate(&["capture", "check", s(&d)])
        .assert_bad_input(&["call000.rank0.safetensors", "site layer3.ffn.down"]);
    std::fs::remove_file(&site_file).unwrap();
    run(&["--site", SITE])
        .assert_bad_input(&["call000.rank0.safetensors: missing", "site layer3.ffn.down"]);
    std::fs::write(
        d.join("manifest.json"),
        r#"{"format": "isolate-capture", "version": 9}"#,
    )
    .unwrap();
    run(&["--site", SITE]).assert_bad_input(&["manifest.json", "version 9 is newer"]);
    std::fs::remove_file(d.join("manifest.json")).unwrap();
    run(&["--site", SITE]).assert_bad_input(&["manifest.json: missing"]);
    bad(
        &[
            "gemm",
            "--input",
            s(&fixture("demo/quant_drift.safetensors")),
            "--site",
            SITE,
            "--target-quant",
            "dumped",
            "--ref-quant",
            "none",
            "--target-gemm",
            "exact",
            "--ref-gemm",
            "exact",
        ],
        &["--site layer3.ffn.down: needs --input DIR"],
    );
}

#[test]
fn import_sglang_dumper_output() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("cap");
    let src = fixture("capture/sglang-dump");
    let r = isolate(&[
        "capture",
        "import",
        "sglang",
        s(&src),
        s(&out),
        "--json",
        "-",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["files_read"], 15);
    assert_eq!(
        j["sites"][0],
        serde_json::json!({"site": "layer3.ffn.down", "kind": "gemm", "calls": 2})
    );
    assert_eq!(j["stage_files"], 2);
    let c = isolate(&["capture", "check", s(&out)]);
    assert_eq!(c.code, 0, "{}{}", c.stdout, c.stderr);
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["runs"][0]["source"], "import:sglang");
    let e = &m["sites"][SITE]["calls"][1];
    assert_eq!(
        (
            e["call"].as_u64(),
            e["roles"]["xs"]["scale"]["granularity"].as_str()
        ),
        (Some(1), Some("1x128"))
    );
    let stages: serde_json::Value = m["stages"][1]["stages"].clone();
    assert!(
        stages.get("embed.input_ids").is_some() && stages.get("layer3.hidden_states").is_some(),
        "{stages}"
    );
    // The planted torch-e8m0 quantizer is found through the imported site.
    let g = isolate(&[
        "gemm",
        "--input",
        s(&out),
        "--site",
        SITE,
        "--call",
        "1",
        "--target-quant",
        "dumped",
        "--ref-quant",
        "deepgemm-ue8m0",
        "--target-gemm",
        "blockwise",
        "--ref-gemm",
        "blockwise",
        "--backend",
        "cpu",
        "--json",
        "-",
    ]);
    assert_eq!(g.json()["verdict"], "quant", "{}", g.stderr);
    let q = isolate(&[
        "quant",
        "--input",
        s(&out),
        "--site",
        SITE,
        "--reference",
        "torch-e8m0",
        "--candidate",
        "dumped",
        "--backend",
        "cpu",
    ]);
    assert_eq!(q.code, 0, "{}{}", q.stdout, q.stderr);
    // Into a directory that is not empty: refused.
    bad(
        &["capture", "import", "sglang", s(&src), s(&out)],
        &["exists and is not empty"],
    );
    bad(
        &[
            "capture",
            "import",
            "sglang",
            s(&fixture("demo")),
            s(&t.path().join("x")),
        ],
        &["no SGLang dumper files"],
    );
}
