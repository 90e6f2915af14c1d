//! [`ResidentOps`] on CUDA: `isolate gemm`'s operands quantized into GPU memory and kept there, its
//! block-exact GEMMs run on them by the blockwise kernel, and its comparisons done by kernels/compare.cu —
//! each bit for bit its host counterpart (docs/kernels.md §12). GEMMs the blockwise kernel does not compute
//! (`tc`, `cublaslt`, user kernels, CPU-only emulations) answer None: the caller takes the host path.

use cudarc::driver::DevicePtr;

use crate::backend::compare_abi::{kept_layout, Side};
use crate::backend::cuda::compare::{self, DevValues, Storage};
use crate::backend::cuda::gemm::{blockwise_into, DevOperand, GemmShape};
use crate::backend::cuda::quant::{quantize_on_device, DeviceQuant};
use crate::backend::cuda::{gpu_err, CudaBackend};
use crate::backend::resident::{kept_blockwise_args, DeviceData, Resident, ResidentOps};
use crate::error::{Error, Result};
use crate::gemm::{GemmChoice, GemmOutput, OutType};
use crate::io::Tensor;
use crate::metrics::Comparison;
use crate::quant::{QuantSpec, Quantized};

fn kept_operand(d: DevOperand) -> Resident {
    Resident {
        rows: d.rows,
        cols: d.cols,
        data: DeviceData::CudaOperand(d),
    }
}

fn kept_values(v: DevValues) -> Resident {
    Resident {
        rows: v.rows,
        cols: v.cols,
        data: DeviceData::CudaValues(v),
    }
}

fn operand(r: &Resident) -> Result<&DevOperand> {
    match &r.data {
        DeviceData::CudaOperand(d) => Ok(d),
        _ => Err(Error::Gpu(format!("{r:?} is not a CUDA operand"))),
    }
}

fn values(r: &Resident) -> Result<&DevValues> {
    match &r.data {
        DeviceData::CudaValues(v) => Ok(v),
        _ => Err(Error::Gpu(format!("{r:?} is not CUDA values"))),
    }
}

impl ResidentOps for CudaBackend {
    fn quantize(&self, spec: &QuantSpec, x: &Tensor, weight: bool) -> Result<Resident> {
        match quantize_on_device(self, spec, x, weight)? {
            DeviceQuant::Empty(q) => self.upload_operand(&q),
            DeviceQuant::Buffers(b) => {
                // The GEMM kernels take f32 scales: the kernel wrote them as f32 bytes.
                let (gr, gc) = b.grid();
                let s = &self.stream;
                let mut scales = s
                    .alloc_zeros::<f32>((gr * gc).max(1))
                    .map_err(|e| gpu_err("alloc", e))?;
                {
                    use cudarc::driver::DevicePtrMut;
                    let (src, _r) = b.s.device_ptr(s);
                    let (dst, _w) = scales.device_ptr_mut(s);
                    // SAFETY: both buffers hold at least gr·gc·4 bytes; the copy is ordered on the one stream.
                    unsafe {
                        cudarc::driver::result::memcpy_dtod_async(
                            dst,
                            src,
                            gr * gc * 4,
                            s.cu_stream(),
                        )
                    }
                    .map_err(|e| gpu_err("copy scales", e))?;
                }
                Ok(kept_operand(DevOperand {
                    rows: b.rows,
                    cols: b.cols,
                    fmt: spec.fp8,
                    block_rows: b.br,
                    block_cols: b.bc,
                    q: b.q,
                    scales,
                }))
            }
        }
    }

    fn upload_operand(&self, q: &Quantized) -> Result<Resident> {
        Ok(kept_operand(DevOperand::upload(self, q)?))
    }

    fn upload_values(&self, t: &Tensor) -> Result<Option<Resident>> {
        let Some((side, rows, cols)) = kept_layout(t) else {
            return Ok(None);
        };
        let bytes = self
            .stream
            .clone_htod(t.bytes())
            .map_err(|e| gpu_err("copy to GPU", e))?;
        Ok(Some(kept_values(DevValues {
            rows,
            cols,
            side,
            storage: Storage::Bytes(bytes),
        })))
    }

    fn gemm(&self, choice: &GemmChoice, a: &Resident, b: &Resident) -> Result<Option<Resident>> {
        let GemmChoice::Emulation(spec) = choice else {
            return Ok(None);
        };
        let (da, db) = (operand(a)?, operand(b)?);
        if da.cols != db.cols {
            return Ok(None);
        }
        let shape = GemmShape::of_dev(da, db);
        let Some(args) = kept_blockwise_args(spec, &shape) else {
            return Ok(None);
        };
        let mut c = self
            .stream
            .alloc_zeros::<f32>(shape.m * shape.n)
            .map_err(|e| gpu_err("alloc", e))?;
        blockwise_into(self, da, db, &args, &mut c)?;
        let side = match spec.out {
            OutType::F32 => Side::F32,
            OutType::Bf16 => Side::F32AsBf16,
        };
        Ok(Some(kept_values(DevValues {
            rows: shape.m,
            cols: shape.n,
            side,
            storage: Storage::F32(c),
        })))
    }

    fn compare(&self, a: &Resident, b: &Resident) -> Result<Comparison> {
        compare::compare(self, values(a)?, values(b)?)
    }

    fn download_operand(&self, r: &Resident) -> Result<Quantized> {
        let d = operand(r)?;
        let s = &self.stream;
        let e = |e| gpu_err("copy from GPU", e);
        let mut q = s.clone_dtoh(&d.q).map_err(e)?;
        q.truncate(d.rows * d.cols);
        let (gr, gc) = (
            d.rows.div_ceil(d.block_rows.max(1)),
            d.cols.div_ceil(d.block_cols.max(1)),
        );
        let mut scales = s.clone_dtoh(&d.scales).map_err(e)?;
        scales.truncate(gr * gc);
        Ok(Quantized {
            rows: d.rows,
            cols: d.cols,
            fmt: d.fmt,
            q,
            block_rows: d.block_rows,
            block_cols: d.block_cols,
            scales,
        })
    }

    fn download_values(&self, r: &Resident, name: &str) -> Result<Tensor> {
        let v = values(r)?;
        let s = &self.stream;
        let e = |e| gpu_err("copy from GPU", e);
        match (&v.storage, v.side) {
            (Storage::F32(c), side) => {
                let mut values = s.clone_dtoh(c).map_err(e)?;
                values.truncate(v.len());
                let out = if side == Side::F32 {
                    OutType::F32
                } else {
                    OutType::Bf16
                };
                GemmOutput {
                    rows: v.rows,
                    cols: v.cols,
                    values,
                    out,
                }
                .to_tensor(name)
            }
            (Storage::Bytes(b), side) => {
                let bytes = s.clone_dtoh(b).map_err(e)?;
                Tensor::new(name, side.dtype(), vec![v.rows, v.cols], bytes)
            }
        }
    }
}
