// `tc` and `tc-fast-accum`: real FP8 tensor-core GEMMs (mma.sync m16n8k32 e4m3 → f32, sm_89+), what
// production kernels do, for attribution against the emulations. C[M,N] = A[M,K] · B[N,K]ᵀ, both K-major.
//
// tc: the MMA accumulates one promotion interval (P = 128 by default) from zero; then, as DeepGEMM SM90 does,
//     c = fmaf(acc, fl32(sa·sb), c) in f32 (the tensor core's own accumulation inside the interval is what it
//     is: not IEEE f32, which is the point).
// tc-fast-accum: the MMA accumulates all of K (no promotion); c = fl32(acc · fl32(sa·sb)) at the end, which
//     needs scales that do not change along K (per-tensor / per-row scaling); the host checks that.
//
// Tiling: 128×128 outputs per block of 8 warps (2×4), each warp 64×32 = 4×4 m16n8 tiles; K in steps of 64
// through a 3-stage cp.async pipeline; smem rows padded to 80 bytes (conflict-free 32-bit fragment loads).
#include "common.cuh"

#define TBM 128
#define TBN 128
#define TBK 64
#define TSA 80
#define STAGES 3
#define STAGE_BYTES ((TBM + TBN) * TSA)

struct TcParams {
    const u8* a;      // [M, K] e4m3fn codes
    const float* sa;  // [ceil(M/a_br), K/a_bc]
    const u8* b;      // [N, K] e4m3fn codes
    const float* sb;  // [ceil(N/b_br), K/b_bc]
    float* c;         // [M, N]
    int m, n, k;
    int a_br, a_bc, b_br, b_bc;
    int interval;     // K per promotion (multiple of 64); ignored by the fast-accum entry
    int out_bf16;
};

ISO_DEV void mma_e4m3(float* c, u32 a0, u32 a1, u32 a2, u32 a3, u32 b0, u32 b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

ISO_DEV void cp_async16(void* smem, const void* gmem, bool valid) {
    u32 s = (u32)__cvta_generic_to_shared(smem);
    int n = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(s), "l"(gmem), "r"(n));
}
ISO_DEV void cp_commit() { asm volatile("cp.async.commit_group;"); }
template <int N>
ISO_DEV void cp_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N)); }

// Issues the loads of K tile `kt` into stage buffer `st`: 128 rows of A and of B, 64 bytes each.
ISO_DEV void load_stage(const TcParams& p, u8* st, int m0, int n0, int kt, int t) {
    const int k0 = kt * TBK;
#pragma unroll
    for (int i = 0; i < 2; i++) {
        int chunk = t + i * 256;  // 512 chunks of 16 bytes per operand
        int r = chunk >> 2, c16 = (chunk & 3) * 16;
        int ra = m0 + r, rb = n0 + r;
        cp_async16(st + r * TSA + c16, p.a + (size_t)min(ra, p.m - 1) * p.k + k0 + c16, ra < p.m);
        cp_async16(st + (TBM + r) * TSA + c16, p.b + (size_t)min(rb, p.n - 1) * p.k + k0 + c16, rb < p.n);
    }
}

template <bool FAST>
ISO_DEV void tc_body(const TcParams& p) {
    extern __shared__ __align__(16) u8 smem[];
    const int t = threadIdx.x, lane = t & 31, warp = t >> 5;
    const int g = lane >> 2, q = lane & 3;
    const int m0 = blockIdx.y * TBM, n0 = blockIdx.x * TBN;
    const int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;

    float acc[4][4][4], c[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f, c[i][j][e] = 0.0f;

    const int a_gc = p.k / p.a_bc, b_gc = p.k / p.b_bc;
    const int ktiles = p.k / TBK;
    const int tiles_per_interval = FAST ? ktiles : p.interval / TBK;

#pragma unroll
    for (int s = 0; s < STAGES - 1; s++) {
        if (s < ktiles) load_stage(p, smem + s * STAGE_BYTES, m0, n0, s, t);
        cp_commit();
    }
    for (int kt = 0; kt < ktiles; kt++) {
        cp_wait<STAGES - 2>();
        __syncthreads();
        {
            int nk = kt + STAGES - 1;
            if (nk < ktiles) load_stage(p, smem + (nk % STAGES) * STAGE_BYTES, m0, n0, nk, t);
            cp_commit();
        }
        const u8* As = smem + (kt % STAGES) * STAGE_BYTES;
        const u8* Bs = As + TBM * TSA;
#pragma unroll
        for (int kk = 0; kk < TBK; kk += 32) {
            u32 af[4][4], bf[4][2];
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const u8* r0 = As + (wm + i * 16 + g) * TSA + kk + q * 4;
                const u8* r1 = r0 + 8 * TSA;
                af[i][0] = *(const u32*)r0;
                af[i][1] = *(const u32*)r1;
                af[i][2] = *(const u32*)(r0 + 16);
                af[i][3] = *(const u32*)(r1 + 16);
            }
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const u8* r = Bs + (wn + j * 8 + g) * TSA + kk + q * 4;
                bf[j][0] = *(const u32*)r;
                bf[j][1] = *(const u32*)(r + 16);
            }
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++)
                    mma_e4m3(acc[i][j], af[i][0], af[i][1], af[i][2], af[i][3], bf[j][0], bf[j][1]);
        }
        if ((kt + 1) % tiles_per_interval == 0) {
            const int kpos = FAST ? 0 : (kt + 1 - tiles_per_interval) * TBK;
            const int ka = kpos / p.a_bc, kb = kpos / p.b_bc;
            float sa[4][2], sb[4][2];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    int r = min(m0 + wm + i * 16 + g + h * 8, p.m - 1) / p.a_br;
                    sa[i][h] = p.sa[(size_t)r * a_gc + ka];
                }
#pragma unroll
            for (int j = 0; j < 4; j++)
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    int r = min(n0 + wn + j * 8 + q * 2 + h, p.n - 1) / p.b_br;
                    sb[j][h] = p.sb[(size_t)r * b_gc + kb];
                }
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        // acc element e: row g + (e >> 1) * 8, column q * 2 + (e & 1).
                        float sig = sa[i][e >> 1] * sb[j][e & 1];
                        if (FAST) {
                            c[i][j][e] = acc[i][j][e] * sig;
                        } else {
                            c[i][j][e] = fmaf(acc[i][j][e], sig, c[i][j][e]);
                        }
                        acc[i][j][e] = 0.0f;
                    }
        }
    }
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int row = m0 + wm + i * 16 + g + (e >> 1) * 8;
                int col = n0 + wn + j * 8 + q * 2 + (e & 1);
                if (row < p.m && col < p.n) {
                    float v = c[i][j][e];
                    if (p.out_bf16) v = iso_bf16_to_f32(iso_f32_to_bf16(v));
                    p.c[(size_t)row * p.n + col] = v;
                }
            }
}

extern "C" __global__ void __launch_bounds__(256) gemm_tc(TcParams p) { tc_body<false>(p); }

extern "C" __global__ void __launch_bounds__(256) gemm_tc_fast_accum(TcParams p) { tc_body<true>(p); }
