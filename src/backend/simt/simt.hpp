// isolate's SIMT executor: CUDA / HIP kernel sources compiled by the system C++ compiler (C++20, g++ or clang++)
// and run on the CPU, bit for bit as a GPU would run them wherever the kernel's arithmetic is IEEE f32/f64.
//
// Model
// - One OS thread per block at a time (blocks spread over a few worker threads); every GPU thread of the block
//   is a fiber (ucontext) with its own stack, so a kernel is plain C++ and runs unchanged.
// - Lanes of a warp (32) or wavefront (64) run in lockstep at every warp-level call: a lane that reaches a
//   shuffle / ballot / __activemask parks; when every lane of its warp has parked, exited or reached
//   __syncthreads, the parked ones (the active lanes) exchange values at once, as the hardware does.
//   __syncthreads releases when every live thread of the block is there.
// - Strict where the hardware is undefined: a shuffle reading an inactive lane, a lane missing from its own
//   mask, a mask naming a live lane that is not at the same call, lanes of one warp at different kinds of
//   warp-level calls: each is an error naming the kernel, block and lane.
// - Buffers come from simt_alloc: each ends (rounded up to 16 bytes) on an inaccessible page, with another
//   before its first page; a fault there (or anywhere, while a kernel runs on an executor thread) stops the
//   launch with "kernel K: read/write N bytes past the end of buffer `name`". Writes into the < 16 bytes of
//   rounding slack, or before the data within its first page, are found by a canary check after the launch;
//   reads there are not faults (they see the canary bytes). An address far outside every buffer may land in a
//   neighbouring buffer's guard page and be described relative to it. The harness never crashes on them.
// - Math: CUDA's log2f is the measured H100 one (exact k just above 2^k; see src/formats/e8m0.rs and the table
//   the Rust side writes into simt_log2f_table.h); every other libm function is the host's (correctly rounded
//   or within an ulp: CUDA's own expf/logf/... may differ by an ulp). No FMA contraction (-ffp-contract=off),
//   no flush-to-zero, IEEE division and sqrt, like the project's nvcc flags.
// - CUDA mode (default) and HIP mode (ISO_SIMT_HIP defined: the source sees the HIP branch of the project's
//   portability macros). A 32-bit mask at wavefront 64 names the lanes of the caller's 32-lane half.
//
// The Rust side (src/backend/simt/mod.rs) appends a table of the entry points (SIMT_ENTRY) and dlopens the
// shared object; the exported C ABI is at the end of this file.
#pragma once

#include <math.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#define ISO_SIMT 1
#define SIMT_ABI_VERSION 1

// ---- CUDA/HIP keywords --------------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __constant__
// Per block: one OS thread runs one block at a time, so a thread-local static is the block's shared memory.
#define __shared__ static thread_local
#define __managed__
#define __align__(n) __attribute__((aligned(n)))

// ---- vector types -------------------------------------------------------------------------------------------
#define SIMT_VEC2(T, N, A)                                                                                        \
    struct alignas(A) N##2 { T x, y; };                                                                            \
    inline N##2 make_##N##2(T x, T y) { return N##2{x, y}; }
#define SIMT_VEC4(T, N, A)                                                                                        \
    struct alignas(A) N##4 { T x, y, z, w; };                                                                     \
    inline N##4 make_##N##4(T x, T y, T z, T w) { return N##4{x, y, z, w}; }
SIMT_VEC2(unsigned int, uint, 8)
SIMT_VEC4(unsigned int, uint, 16)
SIMT_VEC2(int, int, 8)
SIMT_VEC4(int, int, 16)
SIMT_VEC2(float, float, 8)
SIMT_VEC4(float, float, 16)
SIMT_VEC2(double, double, 16)
SIMT_VEC2(unsigned short, ushort, 4)
SIMT_VEC4(unsigned short, ushort, 8)
SIMT_VEC2(unsigned char, uchar, 2)
SIMT_VEC4(unsigned char, uchar, 4)
SIMT_VEC2(char, char, 2)
SIMT_VEC4(char, char, 4)
SIMT_VEC2(unsigned long long, ulonglong, 16)
SIMT_VEC2(long long, longlong, 16)
struct uint3 {
    unsigned int x, y, z;
};
struct dim3 {
    unsigned int x = 1, y = 1, z = 1;
    dim3() = default;
    dim3(unsigned int a, unsigned int b = 1, unsigned int c = 1) : x(a), y(b), z(c) {}
};
inline uint3 make_uint3(unsigned x, unsigned y, unsigned z) { return uint3{x, y, z}; }

namespace simt {

// ---- executor state -----------------------------------------------------------------------------------------
enum class St : uint8_t { Run, WarpOp, Barrier, Done, Fault };
enum Op : int { OP_SHFL_IDX, OP_SHFL_XOR, OP_SHFL_UP, OP_SHFL_DOWN, OP_BALLOT, OP_ANY, OP_ALL, OP_ACTIVEMASK, OP_SYNCWARP, OP_MFMA };
inline const char* op_name(int op) {
    static const char* n[] = {"__shfl_sync", "__shfl_xor_sync", "__shfl_up_sync", "__shfl_down_sync", "__ballot_sync",
                              "__any_sync", "__all_sync", "__activemask", "__syncwarp",
                              "__builtin_amdgcn_mfma_f32_16x16x32_*"};
    return n[op];
}

struct Lane {
    ucontext_t ctx;
    uint3 tid;
    int lane;  // index within the warp
    St st;
    // The pending warp-level call.
    int op;
    bool has_mask;
    bool mask32;
    uint64_t mask;
    int width;
    int arg;
    int vsize;
    alignas(16) unsigned char val[32];  // an MFMA passes A (8 bytes), B (8) and C (16)
    alignas(16) unsigned char res[16];
};

using Body = std::function<void()>;

struct Launch;

struct BlockCtx {
    Launch* launch;
    uint3 bid;
    dim3 bdim, gdim;
    int ws;
    Lane* lanes;
    int nthreads;
    ucontext_t sched;
    sigjmp_buf jmp;
    volatile sig_atomic_t active;
    char fault[512];
};

inline thread_local BlockCtx* tb = nullptr;
inline thread_local Lane* tl = nullptr;

// ---- buffers ------------------------------------------------------------------------------------------------
struct Buffer {
    unsigned char* map;  // the whole mapping (guard, data pages, guard)
    size_t map_len;
    unsigned char* data;
    size_t size;
    unsigned char* slack_end;  // data + size rounded up to 16 (the guard page starts here)
    unsigned char* first_page;  // start of the readable pages
    char name[64];
};
inline std::mutex& reg_mutex() {
    static std::mutex m;
    return m;
}
inline std::vector<Buffer>& registry() {
    static std::vector<Buffer> r;
    return r;
}
inline size_t page_size() {
    static size_t p = (size_t)sysconf(_SC_PAGESIZE);
    return p;
}
constexpr unsigned char CANARY = 0xA5;

// Describes where `addr` is relative to the registered buffers (for a fault message).
inline void describe_addr(uintptr_t a, char* out, size_t n) {
    std::lock_guard<std::mutex> g(reg_mutex());
    const size_t ps = page_size();
    for (const Buffer& b : registry()) {
        uintptr_t d = (uintptr_t)b.data, e = d + b.size;
        if (a >= e && a < (uintptr_t)b.slack_end + ps) {
            snprintf(out, n, "%zu bytes past the end of buffer `%s` (%zu bytes)", (size_t)(a - e), b.name, b.size);
            return;
        }
        if (a < d && a + ps >= (uintptr_t)b.first_page && a >= (uintptr_t)b.map) {
            snprintf(out, n, "%zu bytes before the start of buffer `%s` (%zu bytes)", (size_t)(d - a), b.name, b.size);
            return;
        }
    }
    snprintf(out, n, "address %p, in no buffer", (void*)a);
}

// ---- the launch ---------------------------------------------------------------------------------------------
struct Launch {
    const char* name;
    dim3 grid, block;
    int ws;
    size_t stack;
    const Body* body;
    std::atomic<uint64_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex err_mutex;
    char err[1024] = {0};
    void fail(const char* msg) {
        std::lock_guard<std::mutex> g(err_mutex);
        if (!failed.exchange(true)) snprintf(err, sizeof err, "%s", msg);
    }
};

[[noreturn]] inline void lane_exit_to_sched();

inline void lane_entry() {
    (*tb->launch->body)();
    tl->st = St::Done;
    lane_exit_to_sched();
}

inline void lane_exit_to_sched() {
    Lane* me = tl;
    swapcontext(&me->ctx, &tb->sched);
    __builtin_unreachable();
}

// Parks the calling lane with state `s` until the scheduler resumes it.
inline void park(St s) {
    Lane* me = tl;
    me->st = s;
    swapcontext(&me->ctx, &tb->sched);
    tl = me;
}

// A kernel-visible error (`__trap`, bad warp call): stops this block's launch with a message.
[[noreturn]] inline void lane_fail(const char* fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    BlockCtx* b = tb;
    snprintf(b->fault, sizeof b->fault, "thread (%u,%u,%u) of block (%u,%u,%u): %s", tl->tid.x, tl->tid.y, tl->tid.z,
             b->bid.x, b->bid.y, b->bid.z, msg);
    tl->st = St::Fault;
    lane_exit_to_sched();
}

// The lanes `m` (a mask as the caller passed it) name, as a bit set over the warp.
inline uint64_t eff_mask(const Lane& l, int ws) {
    uint64_t m = l.mask;
    if (l.mask32) {
        m &= 0xFFFFFFFFull;
        if (ws == 64) m <<= (l.lane & 32);
    }
    if (ws < 64) m &= (1ull << ws) - 1;
    return m;
}

// ---- CDNA3 matrix cores: the `cdna3` accumulator model (docs/numerics.md §8.7) --------------------------------
// The same arithmetic as the Rust model (src/gemm/mma/cdna3.rs), in the same exact integer steps, so that the
// MFMA builtins below give its bits: a test runs both on random and crafted operands (src/backend/simt/tests.rs).
namespace cdna3 {
enum Kind : uint8_t { ZERO, FIN, INF, NAN_ };
struct Val {
    Kind k;
    bool neg;
    int64_t m;  // |v| = m · 2^(e − fb)
    int e, fb;
};
// An FP8 format as the decoder sees it: mantissa bits, exponent bias, fnuz (0x80 = NaN, no −0, no inf),
// whether the all-ones exponent holds inf/NaN (OCP e5m2).
struct Fmt {
    int mbits, bias;
    bool fnuz, ieee_top;
};
constexpr Fmt E4M3FNUZ{3, 8, true, false}, E5M2FNUZ{2, 16, true, false}, E4M3FN{3, 7, false, false},
    E5M2{2, 15, false, true};
// The model's class of an FP8 code: normal m with the hidden bit and e = ⌊log2|v|⌋, subnormal m without it
// and e = emin = 1 − bias.
inline Val fp8(uint8_t c, Fmt f) {
    const bool neg = c & 0x80;
    const unsigned mag = c & 0x7F, E = mag >> f.mbits, man = mag & ((1u << f.mbits) - 1);
    if (f.fnuz && c == 0x80) return {NAN_, false, 0, 0, 0};
    if (!f.fnuz && !f.ieee_top && mag == 0x7F) return {NAN_, false, 0, 0, 0};
    if (f.ieee_top && E == (1u << (7 - f.mbits)) - 1) return man ? Val{NAN_, false, 0, 0, 0} : Val{INF, neg, 0, 0, 0};
    if (mag == 0) return {ZERO, neg, 0, 0, 0};
    if (E == 0) return {FIN, neg, (int64_t)man, 1 - f.bias, f.mbits};
    return {FIN, neg, (int64_t)(man | (1u << f.mbits)), (int)E - f.bias, f.mbits};
}
// The class of an f32 accumulator: e = ⌊log2|c|⌋ (−126 for a subnormal), 24-bit significand, fb = 23.
inline Val f32(float c) {
    const uint32_t u = std::bit_cast<uint32_t>(c), a = u & 0x7FFFFFFFu;
    const bool neg = u >> 31;
    if (a > 0x7F800000u) return {NAN_, false, 0, 0, 0};
    if (a == 0x7F800000u) return {INF, neg, 0, 0, 0};
    if (a == 0) return {ZERO, neg, 0, 0, 0};
    const int be = (int)(a >> 23);
    if (be == 0) return {FIN, neg, (int64_t)(a & 0x7FFFFF), -126, 23};
    return {FIN, neg, (int64_t)((a & 0x7FFFFF) | 0x800000), be - 127, 23};
}
// (−1)^neg · mag · 2^lsb rounded to f32, nearest-even (IEEE subnormals, overflow to inf).
inline float to_f32_rne(bool neg, unsigned __int128 mag, int lsb) {
    if (mag == 0) return 0.0f;
    int bits = 0;
    for (unsigned __int128 t = mag; t; t >>= 1) bits++;
    const int top = lsb + bits - 1;
    const int grid = top - 23 > -149 ? top - 23 : -149;
    const int drop = grid - lsb;
    unsigned __int128 q;
    int g;
    if (drop <= 0) {
        q = mag;
        g = lsb;
    } else if (drop >= 128) {
        q = 0;
        g = grid;
    } else {
        q = mag >> drop;
        const unsigned __int128 rem = mag & (((unsigned __int128)1 << drop) - 1), half = (unsigned __int128)1 << (drop - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        g = grid;
    }
    if (q == 0) return neg ? -0.0f : 0.0f;
    int qb = 0;
    for (unsigned __int128 t = q; t; t >>= 1) qb++;
    const float v = g + qb > 128 ? INFINITY : (float)ldexp((double)(uint64_t)q, g);
    return neg ? -v : v;
}
// x · 2^−d rounded toward −inf (d ≥ 0).
inline int64_t floor_shift(int64_t x, int d) { return d <= 0 ? x : d >= 63 ? (x < 0 ? -1 : 0) : x >> d; }
struct Term {
    int64_t v;
    int e, fb;
};
// Σ of the terms truncated toward zero onto 2^(E − 24), E = their largest exponent.
inline bool group_sum(const Term* t, int n, int64_t& s, int& e) {
    if (n == 0) return false;
    e = t[0].e;
    for (int i = 1; i < n; i++) e = t[i].e > e ? t[i].e : e;
    s = 0;
    for (int i = 0; i < n; i++) {
        const int sh = t[i].e - t[i].fb - (e - 24);
        const int64_t mag = t[i].v < 0 ? -t[i].v : t[i].v;
        const int64_t m = sh >= 0 ? mag << sh : (-sh >= 63 ? 0 : mag >> -sh);
        s += t[i].v < 0 ? -m : m;
    }
    return true;
}
// One 16-product step (n ≤ 16 pairs): the new C.
inline float step(float c, const uint8_t* a, Fmt fa, const uint8_t* b, Fmt fb, int n) {
    const Val cc = f32(c);
    Val va[16], vb[16];
    bool nan = cc.k == NAN_, pos = cc.k == INF && !cc.neg, ng = cc.k == INF && cc.neg;
    for (int i = 0; i < n; i++) {
        va[i] = fp8(a[i], fa);
        vb[i] = fp8(b[i], fb);
        const Val &x = va[i], &y = vb[i];
        if (x.k == NAN_ || y.k == NAN_) nan = true;
        else if ((x.k == INF && y.k == ZERO) || (x.k == ZERO && y.k == INF)) nan = true;
        else if (x.k == INF || y.k == INF) {
            const bool s = x.neg != y.neg;  // the product's sign (inf × inf, inf × finite)
            (s ? ng : pos) = true;
        }
    }
    if (nan || (pos && ng)) return std::bit_cast<float>(0x7FC00000u);
    if (pos) return INFINITY;
    if (ng) return -INFINITY;
    Term ev[8], od[8];
    int ne = 0, no = 0;
    for (int i = 0; i < n; i++) {
        // A zero takes part with exponent −126 (docs/numerics.md §8.7).
        const int64_t ma = va[i].k == FIN ? (va[i].neg ? -va[i].m : va[i].m) : 0;
        const int64_t mb = vb[i].k == FIN ? (vb[i].neg ? -vb[i].m : vb[i].m) : 0;
        const int ea = va[i].k == FIN ? va[i].e : -126, eb = vb[i].k == FIN ? vb[i].e : -126;
        const int fba = va[i].k == FIN ? va[i].fb : fa.mbits, fbb = vb[i].k == FIN ? vb[i].fb : fb.mbits;
        const Term t{ma * mb, ea + eb, fba + fbb};
        if (i % 2 == 0) ev[ne++] = t;
        else od[no++] = t;
    }
    int64_t s0 = 0, s1 = 0, s = 0;
    int e0 = 0, e1 = 0, e = 0;
    const bool h0 = group_sum(ev, ne, s0, e0), h1 = group_sum(od, no, s1, e1), he = h0 || h1;
    if (h0 && h1) {
        e = e0 > e1 ? e0 : e1;
        s = floor_shift(s0, e - e0) + floor_shift(s1, e - e1);
    } else if (h0) {
        s = s0, e = e0;
    } else if (h1) {
        s = s1, e = e1;
    }
    const int64_t cm = cc.k == FIN ? (cc.neg ? -cc.m : cc.m) : 0;
    const int ce = cc.k == FIN ? cc.e : -126;
    const int m = he ? (e > ce ? e : ce) : ce;
    __int128 sp = 0;
    if (he) {
        const int d = (m - 31) - (e - 24);
        sp = d >= 0 ? floor_shift(s, d) : (__int128)s << -d;
    }
    __int128 sc = 0;
    if (cm != 0 && ce >= m - 25) {
        const int d = (m - 24) - (ce - 23);
        const __int128 q = d >= 0 ? floor_shift(cm, d) : (__int128)cm << -d;
        sc = q << 7;
    }
    const __int128 r = sp + sc;
    if (r == 0) return 0.0f;
    return to_f32_rne(r < 0, (unsigned __int128)(r < 0 ? -r : r), m - 31);
}
}  // namespace cdna3

// The formats the FP8 MFMAs read: fnuz on gfx942 (CDNA3), OCP on gfx950 (the executor's HIP mode is gfx942
// unless ISO_SIMT_GFX950 is defined). `bf8`: the e5m2 operand of the *_bf8 variants.
inline cdna3::Fmt mfma_fmt(bool bf8) {
#ifdef ISO_SIMT_GFX950
    return bf8 ? cdna3::E5M2 : cdna3::E4M3FN;
#else
    return bf8 ? cdna3::E5M2FNUZ : cdna3::E4M3FNUZ;
#endif
}

// v_mfma_f32_16x16x32_{fp8,bf8}_{fp8,bf8} over the 64 lanes [w0, w0 + 64), each lane's val holding its A (8
// bytes), B (8) and C (4 floats). Operand layout (AMD Matrix Instruction Calculator, CDNA3; docs/numerics.md
// §8.7): A[i][k] is byte k % 8 of lane 16·⌊k/8⌋ + i, B[k][j] byte k % 8 of lane 16·⌊k/8⌋ + j, C/D[i][j] element
// i % 4 of lane 16·⌊i/4⌋ + j. The 32 products of an output are two chained model steps, k = 0..15 then 16..31.
inline void mfma_16x16x32(BlockCtx& b, int w0, int variant) {
    const cdna3::Fmt fa = mfma_fmt(variant & 1), fb = mfma_fmt(variant & 2);
    uint8_t A[16][32], B[16][32];  // B stored by column j: B[j][k]
    for (int l = 0; l < 64; l++) {
        const unsigned char* v = b.lanes[w0 + l].val;
        for (int x = 0; x < 8; x++) {
            A[l % 16][8 * (l / 16) + x] = v[x];
            B[l % 16][8 * (l / 16) + x] = v[8 + x];
        }
    }
    for (int l = 0; l < 64; l++) {
        Lane& ln = b.lanes[w0 + l];
        float c[4], d[4];
        memcpy(c, ln.val + 16, 16);
        const int j = l % 16;
        for (int r = 0; r < 4; r++) {
            const int i = 4 * (l / 16) + r;
            float acc = cdna3::step(c[r], A[i], fa, B[j], fb, 16);
            d[r] = cdna3::step(acc, A[i] + 16, fa, B[j] + 16, fb, 16);
        }
        memcpy(ln.res, d, 16);
    }
}

// Resolves the parked warp-level calls of the lanes [w0, w0 + ws). Returns false (with b.fault set) on an error.
inline bool resolve_warp(BlockCtx& b, int w0, int n) {
    uint64_t group = 0, done = 0;
    int first = -1;
    for (int i = 0; i < n; i++) {
        Lane& l = b.lanes[w0 + i];
        if (l.st == St::WarpOp) {
            group |= 1ull << i;
            if (first < 0) first = i;
        } else if (l.st == St::Done) {
            done |= 1ull << i;
        }
    }
    if (!group) return true;
    auto err = [&](const Lane& l, const char* fmt, auto... a) {
        char m[400];
        snprintf(m, sizeof m, fmt, a...);
        snprintf(b.fault, sizeof b.fault, "thread (%u,%u,%u) of block (%u,%u,%u), lane %d: %s", l.tid.x, l.tid.y, l.tid.z,
                 b.bid.x, b.bid.y, b.bid.z, l.lane, m);
        return false;
    };
    const int op = b.lanes[w0 + first].op;
    for (int i = 0; i < n; i++) {
        if (!(group >> i & 1)) continue;
        Lane& l = b.lanes[w0 + i];
        if (l.op != op)
            return err(l, "divergent warp-level calls: lane %d is at %s while lane %d is at %s", i, op_name(l.op), first,
                       op_name(op));
        if (l.has_mask) {
            uint64_t m = eff_mask(l, b.ws);
            if (!(m >> i & 1)) return err(l, "%s with mask 0x%llx that does not name the calling lane", op_name(op),
                                          (unsigned long long)l.mask);
            uint64_t missing = m & ~group & ~done;
            if (missing)
                return err(l, "%s with mask 0x%llx names lane %d, which is live but not at this call (divergence)",
                           op_name(op), (unsigned long long)l.mask, std::countr_zero(missing));
        }
    }
    if (op == OP_MFMA) {
        const Lane& l0 = b.lanes[w0 + first];
        if (b.ws != 64 || n != 64 || group != ~0ull)
            return err(l0, "%s needs all 64 lanes of a wavefront at the call (warp width %d, %d lanes in this wavefront, %d at the call)",
                       op_name(op), b.ws, n, std::popcount(group));
        for (int i = 0; i < n; i++)
            if (b.lanes[w0 + i].arg != l0.arg)
                return err(b.lanes[w0 + i], "%s: lanes at different MFMA variants", op_name(op));
        mfma_16x16x32(b, w0, l0.arg);
        for (int i = 0; i < n; i++) b.lanes[w0 + i].st = St::Run;
        return true;
    }
    for (int i = 0; i < n; i++) {
        if (!(group >> i & 1)) continue;
        Lane& l = b.lanes[w0 + i];
        const uint64_t m = l.has_mask ? eff_mask(l, b.ws) & group : group;
        switch (op) {
        case OP_SHFL_IDX:
        case OP_SHFL_XOR:
        case OP_SHFL_UP:
        case OP_SHFL_DOWN: {
            const int w = l.width;
            if (w <= 0 || w > b.ws || (w & (w - 1)))
                return err(l, "%s with width %d (a power of two up to %d)", op_name(op), w, b.ws);
            const int seg = i & ~(w - 1);
            int src;
            if (op == OP_SHFL_IDX) src = seg + (l.arg & (w - 1));
            else if (op == OP_SHFL_XOR) {
                src = i ^ l.arg;
                if (src >= seg + w || src < seg) src = i;
            } else if (op == OP_SHFL_UP) {
                src = i - l.arg;
                if (src < seg) src = i;
            } else {
                src = i + l.arg;
                if (src >= seg + w) src = i;
            }
            if (src < 0 || src >= n || !(group >> src & 1))
                return err(l, "%s reads lane %d, which is not active at this call", op_name(op), src);
            const Lane& s = b.lanes[w0 + src];
            if (s.vsize != l.vsize) return err(l, "%s with values of different sizes across lanes", op_name(op));
            memcpy(l.res, s.val, l.vsize);
            break;
        }
        case OP_BALLOT:
        case OP_ANY:
        case OP_ALL: {
            uint64_t bits = 0;
            for (int j = 0; j < n; j++)
                if ((m >> j & 1) && b.lanes[w0 + j].arg) bits |= 1ull << j;
            uint64_t r;
            if (op == OP_BALLOT) r = (l.mask32 && b.ws == 64) ? (bits >> (i & 32)) & 0xFFFFFFFFull : bits;
            else if (op == OP_ANY) r = bits != 0;
            else r = bits == m;
            memcpy(l.res, &r, 8);
            break;
        }
        case OP_ACTIVEMASK: {
            uint64_t r = l.mask32 && b.ws == 64 ? (group >> (i & 32)) & 0xFFFFFFFFull : group;
            memcpy(l.res, &r, 8);
            break;
        }
        default:
            break;
        }
    }
    for (int i = 0; i < n; i++)
        if (group >> i & 1) b.lanes[w0 + i].st = St::Run;
    return true;
}

inline void resume(BlockCtx& b, Lane& l) {
    tl = &l;
    swapcontext(&b.sched, &l.ctx);
    tl = nullptr;
}

// Runs one block to completion (or its first error). Returns false with b.fault set on an error.
inline bool run_block(BlockCtx& b, unsigned char* stacks, size_t slot, size_t guard, size_t stack) {
    const int n = b.nthreads;
    const int ws = b.ws;
    for (int t = 0; t < n; t++) {
        Lane& l = b.lanes[t];
        l.tid = uint3{(unsigned)(t % b.bdim.x), (unsigned)(t / b.bdim.x % b.bdim.y), (unsigned)(t / (b.bdim.x * b.bdim.y))};
        l.lane = t % ws;
        l.st = St::Run;
        getcontext(&l.ctx);
        l.ctx.uc_stack.ss_sp = stacks + (size_t)t * slot + guard;
        l.ctx.uc_stack.ss_size = stack;
        l.ctx.uc_link = nullptr;
        makecontext(&l.ctx, lane_entry, 0);
    }
    for (;;) {
        for (int w0 = 0; w0 < n; w0 += ws) {
            const int wn = n - w0 < ws ? n - w0 : ws;
            for (;;) {
                for (int i = 0; i < wn; i++) {
                    Lane& l = b.lanes[w0 + i];
                    while (l.st == St::Run) resume(b, l);
                    if (l.st == St::Fault) return false;
                }
                bool any = false;
                for (int i = 0; i < wn; i++) any |= b.lanes[w0 + i].st == St::WarpOp;
                if (!any) break;
                if (!resolve_warp(b, w0, wn)) return false;
            }
            if (b.launch->failed.load(std::memory_order_relaxed)) return true;  // another block failed: stop early
        }
        bool all_done = true;
        for (int t = 0; t < n; t++) all_done &= b.lanes[t].st == St::Done;
        if (all_done) return true;
        for (int t = 0; t < n; t++)
            if (b.lanes[t].st == St::Barrier) b.lanes[t].st = St::Run;
    }
}

// ---- faults -------------------------------------------------------------------------------------------------
inline struct sigaction old_actions[32];

inline void on_fault(int sig, siginfo_t* si, void* uc) {
    BlockCtx* b = tb;
    if (b && b->active) {
        b->active = 0;
        char where[300];
        const char* what = sig == SIGFPE ? "arithmetic fault (integer division by zero?)"
                         : sig == SIGILL ? "illegal instruction"
                                         : nullptr;
        if (what) {
            snprintf(where, sizeof where, "%s", what);
        } else {
            char d[240];
            describe_addr((uintptr_t)si->si_addr, d, sizeof d);
            const char* rw = "accessed";
#if defined(__x86_64__)
            const ucontext_t* u = (const ucontext_t*)uc;
            rw = (u->uc_mcontext.gregs[REG_ERR] & 2) ? "wrote" : "read";
#endif
            snprintf(where, sizeof where, "%s %s", rw, d);
        }
        Lane* l = tl;
        if (l)
            snprintf(b->fault, sizeof b->fault, "thread (%u,%u,%u) of block (%u,%u,%u): %s", l->tid.x, l->tid.y, l->tid.z,
                     b->bid.x, b->bid.y, b->bid.z, where);
        else
            snprintf(b->fault, sizeof b->fault, "block (%u,%u,%u): %s", b->bid.x, b->bid.y, b->bid.z, where);
        siglongjmp(b->jmp, 1);
    }
    // Not ours: hand it to whoever handled it before (Rust's stack-overflow handler, or the default action).
    struct sigaction& o = old_actions[sig];
    if (o.sa_flags & SA_SIGINFO) {
        if (o.sa_sigaction) {
            o.sa_sigaction(sig, si, uc);
            return;
        }
    } else if (o.sa_handler != SIG_DFL && o.sa_handler != SIG_IGN) {
        o.sa_handler(sig);
        return;
    }
    signal(sig, SIG_DFL);  // the fault repeats on return and takes its default action
}

inline void install_handlers() {
    static std::once_flag once;
    std::call_once(once, [] {
        for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL}) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_sigaction = on_fault;
            sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
            sigemptyset(&sa.sa_mask);
            sigaction(sig, &sa, &old_actions[sig]);
        }
    });
}

// One worker: takes blocks until there are none left (or the launch failed).
inline void worker(Launch* L) {
    const dim3 bd = L->block;
    const int n = (int)(bd.x * bd.y * bd.z);
    const size_t ps = page_size();
    // Fiber stacks, each with an inaccessible page below it.
    const size_t slot = L->stack + ps;
    unsigned char* mem = (unsigned char*)mmap(nullptr, slot * n, PROT_READ | PROT_WRITE,
                                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) {
        L->fail("cannot map the fiber stacks");
        return;
    }
    for (int t = 0; t < n; t++) mprotect(mem + (size_t)t * slot, ps, PROT_NONE);
    // The signal handler runs on its own stack (a fault may be a fiber's stack overflow).
    std::vector<unsigned char> alt(64 * 1024);
    stack_t ss{}, old_ss{};
    ss.ss_sp = alt.data();
    ss.ss_size = alt.size();
    sigaltstack(&ss, &old_ss);
    std::unique_ptr<Lane[]> lanes(new Lane[n]);
    BlockCtx b;
    b.launch = L;
    b.bdim = L->block;
    b.gdim = L->grid;
    b.ws = L->ws;
    b.lanes = lanes.get();
    b.nthreads = n;
    b.active = 0;
    tb = &b;
    const uint64_t nblocks = (uint64_t)L->grid.x * L->grid.y * L->grid.z;
    for (;;) {
        if (L->failed.load(std::memory_order_relaxed)) break;
        const uint64_t k = L->next.fetch_add(1);
        if (k >= nblocks) break;
        b.bid = uint3{(unsigned)(k % L->grid.x), (unsigned)(k / L->grid.x % L->grid.y),
                      (unsigned)(k / ((uint64_t)L->grid.x * L->grid.y))};
        b.fault[0] = 0;
        bool ok;
        if (sigsetjmp(b.jmp, 1) == 0) {
            b.active = 1;
            ok = run_block(b, mem, slot, ps, L->stack);
            b.active = 0;
        } else {
            ok = false;
        }
        if (!ok) {
            char m[900];
            snprintf(m, sizeof m, "kernel %s: %s", L->name, b.fault);
            L->fail(m);
            break;
        }
    }
    tb = nullptr;
    tl = nullptr;
    stack_t dis{};
    dis.ss_flags = SS_DISABLE;
    sigaltstack(old_ss.ss_sp ? &old_ss : &dis, nullptr);
    munmap(mem, slot * n);
}

// ---- binding a kernel's parameters (cuLaunchKernel's `void** args`) -----------------------------------------
template <class... A, size_t... I>
void bind_impl(void (*f)(A...), void** args, Body& out, std::index_sequence<I...>) {
    auto tup = std::make_shared<std::tuple<std::decay_t<A>...>>(*static_cast<std::decay_t<A>*>(args[I])...);
    out = [f, tup] { std::apply(f, *tup); };
}
template <class... A>
void bind(void (*f)(A...), void** args, Body& out) {
    bind_impl(f, args, out, std::index_sequence_for<A...>{});
}
template <class... A>
constexpr int arity(void (*)(A...)) {
    return (int)sizeof...(A);
}
template <class... A>
constexpr int args_size(void (*)(A...)) {
    return (int)(0 + ... + sizeof(std::decay_t<A>));
}

template <class... A>
struct ParamSizes {
    static constexpr int v[sizeof...(A) + 1] = {(int)sizeof(std::decay_t<A>)..., 0};
};
template <class... A>
constexpr const int* param_sizes(void (*)(A...)) {
    return ParamSizes<A...>::v;
}

struct Entry {
    const char* name;
    void (*bind)(void** args, Body& out);
    int nargs;
    int nbytes;         // the sum of the parameter sizes (checked against what the caller passes)
    const int* sizes;   // each parameter's size
};

// ---- warp-level calls ---------------------------------------------------------------------------------------
template <class T>
T warp_call(int op, bool has_mask, bool mask32, uint64_t mask, T v, int arg, int width) {
    static_assert(sizeof(T) <= 16 && std::is_trivially_copyable_v<T>, "warp shuffle of a value over 16 bytes");
    Lane* l = tl;
    l->op = op;
    l->has_mask = has_mask;
    l->mask32 = mask32;
    l->mask = mask;
    l->arg = arg;
    l->width = width;
    l->vsize = sizeof(T);
    memcpy(l->val, &v, sizeof(T));
    park(St::WarpOp);
    T r;
    memcpy(&r, l->res, sizeof(T));
    return r;
}
inline uint64_t warp_bits(int op, bool has_mask, bool mask32, uint64_t mask, int pred) {
    Lane* l = tl;
    l->op = op;
    l->has_mask = has_mask;
    l->mask32 = mask32;
    l->mask = mask;
    l->arg = pred != 0;
    l->vsize = 0;
    park(St::WarpOp);
    uint64_t r;
    memcpy(&r, l->res, 8);
    return r;
}
template <class M>
constexpr bool is32() {
    static_assert(std::is_integral_v<M>, "warp mask must be an integer");
    return sizeof(M) <= 4;
}

// ---- CUDA's log2f (measured; see src/formats/e8m0.rs) --------------------------------------------------------
#include "simt_log2f_table.h"
inline float cuda_log2f(float s) {
    uint32_t u;
    memcpy(&u, &s, 4);
    if (!(s > 0.0f) || u >= 0x7F800000u) return ::log2f(s);  // 0, negative, NaN, inf: the host's (−inf, NaN, inf)
    int e = (int)(u >> 23), k;
    uint32_t man = u & 0x7FFFFFu, rest;
    if (e > 0) {
        k = e - 127;
        rest = man;
    } else {
        int lead = 31 - std::countl_zero(man);
        k = lead - 149;
        rest = (man ^ (1u << lead)) << (23 - lead);
    }
    if (rest == 0 || rest <= SIMT_LOG2F_EXACT_K_MAX_REST[k + 149]) return (float)k;
    float r = (float)::log2((double)s);
    // Above 2^k and not in the measured band: CUDA's result is above k.
    if (r <= (float)k) r = nextafterf((float)k, INFINITY);
    return r;
}

}  // namespace simt

// ---- thread / block indices ---------------------------------------------------------------------------------
#define threadIdx (::simt::tl->tid)
#define blockIdx (::simt::tb->bid)
#define blockDim (::simt::tb->bdim)
#define gridDim (::simt::tb->gdim)
#define warpSize (::simt::tb->ws)

// ---- synchronization ----------------------------------------------------------------------------------------
inline void __syncthreads() { ::simt::park(::simt::St::Barrier); }
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }
template <class M = unsigned>
inline void __syncwarp(M mask = (M)0xFFFFFFFFu) {
    ::simt::warp_bits(::simt::OP_SYNCWARP, true, ::simt::is32<M>(), (uint64_t)mask, 0);
}
[[noreturn]] inline void __trap() { ::simt::lane_fail("__trap() called"); }

// CUDA shuffles (a 32-bit mask; a 64-bit one as ROCm ≥ 6.2 requires is accepted too).
template <class M, class T>
inline T __shfl_sync(M mask, T v, int src, int width = -1) {
    return ::simt::warp_call(::simt::OP_SHFL_IDX, true, ::simt::is32<M>(), (uint64_t)mask, v, src,
                             width < 0 ? warpSize : width);
}
template <class M, class T>
inline T __shfl_xor_sync(M mask, T v, int lane_mask, int width = -1) {
    return ::simt::warp_call(::simt::OP_SHFL_XOR, true, ::simt::is32<M>(), (uint64_t)mask, v, lane_mask,
                             width < 0 ? warpSize : width);
}
template <class M, class T>
inline T __shfl_up_sync(M mask, T v, unsigned d, int width = -1) {
    return ::simt::warp_call(::simt::OP_SHFL_UP, true, ::simt::is32<M>(), (uint64_t)mask, v, (int)d,
                             width < 0 ? warpSize : width);
}
template <class M, class T>
inline T __shfl_down_sync(M mask, T v, unsigned d, int width = -1) {
    return ::simt::warp_call(::simt::OP_SHFL_DOWN, true, ::simt::is32<M>(), (uint64_t)mask, v, (int)d,
                             width < 0 ? warpSize : width);
}
template <class M>
inline auto __ballot_sync(M mask, int pred) {
    if constexpr (::simt::is32<M>())
        return (unsigned)::simt::warp_bits(::simt::OP_BALLOT, true, true, (uint64_t)mask, pred);
    else
        return (unsigned long long)::simt::warp_bits(::simt::OP_BALLOT, true, false, (uint64_t)mask, pred);
}
template <class M>
inline int __any_sync(M mask, int pred) {
    return (int)::simt::warp_bits(::simt::OP_ANY, true, ::simt::is32<M>(), (uint64_t)mask, pred);
}
template <class M>
inline int __all_sync(M mask, int pred) {
    return (int)::simt::warp_bits(::simt::OP_ALL, true, ::simt::is32<M>(), (uint64_t)mask, pred);
}
#ifdef ISO_SIMT_HIP
// HIP: maskless shuffles over the wavefront; 64-bit ballot and active mask.
inline unsigned long long __activemask() {
    return ::simt::warp_bits(::simt::OP_ACTIVEMASK, false, false, 0, 0);
}
#else
inline unsigned __activemask() { return (unsigned)::simt::warp_bits(::simt::OP_ACTIVEMASK, false, true, 0, 0); }
#endif
template <class T>
inline T __shfl(T v, int src, int width = -1) {
    return ::simt::warp_call(::simt::OP_SHFL_IDX, false, false, 0, v, src, width < 0 ? warpSize : width);
}
template <class T>
inline T __shfl_xor(T v, int lane_mask, int width = -1) {
    return ::simt::warp_call(::simt::OP_SHFL_XOR, false, false, 0, v, lane_mask, width < 0 ? warpSize : width);
}
template <class T>
inline T __shfl_up(T v, unsigned d, int width = -1) {
    return ::simt::warp_call(::simt::OP_SHFL_UP, false, false, 0, v, (int)d, width < 0 ? warpSize : width);
}
template <class T>
inline T __shfl_down(T v, unsigned d, int width = -1) {
    return ::simt::warp_call(::simt::OP_SHFL_DOWN, false, false, 0, v, (int)d, width < 0 ? warpSize : width);
}
inline unsigned long long __ballot(int pred) { return ::simt::warp_bits(::simt::OP_BALLOT, false, false, 0, pred); }
inline int __any(int pred) { return (int)::simt::warp_bits(::simt::OP_ANY, false, false, 0, pred); }
inline int __all(int pred) { return (int)::simt::warp_bits(::simt::OP_ALL, false, false, 0, pred); }
inline unsigned __lane_id() { return (unsigned)::simt::tl->lane; }

// ---- AMD matrix cores (CDNA3 / CDNA4 FP8 MFMA) ----------------------------------------------------------------
// clang's builtins, with a GCC vector for the 4-float accumulator (g++ has no ext_vector_type: a kernel writes
// `float __attribute__((vector_size(16)))` for the executor, `ext_vector_type(4)` for clang). The CBSZ / ABID /
// BLGP broadcast controls are not modelled: non-zero values stop the launch.
namespace simt {
template <class V>
inline V mfma_call(int variant, long long a, long long b, V c, int cbsz, int abid, int blgp) {
    static_assert(sizeof(V) == 16, "the MFMA accumulator is 4 floats: declare it float __attribute__((vector_size(16)))");
    if (cbsz || abid || blgp) lane_fail("MFMA with cbsz/abid/blgp %d/%d/%d: only 0 is modelled", cbsz, abid, blgp);
    Lane* l = tl;
    l->op = OP_MFMA;
    l->has_mask = false;
    l->mask32 = false;
    l->mask = 0;
    l->arg = variant;
    l->width = 64;
    l->vsize = 32;
    memcpy(l->val, &a, 8);
    memcpy(l->val + 8, &b, 8);
    memcpy(l->val + 16, &c, 16);
    park(St::WarpOp);
    V r;
    memcpy(&r, l->res, 16);
    return r;
}
}  // namespace simt
template <class V>
inline V __builtin_amdgcn_mfma_f32_16x16x32_fp8_fp8(long long a, long long b, V c, int cbsz, int abid, int blgp) {
    return ::simt::mfma_call(0, a, b, c, cbsz, abid, blgp);
}
template <class V>
inline V __builtin_amdgcn_mfma_f32_16x16x32_bf8_fp8(long long a, long long b, V c, int cbsz, int abid, int blgp) {
    return ::simt::mfma_call(1, a, b, c, cbsz, abid, blgp);
}
template <class V>
inline V __builtin_amdgcn_mfma_f32_16x16x32_fp8_bf8(long long a, long long b, V c, int cbsz, int abid, int blgp) {
    return ::simt::mfma_call(2, a, b, c, cbsz, abid, blgp);
}
template <class V>
inline V __builtin_amdgcn_mfma_f32_16x16x32_bf8_bf8(long long a, long long b, V c, int cbsz, int abid, int blgp) {
    return ::simt::mfma_call(3, a, b, c, cbsz, abid, blgp);
}
// The target the executor presents in HIP mode (kernels may pick their MFMA path by it).
#ifdef ISO_SIMT_HIP
#ifdef ISO_SIMT_GFX950
#define __gfx950__ 1
#else
#define __gfx942__ 1
#endif
#endif

// ---- atomics (blocks run on several OS threads: real atomics) -----------------------------------------------
#define SIMT_ATOMIC_INT(T)                                                                                        \
    inline T atomicAdd(T* a, T v) { return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST); }                          \
    inline T atomicSub(T* a, T v) { return __atomic_fetch_sub(a, v, __ATOMIC_SEQ_CST); }                          \
    inline T atomicOr(T* a, T v) { return __atomic_fetch_or(a, v, __ATOMIC_SEQ_CST); }                            \
    inline T atomicAnd(T* a, T v) { return __atomic_fetch_and(a, v, __ATOMIC_SEQ_CST); }                          \
    inline T atomicXor(T* a, T v) { return __atomic_fetch_xor(a, v, __ATOMIC_SEQ_CST); }                          \
    inline T atomicExch(T* a, T v) { return __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST); }                        \
    inline T atomicCAS(T* a, T c, T v) {                                                                          \
        __atomic_compare_exchange_n(a, &c, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);                          \
        return c;                                                                                                 \
    }                                                                                                             \
    inline T atomicMax(T* a, T v) {                                                                               \
        T o = __atomic_load_n(a, __ATOMIC_SEQ_CST);                                                               \
        while (o < v && !__atomic_compare_exchange_n(a, &o, v, true, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {        \
        }                                                                                                         \
        return o;                                                                                                 \
    }                                                                                                             \
    inline T atomicMin(T* a, T v) {                                                                               \
        T o = __atomic_load_n(a, __ATOMIC_SEQ_CST);                                                               \
        while (o > v && !__atomic_compare_exchange_n(a, &o, v, true, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {        \
        }                                                                                                         \
        return o;                                                                                                 \
    }
SIMT_ATOMIC_INT(int)
SIMT_ATOMIC_INT(unsigned int)
SIMT_ATOMIC_INT(unsigned long long)
SIMT_ATOMIC_INT(long long)
inline float atomicAdd(float* a, float v) { return std::atomic_ref<float>(*a).fetch_add(v); }
inline double atomicAdd(double* a, double v) { return std::atomic_ref<double>(*a).fetch_add(v); }
inline float atomicExch(float* a, float v) { return std::atomic_ref<float>(*a).exchange(v); }

// ---- integer / float intrinsics -----------------------------------------------------------------------------
template <class A, class B>
inline auto max(A a, B b) {
    using T = std::common_type_t<A, B>;
    if constexpr (std::is_floating_point_v<T>) return (T)fmax((T)a, (T)b);
    else return (T)a > (T)b ? (T)a : (T)b;
}
template <class A, class B>
inline auto min(A a, B b) {
    using T = std::common_type_t<A, B>;
    if constexpr (std::is_floating_point_v<T>) return (T)fmin((T)a, (T)b);
    else return (T)a < (T)b ? (T)a : (T)b;
}
inline unsigned __float_as_uint(float x) { return std::bit_cast<unsigned>(x); }
inline float __uint_as_float(unsigned x) { return std::bit_cast<float>(x); }
inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline long long __double_as_longlong(double x) { return std::bit_cast<long long>(x); }
inline double __longlong_as_double(long long x) { return std::bit_cast<double>(x); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline float __fsqrt_rn(float a) { return sqrtf(a); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __fma_rn(double a, double b, double c) { return fma(a, b, c); }
inline float __saturatef(float x) { return x != x ? 0.0f : fminf(fmaxf(x, 0.0f), 1.0f); }
// The fast approximations map to the accurate host functions (CUDA's differ by a few ulps).
inline float __fdividef(float a, float b) { return a / b; }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return ::simt::cuda_log2f(x); }
inline float __exp2f(float x) { return exp2f(x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline int __clz(int x) { return x == 0 ? 32 : std::countl_zero((unsigned)x); }
inline int __clzll(long long x) { return x == 0 ? 64 : std::countl_zero((unsigned long long)x); }
inline int __popc(unsigned x) { return std::popcount(x); }
inline int __popcll(unsigned long long x) { return std::popcount(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
    unsigned r = 0;
    for (int i = 0; i < 32; i++) r |= ((x >> i) & 1u) << (31 - i);
    return r;
}
inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s) {
    const unsigned long long v = ((unsigned long long)y << 32) | x;
    unsigned r = 0;
    for (int i = 0; i < 4; i++) r |= (unsigned)((v >> (8 * ((s >> (4 * i)) & 7))) & 0xFF) << (8 * i);
    return r;
}
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
    return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
template <class T>
inline T __ldg(const T* p) {
    return *p;
}
// CUDA's log2f, as measured (the only libm function whose CUDA rounding the project models).
#define log2f(x) ::simt::cuda_log2f(x)

// ---- 16-bit floats and FP8 (cuda_bf16.h, cuda_fp16.h, cuda_fp8.h, hip_fp8.h) ------------------------------------
namespace simt {
inline uint16_t f32_to_bf16_rn(float f) {
    uint32_t u = std::bit_cast<uint32_t>(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FFF;  // CUDA's canonical bf16 NaN
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
inline uint16_t f32_to_f16_rn(float f) {
    uint32_t u = std::bit_cast<uint32_t>(f);
    uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return 0x7FFF;  // CUDA's canonical half NaN
    if (a >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u);  // ≥ 65520 rounds to inf
    if (a < 0x38800000u) {  // below 2^-14: subnormal half, RNE
        if (a < 0x33000000u) return (uint16_t)sign;  // ≤ 2^-25: 0 (2^-25 exactly ties to even 0)
        uint32_t e = a >> 23, m = (a & 0x7FFFFFu) | 0x800000u;
        uint32_t shift = 126 - e;  // m · 2^(e-150) in units of 2^-24
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = a + 0xFFFu + ((a >> 13) & 1u) - (112u << 23);
    return (uint16_t)(sign | (r >> 13));
}
inline float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1F, m = h & 0x3FF;
    if (e == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | (m << 13));
    if (e == 0) return std::bit_cast<float>(std::bit_cast<uint32_t>((float)m * 0x1p-24f) | sign);
    return std::bit_cast<float>(sign | ((e + 112) << 23) | (m << 13));
}
// f64 → FP8 with round-to-nearest-even, as cuda_fp8.hpp's conversions define it (bias, mantissa bits, max code,
// whether the format has inf). `sat`: out-of-range finite (and inf) → ±max; else NaN (e4m3) / inf (e5m2).
inline uint8_t f64_to_fp8(double x, bool sat, int mbits, int bias, uint8_t maxcode, bool has_inf) {
    uint64_t xb = std::bit_cast<uint64_t>(x);
    uint8_t sign = (uint8_t)((xb >> 63) << 7);
    double a = fabs(x);
    if (a != a) return has_inf ? (uint8_t)(0x7E | ((xb >> (52 - mbits)) & ((1u << mbits) - 1))) : 0x7F;
    // The largest finite value and the overflow threshold (max + half an ulp of max).
    const int emax = (maxcode >> mbits) - bias;
    const double maxv = ldexp(1.0 + (double)(maxcode & ((1u << mbits) - 1)) / (1 << mbits), emax);
    const double thresh = maxv + ldexp(0.5, emax - mbits);
    if (a > thresh || (has_inf && a >= thresh)) return (uint8_t)(sign | (sat ? maxcode : (has_inf ? 0x7C : 0x7F)));
    // Quantum: 2^(max(e, 1 − bias) − mbits); RNE of a / quantum by rint (exact in f64).
    int e;
    frexp(a, &e);
    e -= 1;  // a = 1.m · 2^e
    const int emin = 1 - bias;
    const int qe = (e < emin ? emin : e) - mbits;
    double q = rint(ldexp(a, -qe));  // the default rounding mode is to-nearest-even
    // Reassemble: q · 2^qe as a code.
    if (q == 0) return sign;
    int ce;
    frexp(q * ldexp(1.0, qe), &ce);
    ce -= 1;
    if (ce < emin) return (uint8_t)(sign | (uint8_t)q);  // subnormal: the mantissa field is q
    const uint32_t mant = (uint32_t)(ldexp(q * ldexp(1.0, qe), -ce) * (1 << mbits)) & ((1u << mbits) - 1);
    uint8_t code = (uint8_t)(((ce + bias) << mbits) | mant);
    if (code > maxcode) code = sat ? maxcode : (has_inf ? 0x7C : 0x7F);  // cannot happen below the threshold
    return (uint8_t)(sign | code);
}
}  // namespace simt

struct __nv_bfloat16 {
    unsigned short __x;
    __nv_bfloat16() = default;
    __nv_bfloat16(float f) : __x(::simt::f32_to_bf16_rn(f)) {}
    operator float() const { return std::bit_cast<float>((uint32_t)__x << 16); }
};
struct __nv_bfloat162 {
    __nv_bfloat16 x, y;
};
struct __half {
    unsigned short __x;
    __half() = default;
    __half(float f) : __x(::simt::f32_to_f16_rn(f)) {}
    operator float() const { return ::simt::f16_to_f32(__x); }
};
struct __half2 {
    __half x, y;
};
typedef __nv_bfloat16 nv_bfloat16;
typedef __half half;
typedef __nv_bfloat16 __hip_bfloat16;
typedef struct {
    unsigned short x;
} __nv_bfloat16_raw;
inline float __bfloat162float(__nv_bfloat16 h) { return (float)h; }
inline __nv_bfloat16 __float2bfloat16(float f) { return __nv_bfloat16(f); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }
inline float __half2float(__half h) { return (float)h; }
inline __half __float2half(float f) { return __half(f); }
inline __half __float2half_rn(float f) { return __half(f); }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.__x; }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) {
    __nv_bfloat16 h;
    h.__x = u;
    return h;
}
inline unsigned short __half_as_ushort(__half h) { return h.__x; }
inline __half __ushort_as_half(unsigned short u) {
    __half h;
    h.__x = u;
    return h;
}

typedef unsigned char __nv_fp8_storage_t;
typedef unsigned short __nv_fp8x2_storage_t;
typedef enum { __NV_NOSAT = 0, __NV_SATFINITE = 1 } __nv_saturation_t;
typedef enum { __NV_E4M3 = 0, __NV_E5M2 = 1 } __nv_fp8_interpretation_t;
// cuda_fp8.hpp: NaN input is canonicalized (positive) before the conversion.
inline __nv_fp8_storage_t __nv_cvt_double_to_fp8(double x, __nv_saturation_t sat, __nv_fp8_interpretation_t t) {
    return t == __NV_E4M3 ? ::simt::f64_to_fp8(x, sat == __NV_SATFINITE, 3, 7, 0x7E, false)
                          : ::simt::f64_to_fp8(x, sat == __NV_SATFINITE, 2, 15, 0x7B, true);
}
inline __nv_fp8_storage_t __nv_cvt_float_to_fp8(float x, __nv_saturation_t sat, __nv_fp8_interpretation_t t) {
    uint32_t u = std::bit_cast<uint32_t>(x);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) u = 0x7FFFFFFFu;
    return __nv_cvt_double_to_fp8((double)std::bit_cast<float>(u), sat, t);
}
inline __nv_fp8x2_storage_t __nv_cvt_float2_to_fp8x2(float2 v, __nv_saturation_t sat, __nv_fp8_interpretation_t t) {
    return (__nv_fp8x2_storage_t)(__nv_cvt_float_to_fp8(v.x, sat, t) | (__nv_cvt_float_to_fp8(v.y, sat, t) << 8));
}
inline __nv_fp8_storage_t __nv_cvt_bfloat16raw_to_fp8(__nv_bfloat16_raw x, __nv_saturation_t sat,
                                                      __nv_fp8_interpretation_t t) {
    return __nv_cvt_float_to_fp8(std::bit_cast<float>((uint32_t)x.x << 16), sat, t);
}
inline float simt_fp8_to_float(uint8_t c, int mbits, int bias, bool has_inf, bool fnuz) {
    uint32_t sign = (uint32_t)(c & 0x80) << 24;
    uint32_t e = (c & 0x7F) >> mbits, m = c & ((1u << mbits) - 1);
    if (fnuz && c == 0x80) return std::bit_cast<float>(0x7FC00000u);
    if (!fnuz && !has_inf && (c & 0x7F) == 0x7F) return std::bit_cast<float>(sign | 0x7FC00000u);
    if (has_inf && e == 31) return std::bit_cast<float>(sign | (m ? 0x7FC00000u : 0x7F800000u));
    float mag = e == 0 ? ldexpf((float)m, 1 - bias - mbits) : ldexpf(1.0f + (float)m / (1 << mbits), (int)e - bias);
    return std::bit_cast<float>(std::bit_cast<uint32_t>(mag) | sign);
}
struct __half_raw {
    unsigned short x;
};
inline __half_raw __nv_cvt_fp8_to_halfraw(__nv_fp8_storage_t c, __nv_fp8_interpretation_t t) {
    float f = t == __NV_E4M3 ? simt_fp8_to_float(c, 3, 7, false, false) : simt_fp8_to_float(c, 2, 15, true, false);
    return __half_raw{::simt::f32_to_f16_rn(f)};  // exact: every FP8 value is a half
}
struct __nv_fp8_e4m3 {
    __nv_fp8_storage_t __x;
    __nv_fp8_e4m3() = default;
    explicit __nv_fp8_e4m3(float f) : __x(__nv_cvt_float_to_fp8(f, __NV_SATFINITE, __NV_E4M3)) {}
    explicit __nv_fp8_e4m3(double f) : __x(__nv_cvt_double_to_fp8(f, __NV_SATFINITE, __NV_E4M3)) {}
    explicit __nv_fp8_e4m3(__nv_bfloat16 h) : __nv_fp8_e4m3((float)h) {}
    explicit operator float() const { return simt_fp8_to_float(__x, 3, 7, false, false); }
};
struct __nv_fp8_e5m2 {
    __nv_fp8_storage_t __x;
    __nv_fp8_e5m2() = default;
    explicit __nv_fp8_e5m2(float f) : __x(__nv_cvt_float_to_fp8(f, __NV_SATFINITE, __NV_E5M2)) {}
    explicit __nv_fp8_e5m2(double f) : __x(__nv_cvt_double_to_fp8(f, __NV_SATFINITE, __NV_E5M2)) {}
    explicit operator float() const { return simt_fp8_to_float(__x, 2, 15, true, false); }
};

// hip_fp8.h (ROCm ≥ 6.2 fnuz types, ≥ 6.3 OCP types): the header's software conversion (its host path;
// docs/kernels.md §11 says where its device path may differ): round to nearest even; |x| above the format's
// largest finite value (before rounding) → ±max with __HIP_SATFINITE, else NaN (fnuz: 0x80; e4m3: 0x7F with
// the sign) or ±inf (e5m2); NaN and ±inf in → NaN (0x80 fnuz, sign|0x7F OCP) except inf → ±inf in e5m2, whatever
// the saturation; a result of zero is +0 in fnuz and keeps the sign in OCP. Decoding: NaN codes give the f32
// 0x7F800001, fnuz 0x80 included.
typedef unsigned char __hip_fp8_storage_t;
typedef unsigned short __hip_fp8x2_storage_t;
typedef unsigned int __hip_fp8x4_storage_t;
enum __hip_fp8_interpretation_t { __HIP_E4M3 = 0, __HIP_E5M2 = 1, __HIP_E4M3_FNUZ = 2, __HIP_E5M2_FNUZ = 3 };
enum __hip_saturation_t { __HIP_NOSAT = 0, __HIP_SATFINITE = 1 };
typedef __nv_bfloat16_raw __hip_bfloat16_raw;
namespace simt {
inline __hip_fp8_storage_t hip_to_fp8(double x, __hip_saturation_t sat, __hip_fp8_interpretation_t t) {
    const bool fnuz = t == __HIP_E4M3_FNUZ || t == __HIP_E5M2_FNUZ, e4 = t == __HIP_E4M3_FNUZ || t == __HIP_E4M3;
    const int mbits = e4 ? 3 : 2, bias = (e4 ? 7 : 15) + (fnuz ? 1 : 0);
    const uint8_t maxcode = fnuz ? 0x7F : (e4 ? 0x7E : 0x7B);
    const uint8_t sign = std::signbit(x) ? 0x80 : 0;
    const bool clip = sat == __HIP_SATFINITE;
    if (std::isnan(x)) return fnuz ? 0x80 : (uint8_t)(sign | 0x7F);
    if (std::isinf(x)) return fnuz ? 0x80 : (uint8_t)(sign | (e4 ? 0x7F : 0x7C));
    const double a = fabs(x);
    const int emin = 1 - bias, emax = (maxcode >> mbits) - bias;
    const double maxv = ldexp(1.0 + (double)(maxcode & ((1 << mbits) - 1)) / (1 << mbits), emax);
    if (a > maxv) return clip ? (uint8_t)(sign | maxcode) : fnuz ? 0x80 : (uint8_t)(sign | (e4 ? 0x7F : 0x7C));
    if (x == 0 && !sign) return 0;
    int e;
    frexp(a, &e);
    e -= 1;
    const int qe = (e < emin ? emin : e) - mbits;
    const double q = rint(ldexp(a, -qe));  // RNE (the default rounding mode)
    if (q == 0) return fnuz ? 0 : sign;
    const double v = ldexp(q, qe);
    frexp(v, &e);
    e -= 1;
    uint8_t code;
    if (e < emin) code = (uint8_t)q;
    else code = (uint8_t)(((e + bias) << mbits) | ((int)ldexp(v, mbits - e) - (1 << mbits)));
    return (uint8_t)(sign | code);
}
inline float hip_from_fp8(__hip_fp8_storage_t c, __hip_fp8_interpretation_t t) {
    const bool fnuz = t == __HIP_E4M3_FNUZ || t == __HIP_E5M2_FNUZ, e4 = t == __HIP_E4M3_FNUZ || t == __HIP_E4M3;
    const float nan = std::bit_cast<float>(0x7F800001u);
    if (fnuz && c == 0x80) return nan;
    if (!fnuz && e4 && (c & 0x7F) == 0x7F) return nan;
    if (!fnuz && !e4 && (c & 0x7C) == 0x7C) return (c & 3) ? nan : ((c & 0x80) ? -INFINITY : INFINITY);
    return simt_fp8_to_float(c, e4 ? 3 : 2, (e4 ? 7 : 15) + (fnuz ? 1 : 0), false, fnuz);
}
}  // namespace simt
inline __hip_fp8_storage_t __hip_cvt_double_to_fp8(double d, __hip_saturation_t sat, __hip_fp8_interpretation_t t) {
    return ::simt::hip_to_fp8(d, sat, t);
}
inline __hip_fp8_storage_t __hip_cvt_float_to_fp8(float f, __hip_saturation_t sat, __hip_fp8_interpretation_t t) {
    return ::simt::hip_to_fp8((double)f, sat, t);
}
inline __hip_fp8x2_storage_t __hip_cvt_float2_to_fp8x2(float2 v, __hip_saturation_t sat, __hip_fp8_interpretation_t t) {
    return (__hip_fp8x2_storage_t)(__hip_cvt_float_to_fp8(v.x, sat, t) | (__hip_cvt_float_to_fp8(v.y, sat, t) << 8));
}
inline __hip_fp8_storage_t __hip_cvt_bfloat16raw_to_fp8(__hip_bfloat16_raw h, __hip_saturation_t sat,
                                                       __hip_fp8_interpretation_t t) {
    return __hip_cvt_float_to_fp8(std::bit_cast<float>((uint32_t)h.x << 16), sat, t);
}
inline __half_raw __hip_cvt_fp8_to_halfraw(__hip_fp8_storage_t c, __hip_fp8_interpretation_t t) {
    return __half_raw{::simt::f32_to_f16_rn(::simt::hip_from_fp8(c, t))};
}
#define SIMT_HIP_FP8(N, I)                                                                                        \
    struct N {                                                                                                    \
        __hip_fp8_storage_t __x;                                                                                  \
        static constexpr __hip_saturation_t __default_saturation = __HIP_SATFINITE;                               \
        static constexpr __hip_fp8_interpretation_t __default_interpret = I;                                      \
        N() = default;                                                                                            \
        N(float f) : __x(__hip_cvt_float_to_fp8(f, __HIP_SATFINITE, I)) {}                                        \
        N(double d) : __x(__hip_cvt_double_to_fp8(d, __HIP_SATFINITE, I)) {}                                      \
        N(int v) : N((float)v) {}                                                                                 \
        N(long v) : N((float)v) {}                                                                                \
        N(unsigned v) : N((float)v) {}                                                                            \
        N(__nv_bfloat16 h) : N((float)h) {}                                                                       \
        N(__half h) : N((float)h) {}                                                                              \
        operator float() const { return ::simt::hip_from_fp8(__x, I); }                                          \
    };
SIMT_HIP_FP8(__hip_fp8_e4m3_fnuz, __HIP_E4M3_FNUZ)
SIMT_HIP_FP8(__hip_fp8_e5m2_fnuz, __HIP_E5M2_FNUZ)
SIMT_HIP_FP8(__hip_fp8_e4m3, __HIP_E4M3)
SIMT_HIP_FP8(__hip_fp8_e5m2, __HIP_E5M2)
#undef SIMT_HIP_FP8

// ---- the exported C ABI -------------------------------------------------------------------------------------
extern "C" const ::simt::Entry simt_entries[];

extern "C" int simt_abi_version() { return SIMT_ABI_VERSION; }

// A buffer of `size` bytes (zeroed) ending, rounded up to 16 bytes, on an inaccessible page.
extern "C" void* simt_alloc(size_t size, const char* name) {
    using namespace simt;
    const size_t ps = page_size();
    const size_t body = (size + 15) / 16 * 16;
    const size_t pages = (body + ps - 1) / ps;
    const size_t len = (pages + 2) * ps;
    unsigned char* m = (unsigned char*)mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    mprotect(m, ps, PROT_NONE);
    mprotect(m + (pages + 1) * ps, ps, PROT_NONE);
    Buffer b;
    b.map = m;
    b.map_len = len;
    b.slack_end = m + (pages + 1) * ps;
    b.data = b.slack_end - body;
    b.size = size;
    b.first_page = m + ps;
    memset(b.first_page, CANARY, (size_t)(b.data - b.first_page));
    memset(b.data + size, CANARY, body - size);
    snprintf(b.name, sizeof b.name, "%s", name ? name : "?");
    std::lock_guard<std::mutex> g(reg_mutex());
    registry().push_back(b);
    return b.data;
}

extern "C" void simt_free(void* p) {
    using namespace simt;
    std::lock_guard<std::mutex> g(reg_mutex());
    auto& r = registry();
    for (size_t i = 0; i < r.size(); i++) {
        if (r[i].data == p) {
            munmap(r[i].map, r[i].map_len);
            r.erase(r.begin() + (long)i);
            return;
        }
    }
}

// Launches kernel `name` on grid × block with warps of `ws` lanes (32 or 64); `args[i]` points to parameter i
// (cuLaunchKernel's convention), `nbytes` is the sum of their sizes. 0 on success, else 1 with `err` filled.
extern "C" int simt_launch(const char* name, const unsigned* grid, const unsigned* block, int ws, int nargs, int nbytes,
                           void** args, int workers, char* err, size_t errlen) {
    using namespace simt;
    auto fail = [&](const char* fmt, auto... a) {
        snprintf(err, errlen, fmt, a...);
        return 1;
    };
    const Entry* e = simt_entries;
    while (e->name && strcmp(e->name, name) != 0) e++;
    if (!e->name) return fail("no kernel `%s` in this module", name);
    if (nargs != e->nargs || nbytes != e->nbytes)
        return fail("kernel %s takes %d parameters (%d bytes); the launch passed %d (%d bytes)", name, e->nargs, e->nbytes,
                    nargs, nbytes);
    if (ws != 32 && ws != 64) return fail("warp width %d (32 or 64)", ws);
    const unsigned long long nt = (unsigned long long)block[0] * block[1] * block[2];
    if (nt == 0 || nt > 1024) return fail("kernel %s: %llu threads per block (1 to 1024)", name, nt);
    if ((unsigned long long)grid[0] * grid[1] * grid[2] == 0) return fail("kernel %s: an empty grid", name);
    install_handlers();
    Body body;
    e->bind(args, body);
    Launch L;
    L.name = name;
    L.grid = dim3(grid[0], grid[1], grid[2]);
    L.block = dim3(block[0], block[1], block[2]);
    L.ws = ws;
    L.stack = 256 * 1024;
    L.body = &body;
    const unsigned long long nb = (unsigned long long)grid[0] * grid[1] * grid[2];
    int nw = workers > 0 ? workers : (int)std::thread::hardware_concurrency();
    if (nw < 1) nw = 1;
    if ((unsigned long long)nw > nb) nw = (int)nb;
    std::vector<std::thread> ts;
    for (int i = 0; i < nw; i++) ts.emplace_back(worker, &L);
    for (auto& t : ts) t.join();
    if (L.failed) return fail("%s", L.err);
    // Writes into the rounding slack after a buffer, or before it within its first page: only buffers this
    // launch was given (a pointer parameter, or an 8-byte-aligned pointer inside a struct parameter). The
    // registry is shared by every loaded module (an inline function's static), and another thread's launch
    // may be running a kernel that writes past its own buffer.
    auto given = [&](const Buffer& b) {
        for (int i = 0; i < nargs; i++) {
            const unsigned char* a = (const unsigned char*)args[i];
            for (int o = 0; o + 8 <= e->sizes[i]; o += 8) {
                uint64_t v;
                memcpy(&v, a + o, 8);
                if (v >= (uint64_t)b.first_page && v < (uint64_t)b.slack_end) return true;
            }
        }
        return false;
    };
    std::lock_guard<std::mutex> g(reg_mutex());
    for (Buffer& b : registry()) {
        if (!given(b)) continue;
        for (unsigned char* p = b.data + b.size; p < b.slack_end; p++)
            if (*p != CANARY)
                return fail("kernel %s wrote %zu bytes past the end of buffer `%s` (%zu bytes)", name,
                            (size_t)(p - (b.data + b.size)), b.name, b.size);
        for (unsigned char* p = b.first_page; p < b.data; p++)
            if (*p != CANARY)
                return fail("kernel %s wrote %zu bytes before the start of buffer `%s` (%zu bytes)", name,
                            (size_t)(b.data - p), b.name, b.size);
    }
    return 0;
}

#define SIMT_ENTRY(k)                                                                                             \
    {#k, [](void** a, ::simt::Body& b) { ::simt::bind(&k, a, b); }, ::simt::arity(&k), ::simt::args_size(&k), \
     ::simt::param_sizes(&k)}
