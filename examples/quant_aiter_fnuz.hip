// Example HIP user kernel written against ROCm's hip_fp8.h: aiter's dynamic 1×128 per-group quantizer for MI300
// (gfx942: e4m3fnuz, max 240), with the conversion done by `__hip_fp8_e4m3_fnuz` (round to nearest even,
// saturating to ±240). Meant to be byte-equal to the `aiter-fnuz` preset on finite input:
//   isolate quant --input X --reference aiter-fnuz --candidate kernel:examples/quant_aiter_fnuz.hip --backend simt-cpu
// Run by the SIMT CPU executor at wavefront 64 (whose hip_fp8.h follows ROCm's software conversion); it has not
// run on AMD hardware.
//
// isolate's quant kernel ABI v1 (src/backend/cuda/user.rs):
//   x [M, K] (x_dtype 0 = f32, 1 = bf16, 2 = f16), q [M, K] FP8 codes, s [M, ceil(K/group)] f32 scales;
//   row strides ldx, ldq, lds in elements; launched with 256 threads per block: write grid-stride loops.
// This kernel handles bf16 input and group = 128 only (one wavefront per group, 2 elements per lane).
#include <hip/hip_runtime.h>
#include <hip/hip_bf16.h>
#include <hip/hip_fp8.h>

extern "C" __global__ void quant_aiter_fnuz(const void* x, int x_dtype, unsigned char* q, float* s, long long M,
                                            long long K, int group, long long ldx, long long ldq, long long lds) {
    if (x_dtype != 1 || group != 128 || warpSize != 64) return;  // not this kernel's case: outputs stay unwritten
    const int lane = threadIdx.x & 63;
    const long long groups_per_row = K / 128;
    const long long total = M * groups_per_row;
    const long long waves = (long long)gridDim.x * (blockDim.x / 64);
    const __hip_bfloat16* xb = (const __hip_bfloat16*)x;
    for (long long g = blockIdx.x * (long long)(blockDim.x / 64) + threadIdx.x / 64; g < total; g += waves) {
        const long long row = g / groups_per_row, col = (g % groups_per_row) * 128 + lane * 2;
        float v[2];
        float amax = 1e-10f;  // aiter starts its absMax here
        for (int i = 0; i < 2; i++) {
            v[i] = __bfloat162float(xb[row * ldx + col + i]);
            amax = fmaxf(amax, fabsf(v[i]));
        }
        for (int o = 32; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor(amax, o));
        const float scale = amax * (float)(1.0 / 240.0);
        const float inv = 1.0f / scale;
        for (int i = 0; i < 2; i++) {
            const float t = fminf(fmaxf(v[i] * inv, -240.0f), 240.0f);
            const __hip_fp8_e4m3_fnuz f8(t);
            q[row * ldq + col + i] = f8.__x;
        }
        if (lane == 0) s[row * lds + col / 128] = scale;
    }
}
