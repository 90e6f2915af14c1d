// isolate-arch: sm_90a
// `tc` on Hopper: FP8 (e4m3) WGMMA with TMA loads, promotion to f32 every 128 K (DeepGEMM SM90's scheme):
// per 128-K tile the tensor cores accumulate a fresh m64n128 partial, then c = fmaf(acc, fl32(sa·sb), c).
// C[M,N] = A[M,K] · B[N,K]ᵀ, both K-major (row-major A and B), e4m3fn codes, f32 scales with A blocks 1×128
// (rows any) and B blocks 128×128.
//
// Block: 3 warpgroups (384 threads): warpgroups 0 and 1 compute 64 rows each of a 128×128 tile, warpgroup 2's
// first thread issues TMA loads into a 4-stage ring (tiles in groups of 8 M-tiles for L2 reuse) (128 rows × 128 bytes per operand and stage, 128-byte
// swizzle), full/empty mbarriers between them.
#include "common.cuh"

#define WBM 128
#define WBN 128
#define WBK 128
#define WSTAGES 4
#define TILE_BYTES (128 * 128)

struct __align__(64) TmaMap {
    u64 v[16];
};

// Mirrored in src/backend/cuda/wgmma.rs.
struct WgParams {
    const float* sa;  // [ceil(M/a_br), K/128]
    const float* sb;  // [ceil(N/128), K/128]
    float* c;         // [M, N]
    int m, n, k;
    int a_br;
    int out_bf16;
};

ISO_DEV u32 smem_u32(const void* p) { return (u32)__cvta_generic_to_shared(p); }

ISO_DEV void mbar_init(u64* bar, u32 count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_u32(bar)), "r"(count) : "memory");
}
ISO_DEV void mbar_expect_tx(u64* bar, u32 bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_u32(bar)), "r"(bytes)
                 : "memory");
}
ISO_DEV void mbar_arrive(u64* bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_u32(bar)) : "memory");
}
ISO_DEV void mbar_wait(u64* bar, u32 phase) {
    u32 ok = 0;
    while (!ok) {
        asm volatile(
            "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, 1, 0, p;\n}"
            : "=r"(ok)
            : "r"(smem_u32(bar)), "r"(phase)
            : "memory");
    }
}

ISO_DEV void tma_load_2d(void* dst, const TmaMap* map, u64* bar, int x, int y) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];" ::"r"(
            smem_u32(dst)),
        "l"((u64)map), "r"(x), "r"(y), "r"(smem_u32(bar))
        : "memory");
}

// Shared-memory matrix descriptor: K-major, 128-byte swizzle, 8-row atoms 1024 bytes apart.
ISO_DEV u64 make_desc(const void* p) {
    u64 d = (u64)((smem_u32(p) & 0x3FFFF) >> 4);
    d |= (u64)1 << 16;             // leading byte offset (unused with 128-byte swizzle)
    d |= (u64)(1024 >> 4) << 32;   // stride byte offset
    d |= (u64)1 << 62;             // 128-byte swizzle
    return d;
}

ISO_DEV void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
ISO_DEV void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
ISO_DEV void wgmma_wait0() { asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory"); }

ISO_DEV void wgmma_m64n128k32(float (&d)[64], u64 da, u64 db, int scale_d) {
    asm volatile(
        "{\n .reg .pred p;\n setp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1;\n}"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(da), "l"(db), "r"(scale_d));
}

extern "C" __global__ void __launch_bounds__(384, 1)
    gemm_tc_wgmma(const __grid_constant__ TmaMap tma_a, const __grid_constant__ TmaMap tma_b, WgParams p) {
    extern __shared__ u8 smem_raw[];
    u8* smem = (u8*)(((size_t)smem_raw + 1023) & ~(size_t)1023);
    u8* As = smem;
    u8* Bs = smem + WSTAGES * TILE_BYTES;
    u64* full = (u64*)(Bs + WSTAGES * TILE_BYTES);
    u64* empty = full + WSTAGES;
    const int t = threadIdx.x, wg = t >> 7;
    if (t == 0) {
        for (int s = 0; s < WSTAGES; s++) {
            mbar_init(&full[s], 1);
            mbar_init(&empty[s], 256);
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();
    // Grouped tile order (8 M-tiles per group, N-tiles within a group): the ~132 blocks in flight share a few
    // A and B tiles in L2 instead of streaming all of B per pair of M-tiles.
    const int num_m = (p.m + WBM - 1) / WBM, num_n = (p.n + WBN - 1) / WBN;
    const int per_group = 8 * num_n, group = blockIdx.x / per_group, first_m = group * 8;
    const int gsz = min(num_m - first_m, 8), in_group = blockIdx.x % per_group;
    const int m0 = (first_m + in_group % gsz) * WBM, n0 = (in_group / gsz) * WBN;
    const int ktiles = p.k / WBK;
    if (wg == 2) {
        if (t == 256) {
            for (int kt = 0; kt < ktiles; kt++) {
                const int st = kt % WSTAGES, r = kt / WSTAGES;
                if (r > 0) mbar_wait(&empty[st], (r - 1) & 1);
                mbar_expect_tx(&full[st], 2 * TILE_BYTES);
                tma_load_2d(As + st * TILE_BYTES, &tma_a, &full[st], kt * WBK, m0);
                tma_load_2d(Bs + st * TILE_BYTES, &tma_b, &full[st], kt * WBK, n0);
            }
        }
        return;
    }
    const int lane = t & 31, w = (t >> 5) & 3;
    const int row0 = m0 + wg * 64 + w * 16 + (lane >> 2), row1 = row0 + 8;
    const int kb = p.k / 128;
    const float* sa0p = p.sa + (size_t)(min(row0, p.m - 1) / p.a_br) * kb;
    const float* sa1p = p.sa + (size_t)(min(row1, p.m - 1) / p.a_br) * kb;
    const float* sbp = p.sb + (size_t)(n0 / 128) * kb;
    float acc[64], c[64];
#pragma unroll
    for (int i = 0; i < 64; i++) c[i] = 0.0f;
    for (int kt = 0; kt < ktiles; kt++) {
        const int st = kt % WSTAGES;
        const float sa0 = sa0p[kt], sa1 = sa1p[kt], sb = sbp[kt];
        mbar_wait(&full[st], (kt / WSTAGES) & 1);
        const u64 da = make_desc(As + st * TILE_BYTES + wg * 64 * 128);
        const u64 db = make_desc(Bs + st * TILE_BYTES);
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < 4; kk++) wgmma_m64n128k32(acc, da + 2 * kk, db + 2 * kk, kk);
        wgmma_commit();
        wgmma_wait0();
        mbar_arrive(&empty[st]);
        const float s0 = sa0 * sb, s1 = sa1 * sb;
#pragma unroll
        for (int j = 0; j < 16; j++) {
            c[j * 4 + 0] = fmaf(acc[j * 4 + 0], s0, c[j * 4 + 0]);
            c[j * 4 + 1] = fmaf(acc[j * 4 + 1], s0, c[j * 4 + 1]);
            c[j * 4 + 2] = fmaf(acc[j * 4 + 2], s1, c[j * 4 + 2]);
            c[j * 4 + 3] = fmaf(acc[j * 4 + 3], s1, c[j * 4 + 3]);
        }
    }
#pragma unroll
    for (int j = 0; j < 16; j++) {
        const int col = n0 + j * 8 + (lane & 3) * 2;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int row = h ? row1 : row0;
            if (row >= p.m) continue;
#pragma unroll
            for (int e = 0; e < 2; e++) {
                if (col + e >= p.n) continue;
                float v = c[j * 4 + h * 2 + e];
                if (p.out_bf16) v = iso_bf16_to_f32(iso_f32_to_bf16(v));
                p.c[(size_t)row * p.n + col + e] = v;
            }
        }
    }
}
