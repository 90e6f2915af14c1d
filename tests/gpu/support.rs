//! What every GPU test shares: the GPU or the reason to skip, the repository's files, `isolate` in this process.

use isolate::backend::cuda::CudaBackend;
use isolate::experiment::selftest::{self, Check};

/// The GPU, or `None` (after a note on stderr) where there is none usable; with `ISOLATE_REQUIRE_GPU=1` a missing
/// GPU panics instead, so that a GPU machine cannot pass by skipping.
pub fn gpu() -> Option<CudaBackend> {
    match CudaBackend::new() {
        Ok(b) => Some(b),
        Err(e) => {
            if std::env::var("ISOLATE_REQUIRE_GPU").is_ok_and(|v| v == "1") {
                panic!("ISOLATE_REQUIRE_GPU=1 but no usable GPU: {e}");
            }
            eprintln!("skipping GPU test: {e}");
            None
        }
    }
}

pub fn assert_all_pass(checks: &[Check]) {
    assert!(!checks.is_empty(), "no checks ran");
    let failed: Vec<&Check> = checks.iter().filter(|c| !c.passed()).collect();
    assert!(
        failed.is_empty(),
        "{}",
        isolate::report::Render::document(
            &selftest::SelftestReport {
                backend: "cuda".into(),
                checks: failed.iter().map(|c| (*c).clone()).collect(),
                fallback: None,
            },
            false
        )
        .to_terminal()
    );
}

/// A file of the repository: relative to the working directory (the GPU machine runs the staged test binary
/// from the repository root), else to this crate's folder.
pub fn repo_file(rel: &str) -> String {
    if std::path::Path::new(rel).exists() {
        rel.to_string()
    } else {
        format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"))
    }
}

pub fn examples_dir() -> String {
    std::env::var("ISOLATE_EXAMPLES")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/examples").into())
}

/// `isolate ARGS --json FILE` in this process: (exit code, JSON).
pub fn cli_json(args: &[&str]) -> (i32, serde_json::Value) {
    use clap::Parser;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let mut v: Vec<&str> = vec!["isolate"];
    v.extend_from_slice(args);
    v.extend_from_slice(&["--json", json.to_str().unwrap()]);
    let code = isolate::cli::run(isolate::cli::Cli::parse_from(&v))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let j = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    (code, j)
}

pub fn demo_gemm(target: &str, reference: &str) -> (i32, serde_json::Value) {
    let demo = repo_file("fixtures/demo/gemm_drift.safetensors");
    cli_json(&[
        "gemm",
        "--backend",
        "cuda",
        "--input",
        &demo,
        "--target-quant",
        "deepgemm-ue8m0",
        "--ref-quant",
        "deepgemm-ue8m0",
        "--target-gemm",
        target,
        "--ref-gemm",
        reference,
    ])
}
