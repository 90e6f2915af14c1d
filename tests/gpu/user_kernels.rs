//! The example user kernels (examples/*.cu, compiled with NVRTC) against the presets they implement.

use isolate::testdata::{Codes, Scales};

use crate::support::{demo_gemm, examples_dir, gpu};

/// The shipped example kernel, compiled with NVRTC and run through the quant ABI, equals the deepgemm-ue8m0
/// preset byte for byte on finite bf16 input.
#[test]
fn example_user_kernel_is_byte_equal_to_deepgemm_ue8m0() {
    use isolate::backend::cuda::user;
    use isolate::formats::DType;
    use isolate::io::Tensor;
    use isolate::kernel_ref::KernelRef;
    use isolate::quant::{quantize_activation, QuantSpec};
    let Some(b) = gpu() else { return };
    let dir = std::env::var("ISOLATE_EXAMPLES")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/examples").into());
    let k = user::load(
        &b,
        &KernelRef::parse(&format!("kernel:{dir}/quant_ue8m0.cu")).unwrap(),
    )
    .unwrap();
    let (m, kk) = (300, 1024);
    let mut rng = isolate::testdata::Rng::new(9);
    let bytes: Vec<u8> = (0..m * kk)
        .flat_map(|i| {
            let s = 2f64.powi((i / kk % 13) as i32 - 6);
            half::bf16::from_f32((rng.normal() * s) as f32)
                .to_bits()
                .to_le_bytes()
        })
        .collect();
    let x = Tensor::new("x", DType::BF16, vec![m, kk], bytes).unwrap();
    let want = quantize_activation(&QuantSpec::parse("deepgemm-ue8m0").unwrap(), &x).unwrap();
    let (q, s) = user::run_quant(&b, &k, x.bytes(), DType::BF16, m, kk, 128).unwrap();
    assert_eq!(q, want.q);
    assert_eq!(
        s.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        want.scales.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}

/// The example user GEMM kernel (examples/gemm_blockwise.cu, GEMM ABI v1, NVRTC) equals the blockwise preset
/// bit for bit: on random operands of awkward shapes (f32 and bf16 out, e4m3fn and e4m3fnuz), refusing e5m2
/// as unwritten outputs, and end to end through `isolate gemm --target-gemm kernel:...` on the demo.
#[test]
fn example_gemm_kernel_equals_blockwise() {
    use isolate::backend::cuda::user_gemm;
    use isolate::formats::Fp8Format;
    use isolate::gemm::{gemm, GemmSpec, Operand, OutType};
    use isolate::kernel_ref::KernelRef;
    let Some(b) = gpu() else { return };
    let k = KernelRef::parse(&format!("kernel:{}/gemm_blockwise.cu", examples_dir())).unwrap();
    let mut rng = isolate::testdata::Rng::new(21);
    for (m, n, kk, fmt) in [
        (70, 200, 512, Fp8Format::E4m3fn),
        (1, 64, 128, Fp8Format::E4m3fn),
        (130, 129, 384, Fp8Format::E4m3fnuz),
    ] {
        let a = isolate::testdata::random_quantized(
            &mut rng,
            m,
            kk,
            (1, 128),
            fmt,
            Codes::Normal,
            Scales::Any,
        );
        let w = isolate::testdata::random_quantized(
            &mut rng,
            n,
            kk,
            (128, 128),
            fmt,
            Codes::Normal,
            Scales::Any,
        );
        for (out, spec) in [
            (OutType::F32, "blockwise,out=f32"),
            (OutType::Bf16, "blockwise"),
        ] {
            let got = user_gemm::run(&b, &k, &a, &w, out).unwrap();
            let (oa, ow): (Operand, Operand) = (a.clone().into(), w.clone().into());
            let want = gemm(&GemmSpec::parse(spec).unwrap(), &oa, &ow).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&got.values),
                bits(&want.values),
                "{m}x{n}x{kk} {fmt:?} {spec}"
            );
        }
    }
    let a = isolate::testdata::random_quantized(
        &mut rng,
        8,
        128,
        (1, 128),
        Fp8Format::E5m2,
        Codes::Normal,
        Scales::Pow2,
    );
    let w = isolate::testdata::random_quantized(
        &mut rng,
        8,
        128,
        (128, 128),
        Fp8Format::E5m2,
        Codes::Normal,
        Scales::Pow2,
    );
    let e = user_gemm::run(&b, &k, &a, &w, OutType::Bf16)
        .unwrap_err()
        .to_string();
    assert!(e.contains("left 64 of 64 outputs unwritten"), "{e}");

    let kernel = format!("kernel:{}/gemm_blockwise.cu", examples_dir());
    for (t, r) in [
        (kernel.clone(), "blockwise"),
        (format!("{kernel},out=f32"), "blockwise,out=f32"),
    ] {
        let (code, j) = demo_gemm(&t, r);
        assert_eq!((code, j["verdict"].as_str()), (0, Some("none")), "{j}");
        assert_eq!(j["a_vs_b"]["bitwise"], true);
    }
}
