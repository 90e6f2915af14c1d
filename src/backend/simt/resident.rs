//! [`ResidentOps`] on the SIMT executor: the device-resident path of `isolate gemm` (docs/kernels.md §12) with
//! the kernel sources run on the CPU — kernels/quant.cu, kernels/gemm_blockwise.cu and kernels/compare.cu —
//! so that path runs, and is tested against the CPU's bytes, on a machine without a GPU. "Kept" data is in
//! host memory here (where the executor's kernels read it); each kernel launch takes its own copy.

use crate::backend::compare_abi::{kept_layout, Side};
use crate::backend::cuda::gemm::GemmShape;
use crate::backend::resident::{kept_blockwise_args, DeviceData, Resident, ResidentOps};
use crate::backend::simt::{kernels, Mode, SimtBackend};
use crate::error::{Error, Result};
use crate::gemm::{GemmChoice, GemmOutput, OutType};
use crate::io::Tensor;
use crate::metrics::Comparison;
use crate::quant::{QuantSpec, Quantized};

fn kept_operand(q: Quantized) -> Resident {
    Resident {
        rows: q.rows,
        cols: q.cols,
        data: DeviceData::SimtOperand(q),
    }
}

fn kept_values(rows: usize, cols: usize, bytes: Vec<u8>, side: Side) -> Resident {
    Resident {
        rows,
        cols,
        data: DeviceData::SimtValues { bytes, side },
    }
}

fn operand(r: &Resident) -> Result<&Quantized> {
    match &r.data {
        DeviceData::SimtOperand(q) => Ok(q),
        _ => Err(Error::Gpu(format!("{r:?} is not a simt-cpu operand"))),
    }
}

fn values(r: &Resident) -> Result<(&[u8], Side)> {
    match &r.data {
        DeviceData::SimtValues { bytes, side } => Ok((bytes, *side)),
        _ => Err(Error::Gpu(format!("{r:?} is not simt-cpu values"))),
    }
}

impl ResidentOps for SimtBackend {
    fn quantize(&self, spec: &QuantSpec, x: &Tensor, weight: bool) -> Result<Resident> {
        Ok(kept_operand(kernels::quantize(
            self.module("quant")?,
            self.warp,
            spec,
            x,
            weight,
        )?))
    }

    fn upload_operand(&self, q: &Quantized) -> Result<Resident> {
        Ok(kept_operand(q.clone()))
    }

    fn upload_values(&self, t: &Tensor) -> Result<Option<Resident>> {
        let Some((side, rows, cols)) = kept_layout(t) else {
            return Ok(None);
        };
        Ok(Some(kept_values(rows, cols, t.bytes().to_vec(), side)))
    }

    fn gemm(&self, choice: &GemmChoice, a: &Resident, b: &Resident) -> Result<Option<Resident>> {
        let GemmChoice::Emulation(spec) = choice else {
            return Ok(None);
        };
        let (qa, qb) = (operand(a)?, operand(b)?);
        if qa.cols != qb.cols {
            return Ok(None);
        }
        let Some(args) = kept_blockwise_args(spec, &GemmShape::of(qa, qb)) else {
            return Ok(None);
        };
        let c = kernels::gemm(
            self.module("gemm_blockwise")?,
            kernels::GemmKernel::Blockwise,
            self.warp,
            qa,
            qb,
            &args,
        )?;
        let side = match spec.out {
            OutType::F32 => Side::F32,
            OutType::Bf16 => Side::F32AsBf16,
        };
        let bytes = c.iter().flat_map(|v| v.to_le_bytes()).collect();
        Ok(Some(kept_values(qa.rows, qb.rows, bytes, side)))
    }

    fn compare(&self, a: &Resident, b: &Resident) -> Result<Comparison> {
        let ((xa, sa), (xb, sb)) = (values(a)?, values(b)?);
        let n = a.rows * a.cols;
        if b.rows * b.cols != n {
            return Err(Error::BadTensor(format!(
                "cannot compare [{}, {}] with [{}, {}]: element counts differ",
                a.rows, a.cols, b.rows, b.cols
            )));
        }
        // The comparison has no warp-level code: one build (CUDA's, 32 lanes) serves every mode.
        let m = crate::backend::simt::builtin("compare", Mode::Cuda)?;
        kernels::compare(m, 32, xa, xb, (sa, sb), n, &[a.rows, a.cols])
    }

    fn download_operand(&self, r: &Resident) -> Result<Quantized> {
        Ok(operand(r)?.clone())
    }

    fn download_values(&self, r: &Resident, name: &str) -> Result<Tensor> {
        let (bytes, side) = values(r)?;
        match side {
            Side::F32 | Side::F32AsBf16 => GemmOutput {
                rows: r.rows,
                cols: r.cols,
                values: bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
                out: if side == Side::F32 {
                    OutType::F32
                } else {
                    OutType::Bf16
                },
            }
            .to_tensor(name),
            Side::Bf16 => Tensor::new(name, side.dtype(), vec![r.rows, r.cols], bytes.to_vec()),
        }
    }
}
