//! The CPU quantizer: a [`QuantSpec`] applied to a tensor, activations in 1×G groups along K, weights in
//! 128×128 blocks. bf16/f16/f32 input is first converted to f32 exactly (as every source does with
//! `.float()` or `static_cast<float>`), then each block gets amax → scale (`scale.rs`) → codes (`element.rs`).

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::formats::DType;
use crate::io::Tensor;
use crate::quant::element::{quantize_group, ElementRule};
use crate::quant::scale::{amax, group_scale};
use crate::quant::spec::{NanRule, QuantSpec};
use crate::quant::Quantized;

/// Weight block edge (weights use 128×128 blocks: docs/numerics.md §5.9).
pub const WEIGHT_BLOCK: usize = 128;

/// Rows handled by one parallel task.
const ROWS_PER_TASK: usize = 8;

/// Non-finite values of a matrix: counts and the first coordinate (row-major order) of each kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NonFinite {
    pub nan: usize,
    pub inf: usize,
    pub first_nan: Option<(usize, usize)>,
    pub first_inf: Option<(usize, usize)>,
}

impl NonFinite {
    /// Whether there is any NaN or ±inf.
    pub fn any(&self) -> bool {
        self.nan + self.inf > 0
    }

    /// One line, e.g. `3 NaN (first at row 5, col 17), 1 inf (first at row 0, col 2)`.
    pub fn describe(&self) -> String {
        let at = |p: Option<(usize, usize)>| {
            p.map(|(r, c)| format!(" (first at row {r}, col {c})"))
                .unwrap_or_default()
        };
        let mut parts = Vec::new();
        if self.nan > 0 {
            parts.push(format!("{} NaN{}", self.nan, at(self.first_nan)));
        }
        if self.inf > 0 {
            parts.push(format!("{} inf{}", self.inf, at(self.first_inf)));
        }
        if parts.is_empty() {
            "no NaN or inf".into()
        } else {
            parts.join(", ")
        }
    }
}

/// A float matrix [rows, cols] read from a tensor: rank ≥ 2 flattens the leading dims (a `[1, S, K]` dump
/// is `[S, K]`), rank 1 is one row.
pub fn matrix_dims(t: &Tensor, role: &str) -> Result<(usize, usize)> {
    match t.shape.len() {
        0 => Err(Error::BadTensor(format!(
            "{role} ('{}'): a scalar; expected a matrix [M, K]",
            t.name
        ))),
        1 => Ok((1, t.shape[0])),
        n => Ok((t.shape[..n - 1].iter().product(), t.shape[n - 1])),
    }
}

/// Checks that `t` holds bf16, f16 or f32 values (what the quantizers take).
pub fn check_float_input(t: &Tensor, role: &str) -> Result<()> {
    match t.dtype {
        DType::BF16 | DType::F16 | DType::F32 => Ok(()),
        d => Err(Error::BadTensor(format!(
            "{role} ('{}') is {d}: expected bf16, f16 or f32 values to quantize",
            t.name
        ))),
    }
}

/// Decodes row `r` (of `cols` elements) into `out`, exactly.
fn decode_row(t: &Tensor, r: usize, cols: usize, out: &mut [f32]) {
    let sz = t.dtype.size();
    let b = &t.bytes()[r * cols * sz..(r + 1) * cols * sz];
    match t.dtype {
        DType::BF16 => {
            for (o, c) in out.iter_mut().zip(b.chunks_exact(2)) {
                *o = f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16);
            }
        }
        DType::F16 => {
            for (o, c) in out.iter_mut().zip(b.chunks_exact(2)) {
                *o = half::f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32();
            }
        }
        DType::F32 => {
            for (o, c) in out.iter_mut().zip(b.chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        _ => unreachable!("check_float_input ran first"),
    }
}

/// All values of a float tensor as a row-major f32 matrix, plus its dims.
pub fn to_matrix(t: &Tensor, role: &str) -> Result<(usize, usize, Vec<f32>)> {
    check_float_input(t, role)?;
    let (rows, cols) = matrix_dims(t, role)?;
    let mut v = vec![0f32; rows * cols];
    if cols > 0 {
        v.par_chunks_mut(cols)
            .enumerate()
            .for_each(|(r, row)| decode_row(t, r, cols, row));
    }
    Ok((rows, cols, v))
}

/// Counts NaN and ±inf in a row-major f32 matrix.
pub fn scan_nonfinite(values: &[f32], cols: usize) -> NonFinite {
    let mut nf = NonFinite::default();
    for (i, v) in values.iter().enumerate() {
        if v.is_finite() {
            continue;
        }
        let at = Some((i / cols.max(1), i % cols.max(1)));
        if v.is_nan() {
            nf.nan += 1;
            nf.first_nan = nf.first_nan.or(at);
        } else {
            nf.inf += 1;
            nf.first_inf = nf.first_inf.or(at);
        }
    }
    nf
}

/// The error for NaN/inf input to a spec whose source does not define it.
pub fn reject_nonfinite(spec: &QuantSpec, role: &str, nf: &NonFinite) -> Error {
    Error::BadTensor(format!(
        "{role} has {}; the source of '{spec}' does not define its result for NaN/inf input (nan=reject): \
         clean the input, or use a spec whose source defines it (deepgemm*, torch-e8m0: propagate; vllm*: ignore)",
        nf.describe()
    ))
}

/// Refuses a K (or, for 128×128 weight blocks, N) that is not a multiple of the block unless the spec pads.
pub fn check_blocks(
    spec: &QuantSpec,
    role: &str,
    rows: usize,
    cols: usize,
    br: usize,
    bc: usize,
) -> Result<()> {
    if spec.pad {
        return Ok(());
    }
    if cols % bc != 0 {
        return Err(Error::BadTensor(format!(
            "{role}: K = {cols} is not a multiple of the block width {bc}; the source of '{spec}' requires it \
             (pad=no); DeepGEMM zero-pads K instead (pad=yes)"
        )));
    }
    if br > 1 && rows % br != 0 {
        return Err(Error::BadTensor(format!(
            "{role}: N = {rows} is not a multiple of the block height {br}; the source of '{spec}' requires it \
             (pad=no); DeepGEMM zero-pads instead (pad=yes)"
        )));
    }
    Ok(())
}

/// Refuses the spec `none`, which makes no FP8 codes.
pub fn check_spec(spec: &QuantSpec) -> Result<()> {
    if spec.is_none() {
        return Err(Error::Usage(
            "the quant spec 'none' does not quantize (values stay in their dtype): there are no FP8 codes to make"
                .into(),
        ));
    }
    Ok(())
}

/// The checked shape of one device quantization (a GPU kernel or the SIMT executor): the checks every
/// quantizer makes, in the CPU twin's order and with its messages, and the block grid.
#[derive(Clone, Copy, Debug)]
pub struct DeviceQuantShape {
    /// `w` for a weight, `x` for an activation (as the CPU twin's messages name them).
    pub role: &'static str,
    pub rows: usize,
    pub cols: usize,
    pub block_rows: usize,
    pub block_cols: usize,
}

impl DeviceQuantShape {
    /// Checks `spec` and `x` for an activation (1×G groups) or a weight (128×128 blocks).
    pub fn check(spec: &QuantSpec, x: &Tensor, weight: bool) -> Result<DeviceQuantShape> {
        let role = if weight { "w" } else { "x" };
        check_spec(spec)?;
        check_float_input(x, role)?;
        let (rows, cols) = matrix_dims(x, role)?;
        let (block_rows, block_cols) = if weight {
            (WEIGHT_BLOCK, WEIGHT_BLOCK)
        } else {
            (1, spec.group)
        };
        check_blocks(spec, role, rows, cols, block_rows, block_cols)?;
        Ok(DeviceQuantShape {
            role,
            rows,
            cols,
            block_rows,
            block_cols,
        })
    }

    /// (block rows, block columns) of the scale grid.
    pub fn grid(&self) -> (usize, usize) {
        (
            self.rows.div_ceil(self.block_rows),
            self.cols.div_ceil(self.block_cols),
        )
    }

    /// The device's NaN rule outcome: with `nan=reject`, a kernel that raised its non-finite flag (bit 0 of
    /// `flags`) is the CPU twin's error, the offending group found on the host for the message.
    pub fn refuse_flagged(&self, spec: &QuantSpec, x: &Tensor, flags: u32) -> Result<()> {
        if flags & 1 != 0 && spec.nan == NanRule::Reject {
            let (_, c, v) = to_matrix(x, self.role)?;
            return Err(reject_nonfinite(spec, self.role, &scan_nonfinite(&v, c)));
        }
        Ok(())
    }

    /// The quantization a device made: its codes and f32 scales (longer buffers are cut to the shape).
    pub fn quantized(&self, spec: &QuantSpec, mut q: Vec<u8>, mut scales: Vec<f32>) -> Quantized {
        let (gr, gc) = self.grid();
        q.truncate(self.rows * self.cols);
        scales.truncate(gr * gc);
        Quantized {
            rows: self.rows,
            cols: self.cols,
            fmt: spec.fp8,
            q,
            block_rows: self.block_rows,
            block_cols: self.block_cols,
            scales,
        }
    }

    /// The result without a launch when the input is empty: no codes, zero scales.
    pub fn empty_result(&self, spec: &QuantSpec) -> Option<Quantized> {
        let (gr, gc) = self.grid();
        (self.rows == 0 || self.cols == 0).then(|| Quantized {
            rows: self.rows,
            cols: self.cols,
            fmt: spec.fp8,
            q: vec![],
            block_rows: self.block_rows,
            block_cols: self.block_cols,
            scales: vec![0.0; gr * gc],
        })
    }
}

/// Quantizes an activation `[M, K]` (bf16, f16 or f32) in 1×G groups along K (G = `spec.group`).
pub fn quantize_activation(spec: &QuantSpec, x: &Tensor) -> Result<Quantized> {
    check_spec(spec)?;
    check_float_input(x, "x")?;
    let (rows, cols) = matrix_dims(x, "x")?;
    let g = spec.group;
    check_blocks(spec, "x", rows, cols, 1, g)?;
    let ng = cols.div_ceil(g);
    let mut q = vec![0u8; rows * cols];
    let mut scales = vec![0f32; rows * ng];
    let rejected = std::sync::atomic::AtomicBool::new(false);
    if cols > 0 && rows > 0 {
        q.par_chunks_mut(cols * ROWS_PER_TASK)
            .zip(scales.par_chunks_mut(ng * ROWS_PER_TASK))
            .enumerate()
            .for_each(|(task, (qc, sc))| {
                let mut buf = vec![0f32; cols];
                for (i, (qrow, srow)) in qc.chunks_mut(cols).zip(sc.chunks_mut(ng)).enumerate() {
                    decode_row(x, task * ROWS_PER_TASK + i, cols, &mut buf);
                    if quantize_row(spec, &buf, g, qrow, srow) && spec.nan == NanRule::Reject {
                        rejected.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
    }
    if rejected.into_inner() {
        let (_, c, v) = to_matrix(x, "x")?;
        return Err(reject_nonfinite(spec, "x", &scan_nonfinite(&v, c)));
    }
    Ok(Quantized {
        rows,
        cols,
        fmt: spec.fp8,
        q,
        block_rows: 1,
        block_cols: g,
        scales,
    })
}

/// Quantizes one row of f32 values in groups of `g` (the last group may be partial: zero padding).
/// Returns whether a group's amax was NaN or inf, i.e. (under the Propagate/Reject NaN rules) whether the row
/// held a NaN or ±inf.
pub fn quantize_row(
    spec: &QuantSpec,
    row: &[f32],
    g: usize,
    q: &mut [u8],
    scales: &mut [f32],
) -> bool {
    let mut nonfinite = false;
    for ((xs, qs), s) in row.chunks(g).zip(q.chunks_mut(g)).zip(scales.iter_mut()) {
        let a = amax(xs, spec.nan);
        nonfinite |= !a.is_finite();
        *s = group_scale(spec, a);
        quantize_group(xs, &ElementRule::new(spec, *s), qs);
    }
    nonfinite
}

/// Quantizes a weight `[N, K]` (bf16, f16 or f32) in 128×128 blocks (zero-padded at the edges when
/// `spec.pad`); scales row-major `[ceil(N/128), ceil(K/128)]`.
pub fn quantize_weight(spec: &QuantSpec, w: &Tensor) -> Result<Quantized> {
    check_spec(spec)?;
    check_float_input(w, "w")?;
    let (rows, cols) = matrix_dims(w, "w")?;
    let b = WEIGHT_BLOCK;
    check_blocks(spec, "w", rows, cols, b, b)?;
    let (gr, gc) = (rows.div_ceil(b), cols.div_ceil(b));
    let mut q = vec![0u8; rows * cols];
    let mut scales = vec![0f32; gr * gc];
    let rejected = std::sync::atomic::AtomicBool::new(false);
    if rows > 0 && cols > 0 {
        q.par_chunks_mut(cols * b)
            .zip(scales.par_chunks_mut(gc))
            .enumerate()
            .for_each(|(bi, (qb, sb))| {
                let nr = qb.len() / cols;
                let mut buf = vec![0f32; nr * cols];
                for r in 0..nr {
                    decode_row(w, bi * b + r, cols, &mut buf[r * cols..(r + 1) * cols]);
                }
                if spec.nan == NanRule::Reject && buf.iter().any(|v| !v.is_finite()) {
                    rejected.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                for (bj, s) in sb.iter_mut().enumerate() {
                    let (c0, c1) = (bj * b, ((bj + 1) * b).min(cols));
                    let mut a = 0f32;
                    for r in 0..nr {
                        let m = amax(&buf[r * cols + c0..r * cols + c1], spec.nan);
                        a = if a.is_nan() || m.is_nan() {
                            f32::NAN
                        } else {
                            a.max(m)
                        };
                    }
                    *s = group_scale(spec, a);
                    let rule = ElementRule::new(spec, *s);
                    for r in 0..nr {
                        quantize_group(
                            &buf[r * cols + c0..r * cols + c1],
                            &rule,
                            &mut qb[r * cols + c0..r * cols + c1],
                        );
                    }
                }
            });
    }
    if rejected.into_inner() {
        let (_, c, v) = to_matrix(w, "w")?;
        return Err(reject_nonfinite(spec, "w", &scan_nonfinite(&v, c)));
    }
    Ok(Quantized {
        rows,
        cols,
        fmt: spec.fp8,
        q,
        block_rows: b,
        block_cols: b,
        scales,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::Fp8Format;
    use crate::quant::presets::preset;

    fn bf16_tensor(name: &str, shape: Vec<usize>, vals: &[f32]) -> Tensor {
        let bytes = vals
            .iter()
            .flat_map(|v| crate::formats::convert::f32_to_bf16_bits(*v).to_le_bytes())
            .collect();
        Tensor::new(name, DType::BF16, shape, bytes).unwrap()
    }

    #[test]
    fn activation_by_hand() {
        // One row, two groups of 4: [1, -2, 3, 0.5] and [0, 0, 0, 0].
        let x =
            Tensor::from_f32("x", vec![1, 8], &[1.0, -2.0, 3.0, 0.5, 0.0, 0.0, 0.0, 0.0]).unwrap();
        let spec = QuantSpec::parse("deepgemm-ue8m0,group=4").unwrap();
        let q = quantize_activation(&spec, &x).unwrap();
        // amax 3 → 3·fl32(1/448) = 1.71·2^-8 → ceil 2^-7; x·2^7: 128, −256, 384, 64.
        assert_eq!(q.scales[0], 2f32.powi(-7));
        let want: Vec<u8> = [128.0f32, -256.0, 384.0, 64.0]
            .iter()
            .map(|v| Fp8Format::E4m3fn.encode(*v, crate::formats::Overflow::Nan))
            .collect();
        assert_eq!(&q.q[..4], &want[..]);
        // All-zero group: amax floored at 1e-4, 1e-4·fl32(1/448) = 1.7e-7 → ceil 2^-22.
        assert_eq!(q.scales[1], 2f32.powi(-22));
        assert_eq!(&q.q[4..], &[0, 0, 0, 0]);
        assert_eq!((q.block_rows, q.block_cols, q.grid()), (1, 4, (1, 2)));
    }

    #[test]
    fn padding_follows_the_source() {
        let vals: Vec<f32> = (0..10).map(|i| i as f32).collect();
        let x = bf16_tensor("x", vec![2, 5], &vals);
        let dg = QuantSpec::parse("deepgemm,group=4").unwrap();
        let q = quantize_activation(&dg, &x).unwrap();
        assert_eq!(q.scales.len(), 4);
        // The partial group [4] of row 0 has amax 4 as if zero-padded to [4, 0, 0, 0].
        assert_eq!(q.scales[1], 4.0 * (1.0 / 448.0f32));
        let e = quantize_activation(&QuantSpec::parse("vllm,group=4").unwrap(), &x)
            .unwrap_err()
            .to_string();
        assert!(e.contains("K = 5") && e.contains("pad=yes"), "{e}");
    }

    #[test]
    fn nan_handling_per_source() {
        let mut vals = vec![1.0f32; 8];
        vals[2] = f32::NAN;
        let x = Tensor::from_f32("x", vec![2, 4], &vals).unwrap();
        let e = quantize_activation(&QuantSpec::parse("deepseek-v32,group=4").unwrap(), &x)
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 NaN (first at row 0, col 2)"), "{e}");
        // DeepGEMM ue8m0: amax NaN → sf 2^127 → x·2^-127 → 0, NaN → 0x7F.
        let q =
            quantize_activation(&QuantSpec::parse("deepgemm-ue8m0,group=4").unwrap(), &x).unwrap();
        assert_eq!(q.scales[0], 2f32.powi(127));
        assert_eq!(&q.q[..4], &[0, 0, 0x7F, 0]);
        // vLLM: amax ignores the NaN (1 → 1/448), the NaN element becomes −448.
        let q = quantize_activation(&QuantSpec::parse("vllm,group=4").unwrap(), &x).unwrap();
        assert_eq!(q.scales[0], 1.0 / 448.0);
        assert_eq!(q.q[2], 0xFE);
        assert_eq!(q.q[0], 0x7E);
    }

    #[test]
    fn weight_blocks() {
        let (n, k) = (130, 256);
        let vals: Vec<f32> = (0..n * k)
            .map(|i| ((i % 97) as f32 - 48.0) * 0.01)
            .collect();
        let mut w = vals.clone();
        w[129 * k + 200] = 100.0; // sits in block (1, 1)
        let t = Tensor::from_f32("w", vec![n, k], &w).unwrap();
        let spec = preset("deepgemm-ue8m0").unwrap();
        let q = quantize_weight(&spec, &t).unwrap();
        assert_eq!(q.grid(), (2, 2));
        assert_eq!(q.scales[3], group_scale(&spec, 100.0));
        assert_eq!(q.scales[0], group_scale(&spec, 0.48));
        // 100 / 0.25 = 400: a tie between 384 and 416, to even 384 = 0x7C.
        assert_eq!(q.q[129 * k + 200], 0x7C);
        let e = quantize_weight(&preset("vllm").unwrap(), &t)
            .unwrap_err()
            .to_string();
        assert!(e.contains("N = 130"), "{e}");
    }

    #[test]
    fn none_and_bad_dtypes_are_errors() {
        let x = Tensor::from_f32("x", vec![1, 4], &[1.0; 4]).unwrap();
        assert!(quantize_activation(&QuantSpec::parse("none").unwrap(), &x).is_err());
        let i = Tensor::new("x", DType::I32, vec![1, 1], vec![0; 4]).unwrap();
        let e = quantize_activation(&preset("vllm").unwrap(), &i)
            .unwrap_err()
            .to_string();
        assert!(e.contains("i32") && e.contains("bf16"), "{e}");
    }
}
