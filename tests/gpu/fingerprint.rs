//! The quantizer fingerprint's best variants replayed on the GPU.

use crate::support::{gpu, repo_file};

#[test]
fn fingerprint_best_variants_reproduce_the_real_dump_on_the_gpu() {
    use isolate::experiment::quant::fingerprint::{fingerprint, QuantDump};
    use isolate::experiment::quant::fingerprint_gpu::gpu_check;
    use isolate::quant::cpu::to_matrix;
    use isolate::quant::layout::{payload_bytes, payload_format, read_scales, XsLayout};
    let Some(b) = gpu() else { return };
    let a = isolate::io::load(std::path::Path::new(&repo_file(
        "fixtures/minilm/ffn_act.safetensors",
    )))
    .unwrap();
    let d = isolate::io::load(std::path::Path::new(&repo_file(
        "fixtures/minilm/ffn_act_q.safetensors",
    )))
    .unwrap();
    let (x, xq, xs) = (
        a.get("x").unwrap(),
        d.get("xq").unwrap(),
        d.get("xs").unwrap(),
    );
    let (m, k, xv) = to_matrix(x, "x").unwrap();
    let fmt = payload_format(xq, None, None).unwrap();
    let q = payload_bytes(xq, m, k).unwrap();
    let scales = read_scales(xs, XsLayout::Row, m, k / 128).unwrap();
    let f = fingerprint(&QuantDump {
        x: &xv,
        rows: m,
        cols: k,
        q,
        fmt,
        scales: &scales.values,
        codes: scales.codes.as_deref(),
        group: 128,
    });
    assert!(f.reproduced());
    let c = gpu_check(&b, &f, x, q, &scales.values, 16).unwrap();
    assert_eq!(c.checked, 16);
    assert_eq!(
        c.reproduce,
        16,
        "{}",
        isolate::report::fingerprint::gpu_check_line(&c)
    );
    assert!(
        c.disagree.is_empty() && c.refused.is_empty(),
        "{}",
        isolate::report::fingerprint::gpu_check_line(&c)
    );
}
