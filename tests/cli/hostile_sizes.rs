//! Hostile sizes: a header or shape that would need more memory than the machine has is refused
//! before anything is allocated, with the numbers in one line, exit 2, never a panic. The `.pt` files are
//! built byte by byte by `fixtures/gen/hostile_pt.py`; the others here.

use crate::common::{fixture, isolate, s};

fn refused(path: &std::path::Path, want: &[&str]) {
    let r = isolate(&["inspect", s(path)]);
    r.assert_bad_input(want);
    assert!(r.stderr.contains(s(path)), "names the file: {}", r.stderr);
}

#[test]
fn safetensors_header_claiming_2_pow_60_bytes() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("huge_header.safetensors");
    let mut b = (1u64 << 60).to_le_bytes().to_vec();
    b.extend_from_slice(b"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}");
    std::fs::write(&p, &b).unwrap();
    refused(&p, &["1152921504606846976", "100000000-byte limit"]);
}

#[test]
fn safetensors_tensor_claiming_2_pow_60_bytes() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("huge_tensor.safetensors");
    let h = format!(
        "{{\"x\":{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[0,{}]}}}}",
        1u64 << 58,
        1u64 << 60
    );
    let mut b = (h.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(h.as_bytes());
    b.extend_from_slice(&[0; 16]);
    std::fs::write(&p, &b).unwrap();
    refused(&p, &["1152921504606846976", "16 bytes of data"]);
}

/// 10⁹ tensors in a safetensors header would take tens of GB of header: its length alone is refused.
#[test]
fn safetensors_header_for_a_billion_tensors() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("billion.safetensors");
    let entry = "\"t000000000\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},";
    let claimed = 1_000_000_000u64 * entry.len() as u64;
    let mut b = claimed.to_le_bytes().to_vec();
    b.push(b'{');
    b.extend_from_slice(entry.repeat(1000).as_bytes());
    std::fs::write(&p, &b).unwrap();
    refused(&p, &[&claimed.to_string(), "limit"]);
}

#[test]
fn npy_shape_claiming_2_pow_60_bytes() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("huge.npy");
    let mut h = format!(
        "{{'descr': '<f4', 'fortran_order': True, 'shape': ({}, 4), }}",
        1u64 << 56
    );
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(h.len() as u16).to_le_bytes());
    b.extend_from_slice(h.as_bytes());
    b.extend_from_slice(&[0; 64]);
    std::fs::write(&p, &b).unwrap();
    refused(&p, &["1152921504606846976", "holds 64"]);
}

#[test]
fn pt_zip_bomb_declaring_2_pow_60_bytes() {
    refused(
        &fixture("io/zip_bomb.pt"),
        &[
            "archive/data/0",
            "needs 1152921504606846976 bytes",
            "refused before allocating",
        ],
    );
}

#[test]
fn pt_broadcast_view_of_2_pow_62_bytes() {
    refused(
        &fixture("io/broadcast.pt"),
        &[
            "tensor 'w'",
            "stride [0, 0]",
            "needs 4611686018427387904 bytes",
            "refused before allocating",
        ],
    );
}

#[test]
fn pt_a_billion_tensors_through_shared_containers() {
    refused(
        &fixture("io/shared_dag.pt"),
        &["more than 4194304 entries", "shared containers"],
    );
}

#[test]
fn pt_million_deep_nesting() {
    refused(&fixture("io/deep.pt"), &["nested more than 64 deep"]);
}
