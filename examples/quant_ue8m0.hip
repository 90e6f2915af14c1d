// Example HIP user kernel for `isolate quant --candidate kernel:examples/quant_ue8m0.hip --backend simt-cpu`: the
// 1×128 UE8M0 activation quantizer of examples/quant_ue8m0.cu written for CDNA (MI300 / MI350): wavefronts of 64
// lanes (2 elements per lane, maskless `__shfl_xor`), and a software e4m3fn conversion (round to nearest even,
// saturating to ±448) instead of the hardware one, whose saturation nobody here has checked on a device.
// Meant to be byte-equal to the `deepgemm-ue8m0` preset on finite input. Run by the SIMT CPU executor at
// wavefront 64; it has not run on AMD hardware.
//
// isolate's quant kernel ABI v1 (src/backend/cuda/user.rs):
//   x [M, K] (x_dtype 0 = f32, 1 = bf16, 2 = f16), q [M, K] FP8 e4m3fn codes, s [M, ceil(K/group)] f32 scales;
//   row strides ldx, ldq, lds in elements; launched with 256 threads per block: write grid-stride loops.
// This kernel handles bf16 input and group = 128 only (one wavefront per group).
#include <hip/hip_runtime.h>
#include <hip/hip_bf16.h>

// |v| ≤ 448 after scaling; NaN → 0x7f; ±inf and |v| ≥ 448 saturate to ±448 (0x7e / 0xfe).
__device__ unsigned char f32_to_e4m3fn_satfinite(float v) {
    const unsigned sign = (__float_as_uint(v) >> 24) & 0x80u;
    const float a = fabsf(v);
    if (a != a) return (unsigned char)(sign | 0x7fu);
    if (a >= 448.0f) return (unsigned char)(sign | 0x7eu);
    unsigned code;
    if (a >= 0.015625f) {  // normal: keep 3 of the 23 mantissa bits, ties to even, and re-bias 127 → 7
        const unsigned b = __float_as_uint(a);
        code = ((b + 0x7ffffu + ((b >> 20) & 1u)) >> 20) - (120u << 3);
    } else {  // subnormal: multiples of 2^-9 (a·512 is exact), ties to even; 8 is the smallest normal
        code = (unsigned)rintf(a * 512.0f);
    }
    return (unsigned char)(sign | code);
}

extern "C" __global__ void quant_ue8m0(const void* x, int x_dtype, unsigned char* q, float* s, long long M,
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
        float amax = 0.0f;
        for (int i = 0; i < 2; i++) {
            v[i] = __bfloat162float(xb[row * ldx + col + i]);
            amax = fmaxf(amax, fabsf(v[i]));
        }
        for (int o = 32; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor(amax, o));
        amax = fmaxf(amax, 1e-4f);
        // DeepGEMM: sf = ceil_to_ue8m0(amax / 448) with torch's `/ 448.0` (a multiply by fl32(1/448)).
        const float sf_raw = amax * (1.0f / 448.0f);
        const unsigned bits = __float_as_uint(sf_raw);
        unsigned code = (bits >> 23) + ((bits & 0x7fffff) != 0);
        code = min(max(code, 1u), 254u);
        const float sf = __uint_as_float(code << 23);
        const float inv = 1.0f / sf;
        for (int i = 0; i < 2; i++) q[row * ldq + col + i] = f32_to_e4m3fn_satfinite(v[i] * inv);
        if (lane == 0) s[row * lds + col / 128] = sf;
    }
}
