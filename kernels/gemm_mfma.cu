// isolate-hip-only: gfx942 gfx950 (AMD only: no nvcc/NVRTC build; run on the CPU executor by src/backend/simt)
// FP8 GEMM on the AMD matrix cores: v_mfma_f32_16x16x32_{fp8,bf8}_{fp8,bf8} with promotion every P = `interval`
// K elements, the CDNA `*-blockwise` arithmetic (docs/numerics.md §8.7): C[M,N] = A[M,K] · B[N,K]ᵀ, A and B FP8
// codes with f32 dequant scales on block grids.
//
// For each interval (P a multiple of 32, inside one scale block of each operand): acc = +0, then P/32 MFMAs
// (each two chained 16-product steps of the `cdna3` model), then
//   fused: c = fmaf(acc, fl32(sa·sb), c)   left: c = fl32(fl32(fl32(acc·sa)·sb) + c)
// split_k contiguous ranges of intervals, each from c = +0, added in f32 in order; out: f32 or bf16 (RNE).
// The CPU twin is `gemm::cpu` with acc=cdna3 (preset `cdna3-blockwise` and its axes).
//
// gfx942 reads fnuz codes (e4m3fnuz; bf8 = e5m2fnuz), gfx950 OCP codes (e4m3fn; bf8 = e5m2): the same
// instruction, the format is the target's. The host picks the code object whose formats are the operands'.
//
// Tiling: one wavefront (64 lanes) per 16×16 output tile, one tile per block (a reference kernel: correct and
// simple, not tuned). Operand layout of the 16x16x32 MFMA (docs/numerics.md §8.7): lane l holds
// A[m0 + l % 16][k + 8·(l / 16) .. +8] and B[n0 + l % 16][same k] as 8 bytes, and receives
// D[4·(l / 16) + r][l % 16] for r = 0..3.
#include "common.cuh"

#if defined(__HIP__)
typedef float iso_f32x4 __attribute__((ext_vector_type(4)));
#else
typedef float iso_f32x4 __attribute__((vector_size(16)));
#endif

// The parameters of kernels/gemm_blockwise.cu's BlockwiseParams, field for field (one Rust struct launches
// both: src/backend/cuda/gemm.rs).
struct BlockwiseParams {
    const u8* a;       // [M, K] codes
    const float* sa;   // [ceil(M/a_br), K/a_bc]
    const u8* b;       // [N, K] codes
    const float* sb;   // [ceil(N/b_br), K/b_bc]
    float* c;          // [M, N]
    int m, n, k;
    int a_br, a_bc, b_br, b_bc;
    int a_fmt, b_fmt;
    int interval;      // P: K per promotion, multiple of 32
    int n_intervals;   // K / P
    int split_k;       // S ≥ 1
    int left;          // scale_order=left
    int out_bf16;      // round the result to bf16
};

// 8 FP8 codes of row `r` at column k0 (zeros past `rows`: a padded row only feeds padded outputs).
ISO_DEV long long load8(const u8* p, int rows, int k, int r, int k0) {
    if (r >= rows) return 0;
    return *reinterpret_cast<const long long*>(p + (size_t)r * k + k0);
}

// One MFMA with the variant the operands' formats select (e5m2 = bf8).
ISO_DEV iso_f32x4 mfma(long long a, long long b, iso_f32x4 c, bool a_bf8, bool b_bf8) {
    if (a_bf8) {
        return b_bf8 ? __builtin_amdgcn_mfma_f32_16x16x32_bf8_bf8(a, b, c, 0, 0, 0)
                     : __builtin_amdgcn_mfma_f32_16x16x32_bf8_fp8(a, b, c, 0, 0, 0);
    }
    return b_bf8 ? __builtin_amdgcn_mfma_f32_16x16x32_fp8_bf8(a, b, c, 0, 0, 0)
                 : __builtin_amdgcn_mfma_f32_16x16x32_fp8_fp8(a, b, c, 0, 0, 0);
}

extern "C" __global__ void __launch_bounds__(64) gemm_mfma(BlockwiseParams p) {
    const int lane = threadIdx.x;
    const int m0 = blockIdx.y * 16, n0 = blockIdx.x * 16;
    const int li = lane % 16, lk = 8 * (lane / 16);
    const bool a_bf8 = p.a_fmt == ISO_E5M2, b_bf8 = p.b_fmt == ISO_E5M2;
    // The 4 outputs of this lane and their scale-grid rows (clamped inside the matrix).
    int rows[4];
#pragma unroll
    for (int r = 0; r < 4; r++) rows[r] = m0 + 4 * (lane / 16) + r;
    const int col = n0 + li;
    const int a_gc = p.k / p.a_bc, b_gc = p.k / p.b_bc;
    const int scol = min(col, p.n - 1) / p.b_br;
    float c[4] = {0.0f, 0.0f, 0.0f, 0.0f}, total[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    int split = 0;
    int split_end = p.n_intervals / p.split_k;  // intervals [0, split_end) form split 0
    for (int iv = 0; iv < p.n_intervals; iv++) {
        const int k0 = iv * p.interval;
        iso_f32x4 acc = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int kk = k0; kk < k0 + p.interval; kk += 32) {
            const long long a = load8(p.a, p.m, p.k, m0 + li, kk + lk);
            const long long b = load8(p.b, p.n, p.k, n0 + li, kk + lk);
            acc = mfma(a, b, acc, a_bf8, b_bf8);
        }
        const float sb = p.sb[(size_t)scol * b_gc + k0 / p.b_bc];
#pragma unroll
        for (int r = 0; r < 4; r++) {
            const float sa = p.sa[(size_t)(min(rows[r], p.m - 1) / p.a_br) * a_gc + k0 / p.a_bc];
            if (p.left) {
                float x = acc[r] * sa;
                x = x * sb;
                c[r] = x + c[r];
            } else {
                c[r] = fmaf(acc[r], sa * sb, c[r]);
            }
        }
        if (p.split_k > 1 && iv + 1 == split_end) {
            // End of a split: total += c (the first split is taken as is), then c = +0.
#pragma unroll
            for (int r = 0; r < 4; r++) {
                total[r] = split == 0 ? c[r] : total[r] + c[r];
                c[r] = 0.0f;
            }
            split++;
            split_end = (int)((long long)(split + 1) * p.n_intervals / p.split_k);
        }
    }
    if (col >= p.n) return;
#pragma unroll
    for (int r = 0; r < 4; r++) {
        if (rows[r] >= p.m) continue;
        float v = p.split_k > 1 ? total[r] : c[r];
        if (p.out_bf16) v = iso_bf16_to_f32(iso_f32_to_bf16(v));
        p.c[(size_t)rows[r] * p.n + col] = v;
    }
}
