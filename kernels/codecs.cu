// isolate-hip: gfx942 gfx950 (also compiled for AMD by build.rs; run on the CPU executor by src/backend/simt)
// Element-wise codec kernels: E8M0 encode/decode (every rounding mode) and FP8 encode/decode (every format and
// overflow policy). Twins of src/formats/{e8m0,fp8}.rs; grid-stride loops, one element per thread step.
#include "common.cuh"

extern "C" __global__ void e8m0_encode(const float* __restrict__ x, u8* __restrict__ out, u64 n, int mode) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x)
        out[i] = iso_e8m0_encode(x[i], mode);
}

extern "C" __global__ void e8m0_decode(const u8* __restrict__ c, float* __restrict__ out, u64 n) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x)
        out[i] = iso_e8m0_decode(c[i]);
}

extern "C" __global__ void fp8_encode(const float* __restrict__ x, u8* __restrict__ out, u64 n, int fmt,
                                      int overflow) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x)
        out[i] = iso_fp8_encode(x[i], fmt, overflow);
}

extern "C" __global__ void fp8_decode(const u8* __restrict__ c, float* __restrict__ out, u64 n, int fmt) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x)
        out[i] = iso_fp8_decode(c[i], fmt);
}

// Every f32 bit pattern base + i (i < n), encoded: the exhaustive sweep of `selftest --exhaustive`.
extern "C" __global__ void e8m0_encode_sweep(u32 base, u8* __restrict__ out, u64 n, int mode) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x)
        out[i] = iso_e8m0_encode(iso_float(base + (u32)i), mode);
}

extern "C" __global__ void fp8_encode_sweep(u32 base, u8* __restrict__ out, u64 n, int fmt, int overflow) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x)
        out[i] = iso_fp8_encode(iso_float(base + (u32)i), fmt, overflow);
}
