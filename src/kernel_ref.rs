//! `kernel:FILE[:ENTRY]`: a reference to a user's kernel source, as the command line spells it.
//!
//! A leaf module: the GEMM and quant choices hold one, the CLI parses one, and only a backend compiles one, so
//! neither `gemm/` nor `cli/` needs to know any backend.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Source-file endings after which a `:NAME` is the entry point rather than part of the path.
const SOURCE_ENDINGS: [&str; 4] = [".cu", ".cuh", ".hip", ".cpp"];

/// A parsed `kernel:FILE[:ENTRY]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KernelRef {
    pub path: PathBuf,
    /// The `__global__` function to launch; `None`: the file's only one.
    pub entry: Option<String>,
}

impl KernelRef {
    /// Parses `kernel:FILE[:ENTRY]` (None when `s` does not start with `kernel:`).
    pub fn parse(s: &str) -> Option<KernelRef> {
        let rest = s.strip_prefix("kernel:")?;
        Some(Self::from_file_arg(rest))
    }

    /// Parses `FILE[:ENTRY]` (the form `--kernel` takes).
    pub fn from_file_arg(rest: &str) -> KernelRef {
        match rest.rsplit_once(':') {
            Some((p, e)) if SOURCE_ENDINGS.iter().any(|end| p.ends_with(end)) => KernelRef {
                path: p.into(),
                entry: Some(e.to_string()),
            },
            _ => KernelRef {
                path: rest.into(),
                entry: None,
            },
        }
    }

    /// Whether the file is a HIP source (`.hip`): run as the HIP build compiles it, at wavefront 64.
    pub fn is_hip(&self) -> bool {
        self.path.extension().is_some_and(|e| e == "hip")
    }

    /// The entry point among the source's `__global__` functions `fns`: the one named, else the only one.
    /// Errors name the file (no such function, none, several).
    pub fn entry_among(&self, fns: &[String]) -> Result<String> {
        let file = self.path.display();
        match &self.entry {
            Some(e) if fns.iter().any(|f| f == e) => Ok(e.clone()),
            Some(e) => Err(Error::Usage(format!(
                "{file}: no __global__ function '{e}' (found: {})",
                if fns.is_empty() {
                    "none".into()
                } else {
                    fns.join(", ")
                }
            ))),
            None => match fns {
                [one] => Ok(one.clone()),
                [] => Err(Error::Usage(format!("{file}: no __global__ function"))),
                many => Err(Error::Usage(format!(
                    "{file}: several __global__ functions ({}); name one: kernel:{file}:ENTRY",
                    many.join(", ")
                ))),
            },
        }
    }

    /// The source file, checked to exist (an I/O error naming it otherwise), so that a typo is reported before
    /// any work starts.
    pub fn checked(self) -> Result<KernelRef> {
        check_exists(&self.path)?;
        Ok(self)
    }
}

/// Whether `p` can be read: an [`Error::Io`] naming it otherwise.
pub fn check_exists(p: &Path) -> Result<()> {
    std::fs::metadata(p)
        .map(|_| ())
        .map_err(|e| Error::io(p, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_is_split_only_after_a_source_ending() {
        let k = KernelRef::parse("kernel:dir/q.cu:my_quant").unwrap();
        assert_eq!(k.path, PathBuf::from("dir/q.cu"));
        assert_eq!(k.entry.as_deref(), Some("my_quant"));
        let k = KernelRef::parse("kernel:q.hip:f").unwrap();
        assert_eq!(k.entry.as_deref(), Some("f"));
        let k = KernelRef::parse("kernel:C:/x/q.cu").unwrap();
        assert_eq!(k.path, PathBuf::from("C:/x/q.cu"));
        assert_eq!(k.entry, None);
        assert!(KernelRef::parse("q.cu").is_none());
        assert!(KernelRef::parse("kernel:/no/such/file.cu")
            .unwrap()
            .checked()
            .is_err());
    }
}
