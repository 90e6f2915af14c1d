// A deliberately WRONG copy of examples/quant_ue8m0.cu: the UE8M0 scale is rounded down (floor) instead of up
// (DeepGEMM's ceil), so nearly every group gets a scale 2× too small and codes that saturate. `isolate quant
// --reference deepgemm-ue8m0 --candidate kernel:examples/quant_floor_wrong.cu` must catch it (exit 1).
//
// isolate's quant kernel ABI v1 (src/backend/cuda/user.rs):
//   x [M, K] (x_dtype 0 = f32, 1 = bf16, 2 = f16), q [M, K] FP8 e4m3fn codes, s [M, ceil(K/group)] f32 scales;
//   row strides ldx, ldq, lds in elements; launched with 256 threads per block, 8 blocks per SM.
// This kernel handles bf16 input and group = 128 only (one warp per group, 4 elements per lane).
#include <cuda_bf16.h>
#include <cuda_fp8.h>

extern "C" __global__ void quant_ue8m0(const void* x, int x_dtype, unsigned char* q, float* s, long long M,
                                       long long K, int group, long long ldx, long long ldq, long long lds) {
    if (x_dtype != 1 || group != 128) return;  // not this kernel's case: outputs stay unwritten (a mismatch)
    const int lane = threadIdx.x & 31;
    const long long groups_per_row = K / 128;
    const long long total = M * groups_per_row;
    const long long warps = (long long)gridDim.x * (blockDim.x / 32);
    const __nv_bfloat16* xb = (const __nv_bfloat16*)x;
    for (long long g = blockIdx.x * (long long)(blockDim.x / 32) + threadIdx.x / 32; g < total; g += warps) {
        const long long row = g / groups_per_row, col = (g % groups_per_row) * 128 + lane * 4;
        float v[4];
        float amax = 0.0f;
        for (int i = 0; i < 4; i++) {
            v[i] = __bfloat162float(xb[row * ldx + col + i]);
            amax = fmaxf(amax, fabsf(v[i]));
        }
        for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
        amax = fmaxf(amax, 1e-4f);
        // DeepGEMM: sf = ceil_to_ue8m0(amax / 448) with torch's CUDA `/ 448.0` (a multiply by fl32(1/448)).
        const float sf_raw = amax * (1.0f / 448.0f);
        const unsigned bits = __float_as_uint(sf_raw);
        unsigned code = (bits >> 23);  // BUG: floor; DeepGEMM rounds up
        code = min(max(code, 1u), 254u);
        const float sf = __uint_as_float(code << 23);
        const float inv = 1.0f / sf;
        for (int i = 0; i < 4; i++) {
            __nv_fp8_storage_t c = __nv_cvt_float_to_fp8(v[i] * inv, __NV_SATFINITE, __NV_E4M3);
            q[row * ldq + col + i] = (unsigned char)c;
        }
        if (lane == 0) s[row * lds + col / 128] = sf;
    }
}
