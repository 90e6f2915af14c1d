//! Crafted groups whose codes and scales are worked out by hand from each source's formulas
//! (docs/numerics.md §5, §6, §10), run through the public API. The GPU golden test checks the same kind of rows
//! against PyTorch itself.

use isolate::formats::{DType, Fp8Format, Overflow};
use isolate::io::Tensor;
use isolate::quant::{quantize_activation, QuantSpec, Quantized};

fn p2(k: i32) -> f32 {
    2f32.powi(k)
}

/// One group of 128: `amax` at column 0, the rest small.
fn row(amax: f32) -> Vec<f32> {
    let mut r: Vec<f32> = (0..128)
        .map(|i| (i as f32 - 64.0) / 64.0 * 0.3 * amax)
        .collect();
    r[0] = amax;
    r
}

fn quant(spec: &str, rows: &[Vec<f32>], dtype: DType) -> Quantized {
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    let t = Tensor::from_f32("x", vec![rows.len(), 128], &flat).unwrap();
    let t = match dtype {
        DType::F32 => t,
        DType::BF16 => {
            let b: Vec<u8> = flat
                .iter()
                .flat_map(|v| half::bf16::from_f32(*v).to_bits().to_le_bytes())
                .collect();
            Tensor::new("x", DType::BF16, vec![rows.len(), 128], b).unwrap()
        }
        _ => unreachable!(),
    };
    quantize_activation(&QuantSpec::parse(spec).unwrap(), &t).unwrap()
}

fn e4m3(v: f32) -> u8 {
    Fp8Format::E4m3fn.encode(v, Overflow::Nan)
}

#[test]
fn all_zero_group_scale_is_the_eps_floor_of_each_source() {
    let z = vec![vec![0.0f32; 128]];
    let inv = 1.0f32 / 448.0;
    let e4 = 1e-4f64 as f32;
    let e10 = 1e-10f64 as f32;
    // DeepSeek V3.2 / DeepGEMM: max(0, 1e-4) · fl32(1/448).
    assert_eq!(quant("deepseek-v32", &z, DType::F32).scales[0], e4 * inv);
    assert_eq!(quant("deepgemm", &z, DType::F32).scales[0], e4 * inv);
    // 1e-4·fl32(1/448) = 1.87·2^-23: ceil and nearest both give 2^-22.
    assert_eq!(quant("deepgemm-ue8m0", &z, DType::F32).scales[0], p2(-22));
    assert_eq!(quant("torch-e8m0", &z, DType::F32).scales[0], p2(-22));
    // vLLM: fmaxf(1e-10, 0) / 448 (IEEE); ue8m0 floors the scale at 1e-10 = 1.72·2^-34 → 2^-33.
    assert_eq!(quant("vllm", &z, DType::F32).scales[0], e10 / 448.0);
    assert_eq!(quant("vllm-ue8m0", &z, DType::F32).scales[0], p2(-33));
    // aiter: 1e-10 · fl32(1/448).
    assert_eq!(quant("aiter", &z, DType::F32).scales[0], e10 * inv);
    // Codes of zeros are zero everywhere.
    assert!(quant("vllm", &z, DType::F32).q.iter().all(|&c| c == 0));
}

#[test]
fn float_ceil_under_rounds_just_above_a_power_of_two() {
    // amax/448 (IEEE) = 2^-8·(1 + 2^-23): CUDA's log2f gives exactly -8 (measured), float-ceil keeps 2^-8.
    let amax = f32::from_bits(0x3FE0_0002); // 1.75000024
    assert_eq!(amax / 448.0, f32::from_bits(p2(-8).to_bits() + 1));
    let v = quant("vllm-ue8m0", &[row(amax)], DType::F32);
    let c = quant("vllm-ue8m0,pow2=ceil", &[row(amax)], DType::F32);
    assert_eq!(v.scales[0], p2(-8));
    assert_eq!(c.scales[0], p2(-7));
    // Under the smaller scale amax/s = 448.00006 is clamped to 448; under 2^-7 it is 224.
    assert_eq!(v.q[0], 0x7E);
    assert_eq!(c.q[0], e4m3(224.0));
    // DeepGEMM's bit-exact ceil of amax·fl32(1/448) agrees with pow2=ceil here.
    assert_eq!(
        quant("deepgemm-ue8m0", &[row(amax)], DType::F32).scales[0],
        p2(-7)
    );
}

#[test]
fn float_ceil_is_exact_at_powers_of_two_and_under_rounds_just_above() {
    // amax = 448·2^-3 = 56 (exact in bf16): s = 2^-3 exactly, and log2f is exact there: both give 2^-3.
    for dt in [DType::F32, DType::BF16] {
        let v = quant("vllm-ue8m0", &[row(56.0)], dt);
        let d = quant("deepgemm-ue8m0", &[row(56.0)], dt);
        assert_eq!(v.scales[0], 0.125, "{dt}");
        assert_eq!(d.scales[0], 0.125, "{dt}");
        assert_eq!(v.q[0], 0x7E);
        assert_eq!(d.q[0], 0x7E);
    }
    // The f32 just above 1.75 = 448·2^-8: amax/448 rounds to one ulp above 2^-8, where CUDA's log2f returns
    // exactly -8 (measured): vLLM's float-ceil keeps 2^-8 and x/s = 448·(1+2^-23/1.75) saturates to 448 by the
    // clamp; DeepGEMM's bit-exact ceil goes up to 2^-7.
    let a = f32::from_bits(1.75f32.to_bits() + 1);
    let v = quant("vllm-ue8m0", &[row(a)], DType::F32);
    let d = quant("deepgemm-ue8m0", &[row(a)], DType::F32);
    assert_eq!(v.scales[0], p2(-8));
    assert_eq!(d.scales[0], p2(-7));
    assert_eq!(v.q[0], 0x7E);
    assert_eq!(d.q[0], e4m3(224.0));
}

#[test]
fn nearest_rounds_at_the_1_5_threshold_and_overflows_without_clamp() {
    // s = amax·fl32(1/448) with significand 1.25 → nearest 2^k (below s): amax/s = 560 > 448.
    let amax = 448.0 * 1.25 * p2(-7);
    let t = quant("torch-e8m0", &[row(amax)], DType::F32);
    assert_eq!(t.scales[0], p2(-7));
    assert_eq!(t.q[0], 0x7E); // clamped to 448
    let n = quant("torch-e8m0,clamp=no", &[row(amax)], DType::F32);
    assert_eq!(n.q[0], 0x7F); // 560 > 464: torch's cast gives NaN
    let s = quant(
        "torch-e8m0,clamp=no,overflow=saturate",
        &[row(amax)],
        DType::F32,
    );
    assert_eq!(s.q[0], 0x7E); // torch ≥ 2.12 saturates
                              // Significand 1.5 rounds up: the scale covers amax.
    let up = quant("torch-e8m0", &[row(448.0 * 1.5 * p2(-7))], DType::F32);
    assert_eq!(up.scales[0], p2(-6));
    assert_eq!(up.q[0], e4m3(336.0));
    assert_eq!(
        quant("deepgemm-ue8m0", &[row(amax)], DType::F32).scales[0],
        p2(-6)
    );
}

#[test]
fn floor_and_even_work_on_amax_with_the_format_emax() {
    // amax = 29.4375 (471·2^-4): exponent 4; floor (e4m3fn, emax 8): 2^(4-8) = 2^-4, amax/s = 471 → NaN
    // without clamp, 448 with it.
    let amax = 471.0 * p2(-4);
    let f = quant("torch-e8m0,pow2=floor", &[row(amax)], DType::F32);
    assert_eq!(f.scales[0], p2(-4));
    assert_eq!(f.q[0], 0x7E);
    assert_eq!(
        quant("torch-e8m0,pow2=floor,clamp=no", &[row(amax)], DType::F32).q[0],
        0x7F
    );
    // Even: 29.4375 = 1.8398·2^4 rounds (3 mantissa bits) to 1.875·2^4: still 2^-4; 31.2 = 1.95·2^4 carries
    // into 2^5 → 2^-3 (while floor stays at 2^-4).
    assert_eq!(
        quant("torch-e8m0,pow2=even", &[row(amax)], DType::F32).scales[0],
        p2(-4)
    );
    assert_eq!(
        quant("torch-e8m0,pow2=even", &[row(31.2)], DType::F32).scales[0],
        p2(-3)
    );
    assert_eq!(
        quant("torch-e8m0,pow2=floor", &[row(31.2)], DType::F32).scales[0],
        p2(-4)
    );
    // fnuz: emax 7 → one binade up.
    assert_eq!(
        quant(
            "torch-e8m0,pow2=floor,fp8=e4m3fnuz",
            &[row(amax)],
            DType::F32
        )
        .scales[0],
        p2(-3)
    );
}

#[test]
fn divide_versus_reciprocal_for_non_power_of_two_scales() {
    // vllm (s = amax/448, q = x/s) vs aiter (s = amax·fl32(1/448), q = x·fl32(1/s)): some real-looking row
    // separates both the scale and some codes.
    let r: Vec<f32> = (0..128)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.0173)
        .collect();
    let v = quant("vllm", std::slice::from_ref(&r), DType::F32);
    let a = quant("vllm,scale=mul,q=mul", std::slice::from_ref(&r), DType::F32);
    let amax = r.iter().fold(0f32, |m, x| m.max(x.abs()));
    assert_eq!(v.scales[0], amax / 448.0);
    assert_eq!(a.scales[0], amax * (1.0 / 448.0));
    for (i, x) in r.iter().enumerate() {
        assert_eq!(v.q[i], e4m3((x / v.scales[0]).clamp(-448.0, 448.0)));
        assert_eq!(a.q[i], e4m3((x * (1.0 / a.scales[0])).clamp(-448.0, 448.0)));
    }
}

#[test]
fn deepgemm_codes_clamp_while_deepseek_ceil_does_not() {
    // amax 1e-40 with eps none: s = 1e-40/448 is subnormal → ceil code 1 either way; with amax 0 and no eps
    // DeepSeek's fast_pow2(-127) is 0.0 while DeepGEMM's clamp gives 2^-126.
    let z = vec![vec![0.0f32; 128]];
    assert_eq!(
        quant("deepseek-v32-ue8m0,eps=none", &z, DType::F32).scales[0],
        0.0
    );
    assert_eq!(
        quant("deepgemm-ue8m0,eps=none", &z, DType::F32).scales[0],
        p2(-126)
    );
    // DeepGEMM with a zero scale: 0 · (1/0) = NaN → 0x7F (what torch computes).
    assert!(quant("deepgemm,eps=none", &z, DType::F32)
        .q
        .iter()
        .all(|&c| c == 0x7F));
}

#[test]
fn fnuz_and_its_224_clamp() {
    let r = row(1.0);
    let a = quant("aiter-fnuz", std::slice::from_ref(&r), DType::F32);
    assert_eq!(a.scales[0], 1.0 * (1.0 / 240.0f32));
    assert_eq!(a.fmt, Fp8Format::E4m3fnuz);
    assert_eq!(a.q[0], 0x7F); // 240 = fnuz max
    let b = quant("aiter-fnuz,max=224", &[r], DType::F32);
    assert_eq!(b.scales[0], 1.0 * (1.0 / 224.0f32));
    assert_eq!(b.q[0], Fp8Format::E4m3fnuz.encode(224.0, Overflow::Nan));
}
