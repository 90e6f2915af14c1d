// Example user GEMM kernel for `isolate gemm --target-gemm kernel:examples/gemm_blockwise.cu` and
// `isolate bench gemm --kernel examples/gemm_blockwise.cu`: a plain (no tensor cores) blockwise-scaled FP8 GEMM
// meant to equal the `blockwise` preset bit for bit (DeepGEMM's definition: exact partial sums over each
// 128-K interval, acc = fmaf(partial, fl32(sa·sb), acc), bf16 or f32 out).
//
// Why it is exact: a product of two e4m3 values has at most 8 significant bits and lies in [2^-18, 2^17.7];
// 128 of them sum exactly in f64 (53 bits cover 2^-18 .. 2^25). The f64 partial is rounded to f32 once.
// e5m2 products span too many binades for that, so this kernel declines e5m2 (it writes nothing, and isolate
// reports the unwritten outputs).
//
// isolate's GEMM kernel ABI v1 (src/backend/cuda/user_gemm.rs): C[M, N] = A[M, K] · B[N, K]ᵀ
//   a, b        FP8 codes, row-major, row strides lda / ldb (bytes); formats a_fmt / b_fmt
//               (0 = e4m3fn, 1 = e4m3fnuz, 2 = e5m2)
//   sa, sb      f32 dequant scales (x = decode(q)·s) on the block grids [ceil(M/a_br), K/a_bc] and
//               [ceil(N/b_br), K/b_bc], row strides ldsa / ldsb (elements)
//   c, c_dtype  the output, row stride ldc (elements): c_dtype 0 = f32, 1 = bf16 (the kernel rounds)
// Launched with a grid of (ceil(N/64), ceil(M/64)) blocks of 256 threads, no dynamic shared memory: block
// (x, y) owns C[64y .. 64y+63, 64x .. 64x+63]. Compiled with NVRTC: -fmad=false, IEEE division, no FTZ.

#define TM 64
#define TN 64
#define TK 32

__device__ float fp8_decode(unsigned c, int fmt) {
    const float sign = (c & 0x80u) ? -1.0f : 1.0f;
    if (fmt == 0 && (c & 0x7Fu) == 0x7Fu) return __int_as_float(0x7FC00000);  // e4m3fn NaN
    if (fmt == 1 && c == 0x80u) return __int_as_float(0x7FC00000);           // e4m3fnuz NaN
    const int bias = fmt == 0 ? 7 : 8;
    const int e = (c >> 3) & 15, m = c & 7;
    const float v = e ? ldexpf(1.0f + m / 8.0f, e - bias) : ldexpf(m / 8.0f, 1 - bias);
    return sign * v;
}

__device__ unsigned short bf16_rne(float f) {
    const unsigned u = __float_as_uint(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (unsigned short)((u >> 16) | 0x40u);  // quiet NaN
    return (unsigned short)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

extern "C" __global__ void __launch_bounds__(256)
    gemm_blockwise(const unsigned char* a, const float* sa, const unsigned char* b, const float* sb, void* c,
                   int c_dtype, long long M, long long N, long long K, int a_br, int a_bc, int b_br, int b_bc,
                   int a_fmt, int b_fmt, long long lda, long long ldb, long long ldsa, long long ldsb,
                   long long ldc) {
    if (a_fmt == 2 || b_fmt == 2) return;  // not exact in f64: decline
    __shared__ float tab_a[256], tab_b[256];
    __shared__ double As[TK][TM + 1];  // K-major tiles of decoded code values
    __shared__ double Bs[TK][TN + 1];
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    tab_a[tid] = fp8_decode(tid, a_fmt);
    tab_b[tid] = fp8_decode(tid, b_fmt);
    const long long row0 = (long long)blockIdx.y * TM, col0 = (long long)blockIdx.x * TN;
    const int P = min(128, min(a_bc, b_bc));  // the promotion interval: inside one scale block of each
    float acc[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;
    __syncthreads();
    for (long long k0 = 0; k0 < K; k0 += P) {
        const long long kend = min(k0 + P, K);
        double part[4][4];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) part[i][j] = 0.0;
        for (long long kt = k0; kt < kend; kt += TK) {
            for (int e = tid; e < TM * TK; e += 256) {
                const int r = e / TK, kk = e % TK;
                const long long gk = kt + kk;
                const long long ra = row0 + r, rb = col0 + r;
                As[kk][r] = (ra < M && gk < kend) ? (double)tab_a[a[ra * lda + gk]] : 0.0;
                Bs[kk][r] = (rb < N && gk < kend) ? (double)tab_b[b[rb * ldb + gk]] : 0.0;
            }
            __syncthreads();
#pragma unroll 4
            for (int kk = 0; kk < TK; kk++) {
                double av[4], bv[4];
                for (int i = 0; i < 4; i++) av[i] = As[kk][ty + 16 * i];
                for (int j = 0; j < 4; j++) bv[j] = Bs[kk][tx + 16 * j];
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) part[i][j] = fma(av[i], bv[j], part[i][j]);  // exact
            }
            __syncthreads();
        }
        for (int i = 0; i < 4; i++) {
            const long long row = row0 + ty + 16 * i;
            if (row >= M) continue;
            const float s_a = sa[(row / a_br) * ldsa + k0 / a_bc];
            for (int j = 0; j < 4; j++) {
                const long long col = col0 + tx + 16 * j;
                if (col >= N) continue;
                const float s = s_a * sb[(col / b_br) * ldsb + k0 / b_bc];
                acc[i][j] = fmaf((float)part[i][j], s, acc[i][j]);
            }
        }
    }
    for (int i = 0; i < 4; i++) {
        const long long row = row0 + ty + 16 * i;
        if (row >= M) continue;
        for (int j = 0; j < 4; j++) {
            const long long col = col0 + tx + 16 * j;
            if (col >= N) continue;
            if (c_dtype == 1)
                ((unsigned short*)c)[row * ldc + col] = bf16_rne(acc[i][j]);
            else
                ((float*)c)[row * ldc + col] = acc[i][j];
        }
    }
}
