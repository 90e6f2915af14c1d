//! `--backend hip`: the [`Backend`] trait on an AMD GPU through the HIP runtime loaded at run time
//! ([`super::runtime`]). The code object of each module is the one built for the device's `gcnArchName`
//! ([`super::registry::target_for_arch`]: gfx942 = MI300, gfx950 = MI350). The launches are the SIMT
//! executor's (same kernels, grids and `#[repr(C)]` parameter structs as CUDA's): codecs, the quantizer,
//! the `blockwise` GEMM and, on gfx942, the MFMA GEMM (`cdna3-blockwise`). **Never run on AMD hardware**: no
//! AMD GPU was reachable where it was written (docs/measurements/mi300-placeholder.md has the commands for the
//! first run).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::backend::cuda::abi::{fmt_id, overflow_id, round_id};
use crate::backend::cuda::gemm::{BlockwiseParams, GemmShape};
use crate::backend::hip::registry::{code_object, target_for_arch};
use crate::backend::hip::runtime::{DeviceBuffer, Hip, HipModule};
use crate::backend::simt::kernels::{gemm_kernel_for, kernel_for, GemmKernel, QuantParams};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::formats::{E8m0Round, Fp8Format, Overflow};
use crate::gemm::{GemmOutput, GemmSpec, GpuGemm, Operand, OutType};
use crate::io::Tensor;
use crate::quant::{QuantSpec, Quantized};

const THREADS: u32 = 256;

/// One AMD GPU (device 0) through HIP.
pub struct HipBackend {
    hip: Hip,
    /// The device's `gcnArchName`.
    pub arch: String,
    /// The embedded target its code objects are built for.
    pub target: &'static str,
    modules: Mutex<HashMap<&'static str, HipModule>>,
    notes: Mutex<Vec<String>>,
}

/// A blob per kernel parameter.
fn ptr(b: &DeviceBuffer) -> Vec<u8> {
    (b.ptr as u64).to_ne_bytes().to_vec()
}

impl HipBackend {
    /// Opens device 0: `Error::NoGpu` (one line) without the runtime, without a device, or for an
    /// architecture this build has no code objects for.
    pub fn new() -> Result<HipBackend> {
        let hip = Hip::load()?;
        hip.set_device(0)?;
        let arch = hip.arch_name(0)?;
        let target = target_for_arch(&arch).ok_or_else(|| {
            Error::NoGpu(format!(
                "the AMD GPU is {arch}; this build has code objects for gfx942 (MI300) and gfx950 (MI350) only"
            ))
        })?;
        Ok(HipBackend {
            hip,
            arch,
            target,
            modules: Mutex::new(HashMap::new()),
            notes: Mutex::new(Vec::new()),
        })
    }

    /// The loaded runtime.
    pub fn hip(&self) -> &Hip {
        &self.hip
    }

    /// Built-in module `name` for this device's target (loaded once).
    pub fn module(&self, name: &'static str) -> Result<HipModule> {
        let mut m = self.modules.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = m.get(name) {
            return Ok(*h);
        }
        let co = code_object(name, self.target).ok_or_else(|| {
            Error::NoGpu(format!(
                "no {} code object of module {name} in this build (built without a HIP compiler?)",
                self.target
            ))
        })?;
        let h = self.hip.load_code_object(co)?;
        m.insert(name, h);
        Ok(h)
    }

    fn launch(
        &self,
        module: &'static str,
        kernel: &str,
        work: usize,
        blobs: &[Vec<u8>],
    ) -> Result<()> {
        let m = self.module(module)?;
        let grid = [work.div_ceil(THREADS as usize).clamp(1, 65535) as u32, 1, 1];
        self.hip
            .launch_blobs(&m, kernel, grid, [THREADS, 1, 1], blobs)
    }

    fn quantize(&self, spec: &QuantSpec, x: &Tensor, weight: bool) -> Result<Quantized> {
        let shape = crate::quant::cpu::DeviceQuantShape::check(spec, x, weight)?;
        if let Some(q) = shape.empty_result(spec) {
            return Ok(q);
        }
        let (rows, cols) = (shape.rows, shape.cols);
        let (gr, gc) = shape.grid();
        let h = &self.hip;
        let dx = h.upload(x.bytes())?;
        let dq = h.upload(&vec![0u8; rows * cols])?;
        let ds = h.upload(&vec![0u8; gr * gc * 4])?;
        let df = h.upload(&[0u8; 4])?;
        let p = QuantParams::for_shape(
            spec,
            &shape,
            x.dtype,
            [dx.ptr as u64, dq.ptr as u64, ds.ptr as u64, df.ptr as u64],
        )?;
        let (name, work) = kernel_for(x.dtype, rows, cols, shape.block_rows, shape.block_cols);
        let m = self.module("quant")?;
        let grid = [work.div_ceil(THREADS as usize).max(1) as u32, 1, 1];
        h.launch_blobs(&m, name, grid, [THREADS, 1, 1], &[p.bytes().to_vec()])?;
        let flags = u32::from_ne_bytes(h.download(&df)?[..4].try_into().unwrap());
        shape.refuse_flagged(spec, x, flags)?;
        Ok(shape.quantized(
            spec,
            h.download(&dq)?,
            crate::backend::simt::f32s(&h.download(&ds)?),
        ))
    }

    fn note(&self, s: String) {
        let mut v = self.notes.lock().unwrap_or_else(|e| e.into_inner());
        if !v.contains(&s) {
            v.push(s);
        }
    }
}

impl Backend for HipBackend {
    fn name(&self) -> &'static str {
        "hip"
    }

    fn describe(&self) -> String {
        format!(
            "AMD GPU {} through {} ({} code objects, {}; never validated on AMD hardware)",
            self.arch,
            self.hip.library,
            self.target,
            crate::backend::hip::registry::BUILT_WITH
        )
    }

    fn e8m0_encode(&self, x: &[f32], round: E8m0Round) -> Result<Vec<u8>> {
        let (dx, out) = (
            self.hip.upload(bytemuck::cast_slice(x))?,
            self.hip.upload(&vec![0; x.len()])?,
        );
        let n = (x.len() as u64).to_ne_bytes().to_vec();
        self.launch(
            "codecs",
            "e8m0_encode",
            x.len(),
            &[
                ptr(&dx),
                ptr(&out),
                n,
                round_id(round).to_ne_bytes().to_vec(),
            ],
        )?;
        Ok(self.hip.download(&out)?[..x.len()].to_vec())
    }

    fn e8m0_decode(&self, codes: &[u8]) -> Result<Vec<f32>> {
        let (dc, out) = (
            self.hip.upload(codes)?,
            self.hip.upload(&vec![0; codes.len() * 4])?,
        );
        let n = (codes.len() as u64).to_ne_bytes().to_vec();
        self.launch(
            "codecs",
            "e8m0_decode",
            codes.len(),
            &[ptr(&dc), ptr(&out), n],
        )?;
        Ok(crate::backend::simt::f32s(
            &self.hip.download(&out)?[..codes.len() * 4],
        ))
    }

    fn fp8_encode(&self, x: &[f32], fmt: Fp8Format, overflow: Overflow) -> Result<Vec<u8>> {
        let (dx, out) = (
            self.hip.upload(bytemuck::cast_slice(x))?,
            self.hip.upload(&vec![0; x.len()])?,
        );
        let n = (x.len() as u64).to_ne_bytes().to_vec();
        let (f, o) = (
            fmt_id(fmt).to_ne_bytes().to_vec(),
            overflow_id(overflow).to_ne_bytes().to_vec(),
        );
        self.launch(
            "codecs",
            "fp8_encode",
            x.len(),
            &[ptr(&dx), ptr(&out), n, f, o],
        )?;
        Ok(self.hip.download(&out)?[..x.len()].to_vec())
    }

    fn fp8_decode(&self, codes: &[u8], fmt: Fp8Format) -> Result<Vec<f32>> {
        let (dc, out) = (
            self.hip.upload(codes)?,
            self.hip.upload(&vec![0; codes.len() * 4])?,
        );
        let n = (codes.len() as u64).to_ne_bytes().to_vec();
        let f = fmt_id(fmt).to_ne_bytes().to_vec();
        self.launch(
            "codecs",
            "fp8_decode",
            codes.len(),
            &[ptr(&dc), ptr(&out), n, f],
        )?;
        Ok(crate::backend::simt::f32s(
            &self.hip.download(&out)?[..codes.len() * 4],
        ))
    }

    fn quantize_activation(&self, spec: &QuantSpec, x: &Tensor) -> Result<Quantized> {
        self.quantize(spec, x, false)
    }

    fn quantize_weight(&self, spec: &QuantSpec, w: &Tensor) -> Result<Quantized> {
        self.quantize(spec, w, true)
    }

    fn gemm(
        &self,
        spec: &GemmSpec,
        a: &Operand,
        b: &Operand,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<GemmOutput> {
        crate::gemm::plan::plan(spec, a, b)?;
        let chosen = gemm_kernel_for(spec, a, b).and_then(|(k, args)| {
            // The fnuz MFMA is gfx942's; gfx950's reads OCP codes, which the cdna3 model does not take.
            if k == GemmKernel::Mfma && self.target != "gfx942" {
                Err(format!(
                    "{} MFMAs read OCP FP8, not the model's fnuz codes",
                    self.target
                ))
            } else {
                Ok((k, args))
            }
        });
        let (kernel, args) = match chosen {
            Ok(k) => k,
            Err(why) => {
                self.note(format!("GEMM `{spec}` runs on the CPU ({why})"));
                return crate::gemm::gemm_with_progress(spec, a, b, progress);
            }
        };
        let (Operand::Quantized(qa), Operand::Quantized(qb)) = (a, b) else {
            unreachable!("checked by gemm_kernel_for")
        };
        let shape = GemmShape::of(qa, qb);
        let h = &self.hip;
        let (da, dsa) = (
            h.upload(&qa.q)?,
            h.upload(bytemuck::cast_slice(&qa.scales))?,
        );
        let (db, dsb) = (
            h.upload(&qb.q)?,
            h.upload(bytemuck::cast_slice(&qb.scales))?,
        );
        let dc = h.upload(&vec![0u8; shape.m * shape.n * 4])?;
        let p = BlockwiseParams::new(
            [
                da.ptr as u64,
                dsa.ptr as u64,
                db.ptr as u64,
                dsb.ptr as u64,
                dc.ptr as u64,
            ],
            &shape,
            &args,
        );
        let (module, entry, grid, block) = match kernel {
            GemmKernel::Blockwise => (
                "gemm_blockwise",
                if args.split_k > 1 {
                    "gemm_blockwise_split"
                } else {
                    "gemm_blockwise"
                },
                [shape.n.div_ceil(64) as u32, shape.m.div_ceil(64) as u32, 1],
                [128, 1, 1],
            ),
            GemmKernel::Mfma => (
                "gemm_mfma",
                "gemm_mfma",
                [shape.n.div_ceil(16) as u32, shape.m.div_ceil(16) as u32, 1],
                [64, 1, 1],
            ),
        };
        let m = self.module(module)?;
        h.launch_blobs(&m, entry, grid, block, &[p.bytes()])?;
        let values = crate::backend::simt::f32s(&h.download(&dc)?[..shape.m * shape.n * 4]);
        progress(1, 1);
        Ok(GemmOutput {
            rows: qa.rows,
            cols: qb.rows,
            values,
            out: spec.out,
        })
    }

    fn gpu_gemm(
        &self,
        g: &GpuGemm,
        _out: OutType,
        _a: &Quantized,
        _b: &Quantized,
    ) -> Result<GemmOutput> {
        Err(crate::backend::gpu_only(
            g,
            "the HIP backend runs the emulated GEMMs only (tc, cublaslt and GEMM user kernels are CUDA's)",
        ))
    }

    fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.notes.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
