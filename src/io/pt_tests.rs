//! Tests of the `.pt` reader on torch-style zips assembled here (pickle laid out as torch's protocol-2
//! pickler does; see `pickle_builder`). The golden files written by real torch are tested in
//! `tests/numerics/io_golden.rs`.

use super::*;
use crate::formats::DType;
use crate::io::pickle_builder::{f32s, write_pt, P};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn dict(entries: Vec<(&str, P)>) -> Vec<u8> {
    let mut p = P::new().op(b"}").mark();
    for (k, v) in entries {
        p = p.s(k).op(&v.0);
    }
    p.op(b"u").stop()
}

/// A pickle fragment (no PROTO).
fn frag() -> P {
    P(Vec::new())
}

fn read_ok(
    dir: &tempfile::TempDir,
    name: &str,
    pkl: &[u8],
    st: &[(&str, Vec<u8>)],
) -> (Vec<Tensor>, Vec<String>) {
    let path = dir.path().join(name);
    write_pt(&path, pkl, st, Some("little"), false);
    read(&path).unwrap()
}

fn read_err(dir: &tempfile::TempDir, pkl: &[u8], st: &[(&str, Vec<u8>)]) -> String {
    let path = dir.path().join("bad.pt");
    write_pt(&path, pkl, st, Some("little"), false);
    let e = read(&path).unwrap_err().to_string();
    assert!(e.contains("bad.pt"), "the message names the file: {e}");
    e
}

fn by_name<'a>(ts: &'a [Tensor], n: &str) -> &'a Tensor {
    ts.iter()
        .find(|t| t.name == n)
        .unwrap_or_else(|| panic!("no tensor {n} in {ts:?}"))
}

fn storage12() -> Vec<u8> {
    f32s(&(0..12).map(|i| i as f32).collect::<Vec<_>>())
}

#[test]
fn views_are_materialised_row_major() {
    let d = tmp();
    let pkl = dict(vec![
        (
            "full",
            frag().tensor_v2("FloatStorage", "0", 12, 0, &[3, 4], &[4, 1]),
        ),
        (
            "t",
            frag().tensor_v2("FloatStorage", "0", 12, 0, &[4, 3], &[1, 4]),
        ),
        (
            "slice",
            frag().tensor_v2("FloatStorage", "0", 12, 4, &[2, 2], &[4, 2]),
        ),
        (
            "scalar",
            frag().tensor_v2("FloatStorage", "0", 12, 5, &[], &[]),
        ),
        (
            "empty",
            frag().tensor_v2("FloatStorage", "0", 12, 0, &[0, 4], &[4, 1]),
        ),
        (
            "expand",
            frag().tensor_v2("FloatStorage", "0", 12, 0, &[2, 4], &[0, 1]),
        ),
        (
            "tail",
            frag().tensor_v2("FloatStorage", "0", 12, 10, &[2], &[1]),
        ),
    ]);
    let (ts, notes) = read_ok(&d, "views.pt", &pkl, &[("0", storage12())]);
    assert!(notes.is_empty(), "{notes:?}");
    let names: Vec<&str> = ts.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["full", "t", "slice", "scalar", "empty", "expand", "tail"]
    );
    let v = |n: &str| (by_name(&ts, n).shape.clone(), by_name(&ts, n).to_f32());
    assert_eq!(v("full"), (vec![3, 4], (0..12).map(|i| i as f32).collect()));
    assert_eq!(
        v("t"),
        (
            vec![4, 3],
            vec![0., 4., 8., 1., 5., 9., 2., 6., 10., 3., 7., 11.]
        )
    );
    assert_eq!(v("slice"), (vec![2, 2], vec![4., 6., 8., 10.]));
    assert_eq!(v("scalar"), (vec![], vec![5.]));
    assert_eq!(v("empty"), (vec![0, 4], vec![]));
    assert_eq!(
        v("expand"),
        (vec![2, 4], vec![0., 1., 2., 3., 0., 1., 2., 3.])
    );
    assert_eq!(v("tail"), (vec![2], vec![10., 11.]));
    assert!(ts.iter().all(|t| t.dtype == DType::F32));
}

#[test]
fn two_storages_and_shared_ones() {
    let d = tmp();
    let i16s: Vec<u8> = [-3i16, 7, 300]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let pkl = dict(vec![
        (
            "a",
            frag().tensor_v2("FloatStorage", "0", 12, 0, &[6], &[1]),
        ),
        ("b", frag().tensor_v2("ShortStorage", "1", 3, 0, &[3], &[1])),
        (
            "c",
            frag().tensor_v2("FloatStorage", "0", 12, 6, &[6], &[1]),
        ),
    ]);
    let (ts, _) = read_ok(
        &d,
        "two.pt",
        &pkl,
        &[("0", storage12()), ("1", i16s.clone())],
    );
    assert_eq!(by_name(&ts, "a").to_f32(), vec![0., 1., 2., 3., 4., 5.]);
    assert_eq!(by_name(&ts, "c").to_f32(), vec![6., 7., 8., 9., 10., 11.]);
    assert_eq!(by_name(&ts, "b").dtype, DType::I16);
    assert_eq!(by_name(&ts, "b").bytes(), &i16s[..]);
}

#[test]
fn fp8_tensors_through_rebuild_tensor_v3() {
    let d = tmp();
    let bytes: Vec<u8> = (0u8..16).collect();
    let pkl = dict(vec![
        (
            "q",
            frag().tensor_v3("float8_e4m3fn", "0", 16, 2, &[2, 3], &[4, 1]),
        ),
        (
            "s",
            frag().tensor_v3("float8_e8m0fnu", "1", 4, 0, &[4], &[1]),
        ),
        ("u", frag().tensor_v3("uint16", "0", 16, 1, &[3], &[2])),
    ]);
    let (ts, _) = read_ok(
        &d,
        "fp8.pt",
        &pkl,
        &[("0", bytes.clone()), ("1", vec![127, 128, 0, 255])],
    );
    let q = by_name(&ts, "q");
    assert_eq!(
        (q.dtype, q.bytes()),
        (DType::F8E4M3FN, &[2u8, 3, 4, 6, 7, 8][..])
    );
    assert_eq!(by_name(&ts, "s").bytes(), &[127, 128, 0, 255]);
    // u16 elements 1, 3, 5 of the 8 in 16 bytes.
    let u = by_name(&ts, "u");
    assert_eq!(
        (u.dtype, u.bytes()),
        (DType::U16, &[2u8, 3, 6, 7, 10, 11][..])
    );
}

#[test]
fn big_endian_files_are_byte_swapped() {
    let d = tmp();
    let vals = [1.5f32, -2.0, 3.25, f32::INFINITY];
    let be: Vec<u8> = vals.iter().flat_map(|x| x.to_be_bytes()).collect();
    let be16: Vec<u8> = [258i16, -2].iter().flat_map(|x| x.to_be_bytes()).collect();
    let pkl = dict(vec![
        (
            "x",
            frag().tensor_v2("FloatStorage", "0", 4, 0, &[2, 2], &[2, 1]),
        ),
        (
            "xt",
            frag().tensor_v2("FloatStorage", "0", 4, 0, &[2, 2], &[1, 2]),
        ),
        ("h", frag().tensor_v2("ShortStorage", "1", 2, 0, &[2], &[1])),
    ]);
    let path = d.path().join("be.pt");
    write_pt(&path, &pkl, &[("0", be), ("1", be16)], Some("big"), false);
    let (ts, _) = read(&path).unwrap();
    assert_eq!(by_name(&ts, "x").to_f32(), vals.to_vec());
    assert_eq!(
        by_name(&ts, "xt").to_f32(),
        vec![1.5, 3.25, -2.0, f32::INFINITY]
    );
    assert_eq!(by_name(&ts, "h").to_f32(), vec![258., -2.]);
    write_pt(
        &path,
        &pkl,
        &[("0", vec![0; 16]), ("1", vec![0; 4])],
        Some("middle"),
        false,
    );
    assert!(read(&path).unwrap_err().to_string().contains("byteorder"));
}

#[test]
fn deflated_entries_and_missing_byteorder() {
    let d = tmp();
    let pkl = dict(vec![(
        "t",
        frag().tensor_v2("FloatStorage", "0", 12, 1, &[2, 2], &[1, 2]),
    )]);
    let path = d.path().join("deflated.pt");
    write_pt(&path, &pkl, &[("0", storage12())], None, true);
    let (ts, _) = read(&path).unwrap();
    assert_eq!(ts[0].to_f32(), vec![1., 3., 2., 4.]);
}

#[test]
fn nesting_is_flattened_and_non_tensors_noted() {
    let d = tmp();
    let inner = frag()
        .op(b"}")
        .mark()
        .s("b")
        .tensor_v2("FloatStorage", "0", 12, 0, &[2], &[1])
        .s("n")
        .int(3)
        .op(b"u");
    let list = frag()
        .op(b"]")
        .mark()
        .tensor_v2("FloatStorage", "0", 12, 2, &[1], &[1])
        .tensor_v2("FloatStorage", "0", 12, 3, &[1], &[1])
        .op(b"e");
    let pkl = dict(vec![
        ("a", inner),
        ("l", list),
        ("shape", frag().ints(&[4, 8])),
        ("s", frag().s("text")),
        ("none", frag().op(b"N")),
        ("empty", frag().op(b"}")),
    ]);
    let (ts, notes) = read_ok(&d, "nested.pt", &pkl, &[("0", storage12())]);
    let names: Vec<&str> = ts.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a.b", "l.0", "l.1"]);
    assert_eq!(by_name(&ts, "l.1").to_f32(), vec![3.]);
    assert_eq!(
        notes,
        [
            "a.n: int 3 (not a tensor; skipped)",
            "shape: tuple (4, 8) (not a tensor; skipped)",
            "s: str \"text\" (not a tensor; skipped)",
            "none: None (not a tensor; skipped)",
            "empty: dict {} (not a tensor; skipped)",
        ]
    );
}

#[test]
fn atom_forward_dump_layout() {
    let d = tmp();
    let pkl = dict(vec![
        (
            "hidden",
            frag().tensor_v2("BFloat16Storage", "0", 6, 0, &[2, 3], &[3, 1]),
        ),
        ("shape", frag().ints(&[2, 3])),
        ("input", frag().op(b"N")),
        (
            "input_fields",
            frag()
                .op(b"}")
                .s("x")
                .tensor_v2("BFloat16Storage", "1", 6, 0, &[3, 2], &[1, 3])
                .op(b"s"),
        ),
        ("output_fields", frag().op(b"}")),
    ]);
    let bf: Vec<u8> = (0..12u8).collect();
    let (ts, notes) = read_ok(
        &d,
        "layer00_Block_rank0.pt",
        &pkl,
        &[("0", bf.clone()), ("1", bf)],
    );
    let names: Vec<&str> = ts.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["hidden", "input_fields.x"]);
    assert_eq!(
        by_name(&ts, "input_fields.x").bytes(),
        &[0, 1, 6, 7, 2, 3, 8, 9, 4, 5, 10, 11]
    );
    assert_eq!(notes.len(), 3);
    assert!(notes[0].starts_with("shape: tuple (2, 3)"));
    assert!(notes[1].starts_with("input: None"));
    assert!(notes[2].starts_with("output_fields: dict {}"));
}

#[test]
fn a_bare_tensor_is_named_after_the_file() {
    let d = tmp();
    let pkl = P::new()
        .tensor_v2("FloatStorage", "0", 12, 0, &[12], &[1])
        .stop();
    let (ts, notes) = read_ok(&d, "hidden_out.pt", &pkl, &[("0", storage12())]);
    assert_eq!(
        (ts.len(), ts[0].name.as_str(), notes.len()),
        (1, "hidden_out", 0)
    );
}

#[test]
fn unsupported_dtypes_are_noted() {
    let d = tmp();
    let pkl = dict(vec![
        (
            "c",
            frag().tensor_v2("ComplexFloatStorage", "0", 2, 0, &[2], &[1]),
        ),
        (
            "f",
            frag().tensor_v2("FloatStorage", "1", 12, 0, &[1], &[1]),
        ),
    ]);
    let (ts, notes) = read_ok(
        &d,
        "complex.pt",
        &pkl,
        &[("0", vec![0; 16]), ("1", storage12())],
    );
    assert_eq!(ts.len(), 1);
    assert_eq!(
        notes,
        ["c: a ComplexFloatStorage tensor, a dtype isolate does not read (skipped)"]
    );
}

#[test]
fn lying_files_are_errors_that_name_the_file() {
    let d = tmp();
    let t = |off, size: &[i64], stride: &[i64]| {
        dict(vec![(
            "w",
            frag().tensor_v2("FloatStorage", "0", 12, off, size, stride),
        )])
    };
    let e = read_err(&d, &t(9, &[2, 2], &[2, 1]), &[("0", storage12())]);
    assert!(
        e.contains("tensor 'w'") && e.contains("reads element 12"),
        "{e}"
    );
    let e = read_err(&d, &t(0, &[4, 4], &[1, 4]), &[("0", storage12())]);
    assert!(e.contains("reads element 15"), "{e}");
    let e = read_err(&d, &t(12, &[], &[]), &[("0", storage12())]);
    assert!(e.contains("reads element 12"), "{e}");
    // Storage shorter than the persistent id says.
    let e = read_err(&d, &t(0, &[2], &[1]), &[("0", f32s(&[1.0; 5]))]);
    assert!(
        e.contains("archive/data/0 holds 20 bytes") && e.contains("12 elements of FloatStorage"),
        "{e}"
    );
    // No storage entry at all.
    let e = read_err(&d, &t(0, &[2], &[1]), &[]);
    assert!(e.contains("no entry archive/data/0"), "{e}");
    // A global outside the allowlist.
    let evil = P::new()
        .global("os", "system")
        .s("echo hi")
        .op(&[0x85])
        .op(b"R")
        .stop();
    let e = read_err(&d, &evil, &[]);
    assert!(
        e.contains("'os.system'") && e.contains("archive/data.pkl"),
        "{e}"
    );
    // Two entries that flatten to one name.
    let dup = dict(vec![
        (
            "a.b",
            frag().tensor_v2("FloatStorage", "0", 12, 0, &[1], &[1]),
        ),
        (
            "a",
            frag()
                .op(b"}")
                .s("b")
                .tensor_v2("FloatStorage", "0", 12, 0, &[1], &[1])
                .op(b"s"),
        ),
    ]);
    let e = read_err(&d, &dup, &[("0", storage12())]);
    assert!(e.contains("'a.b'"), "{e}");
    // A pickle that refers to itself.
    let cyc = P::new()
        .op(b"]q\x00h\x00a")
        .tensor_v2("FloatStorage", "0", 12, 0, &[1], &[1])
        .op(b"a")
        .stop();
    let e = read_err(&d, &cyc, &[("0", storage12())]);
    assert!(e.contains("nested more than"), "{e}");
}

#[test]
fn damaged_archives() {
    let d = tmp();
    let pkl = dict(vec![(
        "w",
        frag().tensor_v2("FloatStorage", "0", 12, 0, &[12], &[1]),
    )]);
    let path = d.path().join("cut.pt");
    write_pt(&path, &pkl, &[("0", storage12())], Some("little"), false);
    let full = std::fs::read(&path).unwrap();
    for n in [4, 30, full.len() / 2, full.len() - 10] {
        std::fs::write(&path, &full[..n]).unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains("cut.pt") && e.contains("zip"), "{n}: {e}");
    }
    // Every truncation and many corruptions give an error or a result, never a panic.
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for _ in 0..300 {
        let mut bad = full.clone();
        for _ in 0..rng.random_range(1..6) {
            let i = rng.random_range(0..bad.len());
            bad[i] = rng.random();
        }
        std::fs::write(&path, &bad).unwrap();
        let _ = read(&path);
    }
    // A zip without data.pkl, and a TorchScript archive.
    use std::io::Write;
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (files, want) in [
        (vec!["x/readme"], "without a data.pkl"),
        (
            vec!["m/data.pkl", "m/constants.pkl", "m/code/m.py"],
            "TorchScript",
        ),
        (vec!["a/data.pkl", "b/data.pkl"], "2 data.pkl"),
    ] {
        let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        for f in files {
            z.start_file(f, opts).unwrap();
            z.write_all(&P::new().op(b"N").stop()).unwrap();
        }
        z.finish().unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
    }
}

/// Fuzz finding (`pickle`, timeout): a 2 KB pickle of lists shared through the memo made the walk decide
/// "holds a tensor?" again at every level (2.2 million visits, 3.5 s under the fuzzer's sanitizers) and keep
/// a note per skipped entry (354,884 notes). Now each container is decided once and the notes stop at 64 plus
/// a count.
#[test]
fn a_pickle_of_shared_lists_is_walked_once_per_container_with_bounded_notes() {
    let b = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/io/fuzz/pickle-slow-walk.pkl"
    ))
    .unwrap();
    let root = crate::io::pickle::unpickle(&b).unwrap();
    let mut w = Walk::default();
    let (mut leaves, mut notes) = (Vec::new(), Vec::new());
    w.flatten(&root, "", &mut leaves, &mut notes).unwrap();
    crate::io::pickle::dismantle(root);
    assert!(w.visited < 500_000, "{} visits", w.visited);
    assert_eq!(notes.len(), 64);
    assert!(w.unnoted > 300_000, "{}", w.unnoted);
    let (_, notes) = tensor_refs(&b, "t").unwrap();
    assert_eq!(notes.len(), 65);
    assert!(
        notes[64].starts_with("… and ")
            && notes[64].ends_with("more entries that are not tensors (skipped)"),
        "{}",
        notes[64]
    );
}
