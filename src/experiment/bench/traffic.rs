//! Memory-traffic ceilings for `bench quant`, measured in the same run: kernels/bench.cu's `stream_r2w1` (the
//! 1×128 quantizer's exact bytes — 16 in, 8 codes out, a 4-byte scale per 16 threads — with no arithmetic),
//! `stream_copy16` (16-byte copy) and `stream_read16` (read only), each with a one-wave grid-stride grid like
//! the quantizer's and `stream_r2w1` also with one thread per chunk. How close the quantizer comes to
//! `stream_r2w1` separates its arithmetic from what the memory system gives this traffic.

use cudarc::driver::{CudaSlice, PushKernelArg};

use crate::backend::cuda::quant::stream_grid;
use crate::backend::cuda::timing::time;
use crate::backend::cuda::{gpu_err, CudaBackend};
use crate::error::Result;
use crate::experiment::bench::BenchRow;

/// The traffic rows over the two rotating bf16 inputs `xs` (each `bytes_in` bytes), as fractions of `copy`
/// (bytes/s).
pub fn rows(
    be: &CudaBackend,
    xs: &[CudaSlice<u8>; 2],
    bytes_in: usize,
    copy: f64,
    reps: usize,
) -> Result<Vec<BenchRow>> {
    let s = &be.stream;
    let n16 = (bytes_in / 16) as i64;
    let al = |e| gpu_err("alloc", e);
    let mut q = s.alloc_zeros::<u8>(bytes_in / 2).map_err(al)?;
    let mut sc = s
        .alloc_zeros::<f32>((n16 as usize / 16).max(1))
        .map_err(al)?;
    let mut y = s.alloc_zeros::<u8>(bytes_in).map_err(al)?;
    let mut out = Vec::new();
    let mut row = |name: &str, moved: f64, ms: (f64, f64)| {
        let gbs = moved / (ms.0 * 1e-3) / 1e9;
        out.push(BenchRow {
            name: name.into(),
            median_ms: ms.0,
            min_ms: ms.1,
            rate: gbs,
            of_baseline: gbs * 1e9 / copy,
            baseline: "D2D copy".into(),
            check: "traffic ceiling (no arithmetic)".into(),
        });
    };
    let r2w1 = be.function("bench", "stream_r2w1")?;
    for flat in [false, true] {
        let cfg = stream_grid(be, &r2w1, n16 as usize, flat)?;
        let t = time(be, 3, reps, |i| {
            let mut l = s.launch_builder(&r2w1);
            l.arg(&xs[i % 2]).arg(&mut q).arg(&mut sc).arg(&n16);
            // SAFETY: reads n16 16-byte chunks, writes n16 8-byte codes and n16/16 floats: the buffer sizes.
            unsafe { l.launch(cfg) }
                .map(|_| ())
                .map_err(|e| gpu_err("stream_r2w1", e))
        })?;
        let moved = bytes_in as f64 * 1.5 + (n16 / 16 * 4) as f64;
        let name = if flat {
            "stream_r2w1 (quant traffic, one thread per chunk)"
        } else {
            "stream_r2w1 (quant traffic, one wave)"
        };
        row(name, moved, (t.median(), t.min()));
    }
    let copy16 = be.function("bench", "stream_copy16")?;
    let cfg = stream_grid(be, &copy16, n16 as usize, false)?;
    let t = time(be, 3, reps, |i| {
        let mut l = s.launch_builder(&copy16);
        l.arg(&xs[i % 2]).arg(&mut y).arg(&n16);
        // SAFETY: reads and writes n16 16-byte chunks.
        unsafe { l.launch(cfg) }
            .map(|_| ())
            .map_err(|e| gpu_err("stream_copy16", e))
    })?;
    row(
        "stream_copy16 (copy kernel, one wave)",
        2.0 * bytes_in as f64,
        (t.median(), t.min()),
    );
    let read16 = be.function("bench", "stream_read16")?;
    let cfg = stream_grid(be, &read16, n16 as usize, false)?;
    let mut acc = s
        .alloc_zeros::<u32>(cfg.grid_dim.0 as usize * 256)
        .map_err(al)?;
    let t = time(be, 3, reps, |i| {
        let mut l = s.launch_builder(&read16);
        l.arg(&xs[i % 2]).arg(&mut acc).arg(&n16);
        // SAFETY: reads n16 chunks, writes one word per thread of the grid (the size of `acc`).
        unsafe { l.launch(cfg) }
            .map(|_| ())
            .map_err(|e| gpu_err("stream_read16", e))
    })?;
    row(
        "stream_read16 (read only, one wave)",
        bytes_in as f64,
        (t.median(), t.min()),
    );
    Ok(out)
}
