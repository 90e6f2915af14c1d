//! Byte-for-byte golden tests of the element codecs against PyTorch 2.11 itself (CPU and CUDA), from
//! fixtures/golden/codecs.safetensors made by fixtures/gen/codec_golden.py on an H100.
//!
//! NaN is compared by class: where torch's result is a NaN ours must be a NaN of the same format (for the
//! 8-bit formats the NaN codes are compared exactly too, since their NaN encodings are part of the format;
//! for bf16/f16 only the class, since CUDA returns a canonical NaN and the CPU keeps a payload).

#![allow(clippy::needless_range_loop)] // codes index both tables
use isolate::formats::convert::{f32_to_bf16_bits, f32_to_f16_bits};
use isolate::formats::{e8m0, DType, E8m0Round, Fp8Format, Overflow};
use isolate::io::{safetensors_io, Tensor};

use crate::common::fixture;

fn golden() -> Vec<Tensor> {
    safetensors_io::read(&fixture("golden/codecs.safetensors")).expect("golden codecs file")
}

fn get<'a>(g: &'a [Tensor], name: &str) -> &'a Tensor {
    g.iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("{name} missing"))
}

const DEVS: [&str; 2] = ["cpu", "cuda"];

#[test]
fn decode_all_256_codes_matches_torch() {
    let g = golden();
    for dev in DEVS {
        for f in Fp8Format::ALL {
            let t = get(&g, &format!("decode.{}.{dev}", f.name())).to_f32();
            for c in 0..256usize {
                let ours = f.decode(c as u8);
                if t[c].is_nan() {
                    assert!(ours.is_nan(), "{dev} {f:?} code {c:#x}");
                } else {
                    assert_eq!(ours.to_bits(), t[c].to_bits(), "{dev} {f:?} code {c:#x}");
                }
            }
        }
        let t = get(&g, &format!("decode.e8m0.{dev}")).to_f32();
        for c in 0..256usize {
            let ours = e8m0::decode(c as u8);
            if t[c].is_nan() {
                assert!(ours.is_nan(), "{dev} e8m0 code {c}");
            } else {
                assert_eq!(ours.to_bits(), t[c].to_bits(), "{dev} e8m0 code {c}");
            }
        }
    }
}

fn sweep_inputs(g: &[Tensor]) -> Vec<f32> {
    let t = get(g, "sweep.input");
    assert_eq!(t.dtype, DType::I32);
    t.bytes()
        .chunks_exact(4)
        .map(|c| f32::from_bits(u32::from_le_bytes(c.try_into().unwrap())))
        .collect()
}

#[test]
fn fp8_casts_match_torch_eager_on_cpu_and_cuda() {
    let g = golden();
    let x = sweep_inputs(&g);
    assert!(x.len() > 70_000, "sweep too small: {}", x.len());
    for dev in DEVS {
        for f in Fp8Format::ALL {
            let want = get(&g, &format!("sweep.{}.{dev}", f.name())).bytes();
            let mut bad = Vec::new();
            for (i, &v) in x.iter().enumerate() {
                let ours = f.encode(v, Overflow::Nan);
                if ours != want[i] {
                    bad.push(format!(
                        "{:#010x} ({v:e}) → ours {ours:#04x} torch {:#04x}",
                        v.to_bits(),
                        want[i]
                    ));
                }
            }
            assert!(
                bad.is_empty(),
                "{dev} {f:?}: {} mismatches, first {:?}",
                bad.len(),
                &bad[..bad.len().min(8)]
            );
        }
    }
}

#[test]
fn e8m0_nearest_matches_torch_float8_e8m0fnu_cast() {
    let g = golden();
    let x = sweep_inputs(&g);
    for dev in DEVS {
        let want = get(&g, &format!("sweep.e8m0.{dev}")).bytes();
        for (i, &v) in x.iter().enumerate() {
            assert_eq!(
                e8m0::encode(v, E8m0Round::Nearest),
                want[i],
                "{dev} {:#010x} ({v:e})",
                v.to_bits()
            );
        }
    }
}

#[test]
fn bf16_and_f16_casts_match_torch_nan_by_class() {
    let g = golden();
    let x = sweep_inputs(&g);
    for dev in DEVS {
        for (name, enc, is_nan) in [
            (
                "bf16",
                f32_to_bf16_bits as fn(f32) -> u16,
                (|b: u16| b & 0x7FFF > 0x7F80) as fn(u16) -> bool,
            ),
            ("f16", f32_to_f16_bits, |b: u16| b & 0x7FFF > 0x7C00),
        ] {
            let want = get(&g, &format!("sweep.{name}.{dev}")).bytes();
            for (i, &v) in x.iter().enumerate() {
                let w = u16::from_le_bytes([want[2 * i], want[2 * i + 1]]);
                let ours = enc(v);
                if is_nan(w) {
                    assert!(
                        is_nan(ours),
                        "{dev} {name} {:#010x}: torch NaN, ours {ours:#06x}",
                        v.to_bits()
                    );
                } else {
                    assert_eq!(ours, w, "{dev} {name} {:#010x} ({v:e})", v.to_bits());
                }
            }
        }
    }
}

/// The float-ceil rule's table is generated from the exhaustive CUDA probe; check the generated Rust constants
/// still say what the probe measured, and that `float_ceil_pow2` follows them on both sides of each threshold.
#[test]
fn float_ceil_follows_the_exhaustive_cuda_log2f_probe() {
    let text = std::fs::read_to_string(fixture("golden/cuda_log2f.json")).unwrap();
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    let max_rest: Vec<u32> = j["max_rest"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    assert_eq!(max_rest.as_slice(), e8m0::LOG2F_EXACT_K_MAX_REST.as_slice());
    assert_eq!(
        j["other_mismatch_count"], 0,
        "log2f differs from the exact ceil in another way"
    );
    assert_eq!(j["pow2_log2f_not_exact"].as_array().map(Vec::len), Some(0));
    for k in -126..=126i32 {
        let p = f32::from_bits(((k + 127) as u32) << 23);
        let r = max_rest[(k + 149) as usize];
        assert_eq!(e8m0::float_ceil_pow2(p), p, "k={k}");
        if r > 0 {
            assert_eq!(
                e8m0::float_ceil_pow2(f32::from_bits(p.to_bits() + r)),
                p,
                "k={k} rest={r}"
            );
        }
        assert_eq!(
            e8m0::float_ceil_pow2(f32::from_bits(p.to_bits() + r + 1)),
            2.0 * p,
            "k={k} rest={}",
            r + 1
        );
        // Strictly between 2^(k-1) and 2^k: the ceil is 2^k.
        assert_eq!(
            e8m0::float_ceil_pow2(f32::from_bits(p.to_bits() - 1)),
            p,
            "k={k} below"
        );
    }
}

/// CUDA's f32 log2f is exact at every power of two (what `float_ceil_pow2` assumes), while CUDA's f64 log2 is
/// not at some: measured by fixtures/gen/probe_log2f_pow2.py (H100, torch 2.11).
#[test]
fn cuda_log2f_is_exact_at_powers_of_two() {
    let text = std::fs::read_to_string(fixture("golden/cuda_log2f_pow2.json")).unwrap();
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(j["f32_exact"].as_array().unwrap().len(), 277);
    assert!(j["f32_inexact"].as_array().unwrap().is_empty());
    assert!(!j["f64_inexact"].as_array().unwrap().is_empty());
    for k in -149..=127i32 {
        let p = 2f32.powi(k);
        assert_eq!(e8m0::float_ceil_pow2(p), p, "k={k}");
    }
}
