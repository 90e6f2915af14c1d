//! Library error type. Every user-facing failure is one of these; `main.rs` prints it as one line and maps
//! it to the exit code of docs/contract.md §3: bad input or usage → 2.

use std::path::PathBuf;

/// Everything that can go wrong in `isolate`, each naming what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file was read but its contents are not what its format promises (truncated, lying header, …).
    #[error("{path}: {msg}")]
    Format { path: PathBuf, msg: String },
    /// A tensor a command needs is not in any of the inputs.
    #[error("{0}")]
    MissingTensor(String),
    /// A tensor is there but has the wrong dtype, shape or contents for its role.
    #[error("{0}")]
    BadTensor(String),
    /// A command-line value that cannot be right (unknown preset, unknown dtype name, …).
    #[error("{0}")]
    Usage(String),
    /// A GPU was asked for and is not there (or its libraries are missing).
    #[error("{0}")]
    NoGpu(String),
    /// A GPU call failed.
    #[error("GPU: {0}")]
    Gpu(String),
}

impl Error {
    /// A format error for `path`.
    pub fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            msg: msg.into(),
        }
    }
    /// An I/O error for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    /// Exit code (docs/contract.md §3): 2 for anything the user can fix (bad input, usage, no GPU).
    pub fn exit_code(&self) -> i32 {
        2
    }
}

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
