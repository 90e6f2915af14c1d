//! Data that stays on the device between the steps of a command (docs/ARCHITECTURE.md, "Device-resident
//! data"): `isolate gemm` quantizes its operands there, runs the four paths on them and compares their outputs
//! there, and copies to the host only what a report asks for (`--save`, the HTML figures, the envelope's CPU
//! GEMMs). A backend that keeps data on a device offers [`ResidentOps`] through [`crate::backend::Backend::resident`];
//! every operation computes what the host one computes, bit for bit.

use crate::error::Result;
use crate::gemm::GemmChoice;
use crate::io::Tensor;
use crate::metrics::Comparison;
use crate::quant::{QuantSpec, Quantized};

/// The device buffers behind a [`Resident`], one variant per kind of buffer a backend keeps (a backend reads
/// only its own).
pub enum DeviceData {
    /// FP8 codes and f32 scales in CUDA memory.
    CudaOperand(crate::backend::cuda::gemm::DevOperand),
    /// f32 or bf16 values in CUDA memory.
    CudaValues(crate::backend::cuda::compare::DevValues),
    /// A quantized operand kept by the SIMT executor (in host memory: the executor's kernels read it there).
    SimtOperand(Quantized),
    /// Values kept by the SIMT executor: the stored bytes and how kernels/compare.cu reads them.
    SimtValues {
        bytes: Vec<u8>,
        side: crate::backend::compare_abi::Side,
    },
}

/// The blockwise kernel's arguments for `spec` on kept operands of shape `s`, when that kernel computes `spec`
/// bit for bit and the host path would accept the shapes (None: the caller takes the host path, which runs the
/// GEMM elsewhere or reports the shape error as the CPU does).
pub fn kept_blockwise_args(
    spec: &crate::gemm::GemmSpec,
    s: &crate::backend::cuda::gemm::GemmShape,
) -> Option<crate::backend::cuda::gemm::BlockwiseArgs> {
    let whole_blocks =
        s.k > 0 && s.m > 0 && s.n > 0 && s.k % s.a_block.1 == 0 && s.k % s.b_block.1 == 0;
    if !whole_blocks {
        return None;
    }
    crate::backend::cuda::gemm::blockwise_args(spec, s).ok()
}

/// A matrix kept on a device: its shape and the device buffers.
pub struct Resident {
    pub rows: usize,
    pub cols: usize,
    pub data: DeviceData,
}

impl std::fmt::Debug for Resident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match &self.data {
            DeviceData::CudaOperand(_) => "CUDA operand",
            DeviceData::CudaValues(_) => "CUDA values",
            DeviceData::SimtOperand(_) => "simt-cpu operand",
            DeviceData::SimtValues { .. } => "simt-cpu values",
        };
        write!(f, "Resident[{}, {}] ({what})", self.rows, self.cols)
    }
}

/// The device half of a backend: each operation is its host counterpart's, with the data left on the device.
pub trait ResidentOps {
    /// [`crate::backend::Backend::quantize_activation`] (`weight = false`) or `quantize_weight`, kept.
    fn quantize(&self, spec: &QuantSpec, x: &Tensor, weight: bool) -> Result<Resident>;
    /// A host operand copied to the device.
    fn upload_operand(&self, q: &Quantized) -> Result<Resident>;
    /// A host tensor of values copied to the device (None: a dtype the device comparison does not read).
    fn upload_values(&self, t: &Tensor) -> Result<Option<Resident>>;
    /// C = A·Bᵀ by `choice` on kept operands, kept (None: no device kernel computes `choice` on these
    /// operands bit for bit; the caller runs the host path, which says why).
    fn gemm(&self, choice: &GemmChoice, a: &Resident, b: &Resident) -> Result<Option<Resident>>;
    /// [`crate::metrics::compare`] of two kept value matrices, bit for bit.
    fn compare(&self, a: &Resident, b: &Resident) -> Result<Comparison>;
    /// The host copy of a kept operand.
    fn download_operand(&self, r: &Resident) -> Result<Quantized>;
    /// The host copy of kept values: the tensor `name` in the dtype it stands for, shape [rows, cols].
    fn download_values(&self, r: &Resident, name: &str) -> Result<Tensor>;
}
