//! Launches of kernels/compare.cu: [`crate::metrics::compare`] of two matrices kept on the GPU, bit for bit
//! (the host merges the per-chunk sums in the CPU's order: src/backend/compare_abi.rs; docs/kernels.md §12).

use cudarc::driver::{CudaSlice, DevicePtr, DevicePtrMut, DeviceRepr, LaunchConfig, PushKernelArg};

use crate::backend::compare_abi::{self, CompareParams, Side};
use crate::backend::cuda::{gpu_err, CudaBackend};
use crate::error::{Error, Result};
use crate::metrics::Comparison;

// SAFETY: plain old data with the C layout the kernel declares (checked in compare_abi).
unsafe impl DeviceRepr for CompareParams {}

/// A matrix of values on the GPU: f32 (a GEMM output, read as f32 or as its bf16 tensor) or bf16 storage.
pub struct DevValues {
    pub rows: usize,
    pub cols: usize,
    pub side: Side,
    pub storage: Storage,
}

/// The buffer behind [`DevValues`].
pub enum Storage {
    F32(CudaSlice<f32>),
    Bytes(CudaSlice<u8>),
}

impl DevValues {
    /// Elements.
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn ptr(&self, be: &CudaBackend) -> u64 {
        match &self.storage {
            Storage::F32(s) => s.device_ptr(&be.stream).0,
            Storage::Bytes(s) => s.device_ptr(&be.stream).0,
        }
    }
    /// The bytes of element `i` as stored.
    fn element(&self, be: &CudaBackend, i: usize) -> Result<Vec<u8>> {
        let s = &be.stream;
        let e = |e| gpu_err("compare: copy from GPU", e);
        Ok(match &self.storage {
            Storage::F32(v) => s.clone_dtoh(&v.slice(i..i + 1)).map_err(e)?[0]
                .to_le_bytes()
                .to_vec(),
            Storage::Bytes(v) => {
                let w = self.side.storage_bytes();
                s.clone_dtoh(&v.slice(i * w..(i + 1) * w)).map_err(e)?
            }
        })
    }
}

/// [`crate::metrics::compare`] of `a` (the candidate) with `b` (the reference), on the GPU.
pub fn compare(be: &CudaBackend, a: &DevValues, b: &DevValues) -> Result<Comparison> {
    let n = a.len();
    if b.len() != n {
        return Err(Error::BadTensor(format!(
            "cannot compare [{}, {}] with [{}, {}]: element counts differ",
            a.rows, a.cols, b.rows, b.cols
        )));
    }
    let s = &be.stream;
    let al = |e| gpu_err("compare: alloc", e);
    let nchunks = compare_abi::chunks(n);
    let mut sums = s
        .alloc_zeros::<f64>((nchunks * compare_abi::SUMS_PER_CHUNK).max(1))
        .map_err(al)?;
    let mut stats = s.clone_htod(&compare_abi::stats_init()).map_err(al)?;
    if n > 0 {
        let p = CompareParams::new(
            [
                a.ptr(be),
                b.ptr(be),
                sums.device_ptr_mut(s).0,
                stats.device_ptr_mut(s).0,
            ],
            n,
            a.side,
            b.side,
        );
        let launch = |name: &str, cfg: LaunchConfig| -> Result<()> {
            let f = be.function("compare", name)?;
            let mut l = s.launch_builder(&f);
            l.arg(&p);
            // SAFETY: the pointers are live device buffers of the sizes the parameters describe.
            unsafe { l.launch(cfg) }.map_err(|e| gpu_err(name, e))?;
            Ok(())
        };
        launch(
            "compare_sums",
            LaunchConfig {
                grid_dim: ((nchunks * 4).div_ceil(128) as u32, 1, 1),
                block_dim: (128, 1, 1),
                shared_mem_bytes: 0,
            },
        )?;
        let blocks = n.div_ceil(256).clamp(1, be.info.sms as usize * 4) as u32;
        let wave = LaunchConfig {
            grid_dim: (blocks, 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        launch("compare_stats", wave)?;
        launch("compare_first_max", wave)?;
    }
    let e = |e| gpu_err("compare: copy from GPU", e);
    let sums = s.clone_dtoh(&sums).map_err(e)?;
    let stats = s.clone_dtoh(&stats).map_err(e)?;
    let at = match compare_abi::max_index(&stats, n) {
        Some(i) => Some((
            compare_abi::stored_value(a.side, &a.element(be, i)?),
            compare_abi::stored_value(b.side, &b.element(be, i)?),
        )),
        None => None,
    };
    compare_abi::comparison_of_results(&sums, &stats, n, (a.side, b.side), &[a.rows, a.cols], at)
}

/// [`compare`] of `n` elements stored as `a` and `b` (the bytes of sides `sides`), uploaded first; `shape`
/// [rows, cols] (the selftest's entry).
pub fn compare_bytes(
    be: &CudaBackend,
    a: &[u8],
    b: &[u8],
    sides: (Side, Side),
    n: usize,
    shape: &[usize],
) -> Result<Comparison> {
    let (rows, cols) = match shape {
        [r, c] if r * c == n => (*r, *c),
        _ => (1, n),
    };
    let up = |x: &[u8], side: Side| -> Result<DevValues> {
        let w = side.storage_bytes();
        if x.len() < n * w {
            return Err(Error::Gpu("compare: input buffer too small".into()));
        }
        Ok(DevValues {
            rows,
            cols,
            side,
            storage: Storage::Bytes(
                be.stream
                    .clone_htod(&x[..(n * w).max(1).min(x.len())])
                    .map_err(|e| gpu_err("copy to GPU", e))?,
            ),
        })
    };
    compare(be, &up(a, sides.0)?, &up(b, sides.1)?)
}
