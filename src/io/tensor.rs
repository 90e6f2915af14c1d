//! The one tensor type: a name, a dtype, a shape and little-endian bytes, borrowed from a memory map
//! where the file allows (safetensors) and owned otherwise.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::formats::convert;
use crate::formats::DType;

/// Where a tensor's bytes live.
#[derive(Clone)]
enum Bytes {
    Owned(Arc<Vec<u8>>),
    Mapped {
        map: Arc<memmap2::Mmap>,
        start: usize,
        len: usize,
    },
}

/// A dense, row-major (C-contiguous) tensor.
#[derive(Clone)]
pub struct Tensor {
    /// Name inside its file (nested dicts flattened with `.`).
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Shape; `[]` is a scalar.
    pub shape: Vec<usize>,
    bytes: Bytes,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor({} {} {:?})", self.name, self.dtype, self.shape)
    }
}

/// Number of elements of a shape, or None on overflow.
pub fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

impl Tensor {
    /// A tensor owning `bytes`; the byte count must equal numel × dtype size.
    pub fn new(
        name: impl Into<String>,
        dtype: DType,
        shape: Vec<usize>,
        bytes: Vec<u8>,
    ) -> Result<Self> {
        let name = name.into();
        check_len(&name, dtype, &shape, bytes.len())?;
        Ok(Tensor {
            name,
            dtype,
            shape,
            bytes: Bytes::Owned(Arc::new(bytes)),
        })
    }

    /// A tensor viewing `len` bytes of a memory map from `start` (the caller checked the range).
    pub(crate) fn mapped(
        name: String,
        dtype: DType,
        shape: Vec<usize>,
        map: Arc<memmap2::Mmap>,
        start: usize,
        len: usize,
    ) -> Result<Self> {
        check_len(&name, dtype, &shape, len)?;
        debug_assert!(start + len <= map.len());
        Ok(Tensor {
            name,
            dtype,
            shape,
            bytes: Bytes::Mapped { map, start, len },
        })
    }

    /// An f32 tensor from values.
    pub fn from_f32(name: impl Into<String>, shape: Vec<usize>, values: &[f32]) -> Result<Self> {
        let bytes: Vec<u8> = if cfg!(target_endian = "little") {
            bytemuck::cast_slice::<f32, u8>(values).to_vec()
        } else {
            values.iter().flat_map(|v| v.to_le_bytes()).collect()
        };
        Tensor::new(name, DType::F32, shape, bytes)
    }

    /// The raw little-endian bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Owned(v) => v,
            Bytes::Mapped { map, start, len } => &map[*start..*start + *len],
        }
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The same bytes under another name.
    pub fn renamed(&self, name: impl Into<String>) -> Tensor {
        Tensor {
            name: name.into(),
            ..self.clone()
        }
    }

    /// The same bytes reinterpreted as another dtype of the same element size (e.g. u8 → e4m3fn).
    pub fn reinterpret(&self, dtype: DType) -> Result<Tensor> {
        if dtype.size() != self.dtype.size() {
            return Err(Error::BadTensor(format!(
                "tensor '{}': cannot view {} as {} (element sizes differ)",
                self.name, self.dtype, dtype
            )));
        }
        Ok(Tensor {
            dtype,
            ..self.clone()
        })
    }

    /// A new shape with the same number of elements.
    pub fn reshaped(&self, shape: Vec<usize>) -> Result<Tensor> {
        if checked_numel(&shape) != Some(self.numel()) {
            return Err(Error::BadTensor(format!(
                "tensor '{}': cannot reshape {:?} to {:?}",
                self.name, self.shape, shape
            )));
        }
        Ok(Tensor {
            shape,
            ..self.clone()
        })
    }

    /// All elements decoded to f32 (exact for every dtype but f64).
    pub fn to_f32(&self) -> Vec<f32> {
        convert::to_f32_vec(self.dtype, self.bytes())
    }

    /// Element `i` decoded to f64.
    #[inline]
    pub fn get_f64(&self, i: usize) -> f64 {
        convert::element_f64(self.dtype, self.bytes(), i)
    }

    /// Shape as `[a, b, …]` text.
    pub fn shape_str(&self) -> String {
        format!("{:?}", self.shape)
    }
}

fn check_len(name: &str, dtype: DType, shape: &[usize], len: usize) -> Result<()> {
    let want = checked_numel(shape).and_then(|n| n.checked_mul(dtype.size()));
    if want != Some(len) {
        return Err(Error::BadTensor(format!(
            "tensor '{name}': shape {shape:?} × {dtype} needs {} bytes but {len} are given",
            want.map(|w| w.to_string())
                .unwrap_or_else(|| "more than 2^64".into())
        )));
    }
    Ok(())
}
