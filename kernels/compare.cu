// The comparison of a candidate `a` with a reference `b` on the device: the figures of src/metrics/compare.rs
// (docs/numerics.md §9.1–§9.7) without copying either tensor to the host (docs/kernels.md §12).
//
// The compensated sums Σab, Σa², Σb² are order-dependent in their last bits, so they are computed here in
// exactly the CPU's units: per chunk of 4096 elements, four lanes, each adding its terms l, l + 4, … in order
// with TwoSum (`LaneSums` in src/metrics/compare.rs, a partial last chunk padded with zero terms to a multiple
// of 4). The host merges the chunks' lanes in the CPU's fixed task order (src/backend/compare_abi.rs). Every
// other figure is order-free (counts, maxima, a histogram, the smallest index) and is reduced with atomics.
//
// Each side is f32 storage read as f32 (ISO_SIDE_F32), f32 storage read as the bf16 tensor a GEMM with a bf16
// output becomes on the host (ISO_SIDE_F32_AS_BF16: half's `bf16::from_f32`, which is exact for the
// bf16-rounded values such a GEMM writes and sets the quiet bit of a NaN), or bf16 storage (ISO_SIDE_BF16).

#include "common.cuh"

#define ISO_SIDE_F32 0
#define ISO_SIDE_F32_AS_BF16 1
#define ISO_SIDE_BF16 2

// Layout of `stats` (u64 words; src/backend/compare_abi.rs reads the same).
#define ISO_CMP_NAN_A 0
#define ISO_CMP_NAN_B 1
#define ISO_CMP_VALUE_EQ 2
#define ISO_CMP_BYTES_EQ 3
#define ISO_CMP_MAX_REF 4    // bits of max |b| over non-NaN b (non-negative doubles order as their bits)
#define ISO_CMP_MAX_DIFF 5   // bits of max |a − b| over non-NaN differences
#define ISO_CMP_FIRST_NAN 6  // smallest index whose |a − b| is NaN (all ones: none)
#define ISO_CMP_FIRST_MAX 7  // smallest index whose |a − b| is the maximum (all ones: none)
#define ISO_CMP_ULP_MAX 8
#define ISO_CMP_HIST 16      // 4096 exact counts, then 64 power-of-two buckets
#define ISO_CMP_EXACT 4096
#define ISO_CMP_WORDS (ISO_CMP_HIST + ISO_CMP_EXACT + 64)

#define ISO_CMP_CHUNK 4096

struct CompareParams {
    u64 a;
    u64 b;
    u64 sums;   // double[chunks][3][8]: per chunk Σab, Σa², Σb², each 4 lane sums then 4 compensations
    u64 stats;  // u64[ISO_CMP_WORDS], zero but FIRST_NAN / FIRST_MAX all ones
    i64 n;
    int a_side;
    int b_side;
    int same_dtype;  // both sides are the same dtype on the host: count byte-equal elements
    int ulp;         // fill the ulp histogram
};

// half 2.x `bf16::from_f32` (src/formats/convert.rs `f32_to_bf16_bits`): NaN keeps its high bits and gets the
// quiet bit; otherwise round to nearest, ties to even.
ISO_DEV u32 iso_cmp_bf16_of_f32(u32 x) {
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return ((x >> 16) | 0x0040u) & 0xFFFFu;
    const u32 round_bit = 0x00008000u;
    if ((x & round_bit) != 0 && (x & (3u * round_bit - 1u)) != 0) return ((x >> 16) + 1u) & 0xFFFFu;
    return (x >> 16) & 0xFFFFu;
}

// The element's bits in its host dtype (f32: 32 bits; bf16: 16 bits).
ISO_DEV u32 iso_cmp_bits(u64 p, int side, i64 i) {
    if (side == ISO_SIDE_BF16) return ((const u16*)p)[i];
    const u32 x = ((const u32*)p)[i];
    return side == ISO_SIDE_F32_AS_BF16 ? iso_cmp_bf16_of_f32(x) : x;
}

ISO_DEV bool iso_cmp_is_bf16(int side) { return side != ISO_SIDE_F32; }

// The element's value (exact in f64; src/metrics/decode.rs `decode_f64`).
ISO_DEV double iso_cmp_value(u32 bits, bool bf16) {
    return (double)iso_float(bf16 ? bits << 16 : bits);
}

// src/metrics/ulp.rs `ordered`: the integer ordered like the values (−0 = +0); false for NaN.
ISO_DEV bool iso_cmp_ordered(u32 bits, bool bf16, i64* out) {
    const u32 sign = bf16 ? 0x8000u : 0x80000000u;
    const u32 inf = bf16 ? 0x7F80u : 0x7F800000u;
    const u32 mag = bits & (sign - 1u);
    if (mag > inf) return false;
    *out = (bits & sign) ? -(i64)mag : (i64)mag;
    return true;
}

// One TwoSum step of a lane (src/metrics/compare.rs `LaneSums::add`, Knuth's branch-free form).
ISO_DEV void iso_cmp_two_sum(double& s, double& c, double x) {
    const double t = s + x;
    const double bp = t - s;
    c += (s - (t - bp)) + (x - bp);
    s = t;
}

// One thread per (chunk, lane): the lane's sums of Σab, Σa², Σb² over its terms, in order.
extern "C" __global__ void compare_sums(CompareParams p) {
    const i64 t = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    const i64 chunks = (p.n + ISO_CMP_CHUNK - 1) / ISO_CMP_CHUNK;
    if (t >= chunks * 4) return;
    const i64 chunk = t >> 2;
    const int lane = (int)(t & 3);
    const i64 lo = chunk * ISO_CMP_CHUNK;
    const i64 len = p.n - lo < ISO_CMP_CHUNK ? p.n - lo : ISO_CMP_CHUNK;
    const i64 padded = (len + 3) & ~(i64)3;
    const bool abf = iso_cmp_is_bf16(p.a_side), bbf = iso_cmp_is_bf16(p.b_side);
    double s[3] = {0.0, 0.0, 0.0}, c[3] = {0.0, 0.0, 0.0};
    for (i64 j = lane; j < padded; j += 4) {
        double x = 0.0, y = 0.0;
        if (j < len) {
            x = iso_cmp_value(iso_cmp_bits(p.a, p.a_side, lo + j), abf);
            y = iso_cmp_value(iso_cmp_bits(p.b, p.b_side, lo + j), bbf);
        }
        iso_cmp_two_sum(s[0], c[0], x * y);
        iso_cmp_two_sum(s[1], c[1], x * x);
        iso_cmp_two_sum(s[2], c[2], y * y);
    }
    double* out = (double*)p.sums + chunk * 24;
    for (int k = 0; k < 3; k++) {
        out[k * 8 + lane] = s[k];
        out[k * 8 + 4 + lane] = c[k];
    }
}

// The order-free figures: NaN counts, equal values and bytes, max |b|, max |a − b| and the first NaN
// difference, the ulp histogram (a per-block copy in shared memory, added to the global one at the end).
extern "C" __global__ void compare_stats(CompareParams p) {
    __shared__ u32 hist[ISO_CMP_EXACT + 64];
    __shared__ u64 block_counts[4];
    __shared__ u64 block_max[3];
    __shared__ u64 block_first_nan;
    for (int k = threadIdx.x; k < ISO_CMP_EXACT + 64; k += blockDim.x) hist[k] = 0;
    if (threadIdx.x < 4) block_counts[threadIdx.x] = 0;
    if (threadIdx.x < 3) block_max[threadIdx.x] = 0;
    if (threadIdx.x == 0) block_first_nan = ~0ull;
    __syncthreads();
    const bool abf = iso_cmp_is_bf16(p.a_side), bbf = iso_cmp_is_bf16(p.b_side);
    u64 nan_a = 0, nan_b = 0, veq = 0, beq = 0, first_nan = ~0ull, ulp_max = 0;
    double ymax = 0.0, dmax = 0.0;
    const i64 stride = (i64)gridDim.x * blockDim.x;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += stride) {
        const u32 ab = iso_cmp_bits(p.a, p.a_side, i), bb = iso_cmp_bits(p.b, p.b_side, i);
        const double x = iso_cmp_value(ab, abf), y = iso_cmp_value(bb, bbf);
        const double d = fabs(x - y);
        const bool xn = x != x, yn = y != y, dn = d != d;
        nan_a += xn;
        nan_b += yn;
        veq += (x == y) || (xn && yn);
        beq += p.same_dtype && ab == bb;
        if (!yn && fabs(y) > ymax) ymax = fabs(y);
        if (dn) {
            if ((u64)i < first_nan) first_nan = (u64)i;
        } else if (d > dmax) {
            dmax = d;
        }
        if (p.ulp) {
            // b in a's format: exact into f32; into bf16 by the same rounding as a (src/metrics/compare.rs).
            const u32 yf = __float_as_uint((float)y);
            const u32 yb = abf ? iso_cmp_bf16_of_f32(yf) : yf;
            i64 oa, ob;
            if (iso_cmp_ordered(ab, abf, &oa) && iso_cmp_ordered(yb, abf, &ob)) {
                const u64 dist = oa > ob ? (u64)(oa - ob) : (u64)(ob - oa);
                if (dist < ISO_CMP_EXACT) {
                    atomicAdd(&hist[dist], 1u);
                } else {
                    atomicAdd(&hist[ISO_CMP_EXACT + 63 - __clzll((long long)dist)], 1u);
                }
                if (dist > ulp_max) ulp_max = dist;
            }
        }
    }
    atomicAdd(&block_counts[0], nan_a);
    atomicAdd(&block_counts[1], nan_b);
    atomicAdd(&block_counts[2], veq);
    atomicAdd(&block_counts[3], beq);
    atomicMax(&block_max[0], (u64)__double_as_longlong(ymax));
    atomicMax(&block_max[1], (u64)__double_as_longlong(dmax));
    atomicMax(&block_max[2], ulp_max);
    atomicMin(&block_first_nan, first_nan);
    __syncthreads();
    u64* st = (u64*)p.stats;
    for (int k = threadIdx.x; k < ISO_CMP_EXACT + 64; k += blockDim.x) {
        if (hist[k] != 0) atomicAdd(&st[ISO_CMP_HIST + k], (u64)hist[k]);
    }
    if (threadIdx.x == 0) {
        atomicAdd(&st[ISO_CMP_NAN_A], block_counts[0]);
        atomicAdd(&st[ISO_CMP_NAN_B], block_counts[1]);
        atomicAdd(&st[ISO_CMP_VALUE_EQ], block_counts[2]);
        atomicAdd(&st[ISO_CMP_BYTES_EQ], block_counts[3]);
        atomicMax(&st[ISO_CMP_MAX_REF], block_max[0]);
        atomicMax(&st[ISO_CMP_MAX_DIFF], block_max[1]);
        atomicMax(&st[ISO_CMP_ULP_MAX], block_max[2]);
        atomicMin(&st[ISO_CMP_FIRST_NAN], block_first_nan);
    }
}

// After compare_stats: the smallest index whose |a − b| equals the maximum (the CPU keeps the first one).
extern "C" __global__ void compare_first_max(CompareParams p) {
    __shared__ u64 block_first;
    if (threadIdx.x == 0) block_first = ~0ull;
    __syncthreads();
    u64* st = (u64*)p.stats;
    const double dmax = __longlong_as_double((long long)st[ISO_CMP_MAX_DIFF]);
    const bool abf = iso_cmp_is_bf16(p.a_side), bbf = iso_cmp_is_bf16(p.b_side);
    u64 first = ~0ull;
    const i64 stride = (i64)gridDim.x * blockDim.x;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < p.n && (u64)i < first; i += stride) {
        const double x = iso_cmp_value(iso_cmp_bits(p.a, p.a_side, i), abf);
        const double y = iso_cmp_value(iso_cmp_bits(p.b, p.b_side, i), bbf);
        if (fabs(x - y) == dmax) first = (u64)i;
    }
    atomicMin(&block_first, first);
    __syncthreads();
    if (threadIdx.x == 0) atomicMin(&st[ISO_CMP_FIRST_MAX], block_first);
}
