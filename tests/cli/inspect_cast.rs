//! `isolate inspect --json -` and `isolate cast` through the binary, on files the tests write; expected
//! values come from the library's codecs element by element, independently of `cast`'s buffer path.

use std::path::{Path, PathBuf};

use isolate::formats::convert::{element_f32, f32_to_bf16_bits, f32_to_f16_bits};
use isolate::formats::{e8m0, DType, E8m0Round, Fp8Format, Overflow};
use isolate::io::{safetensors_io, Tensor};

use crate::common::{fixture, isolate, s};

fn t(name: &str, dtype: DType, shape: Vec<usize>, bytes: Vec<u8>) -> Tensor {
    Tensor::new(name, dtype, shape, bytes).unwrap()
}

fn f32b(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn inspect_json_lists_names_dtypes_shapes_and_nan_counts() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("in.safetensors");
    let nan = f32::NAN;
    let tensors = vec![
        t(
            "a",
            DType::F32,
            vec![2, 3],
            f32b(&[1.0, nan, -2.0, f32::INFINITY, nan, 0.5]),
        ),
        t("q", DType::F8E4M3FN, vec![4], vec![0x7f, 0x38, 0xb8, 0x7e]),
        t(
            "b",
            DType::BF16,
            vec![3],
            [0x3f00u16, 0x8000, 0x7fc0]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        ),
        t(
            "i",
            DType::I32,
            vec![2],
            [5i32, -7].iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
        t("s", DType::F8E8M0, vec![1, 2], vec![127, 255]),
        t("z", DType::F32, vec![0], vec![]),
    ];
    safetensors_io::write(&p, &tensors, None).unwrap();
    let npy = fixture("io/npy_i64.npy");
    let o = isolate(&["inspect", s(&p), s(&npy), "--json", "-"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let rows: serde_json::Value = serde_json::from_str(&o.stdout).expect("stdout is only JSON");
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 7);
    let row = |n: &str| {
        rows.iter()
            .find(|r| r["name"] == n)
            .unwrap_or_else(|| panic!("no row {n}"))
    };
    let check = |n: &str, dtype: &str, shape: &[usize], nan: Option<u64>, inf: Option<u64>| {
        let r = row(n);
        assert_eq!(r["dtype"], dtype, "{n}");
        assert_eq!(r["shape"], serde_json::json!(shape), "{n}");
        assert_eq!(r["nan"].as_u64(), nan, "{n}");
        assert_eq!(r["inf"].as_u64(), inf, "{n}");
        assert_eq!(
            r["file"].as_str().unwrap().ends_with(".npy"),
            n == "npy_i64",
            "{n}"
        );
    };
    check("a", "f32", &[2, 3], Some(2), Some(1));
    check("q", "e4m3fn", &[4], Some(1), Some(0));
    check("b", "bf16", &[3], Some(1), Some(0));
    check("i", "i32", &[2], None, None);
    check("s", "e8m0", &[1, 2], Some(1), Some(0));
    check("z", "f32", &[0], Some(0), Some(0));
    check("npy_i64", "i64", &[2, 3], None, None);
    assert_eq!(
        (row("a")["min"].as_f64(), row("a")["max"].as_f64()),
        (Some(-2.0), Some(1.0))
    );
    assert!((row("a")["mean"].as_f64().unwrap() - (-0.5 / 3.0)).abs() < 1e-15);
    assert_eq!(
        (row("q")["min"].as_f64(), row("q")["max"].as_f64()),
        (Some(-1.0), Some(448.0))
    );
    assert_eq!(row("z")["min"], "NaN", "an empty tensor has no min");
    assert!(
        row("i").get("min").is_none(),
        "integer tensors carry no summary"
    );
}

/// Values around every e4m3fn/e5m2/e8m0 boundary, specials, and seeded random ones.
fn sweep() -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    let mut v = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        447.0,
        448.0,
        449.0,
        463.9,
        464.0,
        464.1,
        480.0,
        500.0,
        -600.0,
        240.0,
        248.0,
        57344.0,
        61440.0,
        1e9,
        1e-9,
        2f32.powi(-9),
        2f32.powi(-10),
        2f32.powi(-7) * 1.5,
        -3.3,
        1.5,
        1.499,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MIN_POSITIVE,
        1e-45,
        f32::MAX,
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    v.extend((0..2000).map(|_| rng.random_range(-700.0f32..700.0)));
    v.extend((0..500).map(|_| f32::from_bits(rng.random())));
    v
}

fn run_cast(input: &Path, out: &Path, extra: &[&str]) -> Vec<Tensor> {
    let mut args = vec!["cast", "--input", s(input), "--out", s(out)];
    args.extend_from_slice(extra);
    let o = isolate(&args);
    assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
    safetensors_io::read(out).unwrap()
}

#[test]
fn cast_converts_each_float_element_and_copies_the_rest() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in.safetensors");
    let out = d.path().join("out.safetensors");
    let x = sweep();
    let h: Vec<u8> = x
        .iter()
        .flat_map(|&v| f32_to_bf16_bits(v).to_le_bytes())
        .collect();
    let ids: Vec<u8> = (0..40i64)
        .flat_map(|i| (i * 1_000_003 - 7).to_le_bytes())
        .collect();
    let inputs = vec![
        t("x", DType::F32, vec![x.len()], f32b(&x)),
        t("h", DType::BF16, vec![x.len()], h),
        t("ids", DType::I64, vec![5, 8], ids),
        t("mask", DType::Bool, vec![3], vec![1, 0, 1]),
        t("raw", DType::U8, vec![2, 2], vec![0, 9, 200, 255]),
    ];
    safetensors_io::write(&input, &inputs, None).unwrap();
    type Enc = Box<dyn Fn(f32) -> Vec<u8>>;
    let cases: Vec<(Vec<&str>, DType, Enc)> = vec![
        (
            vec!["--to", "e4m3fn"],
            DType::F8E4M3FN,
            Box::new(|v| vec![Fp8Format::E4m3fn.encode(v, Overflow::Nan)]),
        ),
        (
            vec!["--to", "float8_e4m3fn", "--overflow", "saturate"],
            DType::F8E4M3FN,
            Box::new(|v| vec![Fp8Format::E4m3fn.encode(v, Overflow::Saturate)]),
        ),
        (
            vec!["--to", "F8_E4M3FNUZ"],
            DType::F8E4M3FNUZ,
            Box::new(|v| vec![Fp8Format::E4m3fnuz.encode(v, Overflow::Nan)]),
        ),
        (
            vec!["--to", "e5m2"],
            DType::F8E5M2,
            Box::new(|v| vec![Fp8Format::E5m2.encode(v, Overflow::Nan)]),
        ),
        (
            vec!["--to", "e8m0"],
            DType::F8E8M0,
            Box::new(|v| vec![e8m0::encode(v, E8m0Round::Nearest)]),
        ),
        (
            vec!["--to", "e8m0", "--round", "ceil"],
            DType::F8E8M0,
            Box::new(|v| vec![e8m0::encode(v, E8m0Round::Ceil)]),
        ),
        (
            vec!["--to", "bf16"],
            DType::BF16,
            Box::new(|v| f32_to_bf16_bits(v).to_le_bytes().to_vec()),
        ),
        (
            vec!["--to", "f16"],
            DType::F16,
            Box::new(|v| f32_to_f16_bits(v).to_le_bytes().to_vec()),
        ),
        (
            vec!["--to", "f64"],
            DType::F64,
            Box::new(|v| (v as f64).to_le_bytes().to_vec()),
        ),
    ];
    for (args, to, enc) in cases {
        let got = run_cast(&input, &out, &args);
        let get = |n: &str| {
            got.iter()
                .find(|t| t.name == n)
                .unwrap_or_else(|| panic!("{args:?}: no {n}"))
        };
        for src in &inputs {
            let g = get(&src.name);
            assert_eq!(g.shape, src.shape, "{args:?} {}", src.name);
            if !src.dtype.is_float() {
                assert_eq!(
                    (g.dtype, g.bytes()),
                    (src.dtype, src.bytes()),
                    "{args:?}: {} copied",
                    src.name
                );
                continue;
            }
            assert_eq!(g.dtype, to, "{args:?} {}", src.name);
            let es = to.size();
            for i in 0..src.numel() {
                let v = element_f32(src.dtype, src.bytes(), i);
                let want = enc(v);
                let have = &g.bytes()[i * es..(i + 1) * es];
                // NaN payloads are compared by class: f16/bf16/f64 keep a NaN a NaN.
                let both_nan = v.is_nan() && element_f32(to, have, 0).is_nan();
                assert!(
                    have == &want[..] || both_nan,
                    "{args:?} {}[{i}] = {v:e}: {have:?} vs {want:?}",
                    src.name
                );
            }
        }
    }
}

#[test]
fn cast_turns_npy_into_safetensors_and_refuses_duplicate_names() {
    let d = tempfile::tempdir().unwrap();
    let fx = |n: &str| -> PathBuf { fixture("io").join(n) };
    let out = d.path().join("o.safetensors");
    let got = run_cast(&fx("npy_f32_fortran.npy"), &out, &["--to", "bf16"]);
    assert_eq!(
        (got[0].name.as_str(), got[0].dtype, &got[0].shape),
        ("npy_f32_fortran", DType::BF16, &vec![2, 3, 4])
    );
    // Row-major values (i - 7) / 3 for i = 0..24, rounded to bf16.
    let want: Vec<u8> = (0..24)
        .flat_map(|i| f32_to_bf16_bits((i as f32 - 7.0) / 3.0).to_le_bytes())
        .collect();
    assert_eq!(got[0].bytes(), &want[..]);
    let p = fx("npy_f16.npy");
    let o = isolate(&[
        "cast",
        "--input",
        s(&p),
        "--input",
        s(&p),
        "--to",
        "f32",
        "--out",
        s(&out),
    ]);
    assert_eq!(o.code, 2);
    let err = &o.stderr;
    assert!(
        err.contains("npy_f16") && err.contains("more than one input") && !err.contains("panicked"),
        "{err}"
    );
}

/// `isolate kernels` lists every module's source and both AMD targets of the portable modules (embedded, or
/// "not built: …"), and which C++ compiler simt-cpu would use.
#[test]
fn kernels_lists_what_the_binary_carries() {
    let o = crate::common::isolate(&["kernels"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    for w in [
        "codecs",
        "quant",
        "gfx942",
        "gfx950",
        "source",
        "simt-cpu C++ compiler",
    ] {
        assert!(o.stdout.contains(w), "{w}: {}", o.stdout);
    }
    let j = crate::common::isolate(&["kernels", "--json", "-"]).json();
    let arts = j["artifacts"].as_array().unwrap();
    for (module, target) in [
        ("codecs", "gfx942"),
        ("codecs", "gfx950"),
        ("quant", "gfx942"),
        ("quant", "gfx950"),
        ("quant", "source"),
    ] {
        let a = arts
            .iter()
            .find(|a| a["module"] == module && a["target"] == target)
            .unwrap_or_else(|| panic!("{module} {target}: {j}"));
        let how = a["how"].as_str().unwrap();
        assert!(a["built"] == true || how.starts_with("not built: "), "{a}");
        // CI builds with ISOLATE_REQUIRE_HIP=1: every AMD code object must then be embedded.
        if std::env::var("ISOLATE_REQUIRE_HIP").is_ok_and(|v| v == "1") {
            assert_eq!(a["built"], true, "{a}");
        }
    }
    assert!(arts
        .iter()
        .any(|a| a["target"] == "sm_90" || a["target"] == "sm_90a"));
}
