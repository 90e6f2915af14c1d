//! The accumulator models against the published validation vectors of Khattak & Mikaitis,
//! *MATLAB-tensor-core* (BSD-2, fixtures/golden/tc_published.LICENSE; packed by fixtures/gen/tc_published.py):
//! 5000 single-instruction dot products (k = 32, f32 C and D) per GPU and FP8 format, measured on H100, H200
//! (Hopper, `sm90`), Ada RTX 1000 and L40S (`sm89`) and B200 (`sm100`).
//!
//! `sm90` must reproduce the H100/H200 vectors and `sm89` the Ada/L40S vectors bit for bit, and neither the
//! vectors of another generation (the data separates them, so this test can fail); the table of every model
//! against every GPU is printed (`--nocapture`).
//!
//! B200: the published vectors come from `mma.sync.m16n8k32` (model_validation/CUDA/mma_fp8_output_fp32.cu),
//! not from `tcgen05.mma`, which `sm100` models (MMA-Sim: F = 25, truncated result). They do not back it:
//! `sm100` matches 3207/5000 (e4m3) and 3236/5000 (e5m2), always missing by one ulp low. They fit a sum with
//! ≥ 31 fraction bits (31 … 60 alike) rounded to nearest (5000/5000 e4m3, 4999/5000 e5m2), checked below as a measured fact
//! about B200's `mma.sync`, not as a model we offer.

use std::path::Path;

use isolate::formats::Fp8Format;
use isolate::gemm::mma::nv::{fused, NvParams};
use isolate::gemm::mma::Model;
use isolate::io::{self, TensorFile};

const GPUS: [(&str, Model); 5] = [
    ("h100", Model::Sm90),
    ("h200", Model::Sm90),
    ("ada", Model::Sm89),
    ("l40s", Model::Sm89),
    ("b200", Model::Sm100),
];

fn load() -> TensorFile {
    io::load(Path::new("fixtures/golden/tc_published.safetensors"))
        .expect("fixtures/golden/tc_published.safetensors (run fixtures/gen/tc_published.py)")
}

fn u32s(f: &TensorFile, name: &str) -> Vec<u32> {
    let t = f.get(name).unwrap_or_else(|| panic!("no tensor {name}"));
    t.bytes()
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn codes(f: &TensorFile, name: &str) -> Vec<u8> {
    f.get(name)
        .unwrap_or_else(|| panic!("no tensor {name}"))
        .bytes()
        .to_vec()
}

/// Matches of `model` (or of an NVIDIA datapath with `params` instead) on one GPU's vectors, and the first
/// mismatch.
fn matches(
    f: &TensorFile,
    gpu: &str,
    fmt: (&str, Fp8Format),
    model: Model,
    params: Option<NvParams>,
) -> (usize, usize, Option<String>) {
    let (fname, fmt) = fmt;
    let a = codes(f, &format!("{fname}_a"));
    let b = codes(f, &format!("{fname}_b"));
    let c = u32s(f, &format!("{gpu}_{fname}_c"));
    let d = u32s(f, &format!("{gpu}_{fname}_d"));
    let mut ok = 0;
    let mut first = None;
    for i in 0..d.len() {
        let av: Vec<f32> = a[i * 32..(i + 1) * 32]
            .iter()
            .map(|&x| fmt.decode(x))
            .collect();
        let bv: Vec<f32> = b[i * 32..(i + 1) * 32]
            .iter()
            .map(|&x| fmt.decode(x))
            .collect();
        let c0 = f32::from_bits(c[i]);
        let got = match params {
            Some(p) => fused(c0, &av, fmt, &bv, fmt, &p),
            None => model.instruction(c0, &av, fmt, &bv, fmt),
        };
        let want = f32::from_bits(d[i]);
        if got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()) {
            ok += 1;
        } else if first.is_none() {
            first = Some(format!(
                "vector {i}: C = {:e}, model {got:e} ({:#010x}), GPU {want:e} ({:#010x})",
                f32::from_bits(c[i]),
                got.to_bits(),
                want.to_bits()
            ));
        }
    }
    (ok, d.len(), first)
}

#[test]
fn models_reproduce_the_published_vectors() {
    let f = load();
    let fmts = [("e4m3", Fp8Format::E4m3fn), ("e5m2", Fp8Format::E5m2)];
    let models = [Model::Sm90, Model::Sm89, Model::Sm100];
    println!("matches per GPU / format (rows) and model (columns):");
    println!("{:<12} {:>11} {:>11} {:>11}", "", "sm90", "sm89", "sm100");
    let mut failures = Vec::new();
    let mut separated = 0;
    for (gpu, own) in GPUS {
        for fmt in fmts {
            let mut row = format!("{:<12}", format!("{gpu} {}", fmt.0));
            for m in models {
                let (ok, n, first) = matches(&f, gpu, fmt, m, None);
                row += &format!(" {:>5}/{:<5}", ok, n);
                if gpu == "b200" {
                    continue;
                }
                if m == own && ok != n {
                    failures.push(format!(
                        "{gpu} {} with {}: {ok}/{n}; {}",
                        fmt.0,
                        m.name(),
                        first.unwrap()
                    ));
                }
                if m != own && ok < n {
                    separated += 1;
                }
            }
            println!("{row}");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Each of the four GPUs' data rejects both other models in both formats (4 × 2 × 2).
    assert_eq!(
        separated, 16,
        "some GPU's vectors do not separate the models"
    );
}

#[test]
fn b200_mma_sync_vectors_are_not_the_tcgen05_model() {
    let f = load();
    let rn30 = NvParams {
        frac: 31,
        out_nearest: true,
        ..NvParams::F8F6F4_25
    };
    for (fname, fmt, rn_min) in [
        ("e4m3", Fp8Format::E4m3fn, 5000),
        ("e5m2", Fp8Format::E5m2, 4999),
    ] {
        let (ok, n, first) = matches(&f, "b200", (fname, fmt), Model::Sm100, None);
        let (rn, _, _) = matches(&f, "b200", (fname, fmt), Model::Sm100, Some(rn30));
        println!("b200 {fname}: sm100 (F = 25, RZ) {ok}/{n}, F = 31 + RN {rn}/{n}; first sm100 miss: {first:?}");
        assert!(
            ok < n / 4 * 3,
            "sm100 now matches B200 mma.sync data ({ok}/{n}): update the docs"
        );
        assert!(rn >= rn_min, "B200 {fname}: F = 31 + RN {rn}/{n}");
    }
}
