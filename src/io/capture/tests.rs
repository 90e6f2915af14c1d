use std::path::{Path, PathBuf};

use super::*;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/capture/minilm-torch-e8m0")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("isolate-capture-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sel(site: &str, call: Option<u64>) -> SiteSelector {
    SiteSelector {
        site: site.into(),
        call,
        rank: None,
    }
}

#[test]
fn reads_the_python_writers_manifest_and_resolves_a_site() {
    let c = Capture::open(&fixture()).unwrap();
    let r = c.resolve(&sel("layer3.ffn.down", None)).unwrap();
    assert_eq!((r.kind.as_str(), r.entry.call), ("gemm", 0));
    assert!(r
        .path
        .ends_with("sites/layer3.ffn.down/call000.rank0.safetensors"));
    let rec = r.recorded().unwrap();
    assert_eq!(rec.xs_layout.as_deref(), Some("row"));
    assert_eq!(rec.act_fp8, Some(Fp8Format::E4m3fn));
    assert_eq!((rec.group, rec.weight_block), (Some(128), Some([128, 128])));
    assert!(r.name_mappings().is_empty());
    let f = r.load().unwrap();
    assert_eq!(f.get("xq").unwrap().shape, vec![114, 1536]);
}

#[test]
fn bad_selection_lists_what_exists() {
    let c = Capture::open(&fixture()).unwrap();
    let e = c
        .resolve(&sel("layer9.nope", None))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no site layer9.nope (sites: layer3.ffn.down)"),
        "{e}"
    );
    let e = c
        .resolve(&sel("layer3.ffn.down", Some(4)))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("has no call 4 for rank 0 (it has: call 0 rank 0)"),
        "{e}"
    );
}

#[test]
fn refuses_a_foreign_or_newer_manifest() {
    let d = tmp("bad");
    let e = Capture::open(&d).unwrap_err().to_string();
    assert!(e.contains("manifest.json: missing"), "{e}");
    std::fs::write(d.join(MANIFEST), "{ not json").unwrap();
    assert!(Capture::open(&d)
        .unwrap_err()
        .to_string()
        .contains("not valid JSON"));
    std::fs::write(d.join(MANIFEST), r#"{"format": "other", "version": 1}"#).unwrap();
    assert!(Capture::open(&d)
        .unwrap_err()
        .to_string()
        .contains("not an isolate capture manifest"));
    std::fs::write(
        d.join(MANIFEST),
        r#"{"format": "isolate-capture", "version": 2, "sites": {}}"#,
    )
    .unwrap();
    assert!(Capture::open(&d)
        .unwrap_err()
        .to_string()
        .contains("version 2 is newer"));
    std::fs::write(
        d.join(MANIFEST),
        r#"{"format": "isolate-capture", "version": 1, "future": 1, "sites": {"s": {"kind": "gemm", "calls": [
            {"call": 0, "rank": {"global": 0}, "file": "sites/s/call000.rank0.safetensors", "roles": {
              "ws": {"tensor": "ws", "dtype": "F32", "shape": [384, 1], "scale": {"block": [1, 1536], "granularity": "per-row"}},
              "xq": {"tensor": "q", "dtype": "U8", "shape": [2, 128], "fp8": "e4m3fnuz"}}}]}}}"#,
    )
    .unwrap();
    let c = Capture::open(&d).unwrap();
    let r = c.resolve(&sel("s", None)).unwrap();
    assert_eq!(r.name_mappings(), vec![("xq".to_string(), "q".to_string())]);
    let e = r.recorded().unwrap_err().to_string();
    assert!(
        e.contains("site s: the weight scales are recorded as per-row blocks"),
        "{e}"
    );
    let e = r.load().unwrap_err().to_string();
    assert!(
        e.contains("call000.rank0.safetensors: missing (the manifest lists it) (site s call 0"),
        "{e}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn writer_round_trips_through_the_reader() {
    let d = tmp("write").join("cap");
    let mut w = write::Writer::create(&d).unwrap();
    let xq = crate::io::Tensor::new(
        "xq",
        crate::formats::DType::F8E4M3FN,
        vec![2, 256],
        vec![0x38; 512],
    )
    .unwrap();
    let xs = crate::io::Tensor::from_f32("xs", vec![2, 2], &[1.0, 0.5, 2.0, 0.25]).unwrap();
    w.add_site_call(write::SiteCall {
        site: "layer0.q",
        kind: "quant",
        op: "import",
        layer: Some(0),
        call: 3,
        rank: Rank::default(),
        phase: None,
        tensors: vec![xq, xs],
        extra: serde_json::json!({"from": "test"}),
    })
    .unwrap();
    w.finish(serde_json::json!({"source": "test"})).unwrap();
    let c = Capture::open(&d).unwrap();
    let r = c.resolve(&sel("layer0.q", None)).unwrap();
    assert_eq!(r.entry.call, 3);
    let s = r.entry.roles["xs"].scale.clone().unwrap();
    assert_eq!(
        (s.granularity.as_deref(), s.group, s.all_pow2),
        (Some("1x128"), Some(128), Some(true))
    );
    assert_eq!(
        c.raw["sites"]["layer0.q"]["calls"][0]["extra"]["from"],
        "test"
    );
    std::fs::remove_dir_all(d.parent().unwrap()).unwrap();
}
