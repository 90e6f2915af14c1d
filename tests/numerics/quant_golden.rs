//! Every quant preset (and a few axis overrides) byte for byte against PyTorch on CUDA computing it the way
//! its source does: fixtures/golden/quant/quant_golden.safetensors from fixtures/gen/quant_golden.py (an
//! H100 run). Codes are compared as bytes; scales as f32 bits (NaN by class).

use std::collections::BTreeMap;

use isolate::io::{safetensors_io, Tensor};
use isolate::quant::{quantize_activation, quantize_weight, QuantSpec, Quantized};

use crate::common::fixture;

fn golden() -> BTreeMap<String, Tensor> {
    safetensors_io::read(&fixture("golden/quant/quant_golden.safetensors"))
        .expect("fixtures/golden/quant/quant_golden.safetensors (run fixtures/gen/quant_golden.py on the GPU)")
        .into_iter()
        .map(|t| (t.name.clone(), t))
        .collect()
}

/// (kind, spec, case) of every `q/…` or `wq/…` entry.
fn entries(g: &BTreeMap<String, Tensor>, kind: &str) -> Vec<(String, String)> {
    g.keys()
        .filter_map(|k| {
            let rest = k.strip_prefix(kind)?.strip_prefix('/')?;
            let (spec, case) = rest.rsplit_once('/')?;
            Some((spec.to_string(), case.to_string()))
        })
        .collect()
}

fn f32s(t: &Tensor) -> Vec<f32> {
    t.to_f32()
}

/// Differences between our quantization and the golden codes/scales, as readable lines.
fn diff(ours: &Quantized, q: &Tensor, s: &Tensor, x: &Tensor) -> Vec<String> {
    let mut bad = Vec::new();
    let want_q = q.bytes();
    assert_eq!(want_q.len(), ours.q.len(), "code count");
    let xv = x.to_f32();
    for (i, (&a, &b)) in ours.q.iter().zip(want_q).enumerate() {
        if a != b && bad.len() < 8 {
            let (r, c) = (i / ours.cols, i % ours.cols);
            bad.push(format!(
                "code ({r}, {c}): x = {:e}, ours 0x{a:02X}, torch 0x{b:02X}, scale ours {:e}",
                xv[i],
                ours.scale_at(r, c)
            ));
        }
    }
    let want_s = f32s(s);
    assert_eq!(want_s.len(), ours.scales.len(), "scale count");
    for (i, (&a, &b)) in ours.scales.iter().zip(&want_s).enumerate() {
        let same = a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        if !same && bad.len() < 16 {
            bad.push(format!(
                "scale {i}: ours {a:e} ({:#010x}), torch {b:e} ({:#010x})",
                a.to_bits(),
                b.to_bits()
            ));
        }
    }
    bad
}

#[test]
fn every_preset_and_override_is_byte_equal_to_torch_on_cuda() {
    let g = golden();
    let list = entries(&g, "q");
    let presets: std::collections::BTreeSet<String> = list
        .iter()
        .map(|(s, _)| s.clone())
        .filter(|s| !s.contains(','))
        .collect();
    assert_eq!(presets.len(), 9, "every preset but none: {presets:?}");
    assert!(list.len() >= 60, "{} entries", list.len());
    let mut failures = Vec::new();
    for (spec, case) in &list {
        let x = &g[&format!("in/{case}")];
        let q = &g[&format!("q/{spec}/{case}")];
        let s = &g[&format!("s/{spec}/{case}")];
        let ours = quantize_activation(&QuantSpec::parse(spec).unwrap(), x)
            .unwrap_or_else(|e| panic!("{spec} on {case}: {e}"));
        let bad = diff(&ours, q, s, x);
        if !bad.is_empty() {
            failures.push(format!("{spec} on {case}:\n    {}", bad.join("\n    ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn weight_blocks_are_byte_equal_to_deepgemm_per_block_cast() {
    let g = golden();
    let list = entries(&g, "wq");
    assert!(list.len() >= 4, "{list:?}");
    for (spec, case) in &list {
        let w = &g[&format!("in/{case}")];
        let ours = quantize_weight(&QuantSpec::parse(spec).unwrap(), w).unwrap();
        let bad = diff(
            &ours,
            &g[&format!("wq/{spec}/{case}")],
            &g[&format!("ws/{spec}/{case}")],
            w,
        );
        assert!(bad.is_empty(), "{spec} on {case}:\n{}", bad.join("\n"));
    }
}

/// The presets that must differ on the crafted groups really differ in torch's output (so the byte-equality
/// above is not vacuous), and where: codes or scales.
#[test]
fn presets_that_differ_on_crafted_groups_really_differ() {
    let g = golden();
    let differ = |a: &str, b: &str, case: &str| -> (usize, usize) {
        let (qa, qb) = (
            g[&format!("q/{a}/{case}")].bytes(),
            g[&format!("q/{b}/{case}")].bytes(),
        );
        let (sa, sb) = (
            f32s(&g[&format!("s/{a}/{case}")]),
            f32s(&g[&format!("s/{b}/{case}")]),
        );
        (
            qa.iter().zip(qb).filter(|(x, y)| x != y).count(),
            sa.iter()
                .zip(&sb)
                .filter(|(x, y)| x.to_bits() != y.to_bits())
                .count(),
        )
    };
    // float-ceil vs bit-exact ceil: f32 scales a few ulps above 2^k separate them; bf16 input never does
    // (amax = 448·2^k gives s = 2^k exactly, where log2f is exact).
    assert!(differ("vllm-ue8m0", "vllm-ue8m0,pow2=ceil", "crafted_f32").1 > 0);
    assert_eq!(
        differ("vllm-ue8m0", "vllm-ue8m0,pow2=ceil", "crafted_bf16"),
        (0, 0)
    );
    // Nearest vs ceil (the ATOM bug), divide vs multiply for the scale, clamp vs NaN cast.
    assert!(differ("deepgemm-ue8m0", "torch-e8m0", "crafted_f32").1 > 0);
    assert!(differ("deepgemm", "vllm", "crafted_f32").1 > 0);
    assert!(differ("deepgemm,scale=div", "deepgemm", "crafted_f32").1 > 0);
    assert!(differ("torch-e8m0,clamp=no", "torch-e8m0", "crafted_f32").0 > 0);
    assert!(
        differ(
            "torch-e8m0,clamp=no",
            "torch-e8m0,clamp=no,overflow=saturate",
            "crafted_f32"
        )
        .0 > 0
    );
    let mul_vs_div: usize = ["crafted_f32", "crafted_bf16", "real_x_small"]
        .iter()
        .map(|c| differ("deepgemm", "deepseek-v32", c).0)
        .sum();
    assert!(mul_vs_div > 0, "q: x·fl32(1/s) vs x/s");
    assert!(
        differ(
            "torch-e8m0,pow2=floor",
            "torch-e8m0,pow2=even",
            "crafted_f32"
        )
        .1 > 0
    );
    assert!(differ("vllm-ue8m0", "vllm-ue8m0,eps_on=amax", "crafted_f32").1 > 0);
    // On the real bf16 activation DeepGEMM's and vLLM's ue8m0 quantizers agree byte for byte.
    assert_eq!(differ("deepgemm-ue8m0", "vllm-ue8m0", "real_x"), (0, 0));
}
