//! NumPy `.npy` files. PLACEHOLDER until the io issue work lands.

use std::path::Path;

use crate::error::{Error, Result};
use crate::io::tensor::Tensor;

/// Reads the one array of a `.npy` file, named after the file stem.
pub fn read(path: &Path) -> Result<Tensor> {
    Err(Error::format(path, ".npy reading is not implemented yet"))
}
