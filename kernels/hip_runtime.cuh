// The project's own HIP device header: what the portable kernels use, for clang's HIP mode with -nogpuinc
// -nogpulib (no ROCm install: build.rs compiles with the pinned clang of PyPI ziglang, scripts/
// install-hip-compiler.sh). build.rs force-includes it (`-include`) for the gfx942 and gfx950 builds only;
// nvcc, NVRTC and the CPU executor never see it.
//
// Everything maps to clang AMDGPU builtins: work-item ids, the workgroup size and the grid's block counts
// (code object v5 implicit arguments), ds_bpermute shuffles over the wavefront, s_barrier, atomics. No
// hardware FP8 conversion is used anywhere: the kernels' software conversions are the bit-exact ones.
#pragma once
#if defined(__HIP__)

#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __host__ __attribute__((host))
#define __shared__ __attribute__((shared))
#define __constant__ __attribute__((constant))
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(n, ...) __attribute__((launch_bounds(n)))
#define __align__(n) __attribute__((aligned(n)))

typedef unsigned int uint32_t;
typedef unsigned long long uint64_t;
typedef unsigned long size_t;

struct __iso_uint3 {
    unsigned int x, y, z;
};
struct alignas(8) uint2 {
    unsigned int x, y;
};
struct alignas(16) uint4 {
    unsigned int x, y, z, w;
};
__device__ __forceinline__ uint2 make_uint2(unsigned int x, unsigned int y) { return uint2{x, y}; }
__device__ __forceinline__ uint4 make_uint4(unsigned int x, unsigned int y, unsigned int z, unsigned int w) {
    return uint4{x, y, z, w};
}

// Code object v5 implicit kernel arguments: block counts at offsets 0, 4, 8.
__device__ __forceinline__ unsigned int __iso_grid_dim(int d) {
    return ((const unsigned int*)__builtin_amdgcn_implicitarg_ptr())[d];
}
#define threadIdx                                                                                                 \
    (__iso_uint3{__builtin_amdgcn_workitem_id_x(), __builtin_amdgcn_workitem_id_y(), __builtin_amdgcn_workitem_id_z()})
#define blockIdx                                                                                                  \
    (__iso_uint3{__builtin_amdgcn_workgroup_id_x(), __builtin_amdgcn_workgroup_id_y(),                          \
                 __builtin_amdgcn_workgroup_id_z()})
#define blockDim                                                                                                  \
    (__iso_uint3{(unsigned)__builtin_amdgcn_workgroup_size_x(), (unsigned)__builtin_amdgcn_workgroup_size_y(),   \
                 (unsigned)__builtin_amdgcn_workgroup_size_z()})
#define gridDim (__iso_uint3{__iso_grid_dim(0), __iso_grid_dim(1), __iso_grid_dim(2)})
#define warpSize (__builtin_amdgcn_wavefrontsize())

__device__ __forceinline__ unsigned int __lane_id() {
    return __builtin_amdgcn_mbcnt_hi(~0u, __builtin_amdgcn_mbcnt_lo(~0u, 0u));
}
__device__ __forceinline__ unsigned long long __activemask() { return __builtin_amdgcn_read_exec(); }

__device__ __forceinline__ void __syncthreads() {
    __builtin_amdgcn_fence(__ATOMIC_RELEASE, "workgroup");
    __builtin_amdgcn_s_barrier();
    __builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "workgroup");
}

// HIP's __shfl_xor: lane ^ mask within segments of `width` lanes (the caller's own value outside).
__device__ __forceinline__ int __shfl_xor(int v, int lane_mask, int width = warpSize) {
    const int self = (int)__lane_id();
    int index = self ^ lane_mask;
    index = index >= ((self + width) & ~(width - 1)) ? self : index;
    return __builtin_amdgcn_ds_bpermute(index << 2, v);
}
__device__ __forceinline__ unsigned int __shfl_xor(unsigned int v, int lane_mask, int width = warpSize) {
    return (unsigned int)__shfl_xor((int)v, lane_mask, width);
}
__device__ __forceinline__ float __shfl_xor(float v, int lane_mask, int width = warpSize) {
    return __builtin_bit_cast(float, __shfl_xor(__builtin_bit_cast(int, v), lane_mask, width));
}

__device__ __forceinline__ unsigned int atomicOr(unsigned int* a, unsigned int v) {
    return __hip_atomic_fetch_or(a, v, __ATOMIC_RELAXED, __HIP_MEMORY_SCOPE_AGENT);
}
__device__ __forceinline__ unsigned int atomicAdd(unsigned int* a, unsigned int v) {
    return __hip_atomic_fetch_add(a, v, __ATOMIC_RELAXED, __HIP_MEMORY_SCOPE_AGENT);
}

__device__ __forceinline__ unsigned int __float_as_uint(float x) { return __builtin_bit_cast(unsigned int, x); }
__device__ __forceinline__ float __uint_as_float(unsigned int x) { return __builtin_bit_cast(float, x); }
__device__ __forceinline__ float fminf(float a, float b) { return __builtin_fminf(a, b); }
__device__ __forceinline__ float fmaxf(float a, float b) { return __builtin_fmaxf(a, b); }
__device__ __forceinline__ float fabsf(float a) { return __builtin_fabsf(a); }
__device__ __forceinline__ float fmaf(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
__device__ __forceinline__ float ceilf(float a) { return __builtin_ceilf(a); }
__device__ __forceinline__ float exp2f(float a) { return __builtin_exp2f(a); }
// AMD's log2 (v_log_f32 with denormal scaling): unmeasured against CUDA's, so `float-ceil` scales on AMD are
// not claimed bit-exact.
__device__ __forceinline__ float log2f(float a) { return __builtin_log2f(a); }
__device__ __forceinline__ bool isnan(float a) { return __builtin_isnan(a); }

__device__ __forceinline__ unsigned int min(unsigned int a, unsigned int b) { return a < b ? a : b; }
__device__ __forceinline__ unsigned int max(unsigned int a, unsigned int b) { return a > b ? a : b; }
__device__ __forceinline__ int min(int a, int b) { return a < b ? a : b; }
__device__ __forceinline__ int max(int a, int b) { return a > b ? a : b; }
__device__ __forceinline__ long long min(long long a, long long b) { return a < b ? a : b; }
__device__ __forceinline__ long long max(long long a, long long b) { return a > b ? a : b; }
__device__ __forceinline__ unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
__device__ __forceinline__ unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }

#endif  // __HIP__
