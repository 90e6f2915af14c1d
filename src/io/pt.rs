//! PyTorch `.pt` files (the `torch.save` zip): a restricted unpickler. PLACEHOLDER until the io issue work lands.

use std::path::Path;

use crate::error::{Error, Result};
use crate::io::tensor::Tensor;

/// Reads every tensor of a torch.save zip file; returns the tensors and notes on skipped entries.
pub fn read(path: &Path) -> Result<(Vec<Tensor>, Vec<String>)> {
    Err(Error::format(path, ".pt reading is not implemented yet"))
}
