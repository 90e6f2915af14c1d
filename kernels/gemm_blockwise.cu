// isolate-hip: gfx942 gfx950 (no DMMA on AMD: see ISO_HIP below; run on the CPU executor by src/backend/simt)
// `blockwise` reference GEMM, bit-exact to the CPU `acc=block-exact` definition (src/gemm/cpu.rs):
// C[M,N] = A[M,K] · B[N,K]ᵀ, A and B FP8 codes (e4m3fn / e4m3fnuz) with f32 dequant scales on block grids.
//
// For each promotion interval of P K elements (P a multiple of 32, inside one scale block of each operand):
//   p = fl32(exact Σ decode(a_k)·decode(b_k))        (one rounding of the exact sum)
//   fused: c = fmaf(p, fl32(sa·sb), c)   left: c = fl32(fl32(fl32(p·sa)·sb) + c)
// split_k contiguous ranges of intervals, each from c = +0, added in f32 in order; out: f32 or bf16 (RNE).
//
// Exactness: an e4m3 value is an integer times 2^-9 (fnuz 2^-10) below 2^9, so a product is an integer times
// 2^-20 below 2^16 and a sum of 128 of them needs < 44 significant bits: an f64 accumulator holds it exactly
// in any order. The sums run on the FP64 tensor cores (DMMA m8n8k4); FP64 fused multiply-adds of exact
// values are exact, so the result does not depend on the reduction order inside the MMA.
//
// Tiling: 64×64 outputs per block of 4 warps (2×2), each warp 32×32 = 4×4 m8n8 tiles; K in steps of 32.
// FP8 tiles are read with 16-byte loads one step ahead, decoded through a shared-memory table to f64 and
// stored with a row stride of 36 doubles (conflict-free fragment loads).
#include "common.cuh"

#define BM 64
#define BN 64
#define BK 32
#define SK (BK + 4)

#if !defined(ISO_HIP)
ISO_DEV void dmma(double& c0, double& c1, double a, double b) {
    asm volatile("mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64 {%0,%1}, {%2}, {%3}, {%0,%1};"
                 : "+d"(c0), "+d"(c1)
                 : "d"(a), "d"(b));
}
#endif

// Parameters (one struct keeps the launch ABI short; mirrored in src/backend/cuda/gemm.rs).
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

// Loads the 64×32 FP8 tile at (row0, k0) of a [rows, K] matrix into 16 bytes per thread (zeros past rows).
ISO_DEV uint4 load_tile(const u8* p, int rows, int k, int row0, int k0, int t) {
    int r = row0 + (t >> 1);
    if (r >= rows) return make_uint4(0, 0, 0, 0);
    return *reinterpret_cast<const uint4*>(p + (size_t)r * k + k0 + (t & 1) * 16);
}

ISO_DEV void store_tile(double* s, uint4 v, const double* table, int t) {
    double* d = s + (t >> 1) * SK + (t & 1) * 16;
    u32 w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
#pragma unroll
        for (int j = 0; j < 4; j++) d[i * 4 + j] = table[(w[i] >> (8 * j)) & 0xFF];
    }
}

template <bool SPLIT>
ISO_DEV void blockwise_body(const BlockwiseParams& p) {
    __shared__ __align__(16) double As[BM * SK];
    __shared__ __align__(16) double Bs[BN * SK];
    __shared__ double ta[256], tb[256];
    const int t = threadIdx.x, lane = t & 31, warp = t >> 5;
    for (int i = t; i < 256; i += 128) {
        ta[i] = (double)iso_fp8_decode((u8)i, p.a_fmt);
        tb[i] = (double)iso_fp8_decode((u8)i, p.b_fmt);
    }
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int wm = (warp >> 1) * 32, wn = (warp & 1) * 32;
    const int g = lane >> 2, q = lane & 3;

    double acc[4][4][2];
    float c[4][4][2], total[4][4][2];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int h = 0; h < 2; h++) acc[i][j][h] = 0.0, c[i][j][h] = 0.0f, total[i][j][h] = 0.0f;

    // Rows and columns this thread owns, and their scale-grid rows (clamped inside the matrix).
    int srow[4], scol[4][2];
#pragma unroll
    for (int i = 0; i < 4; i++) srow[i] = min(m0 + wm + i * 8 + g, p.m - 1) / p.a_br;
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
        for (int h = 0; h < 2; h++) scol[j][h] = min(n0 + wn + j * 8 + q * 2 + h, p.n - 1) / p.b_br;
    const int a_gc = p.k / p.a_bc, b_gc = p.k / p.b_bc;
    const int steps_per_interval = p.interval / BK;

    uint4 ra = load_tile(p.a, p.m, p.k, m0, 0, t);
    uint4 rb = load_tile(p.b, p.n, p.k, n0, 0, t);
    int split = 0;
    int split_end = p.n_intervals / p.split_k;  // intervals [0, split_end) form split 0
    const int ksteps = p.k / BK;
    for (int ks = 0; ks < ksteps; ks++) {
        __syncthreads();
        store_tile(As, ra, ta, t);
        store_tile(Bs, rb, tb, t);
        __syncthreads();
        if (ks + 1 < ksteps) {
            ra = load_tile(p.a, p.m, p.k, m0, (ks + 1) * BK, t);
            rb = load_tile(p.b, p.n, p.k, n0, (ks + 1) * BK, t);
        }
#if defined(ISO_HIP)
        // AMD has no m8n8k4 DMMA: each lane sums its own outputs' products straight from shared memory (every
        // product and partial sum is exact in f64, so the order does not matter).
#pragma unroll 4
        for (int kk = 0; kk < BK; kk++) {
            double af[4], bf[4][2];
#pragma unroll
            for (int i = 0; i < 4; i++) af[i] = As[(wm + i * 8 + g) * SK + kk];
#pragma unroll
            for (int j = 0; j < 4; j++)
#pragma unroll
                for (int h = 0; h < 2; h++) bf[j][h] = Bs[(wn + j * 8 + q * 2 + h) * SK + kk];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++)
#pragma unroll
                    for (int h = 0; h < 2; h++) acc[i][j][h] = acc[i][j][h] + af[i] * bf[j][h];
        }
#else
#pragma unroll
        for (int kk = 0; kk < BK; kk += 4) {
            double af[4], bf[4];
#pragma unroll
            for (int i = 0; i < 4; i++) af[i] = As[(wm + i * 8 + g) * SK + kk + q];
#pragma unroll
            for (int j = 0; j < 4; j++) bf[j] = Bs[(wn + j * 8 + g) * SK + kk + q];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) dmma(acc[i][j][0], acc[i][j][1], af[i], bf[j]);
        }
#endif
        if ((ks + 1) % steps_per_interval == 0) {
            // Promotion of interval iv: p = fl32(exact sum), then the scales.
            const int iv = (ks + 1) / steps_per_interval - 1;
            const int kpos = iv * p.interval;
            const int ka = kpos / p.a_bc, kb = kpos / p.b_bc;
            float sa[4], sb[4][2];
#pragma unroll
            for (int i = 0; i < 4; i++) sa[i] = p.sa[(size_t)srow[i] * a_gc + ka];
#pragma unroll
            for (int j = 0; j < 4; j++)
#pragma unroll
                for (int h = 0; h < 2; h++) sb[j][h] = p.sb[(size_t)scol[j][h] * b_gc + kb];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++)
#pragma unroll
                    for (int h = 0; h < 2; h++) {
                        float part = (float)acc[i][j][h];
                        acc[i][j][h] = 0.0;
                        if (p.left) {
                            float x = part * sa[i];
                            x = x * sb[j][h];
                            c[i][j][h] = x + c[i][j][h];
                        } else {
                            c[i][j][h] = fmaf(part, sa[i] * sb[j][h], c[i][j][h]);
                        }
                    }
            if (SPLIT && iv + 1 == split_end) {
                // End of a split: total += c (the first split is taken as is), then c = +0.
#pragma unroll
                for (int i = 0; i < 4; i++)
#pragma unroll
                    for (int j = 0; j < 4; j++)
#pragma unroll
                        for (int h = 0; h < 2; h++) {
                            total[i][j][h] = split == 0 ? c[i][j][h] : total[i][j][h] + c[i][j][h];
                            c[i][j][h] = 0.0f;
                        }
                split++;
                split_end = (int)((long long)(split + 1) * p.n_intervals / p.split_k);
            }
        }
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int row = m0 + wm + i * 8 + g;
        if (row >= p.m) continue;
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const int col = n0 + wn + j * 8 + q * 2 + h;
                if (col >= p.n) continue;
                float v = SPLIT ? total[i][j][h] : c[i][j][h];
                if (p.out_bf16) v = iso_bf16_to_f32(iso_f32_to_bf16(v));
                p.c[(size_t)row * p.n + col] = v;
            }
    }
}

// split_k = 1 (no separate split total: fewer registers).
extern "C" __global__ void __launch_bounds__(128) gemm_blockwise(BlockwiseParams p) { blockwise_body<false>(p); }

// split_k ≥ 1.
extern "C" __global__ void __launch_bounds__(128) gemm_blockwise_split(BlockwiseParams p) { blockwise_body<true>(p); }
