//! Bad input through the binary: every case must exit 2 with one line on stderr that names the file (or the
//! flag) and what was wrong, and never panic.

use std::path::Path;

use crate::common::{fixture, isolate};

/// `isolate inspect FILE` fails with exit 2 and one stderr line containing the file and every `want`.
fn refused(args: &[&str], names: &str, want: &[&str]) -> String {
    let o = isolate(args);
    let (code, err) = (o.code, o.stderr);
    assert_eq!(code, 2, "{args:?}: exit {code}, stderr {err:?}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{args:?}: not one line: {err:?}"
    );
    assert!(err.starts_with("isolate: "), "{err}");
    assert!(
        err.contains(names),
        "{args:?}: {err:?} does not name {names:?}"
    );
    for w in want {
        assert!(err.contains(w), "{args:?}: {err:?} does not say {w:?}");
    }
    err
}

fn inspect_refused(path: &Path, want: &[&str]) -> String {
    let p = path.to_str().unwrap();
    refused(&["inspect", p], p, want)
}

/// A safetensors file from a raw header and data.
fn safetensors_bytes(header: &str, data: &[u8], declared_len: Option<u64>) -> Vec<u8> {
    let mut h = header.as_bytes().to_vec();
    while h.len() % 8 != 0 {
        h.push(b' ');
    }
    let mut out = declared_len
        .unwrap_or(h.len() as u64)
        .to_le_bytes()
        .to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out
}

#[test]
fn missing_and_empty_files() {
    let d = tempfile::tempdir().unwrap();
    inspect_refused(&d.path().join("nope.safetensors"), &["No such file"]);
    let empty = d.path().join("empty.pt");
    std::fs::write(&empty, b"").unwrap();
    inspect_refused(&empty, &["empty"]);
    let junk = d.path().join("junk.bin");
    std::fs::write(&junk, b"hello, this is not a tensor file").unwrap();
    inspect_refused(&junk, &["not a safetensors"]);
    // cast names the input file too
    let p = d.path().join("nope.npy");
    let out = d.path().join("o.safetensors");
    refused(
        &[
            "cast",
            "--input",
            p.to_str().unwrap(),
            "--to",
            "bf16",
            "--out",
            out.to_str().unwrap(),
        ],
        p.to_str().unwrap(),
        &["No such file"],
    );
}

#[test]
fn safetensors_that_lie_or_are_cut() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("x.safetensors");
    let ok = safetensors_bytes(
        r#"{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
        &[0; 16],
        None,
    );
    std::fs::write(&p, &ok).unwrap();
    assert_eq!(
        isolate(&["inspect", p.to_str().unwrap()]).code,
        0,
        "the well-formed file reads"
    );
    // Cut inside the data, and inside the header.
    std::fs::write(&p, &ok[..ok.len() - 4]).unwrap();
    inspect_refused(
        &p,
        &[
            "not a valid safetensors file",
            "tensor 'x'",
            "[0, 16]",
            "12 bytes of data",
        ],
    );
    for n in [20, 9] {
        std::fs::write(&p, &ok[..n]).unwrap();
        inspect_refused(
            &p,
            &[
                "not a valid safetensors file",
                "header length field says 56 bytes",
            ],
        );
    }
    std::fs::write(&p, &ok[..5]).unwrap();
    inspect_refused(&p, &["unrecognised first bytes"]);
    // Offsets past the end of the data.
    std::fs::write(
        &p,
        safetensors_bytes(
            r#"{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
            &[0; 8],
            None,
        ),
    )
    .unwrap();
    inspect_refused(&p, &["tensor 'x'", "run past the 8 bytes of data"]);
    // shape × dtype ≠ bytes.
    std::fs::write(
        &p,
        safetensors_bytes(
            r#"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#,
            &[0; 16],
            None,
        ),
    )
    .unwrap();
    inspect_refused(
        &p,
        &["tensor 'x'", "shape [3] × F32 needs 12 bytes", "hold 16"],
    );
    // Header length beyond the file.
    std::fs::write(
        &p,
        safetensors_bytes(
            r#"{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
            &[0; 16],
            Some(10_000),
        ),
    )
    .unwrap();
    inspect_refused(
        &p,
        &["header length field says 10000 bytes but only 72 follow"],
    );
    // A dtype name safetensors does not have.
    std::fs::write(
        &p,
        safetensors_bytes(
            r#"{"x":{"dtype":"F9","shape":[4],"data_offsets":[0,16]}}"#,
            &[0; 16],
            None,
        ),
    )
    .unwrap();
    inspect_refused(&p, &["tensor 'x': unknown dtype 'F9'"]);
    // Two tensors whose data overlap.
    std::fs::write(
        &p,
        safetensors_bytes(
            r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"U8","shape":[8],"data_offsets":[8,16]}}"#,
            &[0; 16],
            None,
        ),
    )
    .unwrap();
    inspect_refused(&p, &["do not tile"]);
}

#[test]
fn pickles_with_a_global_outside_the_allowlist() {
    let err = inspect_refused(
        &fixture("io/evil_global.pt"),
        &["'os.system'", "allowlist", "data.pkl"],
    );
    assert!(err.contains("evil_global.pt"));
}

#[test]
fn truncated_pt_zip() {
    let d = tempfile::tempdir().unwrap();
    let full = std::fs::read(fixture("io/evil_global.pt")).unwrap();
    let p = d.path().join("cut.pt");
    for n in [4, full.len() / 2, full.len() - 1] {
        std::fs::write(&p, &full[..n]).unwrap();
        inspect_refused(&p, &["zip"]);
    }
}

#[test]
fn truncated_and_legacy_pt_written_by_torch() {
    inspect_refused(&fixture("io/truncated.pt"), &["not a readable zip archive"]);
    inspect_refused(
        &fixture("io/legacy.pt"),
        &["legacy", "_use_new_zipfile_serialization"],
    );
}

#[test]
fn npy_that_lie_or_hold_no_numpy_type() {
    inspect_refused(&fixture("io/void_bf16.npy"), &["|V2", "safetensors"]);
    let d = tempfile::tempdir().unwrap();
    let good = std::fs::read(fixture("io/npy_f32_c.npy")).unwrap();
    let p = d.path().join("cut.npy");
    std::fs::write(&p, &good[..good.len() - 3]).unwrap();
    inspect_refused(&p, &["needs 48 bytes", "45", "truncated"]);
    std::fs::write(&p, &good[..40]).unwrap();
    inspect_refused(&p, &["header", "ends before"]);
    let mut bad = good.clone();
    let at = bad.windows(5).position(|w| w == b"shape").unwrap();
    bad[at + 9] = b'x';
    std::fs::write(&p, &bad).unwrap();
    inspect_refused(&p, &["npy header"]);
    let mut v9 = good.clone();
    v9[6] = 9;
    std::fs::write(&p, &v9).unwrap();
    inspect_refused(&p, &["version 9"]);
}

#[test]
fn unknown_dtype_round_and_overflow_names() {
    let input = fixture("io/npy_f32_c.npy");
    let input = input.to_str().unwrap();
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("o.safetensors");
    let out = out.to_str().unwrap();
    refused(
        &["cast", "--input", input, "--to", "fp9", "--out", out],
        "fp9",
        &["unknown dtype", "e4m3fn"],
    );
    refused(
        &["cast", "--input", input, "--to", "i32", "--out", out],
        "--to i32",
        &["floating"],
    );
    refused(
        &[
            "cast", "--input", input, "--to", "e8m0", "--round", "sideways", "--out", out,
        ],
        "--round sideways",
        &["nearest"],
    );
    refused(
        &[
            "cast",
            "--input",
            input,
            "--to",
            "e4m3fn",
            "--overflow",
            "wrap",
            "--out",
            out,
        ],
        "--overflow wrap",
        &["saturate"],
    );
    assert!(
        !Path::new(out).exists(),
        "nothing is written on a usage error"
    );
}
