//! Dumped tensors → GEMM operands: an FP8 activation `xq` with its 1×G scales `xs` (any layout `isolate quant`
//! reads), an FP8 weight `w` with its
//! block scales `ws` (docs/contract.md §1). Every shape and dtype is checked, and a mismatch names the
//! tensor, what it is, and what was expected.

use crate::error::{Error, Result};
use crate::formats::{e8m0, DType, Fp8Format};
use crate::io::Tensor;
use crate::quant::cpu::matrix_dims;
use crate::quant::layout::{infer_group_for, read_scales, XsLayout};
use crate::quant::Quantized;

/// The FP8 format of a code tensor: its own dtype, or `raw` (the `--fp8` choice) for u8/i8 bytes.
fn codes_format(t: &Tensor, role: &str, raw: Fp8Format) -> Result<Fp8Format> {
    match t.dtype {
        DType::U8 | DType::I8 => Ok(raw),
        d => d.fp8_format().ok_or_else(|| {
            Error::BadTensor(format!(
                "{role} '{}': expected FP8 codes (float8_e4m3fn / e4m3fnuz / e5m2, or u8 bytes), got {}",
                t.name, d
            ))
        }),
    }
}

/// Scale values as f32: f32 tensors as they are, E8M0 codes decoded to 2^(c−127).
fn scale_values(t: &Tensor, role: &str) -> Result<Vec<f32>> {
    match t.dtype {
        DType::F8E8M0 => Ok(t.bytes().iter().map(|&c| e8m0::decode(c)).collect()),
        d if d.is_float() && d.fp8_format().is_none() => Ok(t.to_f32()),
        d => Err(Error::BadTensor(format!(
            "{role} '{}': expected f32/bf16/f16 or e8m0 scales, got {d}",
            t.name
        ))),
    }
}

fn two_d(t: &Tensor, role: &str, what: &str) -> Result<(usize, usize)> {
    match t.shape[..] {
        [r, c] => Ok((r, c)),
        _ => Err(Error::BadTensor(format!(
            "{role} '{}': expected a 2-D {what}, got shape {:?}",
            t.name, t.shape
        ))),
    }
}

/// The quantized activation from dumped codes `xq` [M, K] (leading dimensions flattened) and scales `xs`
/// in `layout` (row-major [M, K/G], column-major, TMA-aligned or packed UE8M0, as `isolate quant` reads
/// them: `quant::layout`); the group size G is inferred from the scale grid.
pub fn activation(xq: &Tensor, xs: &Tensor, raw: Fp8Format, layout: XsLayout) -> Result<Quantized> {
    let fmt = codes_format(xq, "xq", raw)?;
    let (m, k) = matrix_dims(xq, "xq")?;
    let (g, ng) = infer_group_for(xs, layout, m, k)?;
    let scales = read_scales(xs, layout, m, ng)?.values;
    Ok(Quantized {
        rows: m,
        cols: k,
        fmt,
        q: xq.bytes().to_vec(),
        block_rows: 1,
        block_cols: g,
        scales,
    })
}

/// The quantized weight from dumped codes `w` [N, K] and scales `ws`: [⌈N/128⌉, ⌈K/128⌉] (128×128 blocks,
/// DeepSeek / DeepGEMM SM90) or [N, ⌈K/128⌉] (per-row, DeepGEMM SM100 after broadcast).
pub fn weight(w: &Tensor, ws: &Tensor, raw: Fp8Format) -> Result<Quantized> {
    let fmt = codes_format(w, "w", raw)?;
    let (n, k) = two_d(w, "w", "[N, K] weight")?;
    let (sr, sc) = two_d(ws, "ws", "scale grid")?;
    let (gr, gc) = (n.div_ceil(128), k.div_ceil(128));
    let block_rows = if sr == gr {
        128
    } else if sr == n {
        1
    } else {
        0
    };
    if block_rows == 0 || sc != gc {
        return Err(Error::BadTensor(format!(
            "ws '{}': shape {:?} does not fit w [N, K] = [{n}, {k}]: expected [{gr}, {gc}] (128×128 blocks) or \
             [{n}, {gc}] (one row × 128)",
            ws.name, ws.shape
        )));
    }
    Ok(Quantized {
        rows: n,
        cols: k,
        fmt,
        q: w.bytes().to_vec(),
        block_rows,
        block_cols: 128,
        scales: scale_values(ws, "ws")?,
    })
}

/// Checks that `out` holds an [M, N] output (leading size-1 dimensions allowed) and returns it reshaped.
pub fn output(out: &Tensor, role: &str, m: usize, n: usize) -> Result<Tensor> {
    let ok = out.numel() == m * n
        && out.shape.last() == Some(&n)
        && out.dtype.is_float()
        && out.shape.iter().rev().skip(1).product::<usize>() == m;
    if !ok {
        return Err(Error::BadTensor(format!(
            "{role} '{}': expected a floating [M, N] = [{m}, {n}] output, got {} {:?}",
            out.name, out.dtype, out.shape
        )));
    }
    out.reshaped(vec![m, n])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, dtype: DType, shape: Vec<usize>) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::new(name, dtype, shape, vec![0x38; n * dtype.size()]).unwrap()
    }

    #[test]
    fn shapes_and_dtypes() {
        let xq = t("xq", DType::F8E4M3FN, vec![4, 512]);
        let row = XsLayout::Row;
        let a = activation(
            &xq,
            &t("xs", DType::F32, vec![4, 4]),
            Fp8Format::E4m3fn,
            row,
        )
        .unwrap();
        assert_eq!((a.block_cols, a.fmt), (128, Fp8Format::E4m3fn));
        let a = activation(
            &xq,
            &t("xs", DType::F8E8M0, vec![4, 8]),
            Fp8Format::E4m3fn,
            row,
        )
        .unwrap();
        assert_eq!((a.block_cols, a.scales[0]), (64, 2f32.powi(0x38 - 127)));
        // Column-major storage [ng, M].
        let col = activation(
            &xq,
            &t("xs", DType::F32, vec![4, 4]),
            Fp8Format::E4m3fn,
            XsLayout::Col,
        )
        .unwrap();
        assert_eq!(col.block_cols, 128);
        let e = activation(
            &xq,
            &t("xs", DType::F32, vec![4, 3]),
            Fp8Format::E4m3fn,
            row,
        )
        .unwrap_err();
        assert!(e.to_string().contains("do not divide K = 512"), "{e}");
        let xs = t("xs", DType::F32, vec![4, 4]);
        let raw = activation(&t("xq", DType::U8, vec![4, 512]), &xs, Fp8Format::E5m2, row);
        assert_eq!(raw.unwrap().fmt, Fp8Format::E5m2);
        let e = activation(
            &t("xq", DType::BF16, vec![4, 512]),
            &xs,
            Fp8Format::E4m3fn,
            row,
        );
        assert!(e.unwrap_err().to_string().contains("expected FP8 codes"));

        let w = t("w", DType::F8E4M3FN, vec![300, 512]);
        assert_eq!(
            weight(&w, &t("ws", DType::F32, vec![3, 4]), Fp8Format::E4m3fn)
                .unwrap()
                .block_rows,
            128
        );
        assert_eq!(
            weight(&w, &t("ws", DType::F32, vec![300, 4]), Fp8Format::E4m3fn)
                .unwrap()
                .block_rows,
            1
        );
        let e = weight(&w, &t("ws", DType::F32, vec![3, 5]), Fp8Format::E4m3fn).unwrap_err();
        assert!(e.to_string().contains("expected [3, 4]"), "{e}");
        let e = weight(&w, &t("ws", DType::F8E4M3FN, vec![3, 4]), Fp8Format::E4m3fn).unwrap_err();
        assert!(e.to_string().contains("scales"), "{e}");

        assert_eq!(
            output(&t("o", DType::BF16, vec![1, 4, 300]), "target_out", 4, 300)
                .unwrap()
                .shape,
            vec![4, 300]
        );
        let e = output(&t("o", DType::BF16, vec![300, 4]), "target_out", 4, 300).unwrap_err();
        assert!(e.to_string().contains("[M, N] = [4, 300]"), "{e}");
    }
}
