//! Determinism: the same command on the same input gives the same bytes — its JSON and its
//! `--save` file — run after run and whatever the number of threads (`RAYON_NUM_THREADS` 1, 2, 16), on the
//! bundled fixtures, with the CPU backend. CPU vs CUDA byte equality is checked in tests/gpu/.

use std::path::Path;
use std::process::Command;

/// `isolate ARGS --backend cpu --json -` with `threads` rayon threads: (exit code, stdout bytes).
fn run(args: &[&str], threads: usize) -> (i32, Vec<u8>) {
    let o = Command::new(env!("CARGO_BIN_EXE_isolate"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RAYON_NUM_THREADS", threads.to_string())
        .env_remove("ISOLATE_TIMINGS")
        .args(args)
        .args(["--backend", "cpu", "--json", "-"])
        .output()
        .expect("run isolate");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    let code = o.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 1, "{args:?}: exit {code}: {stderr}");
    assert!(!o.stdout.is_empty(), "{args:?}: no JSON");
    (code, o.stdout)
}

/// Runs `args` twice with 16 threads and once each with 1 and 2; every run's exit code, JSON and (when
/// `save` is given) saved file must be those of the first.
fn same_bytes(args: &[&str], save: Option<&Path>) {
    let mut first: Option<(i32, Vec<u8>, Vec<u8>)> = None;
    for threads in [16, 1, 2, 16] {
        if let Some(p) = save {
            let _ = std::fs::remove_file(p);
        }
        let (code, json) = run(args, threads);
        let saved = save
            .map(|p| std::fs::read(p).expect("the --save file"))
            .unwrap_or_default();
        match &first {
            None => first = Some((code, json, saved)),
            Some((c0, j0, s0)) => {
                assert_eq!(code, *c0, "{args:?}: exit code with {threads} threads");
                assert!(
                    json == *j0,
                    "{args:?}: the JSON with {threads} threads differs from the first run's:\n{}\n---\n{}",
                    String::from_utf8_lossy(j0),
                    String::from_utf8_lossy(&json)
                );
                assert!(
                    saved == *s0,
                    "{args:?}: the --save file with {threads} threads differs"
                );
            }
        }
    }
}

#[test]
fn gemm_json_and_save_file() {
    let d = tempfile::tempdir().unwrap();
    let save = d.path().join("paths.safetensors");
    for (input, tq, tg) in [
        (
            "fixtures/demo/quant_drift.safetensors",
            "torch-e8m0",
            "blockwise",
        ),
        (
            "fixtures/demo/gemm_drift.safetensors",
            "deepgemm-ue8m0",
            "sm90-blockwise",
        ),
    ] {
        same_bytes(
            &[
                "gemm",
                "--input",
                input,
                "--target-quant",
                tq,
                "--ref-quant",
                "deepgemm-ue8m0",
                "--target-gemm",
                tg,
                "--ref-gemm",
                "blockwise",
                "--save",
                save.to_str().unwrap(),
            ],
            Some(&save),
        );
    }
}

#[test]
fn gemm_fingerprint_json() {
    same_bytes(
        &[
            "gemm",
            "fingerprint",
            "--input",
            "fixtures/demo/gemm_drift.safetensors",
            "--target-quant",
            "dumped",
        ],
        None,
    );
}

#[test]
fn quant_json() {
    for candidate in ["vllm-ue8m0", "torch-e8m0"] {
        same_bytes(
            &[
                "quant",
                "--input",
                "fixtures/minilm/ffn_act.safetensors",
                "--reference",
                "deepgemm-ue8m0",
                "--candidate",
                candidate,
            ],
            None,
        );
    }
    same_bytes(
        &[
            "quant",
            "--input",
            "fixtures/minilm/ffn_act.safetensors",
            "--input",
            "fixtures/minilm/ffn_act_q.safetensors",
            "--reference",
            "deepgemm-ue8m0",
            "--candidate",
            "dumped",
            "--name",
            "xs=xs_packed",
            "--xs-layout",
            "packed-ue8m0",
        ],
        None,
    );
}

#[test]
fn fingerprint_json() {
    same_bytes(
        &[
            "fingerprint",
            "--input",
            "fixtures/minilm/ffn_act.safetensors",
            "--input",
            "fixtures/minilm/ffn_act_q.safetensors",
        ],
        None,
    );
}
