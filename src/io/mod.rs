//! Tensor files in and out: safetensors (read and write), PyTorch `.pt` (a restricted unpickler: read only,
//! nothing is ever executed), `.npy` (read); role mapping (`--name ROLE=TENSOR`); capture directories
//! (`manifest.json` + role-named safetensors per site and call, [`capture`]).

pub mod capture;
pub mod limits;
pub mod npy;
pub mod pickle;
#[cfg(test)]
pub(crate) mod pickle_builder;
pub mod pickle_value;
pub mod pt;
pub mod roles;
pub mod safetensors_io;
pub mod strided;
pub mod tensor;
pub mod torch_pickle;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
pub use roles::Roles;
pub use tensor::Tensor;

/// The tensors of one input file, plus notes about entries that were skipped (non-tensor values, …).
#[derive(Clone, Debug)]
pub struct TensorFile {
    /// Path as given.
    pub path: PathBuf,
    /// Tensors in file order.
    pub tensors: Vec<Tensor>,
    /// One line per thing that was read but is not a tensor (and so skipped).
    pub notes: Vec<String>,
}

impl TensorFile {
    /// The tensor called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

/// The container formats we read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Safetensors,
    TorchZip,
    Npy,
}

/// Decides a file's format from its first bytes (the extension is only a tie-breaker for messages).
pub fn sniff(path: &Path, head: &[u8]) -> Result<FileKind> {
    if head.is_empty() {
        return Err(Error::format(path, "the file is empty"));
    }
    if head.starts_with(b"PK\x03\x04") {
        return Ok(FileKind::TorchZip);
    }
    if head.starts_with(b"\x93NUMPY") {
        return Ok(FileKind::Npy);
    }
    if head.len() >= 9 && head[8] == b'{' {
        return Ok(FileKind::Safetensors);
    }
    if head.starts_with(b"\x80\x02") || head.starts_with(b"\x80\x04") {
        return Err(Error::format(
            path,
            "a legacy (non-zip) torch.save file: re-save it with torch.save(..., _use_new_zipfile_serialization=True)",
        ));
    }
    Err(Error::format(
        path,
        "not a safetensors, PyTorch zip (.pt) or .npy file (unrecognised first bytes)",
    ))
}

/// Loads one file of any supported format.
pub fn load(path: &Path) -> Result<TensorFile> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: read-only map; a file truncated under us while mapped is the usual mmap caveat.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
    load_map(path, Arc::new(map), None)
}

/// Loads a file's contents held in memory (`path` only names it in messages and gives a bare tensor its
/// name), as `kind` or, when None, as the first bytes say: what the fuzz targets call, the same code as
/// [`load`] from the memory map on.
pub fn load_bytes(path: &Path, bytes: &[u8], kind: Option<FileKind>) -> Result<TensorFile> {
    if bytes.is_empty() {
        return Err(Error::format(path, "the file is empty"));
    }
    let mut map = memmap2::MmapMut::map_anon(bytes.len()).map_err(|e| Error::io(path, e))?;
    map.copy_from_slice(bytes);
    let map = map.make_read_only().map_err(|e| Error::io(path, e))?;
    load_map(path, Arc::new(map), kind)
}

fn load_map(path: &Path, map: Arc<memmap2::Mmap>, kind: Option<FileKind>) -> Result<TensorFile> {
    let kind = match kind {
        Some(k) => k,
        None => sniff(path, &map[..map.len().min(16)])?,
    };
    let (tensors, notes) = match kind {
        FileKind::Safetensors => (safetensors_io::read_map(path, map)?, Vec::new()),
        FileKind::TorchZip => pt::read_map(path, map)?,
        FileKind::Npy => (vec![npy::read_map(path, map)?], Vec::new()),
    };
    Ok(TensorFile {
        path: path.to_path_buf(),
        tensors,
        notes,
    })
}

/// Loads several files.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<TensorFile>> {
    paths.iter().map(|p| load(p)).collect()
}
