//! Dumped quantizer outputs: the FP8 payload `xq` and its scales `xs`, in the layouts frameworks write.
//!
//! Scales are f32 values or E8M0 codes (`F8_E8M0` or `u8`), logically `[M, ceil(K/G)]`, stored as
//! (docs/numerics.md §7.1):
//! - `row`: row-major `[M, ng]` (DeepSeek refs, vLLM default, aiter, any `.contiguous()` tensor);
//! - `col`: column-major storage `[ng, M]`, element (m, g) at g·M + m (vLLM/SGLang `column_major_scales`);
//! - `tma`: DeepGEMM's MN-major TMA-aligned storage `[ng, align(M, 4)]`, element (m, g) at g·align(M,4) + m
//!   (`get_mn_major_tma_aligned_tensor`);
//! - `packed-ue8m0`: int32 words of 4 E8M0 codes, byte j of a word = group 4w + j (little-endian), either
//!   as the MN-major TMA-aligned storage `[ceil(ng/4), align(M, 4)]` (word (m, w) at w·align(M,4) + m:
//!   DeepGEMM `get_mn_major_tma_aligned_packed_ue8m0_tensor`, vLLM/sgl-kernel packed) or as the logical
//!   tensor made contiguous, `[M, ceil(ng/4)]` (word (m, w) at m·ceil(ng/4) + w). When both shapes fit
//!   (a square), the logical form is assumed, as `.contiguous()` and safetensors produce it.
//!
//! Codes decode as torch's `float8_e8m0fnu` (0 → 2^-127, 0xFF → NaN); the codes themselves are kept so
//! that scales are compared code for code.

use crate::error::{Error, Result};
use crate::formats::{e8m0, DType, Fp8Format};
use crate::io::Tensor;
use crate::quant::cpu::matrix_dims;

/// How a dumped scale tensor is laid out (`--xs-layout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XsLayout {
    Row,
    Col,
    Tma,
    PackedUe8m0,
}

impl XsLayout {
    pub const ALL: [XsLayout; 4] = [
        XsLayout::Row,
        XsLayout::Col,
        XsLayout::Tma,
        XsLayout::PackedUe8m0,
    ];

    pub fn name(self) -> &'static str {
        match self {
            XsLayout::Row => "row",
            XsLayout::Col => "col",
            XsLayout::Tma => "tma",
            XsLayout::PackedUe8m0 => "packed-ue8m0",
        }
    }

    pub fn parse(s: &str) -> Result<XsLayout> {
        XsLayout::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "unknown --xs-layout '{s}': expected one of {}",
                    XsLayout::ALL.map(|l| l.name()).join(", ")
                ))
            })
    }
}

/// Scales read from a dump, as the logical row-major `[M, ng]` grid.
#[derive(Clone, Debug)]
pub struct DumpedScales {
    /// Dequant multipliers (codes decoded as torch does).
    pub values: Vec<f32>,
    /// The E8M0 codes, when the dump holds codes rather than f32 values.
    pub codes: Option<Vec<u8>>,
    /// What was read, for reports (`f32`, `e8m0`, `u8 codes`, `packed int32`).
    pub kind: &'static str,
}

fn align4(m: usize) -> usize {
    m.div_ceil(4) * 4
}

/// Reads `xs` for an activation of `m` rows and `ng` groups per row.
pub fn read_scales(xs: &Tensor, layout: XsLayout, m: usize, ng: usize) -> Result<DumpedScales> {
    let name = &xs.name;
    let packed_dtype = matches!(xs.dtype, DType::I32 | DType::U32);
    match (layout, xs.dtype) {
        (XsLayout::PackedUe8m0, d) if !packed_dtype => {
            return Err(Error::BadTensor(format!(
                "xs ('{name}') is {d}: --xs-layout packed-ue8m0 expects int32 words of 4 E8M0 codes"
            )))
        }
        (XsLayout::PackedUe8m0, _) => {}
        (_, DType::F32 | DType::F8E8M0 | DType::U8) => {}
        (_, DType::I32 | DType::U32) => {
            return Err(Error::BadTensor(format!(
                "xs ('{name}') is {}: packed UE8M0 words? pass --xs-layout packed-ue8m0",
                xs.dtype
            )))
        }
        (_, d) => {
            return Err(Error::BadTensor(format!(
                "xs ('{name}') is {d}: expected f32 scales, E8M0 codes (F8_E8M0 or u8), or int32 packed UE8M0 \
                 words (--xs-layout packed-ue8m0)"
            )))
        }
    }
    let (r, c) = matrix_dims(xs, "xs")?;
    let shape_err = |want: String| {
        Error::BadTensor(format!(
            "xs ('{name}') has shape {:?}; x [{m}, K] in {ng} groups per row needs {want}",
            xs.shape
        ))
    };
    let flat = xs.shape.len() == 1;
    // Offset of element (row, g) in the tensor's element order.
    let ma = align4(m);
    let index: Box<dyn Fn(usize, usize) -> usize> = match layout {
        XsLayout::Row => {
            if (r, c) != (m, ng) {
                return Err(shape_err(format!(
                    "[{m}, {ng}] in --xs-layout row (column-major dumps: --xs-layout col|tma|packed-ue8m0)"
                )));
            }
            Box::new(move |i, g| i * ng + g)
        }
        XsLayout::Col | XsLayout::Tma => {
            let mn = if layout == XsLayout::Col { m } else { ma };
            let ok = if flat {
                c == ng * mn
            } else {
                (r, c) == (ng, mn)
            };
            if !ok {
                let hint = if (r, c) == (m, ng) {
                    " (this shape is the logical [M, ng] order, i.e. --xs-layout row)"
                } else {
                    ""
                };
                return Err(shape_err(format!(
                    "the {} storage [{ng}, {mn}] (or {} elements flat) in --xs-layout {}{hint}",
                    if layout == XsLayout::Col {
                        "column-major"
                    } else {
                        "TMA-aligned MN-major"
                    },
                    ng * mn,
                    layout.name()
                )));
            }
            Box::new(move |i, g| g * mn + i)
        }
        XsLayout::PackedUe8m0 => {
            let nw = ng.div_ceil(4);
            if !flat && (r, c) == (m, nw) {
                Box::new(move |i, g| (i * nw + g / 4) * 4 + g % 4)
            } else if (flat && c == nw * ma) || (!flat && (r, c) == (nw, ma)) {
                Box::new(move |i, g| ((g / 4) * ma + i) * 4 + g % 4)
            } else {
                return Err(shape_err(format!(
                    "int32 words [{m}, {nw}] (logical) or [{nw}, {ma}] (MN-major TMA-aligned storage) in \
                     --xs-layout packed-ue8m0"
                )));
            }
        }
    };
    let b = xs.bytes();
    let n = m * ng;
    let mut values = Vec::with_capacity(n);
    let (codes, kind) = match (layout, xs.dtype) {
        (XsLayout::PackedUe8m0, _) => {
            let codes: Vec<u8> = (0..n).map(|k| b[index(k / ng, k % ng)]).collect();
            values.extend(codes.iter().map(|&c| e8m0::decode(c)));
            (Some(codes), "packed int32 UE8M0")
        }
        (_, DType::F32) => {
            for k in 0..n {
                let o = index(k / ng, k % ng) * 4;
                values.push(f32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]));
            }
            (None, "f32")
        }
        (_, d) => {
            let codes: Vec<u8> = (0..n).map(|k| b[index(k / ng, k % ng)]).collect();
            values.extend(codes.iter().map(|&c| e8m0::decode(c)));
            (
                Some(codes),
                if d == DType::F8E8M0 {
                    "e8m0"
                } else {
                    "u8 E8M0 codes"
                },
            )
        }
    };
    Ok(DumpedScales {
        values,
        codes,
        kind,
    })
}

/// The FP8 format of a dumped payload: its dtype's, or `--fp8` for raw bytes (u8/i8); `expect` is the
/// format the comparison needs (the reference spec's `fp8=`), which must agree.
pub fn payload_format(
    xq: &Tensor,
    flag: Option<Fp8Format>,
    expect: Option<(Fp8Format, &str)>,
) -> Result<Fp8Format> {
    let name = &xq.name;
    let fmt = match (xq.dtype.fp8_format(), xq.dtype) {
        (Some(f), _) => {
            if let Some(g) = flag.filter(|g| *g != f) {
                return Err(Error::Usage(format!(
                    "xq ('{name}') is {} ({}) but --fp8 says {}: drop --fp8 or fix the dump",
                    xq.dtype.safetensors_name(),
                    f.name(),
                    g.name()
                )));
            }
            f
        }
        (None, DType::U8 | DType::I8) => match flag.or(expect.map(|e| e.0)) {
            Some(f) => f,
            None => {
                return Err(Error::Usage(format!(
                    "xq ('{name}') holds raw {} bytes: say which FP8 format they are with --fp8 e4m3fn|e4m3fnuz|e5m2",
                    xq.dtype
                )))
            }
        },
        (None, d) => {
            return Err(Error::BadTensor(format!(
                "xq ('{name}') is {d}: expected an FP8 payload (F8_E4M3, F8_E4M3FNUZ, F8_E5M2) or raw u8 bytes with --fp8"
            )))
        }
    };
    if let Some((want, who)) = expect {
        if want != fmt {
            return Err(Error::Usage(format!(
                "xq ('{name}') holds {} codes but {who} quantizes to {} (fp8={}): bytes of different formats \
                 cannot be compared; add ,fp8={} to the spec if that is what the target uses",
                fmt.name(),
                want.name(),
                want.name(),
                fmt.name()
            )));
        }
    }
    Ok(fmt)
}

/// Checks that `xq` is `[m, k]` (leading dims flattened, as for x) and returns its bytes.
pub fn payload_bytes(xq: &Tensor, m: usize, k: usize) -> Result<&[u8]> {
    let (r, c) = matrix_dims(xq, "xq")?;
    if (r, c) != (m, k) {
        return Err(Error::BadTensor(format!(
            "xq ('{}') has shape {:?} but x is [{m}, {k}]: the quantized payload must have x's shape",
            xq.name, xq.shape
        )));
    }
    Ok(xq.bytes())
}

/// The group size G implied by a scale grid of `ng` groups per row for K columns: a power of two with
/// ceil(K/G) = ng (the common sizes), else K/ng when it divides.
pub fn infer_group(k: usize, ng: usize) -> Option<usize> {
    if ng == 0 || k == 0 {
        return None;
    }
    (0..=usize::BITS - 1)
        .map(|p| 1usize << p)
        .take_while(|g| *g <= k.next_power_of_two())
        .find(|g| k.div_ceil(*g) == ng)
        .or_else(|| (k % ng == 0).then(|| k / ng))
}

/// The group size G and groups per row implied by a scale tensor in `layout` for an activation [m, k]: the
/// inverse of the shapes [`read_scales`] accepts, then [`infer_group`]. Packed words hold 4 groups each, so
/// G is the power of two whose ceil(ceil(k/G)/4) matches the word count, 128 preferred.
pub fn infer_group_for(
    xs: &Tensor,
    layout: XsLayout,
    m: usize,
    k: usize,
) -> Result<(usize, usize)> {
    let (r, c) = matrix_dims(xs, "xs")?;
    let flat = xs.shape.len() == 1;
    let bad = |why: &str| {
        Error::BadTensor(format!(
            "xs ('{}') has shape {:?}: no {} scale layout for x [{m}, {k}] fits ({why})",
            xs.name,
            xs.shape,
            layout.name()
        ))
    };
    let per = |mn: usize| -> Result<usize> {
        if flat {
            (mn > 0 && c % mn == 0)
                .then(|| c / mn)
                .ok_or_else(|| bad(&format!("{c} elements are not a multiple of {mn}")))
        } else {
            (c == mn)
                .then_some(r)
                .ok_or_else(|| bad(&format!("expected [groups, {mn}]")))
        }
    };
    let ng_or_words = match layout {
        XsLayout::Row => (!flat && r == m)
            .then_some(c)
            .ok_or_else(|| bad(&format!("expected [{m}, groups]")))?,
        XsLayout::Col => per(m)?,
        XsLayout::Tma => per(align4(m))?,
        XsLayout::PackedUe8m0 => {
            if !flat && r == m {
                c
            } else {
                per(align4(m))?
            }
        }
    };
    if layout == XsLayout::PackedUe8m0 {
        let fits = |g: usize| k.div_ceil(g).div_ceil(4) == ng_or_words;
        let g = std::iter::once(128)
            .chain((0..usize::BITS - 1).map(|p| 1usize << p))
            .take_while(|g| *g <= k.next_power_of_two().max(128))
            .find(|g| fits(*g))
            .ok_or_else(|| bad(&format!("{ng_or_words} words per row fit no group size")))?;
        return Ok((g, k.div_ceil(g)));
    }
    let g = infer_group(k, ng_or_words).ok_or_else(|| {
        bad(&format!(
            "{ng_or_words} groups per row do not divide K = {k} into equal groups"
        ))
    })?;
    Ok((g, ng_or_words))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_tensor(shape: Vec<usize>, v: &[f32]) -> Tensor {
        Tensor::from_f32("xs", shape, v).unwrap()
    }

    #[test]
    fn row_col_tma_agree() {
        // M = 3 rows, ng = 2: logical [[1, 2], [3, 4], [5, 6]].
        let want = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let row = read_scales(&f32_tensor(vec![3, 2], &want), XsLayout::Row, 3, 2).unwrap();
        assert_eq!(row.values, want);
        assert!(row.codes.is_none());
        let col = read_scales(
            &f32_tensor(vec![2, 3], &[1.0, 3.0, 5.0, 2.0, 4.0, 6.0]),
            XsLayout::Col,
            3,
            2,
        )
        .unwrap();
        assert_eq!(col.values, want);
        // TMA: MN stride align(3, 4) = 4, the pad slot holds garbage.
        let tma = read_scales(
            &f32_tensor(vec![8], &[1.0, 3.0, 5.0, -9.0, 2.0, 4.0, 6.0, -9.0]),
            XsLayout::Tma,
            3,
            2,
        )
        .unwrap();
        assert_eq!(tma.values, want);
        let e = read_scales(&f32_tensor(vec![3, 2], &want), XsLayout::Col, 3, 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--xs-layout row"), "{e}");
        let e = read_scales(&f32_tensor(vec![3, 3], &[0.0; 9]), XsLayout::Row, 3, 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("[3, 2]"), "{e}");
    }

    #[test]
    fn packed_ue8m0_both_orders() {
        // M = 2 rows, ng = 5 groups: codes c(m, g) = 100 + 10m + g; 2 words per row.
        let code = |m: usize, g: usize| (100 + 10 * m + g) as u8;
        let word = |m: usize, w: usize| {
            let mut b = [0u8; 4];
            for (j, bj) in b.iter_mut().enumerate() {
                let g = 4 * w + j;
                *bj = if g < 5 { code(m, g) } else { 0 };
            }
            b
        };
        // Logical [M, nw] = [2, 2].
        let logical: Vec<u8> = (0..2)
            .flat_map(|m| (0..2).flat_map(move |w| word(m, w)))
            .collect();
        let t = Tensor::new("xs", DType::I32, vec![2, 2], logical).unwrap();
        let s = read_scales(&t, XsLayout::PackedUe8m0, 2, 5).unwrap();
        let want: Vec<u8> = (0..2)
            .flat_map(|m| (0..5).map(move |g| code(m, g)))
            .collect();
        assert_eq!(s.codes.as_ref().unwrap(), &want);
        assert_eq!(s.values[0], e8m0::decode(100));
        // Storage [nw, align(M, 4)] = [2, 4]: word (m, w) at w·4 + m.
        let mut storage = vec![0u8; 2 * 4 * 4];
        for w in 0..2 {
            for m in 0..2 {
                storage[(w * 4 + m) * 4..(w * 4 + m) * 4 + 4].copy_from_slice(&word(m, w));
            }
        }
        let t = Tensor::new("xs", DType::I32, vec![2, 4], storage).unwrap();
        let s = read_scales(&t, XsLayout::PackedUe8m0, 2, 5).unwrap();
        assert_eq!(s.codes.unwrap(), want);
        // f32 with packed layout, i32 with row layout: errors that say what to do.
        let e = read_scales(
            &f32_tensor(vec![2, 5], &[1.0; 10]),
            XsLayout::PackedUe8m0,
            2,
            5,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("int32"), "{e}");
        let t = Tensor::new("xs", DType::I32, vec![2, 5], vec![0; 40]).unwrap();
        let e = read_scales(&t, XsLayout::Row, 2, 5)
            .unwrap_err()
            .to_string();
        assert!(e.contains("packed-ue8m0"), "{e}");
        let t = Tensor::new("xs", DType::BF16, vec![2, 5], vec![0; 20]).unwrap();
        assert!(read_scales(&t, XsLayout::Row, 2, 5).is_err());
    }

    #[test]
    fn e8m0_codes() {
        let t = Tensor::new("xs", DType::F8E8M0, vec![1, 3], vec![0, 127, 255]).unwrap();
        let s = read_scales(&t, XsLayout::Row, 1, 3).unwrap();
        assert_eq!(s.codes.unwrap(), vec![0, 127, 255]);
        assert_eq!(s.values[0].to_bits(), 0x0040_0000);
        assert_eq!(s.values[1], 1.0);
        assert!(s.values[2].is_nan());
        assert_eq!(s.kind, "e8m0");
    }

    #[test]
    fn payload_checks() {
        let q = Tensor::new("xq", DType::F8E4M3FN, vec![2, 2], vec![0; 4]).unwrap();
        assert_eq!(payload_format(&q, None, None).unwrap(), Fp8Format::E4m3fn);
        let e = payload_format(
            &q,
            None,
            Some((Fp8Format::E4m3fnuz, "--reference aiter-fnuz")),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("e4m3fnuz") && e.contains("aiter-fnuz"), "{e}");
        assert!(payload_format(&q, Some(Fp8Format::E5m2), None).is_err());
        let u = Tensor::new("xq", DType::U8, vec![2, 2], vec![0; 4]).unwrap();
        assert!(payload_format(&u, None, None).is_err());
        assert_eq!(
            payload_format(&u, Some(Fp8Format::E5m2), None).unwrap(),
            Fp8Format::E5m2
        );
        assert!(payload_bytes(&u, 2, 3).is_err());
        let f = Tensor::new("xq", DType::F32, vec![1, 1], vec![0; 4]).unwrap();
        assert!(payload_format(&f, None, None).is_err());
    }

    #[test]
    fn group_inference() {
        assert_eq!(infer_group(1536, 12), Some(128));
        assert_eq!(infer_group(200, 2), Some(128));
        assert_eq!(infer_group(7168, 56), Some(128));
        assert_eq!(infer_group(7168, 112), Some(64));
        assert_eq!(infer_group(96, 3), Some(32));
        assert_eq!(infer_group(100, 5), Some(20));
        assert_eq!(infer_group(100, 7), Some(16));
        assert_eq!(infer_group(100, 9), None);
        let t = Tensor::new("xs", DType::I32, vec![114, 3], vec![0; 114 * 12]).unwrap();
        assert_eq!(
            infer_group_for(&t, XsLayout::PackedUe8m0, 114, 1536).unwrap(),
            (128, 12)
        );
        let t = Tensor::from_f32("xs", vec![12, 116], &[0.0; 12 * 116]).unwrap();
        assert_eq!(
            infer_group_for(&t, XsLayout::Tma, 114, 1536).unwrap(),
            (128, 12)
        );
        assert!(infer_group_for(&t, XsLayout::Row, 114, 1536).is_err());
    }
}
