//! safetensors read (memory-mapped, zero-copy) and write, every dtype including the FP8 ones and F8_E8M0.
//!
//! Reading checks the header through the `safetensors` crate (offsets inside the file, in order, no gaps,
//! shape × dtype = bytes) and turns its errors into one line naming the file.

use std::path::Path;
use std::sync::Arc;

use safetensors::tensor::{Dtype as StDtype, TensorView};
use safetensors::SafeTensors;

use crate::error::{Error, Result};
use crate::formats::DType;
use crate::io::limits::MAX_SAFETENSORS_HEADER;
use crate::io::tensor::Tensor;

fn from_st(d: StDtype) -> Option<DType> {
    Some(match d {
        StDtype::F64 => DType::F64,
        StDtype::F32 => DType::F32,
        StDtype::F16 => DType::F16,
        StDtype::BF16 => DType::BF16,
        StDtype::F8_E4M3 => DType::F8E4M3FN,
        StDtype::F8_E4M3FNUZ => DType::F8E4M3FNUZ,
        StDtype::F8_E5M2 => DType::F8E5M2,
        StDtype::F8_E8M0 => DType::F8E8M0,
        StDtype::I64 => DType::I64,
        StDtype::I32 => DType::I32,
        StDtype::I16 => DType::I16,
        StDtype::I8 => DType::I8,
        StDtype::U64 => DType::U64,
        StDtype::U32 => DType::U32,
        StDtype::U16 => DType::U16,
        StDtype::U8 => DType::U8,
        StDtype::BOOL => DType::Bool,
        _ => return None,
    })
}

fn to_st(d: DType) -> StDtype {
    match d {
        DType::F64 => StDtype::F64,
        DType::F32 => StDtype::F32,
        DType::F16 => StDtype::F16,
        DType::BF16 => StDtype::BF16,
        DType::F8E4M3FN => StDtype::F8_E4M3,
        DType::F8E4M3FNUZ => StDtype::F8_E4M3FNUZ,
        DType::F8E5M2 => StDtype::F8_E5M2,
        DType::F8E8M0 => StDtype::F8_E8M0,
        DType::I64 => StDtype::I64,
        DType::I32 => StDtype::I32,
        DType::I16 => StDtype::I16,
        DType::I8 => StDtype::I8,
        DType::U64 => StDtype::U64,
        DType::U32 => StDtype::U32,
        DType::U16 => StDtype::U16,
        DType::U8 => StDtype::U8,
        DType::Bool => StDtype::BOOL,
    }
}

/// Reads every tensor of a safetensors file, in the order of their data offsets, viewing the memory map.
pub fn read(path: &Path) -> Result<Vec<Tensor>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: the map is read-only; a file truncated under us while mapped is the usual mmap caveat.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
    read_map(path, Arc::new(map))
}

/// [`read`] of a file already mapped (`path` names it in messages).
pub fn read_map(path: &Path, map: Arc<memmap2::Mmap>) -> Result<Vec<Tensor>> {
    let st = SafeTensors::deserialize(&map).map_err(|e| {
        let why = diagnose(&map).unwrap_or_else(|| e.to_string());
        Error::format(path, format!("not a valid safetensors file: {why}"))
    })?;
    let base = map.as_ptr() as usize;
    let mut out = Vec::new();
    let mut names: Vec<(String, TensorView<'_>)> = st.tensors();
    // File order: by data offset; an empty tensor sits at the offset of the next one and goes first.
    names.sort_by(|(na, a), (nb, b)| {
        (a.data().as_ptr() as usize, a.data().len(), na).cmp(&(
            b.data().as_ptr() as usize,
            b.data().len(),
            nb,
        ))
    });
    for (name, view) in names {
        let dtype = from_st(view.dtype()).ok_or_else(|| {
            Error::format(
                path,
                format!("tensor '{name}': dtype {:?} is not supported", view.dtype()),
            )
        })?;
        let start = view.data().as_ptr() as usize - base;
        let len = view.data().len();
        let t = Tensor::mapped(name, dtype, view.shape().to_vec(), map.clone(), start, len)
            .map_err(|e| Error::format(path, e.to_string()))?;
        out.push(t);
    }
    Ok(out)
}

/// Says precisely what is wrong with a file the `safetensors` crate refused (its messages name neither the
/// tensor nor the numbers); None when no specific fault is found.
fn diagnose(b: &[u8]) -> Option<String> {
    if b.len() < 8 {
        return Some(format!(
            "{} bytes, shorter than the 8-byte header length",
            b.len()
        ));
    }
    let n = u64::from_le_bytes(b[..8].try_into().ok()?);
    let rest = (b.len() - 8) as u64;
    if n > MAX_SAFETENSORS_HEADER {
        return Some(format!(
            "the header length field says {n} bytes, more than the {MAX_SAFETENSORS_HEADER}-byte limit of \
             safetensors headers; refused before reading it"
        ));
    }
    if n > rest {
        return Some(format!(
            "the header length field says {n} bytes but only {rest} follow it (truncated?)"
        ));
    }
    let data_len = rest - n;
    let header: serde_json::Value = match serde_json::from_slice(&b[8..8 + n as usize]) {
        Ok(h) => h,
        Err(e) => return Some(format!("the header is not valid JSON ({e}); truncated?")),
    };
    let mut spans = Vec::new();
    for (name, info) in header.as_object()? {
        if name == "__metadata__" {
            continue;
        }
        let dtype_name = info["dtype"].as_str().unwrap_or("?");
        let Ok(dtype) = DType::parse(dtype_name) else {
            return Some(format!("tensor '{name}': unknown dtype '{dtype_name}'"));
        };
        let shape: Option<Vec<u64>> = info["shape"]
            .as_array()
            .map(|a| a.iter().filter_map(|d| d.as_u64()).collect());
        let offs: Option<Vec<u64>> = info["data_offsets"]
            .as_array()
            .map(|a| a.iter().filter_map(|d| d.as_u64()).collect());
        let (Some(shape), Some(offs)) = (shape, offs) else {
            return Some(format!(
                "tensor '{name}': shape or data_offsets is not a list of integers"
            ));
        };
        let [begin, end] = offs[..] else {
            return Some(format!(
                "tensor '{name}': data_offsets {offs:?} is not [begin, end]"
            ));
        };
        if begin > end || end > data_len {
            return Some(format!(
                "tensor '{name}': data_offsets [{begin}, {end}] run past the {data_len} bytes of data (truncated?)"
            ));
        }
        let need = shape
            .iter()
            .try_fold(dtype.size() as u64, |a, &d| a.checked_mul(d));
        if need != Some(end - begin) {
            return Some(format!(
                "tensor '{name}': shape {shape:?} × {dtype_name} needs {} bytes but data_offsets [{begin}, {end}] \
                 hold {}",
                need.map(|x| x.to_string()).unwrap_or_else(|| "more than 2^64".into()),
                end - begin
            ));
        }
        spans.push((begin, end));
    }
    spans.sort_unstable();
    let covered = spans
        .iter()
        .try_fold(0u64, |at, &(b, e)| (b == at).then_some(e));
    if covered != Some(data_len) {
        return Some(format!(
            "the tensors' data_offsets do not tile the {data_len} bytes of data exactly (gaps or overlaps)"
        ));
    }
    None
}

/// Writes tensors (names must be unique) to a safetensors file, with optional string metadata.
pub fn write(
    path: &Path,
    tensors: &[Tensor],
    metadata: Option<std::collections::HashMap<String, String>>,
) -> Result<()> {
    let mut views = Vec::with_capacity(tensors.len());
    for t in tensors {
        let v = TensorView::new(to_st(t.dtype), t.shape.clone(), t.bytes())
            .map_err(|e| Error::BadTensor(format!("tensor '{}': {e}", t.name)))?;
        views.push((t.name.clone(), v));
    }
    safetensors::serialize_to_file(views, metadata, path)
        .map_err(|e| Error::format(path, format!("cannot write safetensors: {e}")))
}

/// The string metadata (`__metadata__`) of a safetensors file's header, if it has any.
pub fn metadata(path: &Path) -> Result<Option<std::collections::HashMap<String, String>>> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut n = [0u8; 8];
    f.read_exact(&mut n).map_err(|e| Error::io(path, e))?;
    let n = u64::from_le_bytes(n);
    let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
    if n > len.saturating_sub(8) || n > 100 << 20 {
        return Err(Error::format(
            path,
            "not a valid safetensors file: header length past the end",
        ));
    }
    let mut h = vec![0u8; n as usize];
    f.read_exact(&mut h).map_err(|e| Error::io(path, e))?;
    let v: serde_json::Value = serde_json::from_slice(&h)
        .map_err(|e| Error::format(path, format!("not a valid safetensors header: {e}")))?;
    Ok(v.get("__metadata__")
        .and_then(|m| serde_json::from_value(m.clone()).ok()))
}
