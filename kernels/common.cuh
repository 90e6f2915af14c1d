// Shared device code for isolate's kernels: FP8 / E8M0 / bf16 / f16 bit work done by hand (no cuda_fp8.h, no
// cuda_bf16.h), so that the same sources compile with nvcc, NVRTC and, later, hipcc.
//
// Every function is the twin of a CPU function in src/formats/ and must stay bit-identical to it; the
// selftest (`isolate selftest`) checks each one on the GPU.
#pragma once

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long i64;

#define ISO_DEV __device__ __forceinline__

// Warp shuffles, the one API difference between the targets: CUDA takes a 32-bit lane mask; HIP (ROCm ≥ 6.2
// wants a 64-bit mask in the *_sync forms) uses the maskless form over its wavefront (64 lanes on CDNA). The
// kernels reduce within groups of at most 32 lanes, so the same code is right at both widths. `__HIP__` is
// clang's HIP mode (build.rs, hiprtc); ISO_SIMT_HIP is the CPU executor's (src/backend/simt).
#if defined(__HIP__) || defined(ISO_SIMT_HIP)
#define ISO_HIP 1
#define ISO_SHFL_XOR(v, o) __shfl_xor((v), (o))
#define ISO_SHFL_XOR_ACTIVE(v, o) __shfl_xor((v), (o))
#else
#define ISO_SHFL_XOR(v, o) __shfl_xor_sync(0xFFFFFFFFu, (v), (o))
#define ISO_SHFL_XOR_ACTIVE(v, o) __shfl_xor_sync(__activemask(), (v), (o))
#endif

// Format ids shared with the host (src/backend/cuda/abi.rs).
#define ISO_E4M3FN 0
#define ISO_E4M3FNUZ 1
#define ISO_E5M2 2
// Overflow policies.
#define ISO_OV_SATURATE 0
#define ISO_OV_NAN 1
// E8M0 rounding modes.
#define ISO_R_CEIL 0
#define ISO_R_FLOAT_CEIL 1
#define ISO_R_NEAREST 2
#define ISO_R_FLOOR 3
#define ISO_R_EVEN 4
// Element dtypes of kernel inputs.
#define ISO_IN_F32 0
#define ISO_IN_BF16 1
#define ISO_IN_F16 2

ISO_DEV u32 iso_bits(float x) { return __float_as_uint(x); }
ISO_DEV float iso_float(u32 b) { return __uint_as_float(b); }

// ---- FP8 encode: torch's fp8*_from_fp32_value (src/formats/fp8.rs) ------------------------------------

// The only vendor intrinsic: sm_89+ converts two f32 to e4m3 with round-to-nearest-even and saturation to
// ±448 in one instruction (the first operand lands in the high byte). Other targets (HIP, older GPUs) take the
// bit-exact software path below; both are checked against the CPU over every f32 (`selftest --exhaustive`).
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ >= 890)
#define ISO_HW_E4M3 1
ISO_DEV u32 iso_hw_e4m3x2(float hi, float lo) {
    unsigned short r;
    asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(r) : "f"(hi), "f"(lo));
    return r;
}
#endif

// c10/util/Float8_e4m3fn.h fp8e4m3fn_from_fp32_value: |x| > 464 → NaN (0x7F), RNE, magic add below 2^-6.
// Software path: the three cases are computed and selected (no divergent branches).
ISO_DEV u8 iso_enc_e4m3fn_sw(float x) {
    u32 bits = iso_bits(x);
    u32 sign = bits & 0x80000000u;
    u32 f = bits ^ sign;
    u32 den = iso_bits(iso_float(f) + iso_float(141u << 23)) - (141u << 23);
    u32 norm = (f + ((u32)(7 - 127) << 23) + 0x7FFFFu + ((f >> 20) & 1)) >> 20;
    u32 r = f >= (1087u << 20) ? 0x7Fu : (f < (121u << 23) ? den : norm);
    return (u8)((r & 0xFF) | (sign >> 24));
}

// torch's result from the saturating conversion `hw` of x: equal for |x| ≤ 464 (448 < |x| ≤ 464 rounds to
// 448 either way), NaN with x's sign above (overflow, ±inf, NaN).
ISO_DEV u32 iso_e4m3fn_fix(float x, u32 hw) {
    u32 bits = iso_bits(x);
    return (bits & 0x7FFFFFFFu) > 0x43E80000u ? (0x7Fu | ((bits >> 24) & 0x80u)) : hw;
}

ISO_DEV u8 iso_enc_e4m3fn_torch(float x) {
#ifdef ISO_HW_E4M3
    return (u8)iso_e4m3fn_fix(x, iso_hw_e4m3x2(0.0f, x) & 0xFFu);
#else
    return iso_enc_e4m3fn_sw(x);
#endif
}

// Two codes at once: low byte from `lo`, high byte from `hi`.
ISO_DEV u32 iso_enc_e4m3fn_torch_x2(float hi, float lo) {
#ifdef ISO_HW_E4M3
    u32 h = iso_hw_e4m3x2(hi, lo);
    return iso_e4m3fn_fix(lo, h & 0xFFu) | (iso_e4m3fn_fix(hi, h >> 8) << 8);
#else
    return iso_enc_e4m3fn_sw(lo) | ((u32)iso_enc_e4m3fn_sw(hi) << 8);
#endif
}

// Two codes of values known to be finite with |x| ≤ 448 (a "plain" group, kernels/quant.cu q_group_plain): none
// of torch's special cases applies, so the saturating conversion alone is torch's result (docs/kernels.md §3.9).
ISO_DEV u32 iso_enc_e4m3fn_plain_x2(float hi, float lo) {
#ifdef ISO_HW_E4M3
    return iso_hw_e4m3x2(hi, lo);
#else
    return iso_enc_e4m3fn_torch_x2(hi, lo);
#endif
}

// Lane-wise max of two pairs of unsigned 16-bit halves (sm_90 has it as one instruction).
ISO_DEV u32 iso_max_u16x2(u32 a, u32 b) {
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ >= 900)
    u32 d;
    asm("max.u16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b));
    return d;
#else
    const u32 lo = (a & 0xFFFFu) > (b & 0xFFFFu) ? (a & 0xFFFFu) : (b & 0xFFFFu);
    const u32 hi = (a >> 16) > (b >> 16) ? (a >> 16) : (b >> 16);
    return lo | (hi << 16);
#endif
}

// c10/util/Float8_e4m3fnuz.h: |x| ≥ 256 → 0x80, no −0, bias 8.
ISO_DEV u8 iso_enc_e4m3fnuz_torch(float x) {
    u32 bits = iso_bits(x);
    u32 sign = bits & 0x80000000u;
    u32 f = bits ^ sign;
    if (f >= (0x87u << 23)) return 0x80;
    u32 r;
    if (f < (0x78u << 23)) {
        u32 sum = iso_bits(iso_float(f) + iso_float(0x8Cu << 23));
        r = (sum - (0x8Cu << 23)) & 0xFF;
        if (r == 0) return 0;
    } else {
        u32 mant_odd = (f >> 20) & 1;
        u32 g = f + ((u32)(8 - 127) << 23) + 0x7FFFFu + mant_odd;
        r = (g >> 20) & 0xFF;
    }
    return (u8)(r | (sign >> 24));
}

// c10/util/Float8_e5m2.h: |x| ≥ 65536 → inf (NaN stays NaN), RNE on 2 bits.
ISO_DEV u8 iso_enc_e5m2_torch(float x) {
    u32 bits = iso_bits(x);
    u32 sign = bits & 0x80000000u;
    u32 f = bits ^ sign;
    u32 r;
    if (f >= (143u << 23)) {
        r = f > (255u << 23) ? 0x7F : 0x7C;
    } else if (f < (113u << 23)) {
        u32 sum = iso_bits(iso_float(f) + iso_float(134u << 23));
        r = (sum - (134u << 23)) & 0xFF;
    } else {
        u32 mant_odd = (f >> 21) & 1;
        u32 g = f + ((u32)(15 - 127) << 23) + 0xFFFFFu + mant_odd;
        r = (g >> 21) & 0xFF;
    }
    return (u8)(r | (sign >> 24));
}

ISO_DEV float iso_fp8_max(int fmt) {
    return fmt == ISO_E4M3FN ? 448.0f : (fmt == ISO_E4M3FNUZ ? 240.0f : 57344.0f);
}

// Fp8Format::encode: Saturate clamps to ±max first (NaN stays NaN), then torch's cast.
ISO_DEV u8 iso_fp8_encode(float x, int fmt, int overflow) {
    if (overflow == ISO_OV_SATURATE && !(x != x)) {
        float m = iso_fp8_max(fmt);
        x = fminf(fmaxf(x, -m), m);
    }
    if (fmt == ISO_E4M3FN) return iso_enc_e4m3fn_torch(x);
    if (fmt == ISO_E4M3FNUZ) return iso_enc_e4m3fnuz_torch(x);
    return iso_enc_e5m2_torch(x);
}

// ---- FP8 decode (Fp8Format::decode): exact; NaN codes → 0x7FC00000 with the code's sign -------------------

ISO_DEV float iso_fp8_decode(u8 c, int fmt) {
    u32 sign = (u32)(c & 0x80) << 24;
    u32 mb = fmt == ISO_E5M2 ? 2 : 3;
    u32 bias = fmt == ISO_E4M3FN ? 7 : (fmt == ISO_E4M3FNUZ ? 8 : 15);
    u32 e = (c & 0x7F) >> mb;
    u32 m = c & ((1u << mb) - 1);
    u32 mag;
    if (fmt == ISO_E4M3FNUZ && c == 0x80) return iso_float(0x7FC00000u);
    if (fmt == ISO_E4M3FN && e == 15 && m == 7) {
        mag = 0x7FC00000u;
    } else if (fmt == ISO_E5M2 && e == 31) {
        mag = m != 0 ? 0x7FC00000u : 0x7F800000u;
    } else if (e == 0) {
        // m · 2^(1 − bias − mb): an exact small integer times a power of two (a normal f32).
        mag = m == 0 ? 0u : iso_bits((float)m * iso_float((u32)(127 + 1 - (int)bias - (int)mb) << 23));
    } else {
        mag = ((e + 127 - bias) << 23) | (m << (23 - mb));
    }
    return iso_float(mag | sign);
}

// ---- E8M0 (src/formats/e8m0.rs) -------------------------------------------------------------------------

// e8m0::decode: 0 → 2^-127, 0xFF → NaN, else code << 23.
ISO_DEV float iso_e8m0_decode(u8 c) {
    if (c == 0) return iso_float(0x00400000u);
    if (c == 0xFF) return iso_float(0x7F800001u);
    return iso_float((u32)c << 23);
}

// e8m0::even_exponent: aiter Even's literal 32-bit formula, wrap-around included (the canonical NaN
// 0x7FFFFFFF carries into the sign bit and reads exponent 0).
ISO_DEV u32 iso_even_exponent(u32 abs_bits, u32 mbits) {
    return (((abs_bits + (1u << (22 - mbits))) & 0xFF800000u) >> 23) & 0xFFu;
}

// exp2f(ceilf(log2f(s))) with this device's log2f (vLLM, DeepSeek-V3 Triton, ...; docs/numerics.md §3.3).
ISO_DEV float iso_float_ceil_pow2(float s) { return exp2f(ceilf(log2f(s))); }

// e8m0::encode of |x| with a rounding mode.
ISO_DEV u8 iso_e8m0_encode(float x, int mode) {
    u32 u = iso_bits(x) & 0x7FFFFFFFu;
    u32 e = u >> 23;
    u32 man = u & 0x7FFFFFu;
    switch (mode) {
    case ISO_R_CEIL:
        return e == 0xFF ? 0xFF : (u8)(e + (man != 0));
    case ISO_R_FLOAT_CEIL:
        return (u8)(iso_bits(iso_float_ceil_pow2(iso_float(u))) >> 23);
    case ISO_R_NEAREST: {
        if (e == 0xFF) return 0xFF;
        bool g = (u & 0x400000u) != 0, r = (u & 0x200000u) != 0, s = (u & 0x1FFFFFu) != 0;
        return (u8)(e + (g && (r || s || e > 0)));
    }
    case ISO_R_FLOOR:
        return (u8)e;
    default:
        return (u8)iso_even_exponent(u, 3);
    }
}

// ---- 16-bit floats ---------------------------------------------------------------------------------------

ISO_DEV float iso_bf16_to_f32(u16 h) { return iso_float((u32)h << 16); }

// half::f16 → f32 (exact, subnormals included).
ISO_DEV float iso_f16_to_f32(u16 h) {
    u32 sign = (u32)(h & 0x8000) << 16;
    u32 e = (h >> 10) & 0x1F;
    u32 m = h & 0x3FF;
    if (e == 0x1F) return iso_float(sign | 0x7F800000u | (m != 0 ? 0x400000u | (m << 13) : 0u));
    if (e == 0) {
        float v = (float)m * iso_float(103u << 23); // m · 2^-24
        return iso_float(iso_bits(v) | sign);
    }
    return iso_float(sign | ((e + 112) << 23) | (m << 13));
}

// f32 → bf16 round-to-nearest-even (c10/util/BFloat16.h round_to_nearest_even; NaN → 0x7FC0).
ISO_DEV u16 iso_f32_to_bf16(float x) {
    u32 u = iso_bits(x);
    if (x != x) return 0x7FC0;
    return (u16)((u + 0x7FFFu + ((u >> 16) & 1)) >> 16);
}
