// Ceilings measured on the card itself for `isolate bench`: the FP32 FMA rate (8 independent FMA chains per
// thread) and the FP64 tensor-core rate (DMMA m8n8k4, what the blockwise GEMM runs on).
#include "common.cuh"

extern "C" __global__ void ffma_peak(float* out, int iters, float a, float b) {
    float x[8];
#pragma unroll
    for (int i = 0; i < 8; i++) x[i] = (float)(threadIdx.x + i);
    for (int it = 0; it < iters; it++) {
#pragma unroll
        for (int i = 0; i < 8; i++) x[i] = fmaf(x[i], a, b);
    }
    float s = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; i++) s += x[i];
    if (s == 12345.678f) out[threadIdx.x] = s;  // never true; keeps the chains alive
}

extern "C" __global__ void dmma_peak(double* out, int iters, double a, double b) {
    double c[4][2];
#pragma unroll
    for (int i = 0; i < 4; i++) c[i][0] = c[i][1] = (double)threadIdx.x;
    for (int it = 0; it < iters; it++) {
#pragma unroll
        for (int i = 0; i < 4; i++)
            asm volatile("mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64 {%0,%1}, {%2}, {%3}, {%0,%1};"
                         : "+d"(c[i][0]), "+d"(c[i][1])
                         : "d"(a), "d"(b));
    }
    double s = 0.0;
#pragma unroll
    for (int i = 0; i < 4; i++) s += c[i][0] + c[i][1];
    if (s == 12345.678) out[threadIdx.x] = s;
}

// Traffic ceilings for `bench quant`: the 1×128 quantizer's exact bytes (16 bytes of bf16 in, 8 bytes of codes
// and every 16th thread a 4-byte scale out) without its arithmetic, and a plain 16-byte copy, both grid-stride
// like the quantizer.
extern "C" __global__ void __launch_bounds__(256) stream_r2w1(const uint4* x, uint2* q, float* s, long long n16) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long c = blockIdx.x * (long long)blockDim.x + threadIdx.x; c < n16; c += stride) {
        const uint4 v = x[c];
        const u32 lo = __byte_perm(v.x, v.y, 0x7531), hi = __byte_perm(v.z, v.w, 0x7531);
        q[c] = make_uint2(lo, hi);
        if ((threadIdx.x & 15) == 0) s[c / 16] = __uint_as_float(lo);
    }
}

extern "C" __global__ void __launch_bounds__(256) stream_copy16(const uint4* x, uint4* y, long long n16) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long c = blockIdx.x * (long long)blockDim.x + threadIdx.x; c < n16; c += stride) y[c] = x[c];
}

// Read-only: every input byte read once, one word per thread written.
extern "C" __global__ void __launch_bounds__(256) stream_read16(const uint4* x, u32* out, long long n16) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    u32 acc = 0;
    for (long long c = blockIdx.x * (long long)blockDim.x + threadIdx.x; c < n16; c += stride) {
        const uint4 v = x[c];
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    out[blockIdx.x * (long long)blockDim.x + threadIdx.x] = acc;
}
