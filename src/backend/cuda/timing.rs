//! Timing on the device: CUDA events around each repetition after a warm-up, the median of many; and the
//! ceilings every figure is quoted against (device-to-device copy bandwidth, FP32 FMA and FP64 MMA rates),
//! measured on the card in the same run.

use cudarc::driver::sys::CUevent_flags;
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use crate::backend::cuda::{gpu_err, CudaBackend};
use crate::error::Result;

/// Milliseconds of the repetitions of one timed region.
#[derive(Clone, Debug)]
pub struct Timing {
    pub ms: Vec<f64>,
}

impl Timing {
    /// The median.
    pub fn median(&self) -> f64 {
        let mut v = self.ms.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        if n == 0 {
            f64::NAN
        } else if n % 2 == 1 {
            v[n / 2]
        } else {
            0.5 * (v[n / 2 - 1] + v[n / 2])
        }
    }

    /// The fastest repetition.
    pub fn min(&self) -> f64 {
        self.ms.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

/// Runs `f(i)` `warmup` times untimed, then `reps` times between two events each, all queued before one
/// synchronization, so that the host's launch work overlaps the previous repetition and each pair of events
/// brackets only the device work; `i` counts every call (use it to rotate input buffers).
pub fn time(
    be: &CudaBackend,
    warmup: usize,
    reps: usize,
    mut f: impl FnMut(usize) -> Result<()>,
) -> Result<Timing> {
    let ev = || {
        be.ctx
            .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
            .map_err(|e| gpu_err("event", e))
    };
    for i in 0..warmup {
        f(i)?;
    }
    be.sync("warm-up")?;
    let mut pairs = Vec::with_capacity(reps);
    for i in 0..reps {
        let (start, end) = (ev()?, ev()?);
        start.record(&be.stream).map_err(|e| gpu_err("event", e))?;
        f(warmup + i)?;
        end.record(&be.stream).map_err(|e| gpu_err("event", e))?;
        pairs.push((start, end));
    }
    be.sync("timed region")?;
    let ms = pairs
        .iter()
        .map(|(s, e)| {
            s.elapsed_ms(e)
                .map(|v| v as f64)
                .map_err(|e| gpu_err("timed region", e))
        })
        .collect::<Result<_>>()?;
    Ok(Timing { ms })
}

/// [`time`] with the stream synchronized after every repetition (the method of quant v1–v4,
/// docs/kernels.md §3.5): each figure then also holds the host's launch work done after the start event
/// (the device idles meanwhile).
pub fn time_synced(
    be: &CudaBackend,
    warmup: usize,
    reps: usize,
    mut f: impl FnMut(usize) -> Result<()>,
) -> Result<Timing> {
    let ev = |_| {
        be.ctx
            .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
            .map_err(|e| gpu_err("event", e))
    };
    let (start, end) = (ev(())?, ev(())?);
    for i in 0..warmup {
        f(i)?;
    }
    be.sync("warm-up")?;
    let mut ms = Vec::with_capacity(reps);
    for i in 0..reps {
        start.record(&be.stream).map_err(|e| gpu_err("event", e))?;
        f(warmup + i)?;
        end.record(&be.stream).map_err(|e| gpu_err("event", e))?;
        ms.push(
            start
                .elapsed_ms(&end)
                .map_err(|e| gpu_err("timed region", e))? as f64,
        );
    }
    Ok(Timing { ms })
}

/// Device-to-device copy bandwidth in bytes/s (bytes read + bytes written), with `bytes`-sized buffers, timed
/// by [`time`] (`synced`: by [`time_synced`]).
pub fn copy_bandwidth(be: &CudaBackend, bytes: usize, synced: bool) -> Result<f64> {
    let s = &be.stream;
    let src = s
        .alloc_zeros::<u8>(bytes)
        .map_err(|e| gpu_err("alloc", e))?;
    let mut dst = s
        .alloc_zeros::<u8>(bytes)
        .map_err(|e| gpu_err("alloc", e))?;
    let f = |_| {
        s.memcpy_dtod(&src, &mut dst)
            .map_err(|e| gpu_err("copy", e))
    };
    let t = if synced {
        time_synced(be, 3, 20, f)?
    } else {
        time(be, 3, 20, f)?
    };
    Ok(2.0 * bytes as f64 / (t.median() * 1e-3))
}

/// FP32 FMA rate in FLOP/s (2 per FMA) and FP64 tensor-core (DMMA) rate in FLOP/s, measured.
pub fn compute_peaks(be: &CudaBackend) -> Result<(f64, f64)> {
    let s = &be.stream;
    let blocks = be.info.sms * 8;
    let threads = 256u32;
    let cfg = LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: 0,
    };
    let mut out32: CudaSlice<f32> = s.alloc_zeros(256).map_err(|e| gpu_err("alloc", e))?;
    let f = be.function("bench", "ffma_peak")?;
    let iters = 4096i32;
    let (a, b) = (0.999_f32, 1e-3_f32);
    let t = time(be, 2, 10, |_| {
        let mut l = s.launch_builder(&f);
        l.arg(&mut out32).arg(&iters).arg(&a).arg(&b);
        // SAFETY: writes at most 256 floats.
        unsafe { l.launch(cfg) }
            .map(|_| ())
            .map_err(|e| gpu_err("ffma_peak", e))
    })?;
    let fp32 = 2.0 * 8.0 * iters as f64 * (blocks * threads) as f64 / (t.median() * 1e-3);
    let mut out64: CudaSlice<f64> = s.alloc_zeros(256).map_err(|e| gpu_err("alloc", e))?;
    let g = be.function("bench", "dmma_peak")?;
    let iters64 = 1024i32;
    let (da, db) = (0.999_f64, 1e-3_f64);
    let t = time(be, 2, 10, |_| {
        let mut l = s.launch_builder(&g);
        l.arg(&mut out64).arg(&iters64).arg(&da).arg(&db);
        // SAFETY: writes at most 256 doubles.
        unsafe { l.launch(cfg) }
            .map(|_| ())
            .map_err(|e| gpu_err("dmma_peak", e))
    })?;
    // Each m8n8k4 is 256 FMA per warp: 512 FLOP.
    let warps = (blocks * threads / 32) as f64;
    let fp64 = 512.0 * 4.0 * iters64 as f64 * warps / (t.median() * 1e-3);
    Ok((fp32, fp64))
}
