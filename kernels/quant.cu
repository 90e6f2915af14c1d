// isolate-hip: gfx942 gfx950 (also compiled for AMD by build.rs; run on the CPU executor by src/backend/simt)
// Quantization over every QuantSpec axis (src/quant/{scale,element,cpu}.rs): one kernel source, the preset's
// axes as parameters. amax → eps floor → raw scale → power-of-two rounding → x/s or x·fl32(1/s) → clamp → cast.
//
// quant_blocks: any block shape (1×G activation groups, 128×128 weight blocks), partial edge blocks (pad=yes),
//   bf16 / f16 / f32 input; one warp per block, two passes over the block (amax, then codes).
// quant_act_w64_L: 1×G groups, G ∈ {32, 64, 128, 256}, K % G = 0, bf16 input: each thread loads 32 values
//   (four 16-byte loads), G/32 lanes reduce one group with shuffles, codes leave as 16-byte stores; launched
//   with one thread per 64-byte chunk.
// Both write f32 scales or E8M0 codes (`bits >> 23` of a power-of-two scale).
#include "common.cuh"

#define ISO_EPS_AMAX 0
#define ISO_EPS_SCALE 1
#define ISO_EPS_BOTH 2
#define ISO_P2_NONE 0
#define ISO_P2_CEIL 1
#define ISO_P2_FLOAT_CEIL 2
#define ISO_P2_NEAREST 3
#define ISO_P2_FLOOR 4
#define ISO_P2_EVEN 5
#define ISO_NAN_PROPAGATE 0
#define ISO_NAN_IGNORE 1
#define ISO_NAN_REJECT 2

// Mirrored in src/backend/cuda/quant.rs.
struct QuantParams {
    const void* x;      // [rows, cols] of in_dtype
    u8* q;              // [rows, cols] codes
    void* s;            // scale grid [ceil(rows/br), ceil(cols/bc)]: f32, or u8 E8M0 codes when scale_e8m0
    u32* flags;         // bit 0: a block's amax was NaN or inf
    long long rows, cols;
    int br, bc;         // block shape
    int in_dtype;       // ISO_IN_*
    int fmt;            // ISO_E4M3FN / ISO_E4M3FNUZ / ISO_E5M2
    float max;          // the clamp / scale value (format max or `max=`)
    float eps;
    int eps_on;         // ISO_EPS_*
    int scale_mul;      // raw scale amax·fl32(1/max) (else amax/max)
    int pow2;           // ISO_P2_*
    int code_clamp;     // clamp E8M0 codes to [1, 254]
    int target_max_pow2;
    int mbits;          // the format's mantissa bits (Even)
    int q_mul;          // x·fl32(1/s) (else x/s)
    int clamp;          // clamp to ±max before the cast
    int overflow;       // ISO_OV_*
    int nan_rule;       // ISO_NAN_*
    int scale_e8m0;     // write E8M0 codes instead of f32 scales
};

// floor_eps: NaN stays NaN, else max(v, eps).
ISO_DEV float q_floor_eps(float v, float eps) { return v != v ? v : fmaxf(v, eps); }

ISO_DEV u8 q_code_clamp(u32 c, int clamp) { return (u8)(clamp ? min(max(c, 1u), 254u) : c); }

// scale::group_scale.
ISO_DEV float q_group_scale(const QuantParams& p, float amax) {
    const bool floor_amax = p.eps_on == ISO_EPS_AMAX || p.eps_on == ISO_EPS_BOTH;
    const bool floor_scale = p.eps_on == ISO_EPS_SCALE || p.eps_on == ISO_EPS_BOTH;
    float a = floor_amax ? q_floor_eps(amax, p.eps) : amax;
    if (p.pow2 == ISO_P2_FLOOR) {  // pow2_floor
        float d = a * iso_float((u32)(127 - p.target_max_pow2) << 23);
        return iso_e8m0_decode(q_code_clamp((iso_bits(d) >> 23) & 0xFF, p.code_clamp));
    }
    if (p.pow2 == ISO_P2_EVEN) {  // pow2_even
        // A NaN amax is the canonical 0x7FFFFFFF, as on the CPU twin (scale.rs pow2_even).
        u32 e = iso_even_exponent(isnan(a) ? 0x7FFFFFFFu : (iso_bits(a) & 0x7FFFFFFFu), (u32)p.mbits);
        u32 c = e == 0xFF ? 0xFF : (e > (u32)p.target_max_pow2 ? e - (u32)p.target_max_pow2 : 0);
        return iso_e8m0_decode(q_code_clamp(c, p.code_clamp));
    }
    float s = p.scale_mul ? a * (1.0f / p.max) : a / p.max;
    if (floor_scale) s = q_floor_eps(s, p.eps);
    switch (p.pow2) {
    case ISO_P2_CEIL: {  // pow2_ceil
        u32 b = iso_bits(s) & 0x7FFFFFFFu;
        u32 code = (b >> 23) + ((b & 0x7FFFFFu) != 0);
        if (p.code_clamp) return iso_float(min(max(code, 1u), 254u) << 23);
        if (s != s) return s;
        return iso_float(min(code, 255u) << 23);
    }
    case ISO_P2_FLOAT_CEIL: {  // pow2_float_ceil
        float v = iso_float_ceil_pow2(s);
        if (p.code_clamp) return iso_float(min(max((iso_bits(v) >> 23) & 0xFF, 1u), 254u) << 23);
        return v;
    }
    case ISO_P2_NEAREST:  // pow2_nearest
        return iso_e8m0_decode(q_code_clamp(iso_e8m0_encode(s, ISO_R_NEAREST), p.code_clamp));
    default:
        return s;
    }
}

// element::quantize_value, with inv = fl32(1/s) computed once per block.
ISO_DEV u8 q_value(const QuantParams& p, float x, float s, float inv) {
    float y = p.q_mul ? x * inv : x / s;
    if (y != y) y = iso_float(0x7FC00000u);
    if (p.clamp) {
        if (p.nan_rule == ISO_NAN_IGNORE) {
            y = fminf(fmaxf(y, -p.max), p.max);
        } else if (y == y) {
            y = fminf(fmaxf(y, -p.max), p.max);
        }
    }
    return iso_fp8_encode(y, p.fmt, p.overflow);
}

// |x| bits for the amax: NaN → 0 under Ignore (CUDA fmaxf skips it).
ISO_DEV u32 q_abs_bits(float x, int nan_rule) {
    u32 b = iso_bits(x) & 0x7FFFFFFFu;
    return (nan_rule == ISO_NAN_IGNORE && b > 0x7F800000u) ? 0u : b;
}

ISO_DEV float q_amax_from_bits(u32 m) { return m > 0x7F800000u ? iso_float(0x7FC00000u) : iso_float(m); }

ISO_DEV float q_load(const QuantParams& p, long long i) {
    if (p.in_dtype == ISO_IN_BF16) return iso_bf16_to_f32(((const u16*)p.x)[i]);
    if (p.in_dtype == ISO_IN_F16) return iso_f16_to_f32(((const u16*)p.x)[i]);
    return ((const float*)p.x)[i];
}

ISO_DEV void q_store_scale(const QuantParams& p, long long idx, float s) {
    if (p.scale_e8m0)
        ((u8*)p.s)[idx] = (u8)((iso_bits(s) >> 23) & 0xFF);
    else
        ((float*)p.s)[idx] = s;
}

#ifndef ISOLATE_BENCH_VARIANTS
// One warp per block of the scale grid (grid-stride over blocks).
extern "C" __global__ void quant_blocks(QuantParams p) {
    const int lane = threadIdx.x & 31;
    const long long gr = (p.rows + p.br - 1) / p.br, gc = (p.cols + p.bc - 1) / p.bc;
    const long long nblocks = gr * gc;
    const long long warps = (long long)gridDim.x * (blockDim.x >> 5);
    for (long long blk = blockIdx.x * (long long)(blockDim.x >> 5) + (threadIdx.x >> 5); blk < nblocks;
         blk += warps) {
        const long long bi = blk / gc, bj = blk % gc;
        const long long r0 = bi * p.br, c0 = bj * p.bc;
        const int nr = (int)min((long long)p.br, p.rows - r0), nc = (int)min((long long)p.bc, p.cols - c0);
        const int n = nr * nc;
        u32 m = 0;
        for (int e = lane; e < n; e += 32) {
            long long i = (r0 + e / nc) * p.cols + c0 + e % nc;
            m = max(m, q_abs_bits(q_load(p, i), p.nan_rule));
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) m = max(m, ISO_SHFL_XOR(m, o));
        const float amax = q_amax_from_bits(m);
        const float s = q_group_scale(p, amax);
        const float inv = 1.0f / s;
        if (lane == 0) {
            q_store_scale(p, blk, s);
            if (m >= 0x7F800000u) atomicOr(p.flags, 1u);
        }
        for (int e = lane; e < n; e += 32) {
            long long i = (r0 + e / nc) * p.cols + c0 + e % nc;
            p.q[i] = q_value(p, q_load(p, i), s, inv);
        }
    }
}
#endif  // quant_blocks is production; the bench-only module (quant_variants.cu) leaves it out

// Whether s = 2^k with an exact reciprocal: then x/s = x·fl32(1/s) bit for bit (as the CPU twin uses too).
ISO_DEV bool q_recip_exact(float s) {
    u32 b = iso_bits(s);
    return ((b & 0x807FFFFFu) == 0 && b != 0 && (b >> 23) != 0xFF) || b == 0x00400000u;
}

// e4m3fn codes of 8 values with the spec's branches decided once per chunk (element::run on the CPU): DIV x/s
// (else x·inv), CLAMP 0 none / 1 fminf(fmaxf) (NaN → −max) / 2 NaN-keeping, SAT clamp to ±448 keeping NaN.
template <bool DIV, int CLAMP, bool SAT>
ISO_DEV void q_e4m3fn8(const float* x, float s, float inv, float m, u32& lo, u32& hi) {
    float y[8];
#pragma unroll
    for (int i = 0; i < 8; i++) {
        float v = DIV ? x[i] / s : x[i] * inv;
        if (v != v) v = iso_float(0x7FC00000u);
        if (CLAMP == 1) v = fminf(fmaxf(v, -m), m);
        if (CLAMP == 2) v = v > m ? m : (v < -m ? -m : v);
        if (SAT) v = v > 448.0f ? 448.0f : (v < -448.0f ? -448.0f : v);
        y[i] = v;
    }
    lo = iso_enc_e4m3fn_torch_x2(y[1], y[0]) | (iso_enc_e4m3fn_torch_x2(y[3], y[2]) << 16);
    hi = iso_enc_e4m3fn_torch_x2(y[5], y[4]) | (iso_enc_e4m3fn_torch_x2(y[7], y[6]) << 16);
}

template <bool DIV>
ISO_DEV void q_e4m3fn8_sel(const QuantParams& p, const float* x, float s, float inv, u32& lo, u32& hi) {
    const int cl = !p.clamp ? 0 : (p.nan_rule == ISO_NAN_IGNORE ? 1 : 2);
    // Saturation is moot after a clamp to a value the format holds (≤ 448).
    const bool sat = p.overflow == ISO_OV_SATURATE && !(p.clamp && p.max <= 448.0f);
    if (cl == 0) {
        if (sat) q_e4m3fn8<DIV, 0, true>(x, s, inv, p.max, lo, hi);
        else q_e4m3fn8<DIV, 0, false>(x, s, inv, p.max, lo, hi);
    } else if (cl == 1) {
        if (sat) q_e4m3fn8<DIV, 1, true>(x, s, inv, p.max, lo, hi);
        else q_e4m3fn8<DIV, 1, false>(x, s, inv, p.max, lo, hi);
    } else {
        if (sat) q_e4m3fn8<DIV, 2, true>(x, s, inv, p.max, lo, hi);
        else q_e4m3fn8<DIV, 2, false>(x, s, inv, p.max, lo, hi);
    }
}

// Codes of 8 values of one group (scale s, inv = fl32(1/s)).
ISO_DEV void act_codes8(const QuantParams& p, const float* x, float s, float inv, u32& lo, u32& hi) {
    lo = 0;
    hi = 0;
    if (p.fmt == ISO_E4M3FN) {
        if (p.q_mul || q_recip_exact(s)) q_e4m3fn8_sel<false>(p, x, s, inv, lo, hi);
        else q_e4m3fn8_sel<true>(p, x, s, inv, lo, hi);
    } else {
#pragma unroll
        for (int i = 0; i < 4; i++) lo |= (u32)q_value(p, x[i], s, inv) << (8 * i);
#pragma unroll
        for (int i = 0; i < 4; i++) hi |= (u32)q_value(p, x[4 + i], s, inv) << (8 * i);
    }
}

ISO_DEV void bf16x8(uint4 v, float* x) {
    const u32 w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        x[2 * i] = iso_float(w[i] << 16);
        x[2 * i + 1] = iso_float(w[i] & 0xFFFF0000u);
    }
}

// One 16-byte chunk (8 bf16 of a group of 8·L): amax over the group's L lanes, scale, codes (v1–v4 layout).
template <int L>
ISO_DEV void act_chunk(const QuantParams& p, long long c, uint4 v) {
    float x[8];
    bf16x8(v, x);
    u32 m = 0;
#pragma unroll
    for (int i = 0; i < 8; i++) m = max(m, q_abs_bits(x[i], p.nan_rule));
#pragma unroll
    for (int o = L / 2; o > 0; o >>= 1) m = max(m, ISO_SHFL_XOR_ACTIVE(m, o));
    const float s = q_group_scale(p, q_amax_from_bits(m));
    const float inv = 1.0f / s;
    u32 lo, hi;
    act_codes8(p, x, s, inv, lo, hi);
    ((uint2*)p.q)[c] = make_uint2(lo, hi);
    if ((threadIdx.x & (L - 1)) == 0) {
        q_store_scale(p, c / L, s);  // group index = chunk / L
        if (m >= 0x7F800000u) atomicOr(p.flags, 1u);
    }
}

// v4 (bench only): 16 bytes per thread, G = 8·L, U chunks per grid-stride step with their loads issued first.
template <int L, int U>
ISO_DEV void act_fast(const QuantParams& p) {
    const long long n8 = p.rows * p.cols / 8;
    const long long stride = (long long)gridDim.x * blockDim.x;
    const uint4* x = (const uint4*)p.x;
    long long c = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    for (; c + (U - 1) * stride < n8; c += U * stride) {
        uint4 v[U];
#pragma unroll
        for (int u = 0; u < U; u++) v[u] = x[c + u * stride];
#pragma unroll
        for (int u = 0; u < U; u++) act_chunk<L>(p, c + u * stride, v[u]);
    }
    for (; c < n8; c += stride) act_chunk<L>(p, c, x[c]);
}

// 1×G groups of bf16 rows, K % G = 0: each thread takes V adjacent 16-byte chunks (8·V values) of one group,
// G = 8·V·L with L lanes per group reducing the amax with log2(L) shuffles; codes leave as 16-byte stores.
// Grid-stride over (16·V)-byte chunks. Fewer shuffles, scale computations and stores per byte than v4: the
// v5 measurements (docs/kernels.md §3.6) showed the quantizer was bound by its instruction count, not by memory.
// The amax bits (f32, sign cleared) of 8·V bf16 values, as q_abs_bits over every element would give them: with
// NaNs kept, the largest |x| is the largest of the bf16 magnitudes, 16-bit lane-wise on packed pairs (one AND
// and one max per two values instead of an unpack, AND and max per value); with NaNs ignored, per element.
template <int V>
ISO_DEV u32 q_amax_bits_bf16(const QuantParams& p, const uint4* v) {
    u32 m = 0;
    if (p.nan_rule != ISO_NAN_IGNORE) {
        u32 m2 = 0;
#pragma unroll
        for (int j = 0; j < V; j++) {
            m2 = iso_max_u16x2(m2, v[j].x & 0x7FFF7FFFu);
            m2 = iso_max_u16x2(m2, v[j].y & 0x7FFF7FFFu);
            m2 = iso_max_u16x2(m2, v[j].z & 0x7FFF7FFFu);
            m2 = iso_max_u16x2(m2, v[j].w & 0x7FFF7FFFu);
        }
        m = max(m2 & 0xFFFFu, m2 >> 16) << 16;
    } else {
#pragma unroll
        for (int j = 0; j < V; j++) {
            float xs[8];
            bf16x8(v[j], xs);
#pragma unroll
            for (int i = 0; i < 8; i++) m = max(m, q_abs_bits(xs[i], p.nan_rule));
        }
    }
    return m;
}

// Whether every code of a group is the saturating e4m3fn conversion of x·inv alone: e4m3fn, x·inv is the
// element rule (a multiply, as act_codes8 decides), every value finite (m < inf with NaNs counted), and the
// largest scaled magnitude fl(amax·inv) at most 448 and the clamp bound. Rounding is monotone, so then every
// |x·inv| ≤ 448: no NaN, clamp, saturation or torch >464 rule can apply (docs/kernels.md §3.9). Most groups of
// real activations are plain.
ISO_DEV bool q_group_plain(const QuantParams& p, u32 m, float s, float inv) {
    // With NaNs ignored, m can be finite in a group holding a NaN: never plain.
    if (p.fmt != ISO_E4M3FN || p.nan_rule == ISO_NAN_IGNORE || m >= 0x7F800000u) return false;
    if (!(p.q_mul || q_recip_exact(s))) return false;
    const float lim = (p.clamp && p.max < 448.0f) ? p.max : 448.0f;
    return iso_float(m) * inv <= lim;
}

// Codes of 8 bf16 values (one 16-byte chunk) of a plain group.
ISO_DEV void q_plain8(uint4 v, float inv, u32& lo, u32& hi) {
    float x[8];
    bf16x8(v, x);
    lo = iso_enc_e4m3fn_plain_x2(x[1] * inv, x[0] * inv) | (iso_enc_e4m3fn_plain_x2(x[3] * inv, x[2] * inv) << 16);
    hi = iso_enc_e4m3fn_plain_x2(x[5] * inv, x[4] * inv) | (iso_enc_e4m3fn_plain_x2(x[7] * inv, x[6] * inv) << 16);
}

template <int L, int V>
ISO_DEV void act_fastv(const QuantParams& p) {
    const long long nc = p.rows * p.cols / (8 * V);
    const long long stride = (long long)gridDim.x * blockDim.x;
    const uint4* x = (const uint4*)p.x;
    for (long long c = blockIdx.x * (long long)blockDim.x + threadIdx.x; c < nc; c += stride) {
        uint4 v[V];
#pragma unroll
        for (int j = 0; j < V; j++) v[j] = x[V * c + j];
        u32 m = q_amax_bits_bf16<V>(p, v);
#pragma unroll
        for (int o = L / 2; o > 0; o >>= 1) m = max(m, ISO_SHFL_XOR_ACTIVE(m, o));
        const float s = q_group_scale(p, q_amax_from_bits(m));
        const float inv = 1.0f / s;
        if (q_group_plain(p, m, s, inv)) {
#pragma unroll
            for (int j = 0; j < V; j += 2) {
                u32 a, b, cc, d;
                q_plain8(v[j], inv, a, b);
                q_plain8(v[j + 1], inv, cc, d);
                ((uint4*)p.q)[V / 2 * c + j / 2] = make_uint4(a, b, cc, d);
            }
        } else {
#pragma unroll
            for (int j = 0; j < V; j += 2) {
                float xs[16];
                bf16x8(v[j], xs);
                bf16x8(v[j + 1], xs + 8);
                u32 a, b, cc, d;
                act_codes8(p, xs, s, inv, a, b);
                act_codes8(p, xs + 8, s, inv, cc, d);
                ((uint4*)p.q)[V / 2 * c + j / 2] = make_uint4(a, b, cc, d);
            }
        }
        if ((threadIdx.x & (L - 1)) == 0) {
            q_store_scale(p, c / L, s);  // group index = chunk / L
            if (m >= 0x7F800000u) atomicOr(p.flags, 1u);
        }
    }
}

#ifdef ISOLATE_BENCH_VARIANTS
// v6 (bench only, docs/kernels.md §3.8): act_fastv before the plain-group path and the packed amax — every value
// unpacked to f32, its |x| bits and NaN rule per element, every code through the spec's full element rule.
template <int L, int V>
ISO_DEV void act_fastv_v6(const QuantParams& p) {
    const long long nc = p.rows * p.cols / (8 * V);
    const long long stride = (long long)gridDim.x * blockDim.x;
    const uint4* x = (const uint4*)p.x;
    for (long long c = blockIdx.x * (long long)blockDim.x + threadIdx.x; c < nc; c += stride) {
        uint4 v[V];
#pragma unroll
        for (int j = 0; j < V; j++) v[j] = x[V * c + j];
        float xs[8 * V];
#pragma unroll
        for (int j = 0; j < V; j++) bf16x8(v[j], xs + 8 * j);
        u32 m = 0;
#pragma unroll
        for (int i = 0; i < 8 * V; i++) m = max(m, q_abs_bits(xs[i], p.nan_rule));
#pragma unroll
        for (int o = L / 2; o > 0; o >>= 1) m = max(m, ISO_SHFL_XOR_ACTIVE(m, o));
        const float s = q_group_scale(p, q_amax_from_bits(m));
        const float inv = 1.0f / s;
#pragma unroll
        for (int j = 0; j < V; j += 2) {
            u32 a, b, cc, d;
            act_codes8(p, xs + 8 * j, s, inv, a, b);
            act_codes8(p, xs + 8 * j + 8, s, inv, cc, d);
            ((uint4*)p.q)[V / 2 * c + j / 2] = make_uint4(a, b, cc, d);
        }
        if ((threadIdx.x & (L - 1)) == 0) {
            q_store_scale(p, c / L, s);
            if (m >= 0x7F800000u) atomicOr(p.flags, 1u);
        }
    }
}
#endif

// The L lanes of a group stay together in one warp: blockDim.x and the grid stride are multiples of 32 and
// every group starts at a chunk index divisible by L, so a warp's tail drops whole groups (hence the
// __activemask() in the shuffles). quant_act_w64_L (the default, launched with one thread per chunk): 64 bytes
// (32 values) per thread, G = 32·L.
#ifndef ISOLATE_BENCH_VARIANTS
extern "C" __global__ void __launch_bounds__(256) quant_act_w64_1(QuantParams p) { act_fastv<1, 4>(p); }
extern "C" __global__ void __launch_bounds__(256) quant_act_w64_2(QuantParams p) { act_fastv<2, 4>(p); }
extern "C" __global__ void __launch_bounds__(256) quant_act_w64_4(QuantParams p) { act_fastv<4, 4>(p); }
extern "C" __global__ void __launch_bounds__(256) quant_act_w64_8(QuantParams p) { act_fastv<8, 4>(p); }
#else
// Variants timed by `isolate bench quant` only (G = 128; docs/kernels.md §3 has their figures), compiled into
// the module quant_variants (kernels/quant_variants.cu), never into the production module: v4 (16 bytes per
// thread, two chunks per grid-stride step) and its one- and four-chunk forms; v5 (32 bytes per thread);
// 128 bytes per thread.
extern "C" __global__ void __launch_bounds__(256) quant_act_fast16(QuantParams p) { act_fast<16, 2>(p); }
extern "C" __global__ void __launch_bounds__(256) quant_act_fast16_u1(QuantParams p) { act_fast<16, 1>(p); }
extern "C" __global__ void __launch_bounds__(256) quant_act_fast16_u4(QuantParams p) { act_fast<16, 4>(p); }
extern "C" __global__ void __launch_bounds__(256) quant_act_w32_8(QuantParams p) { act_fastv<8, 2>(p); }
extern "C" __global__ void __launch_bounds__(256) quant_act_w128_2(QuantParams p) { act_fastv<2, 8>(p); }
// v6, the default before the plain-group path (docs/kernels.md §3.8, §3.9).
extern "C" __global__ void __launch_bounds__(256) quant_act_w64_4_v6(QuantParams p) { act_fastv_v6<4, 4>(p); }
#endif
