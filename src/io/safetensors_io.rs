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
    let map = Arc::new(map);
    let st = SafeTensors::deserialize(&map)
        .map_err(|e| Error::format(path, format!("not a valid safetensors file: {e}")))?;
    let base = map.as_ptr() as usize;
    let mut out = Vec::new();
    let mut names: Vec<(String, TensorView<'_>)> = st.tensors();
    names.sort_by_key(|(_, v)| v.data().as_ptr() as usize);
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
