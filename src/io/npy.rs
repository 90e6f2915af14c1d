//! NumPy `.npy` files, versions 1.0, 2.0 and 3.0 (format described in numpy's
//! `numpy/lib/format.py` docstring): magic `\x93NUMPY`, major, minor, a little-endian header length (u16 in
//! v1, u32 in v2/v3), a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`
//! (latin-1 in v1/v2, UTF-8 in v3), then the raw elements.
//!
//! Little-endian C-order data is viewed from the memory map without a copy; Fortran-order data is
//! transposed to row-major; big-endian data (`>f4`) is byte-swapped. bf16 and the FP8 types are not NumPy
//! types: ml_dtypes saves them as raw void (`|V1`, `<V2`), which is refused with a pointer to safetensors.

use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::formats::DType;
use crate::io::strided;
use crate::io::tensor::{checked_numel, Tensor};

/// Reads the one array of a `.npy` file, named after the file stem.
pub fn read(path: &Path) -> Result<Tensor> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: read-only map; a file truncated under us while mapped is the usual mmap caveat.
    let map = Arc::new(unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?);
    read_map(path, map)
}

/// [`read`] of a file already mapped (`path` names it in messages and gives the array its name).
pub fn read_map(path: &Path, map: Arc<memmap2::Mmap>) -> Result<Tensor> {
    let fail = |msg: String| Error::format(path, msg);
    let (header, data_start) = split_header(&map).map_err(fail)?;
    let h = parse_header(&header)
        .map_err(|e| fail(format!("npy header {:?}: {e}", header.trim_end())))?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "array".into());
    let es = h.dtype.size();
    let numel =
        checked_numel(&h.shape).ok_or_else(|| fail(format!("shape {:?} is too large", h.shape)))?;
    let need = numel
        .checked_mul(es)
        .ok_or_else(|| fail(format!("shape {:?} is too large", h.shape)))?;
    let have = map.len() - data_start;
    if have != need {
        return Err(fail(format!(
            "shape {:?} of {} needs {need} bytes of data but the file holds {have} (truncated?)",
            h.shape, h.descr
        )));
    }
    if !h.big_endian && (!h.fortran || h.shape.len() < 2) {
        return Tensor::mapped(name, h.dtype, h.shape, map.clone(), data_start, need)
            .map_err(|e| fail(e.to_string()));
    }
    let data = &map[data_start..];
    let mut out = if h.fortran {
        let strides = strided::fortran_strides(&h.shape);
        strided::gather(data, es, 0, &h.shape, &strides)
    } else {
        data.to_vec()
    };
    if h.big_endian {
        strided::swap_bytes(&mut out, es);
    }
    Tensor::new(name, h.dtype, h.shape, out).map_err(|e| fail(e.to_string()))
}

/// The header text and the offset of the data.
fn split_header(b: &[u8]) -> std::result::Result<(String, usize), String> {
    if b.len() < 10 || !b.starts_with(b"\x93NUMPY") {
        return Err("not a .npy file (no \\x93NUMPY magic, or shorter than its preamble)".into());
    }
    let (major, minor) = (b[6], b[7]);
    let (len, start) = match major {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10usize),
        2 | 3 if b.len() >= 12 => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
        2 | 3 => return Err("the file ends inside the npy preamble".into()),
        _ => {
            return Err(format!(
                "npy format version {major}.{minor} is not supported (1.0–3.0 are)"
            ))
        }
    };
    let end = start
        .checked_add(len)
        .filter(|&e| e <= b.len())
        .ok_or_else(|| {
            format!("the header is {len} bytes long but the file ends before it does")
        })?;
    let raw = &b[start..end];
    let text = if major == 3 {
        String::from_utf8(raw.to_vec()).map_err(|_| "the v3 header is not UTF-8".to_string())?
    } else {
        raw.iter().map(|&c| c as char).collect()
    };
    Ok((text, end))
}

/// A parsed header.
#[derive(Debug, PartialEq)]
struct Header {
    descr: String,
    dtype: DType,
    big_endian: bool,
    fortran: bool,
    shape: Vec<usize>,
}

/// A value of the header's Python literal.
#[derive(Debug, PartialEq)]
enum Lit {
    Str(String),
    Bool(bool),
    None,
    Int(i128),
    Seq(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

struct LitParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl LitParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }
    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at character {}", c as char, self.i))
        }
    }
    /// Items up to `close`, separated by commas (a trailing comma allowed).
    fn items(&mut self, close: u8, dict: bool) -> std::result::Result<Vec<(Lit, Lit)>, String> {
        let mut out = Vec::new();
        loop {
            if self.peek() == Some(close) {
                self.i += 1;
                return Ok(out);
            }
            let k = self.value(0)?;
            let v = if dict {
                self.expect(b':')?;
                self.value(0)?
            } else {
                Lit::None
            };
            out.push((k, v));
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {}
                _ => {
                    return Err(format!(
                        "expected ',' or '{}' at character {}",
                        close as char, self.i
                    ))
                }
            }
        }
    }
    fn value(&mut self, depth: usize) -> std::result::Result<Lit, String> {
        if depth > 16 {
            return Err("nested too deep".into());
        }
        match self.peek() {
            Some(b'{') => {
                self.i += 1;
                Ok(Lit::Dict(self.items(b'}', true)?))
            }
            Some(c @ (b'(' | b'[')) => {
                self.i += 1;
                let close = if c == b'(' { b')' } else { b']' };
                Ok(Lit::Seq(
                    self.items(close, false)?
                        .into_iter()
                        .map(|(k, _)| k)
                        .collect(),
                ))
            }
            Some(q @ (b'\'' | b'"')) => {
                self.i += 1;
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i] != q {
                    self.i += 1;
                }
                if self.i >= self.s.len() {
                    return Err("unterminated string".into());
                }
                let t = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                self.i += 1;
                Ok(Lit::Str(t))
            }
            Some(_) => {
                let start = self.i;
                while self.i < self.s.len()
                    && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'-')
                {
                    self.i += 1;
                }
                let word = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                match word {
                    "True" => Ok(Lit::Bool(true)),
                    "False" => Ok(Lit::Bool(false)),
                    "None" => Ok(Lit::None),
                    _ => word
                        .trim_end_matches('L')
                        .parse()
                        .map(Lit::Int)
                        .map_err(|_| format!("unexpected {word:?} at character {start}")),
                }
            }
            None => Err("the header ends early".into()),
        }
    }
}

fn parse_header(text: &str) -> std::result::Result<Header, String> {
    let mut p = LitParser {
        s: text.as_bytes(),
        i: 0,
    };
    let Lit::Dict(entries) = p.value(0)? else {
        return Err("not a dict".into());
    };
    let get = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| *k == Lit::Str(key.into()))
            .map(|(_, v)| v)
            .ok_or_else(|| format!("no '{key}' key"))
    };
    let descr = match get("descr")? {
        Lit::Str(s) => s.clone(),
        _ => {
            return Err(
                "structured (record) arrays are not supported; save one plain array per file"
                    .into(),
            )
        }
    };
    let fortran = match get("fortran_order")? {
        Lit::Bool(b) => *b,
        _ => return Err("'fortran_order' is not True/False".into()),
    };
    let shape = match get("shape")? {
        Lit::Seq(items) => items
            .iter()
            .map(|x| match x {
                Lit::Int(n) => usize::try_from(*n).map_err(|_| format!("bad dimension {n}")),
                _ => Err("'shape' is not a tuple of ints".to_string()),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?,
        _ => return Err("'shape' is not a tuple".into()),
    };
    let (dtype, big_endian) = parse_descr(&descr)?;
    Ok(Header {
        descr,
        dtype,
        big_endian,
        fortran,
        shape,
    })
}

/// `<f4`-style type strings: byte order (`<` little, `>` big, `|` not applicable, `=` native = little
/// here), kind, size in bytes.
fn parse_descr(d: &str) -> std::result::Result<(DType, bool), String> {
    let (order, rest) = match d.chars().next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (c, &d[1..]),
        _ => ('=', d),
    };
    let dtype = match rest {
        "f8" => DType::F64,
        "f4" => DType::F32,
        "f2" => DType::F16,
        "i8" => DType::I64,
        "i4" => DType::I32,
        "i2" => DType::I16,
        "i1" => DType::I8,
        "u8" => DType::U64,
        "u4" => DType::U32,
        "u2" => DType::U16,
        "u1" => DType::U8,
        "b1" | "?" => DType::Bool,
        _ if rest.starts_with('V') => {
            return Err(format!(
                "dtype '{d}' is raw bytes: bf16 and FP8 (ml_dtypes) are not NumPy types and cannot be read \
                 from .npy; save these tensors as safetensors"
            ))
        }
        _ => {
            return Err(format!(
                "dtype '{d}' is not supported (f2 f4 f8, i1–i8, u1–u8 and b1 are)"
            ))
        }
    };
    Ok((dtype, order == '>' && dtype.size() > 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_numpy_writes() {
        let h =
            parse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }").unwrap();
        assert_eq!(
            (h.dtype, h.big_endian, h.fortran, h.shape),
            (DType::F32, false, false, vec![2, 3])
        );
        let h =
            parse_header("{'descr': '>i8', 'fortran_order': True, 'shape': (5,), }     ").unwrap();
        assert_eq!(
            (h.dtype, h.big_endian, h.fortran, h.shape),
            (DType::I64, true, true, vec![5])
        );
        let h = parse_header("{'descr': '|b1', 'fortran_order': False, 'shape': (), }").unwrap();
        assert_eq!((h.dtype, h.shape), (DType::Bool, vec![]));
        let h = parse_header("{\"shape\": [4, 0], \"descr\": \"|u1\", \"fortran_order\": False}")
            .unwrap();
        assert_eq!((h.dtype, h.shape), (DType::U8, vec![4, 0]));
        assert!(
            !parse_header("{'descr': '>u1', 'fortran_order': False, 'shape': (3L,), }")
                .unwrap()
                .big_endian
        );
    }

    #[test]
    fn headers_refused_with_reasons() {
        let e =
            parse_header("{'descr': '<V2', 'fortran_order': False, 'shape': (2,), }").unwrap_err();
        assert!(e.contains("safetensors"), "{e}");
        let e =
            parse_header("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }").unwrap_err();
        assert!(e.contains("not supported"), "{e}");
        let e = parse_header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }")
            .unwrap_err();
        assert!(e.contains("structured"), "{e}");
        for bad in [
            "{'descr': '<f4', 'shape': (2,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)",
            "{'descr': '<f4, 'fortran_order': False}",
            "[1, 2]",
            "",
        ] {
            assert!(parse_header(bad).is_err(), "{bad}");
        }
    }
}
