//! Tensor files in and out: safetensors (read and write), PyTorch `.pt` (a restricted unpickler: read only,
//! nothing is ever executed), `.npy` (read); role mapping (`--name ROLE=TENSOR`); capture directories
//! (`manifest.json` + role-named safetensors per site and call, [`capture`]).

pub mod capture;
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
    use std::io::Read;
    let mut head = [0u8; 16];
    let n = {
        let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut n = 0;
        loop {
            let k = f.read(&mut head[n..]).map_err(|e| Error::io(path, e))?;
            if k == 0 {
                break;
            }
            n += k;
            if n == head.len() {
                break;
            }
        }
        n
    };
    let (tensors, notes) = match sniff(path, &head[..n])? {
        FileKind::Safetensors => (safetensors_io::read(path)?, Vec::new()),
        FileKind::TorchZip => pt::read(path)?,
        FileKind::Npy => (vec![npy::read(path)?], Vec::new()),
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
