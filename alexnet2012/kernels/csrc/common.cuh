// Shared by the CUDA kernels (*.cu, compiled by nvcc) and their host path
// (<family>_ops.cpp, compiled by the C++ compiler): the per-element arithmetic of
// every kernel is written once here and in the family headers, as functions
// that run on both sides. So the CPU tests check the very formulas the GPU runs;
// only the thread decomposition (and the order of reductions) differs.
//
// Headers here include no torch: the .cu files that use them compile in seconds.
#pragma once

#include <cstdint>
#include <cmath>

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#define REPRO_HD __host__ __device__ __forceinline__
// Loops over a compile-time window: unrolled, so the window stays in registers.
#define REPRO_UNROLL _Pragma("unroll")
#else
#define REPRO_HD inline
#define REPRO_UNROLL
#endif

namespace repro_alexnet {

// Element types the kernels take: fp32 and bf16. Loads convert to fp32, all
// arithmetic is fp32, stores round to the element type (to nearest even).
// torch builds CUDA code with the implicit bf16 conversions switched off, so
// the device type converts through the intrinsics.
template <typename T>
REPRO_HD float to_float(T v) { return static_cast<float>(v); }
template <typename T>
REPRO_HD T from_float(float v) { return T(v); }
#if defined(__CUDACC__)
template <>
REPRO_HD float to_float<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <>
REPRO_HD __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16(v); }
#endif

template <typename T>
REPRO_HD float load(const T* p, int64_t i) { return to_float(p[i]); }

template <typename T>
REPRO_HD void store(T* p, int64_t i, float v) { p[i] = from_float<T>(v); }

REPRO_HD bool is_nan(float v) { return v != v; }

// ---------------------------------------------------------------------------
// 32-bit index arithmetic. A 64-bit division is a ~20-instruction subroutine call
// on the GPU, a 32-bit one ~10 inline instructions; the kernels need neither per
// element: sizes they divide by are turned once, on the host, into a FastDiv
// (a multiply-high and a shift), and offsets are 32-bit. Every kernel's tensors
// must then stay below 2^30 elements (headroom: a base plus an offset may pass
// through up to twice a tensor's size); the launchers refuse larger ones.
constexpr int64_t kOffsetLimit = int64_t(1) << 30;

REPRO_HD bool fits_32bit(int64_t numel) { return numel < kOffsetLimit; }

// n / d for 0 <= n < 2^31 by a multiply and a shift (Granlund & Montgomery 1994,
// the round-up variant): q = (umulhi(n, mul) + n) >> shift. Built on the host.
struct FastDiv {
    uint32_t d = 1, mul = 1, shift = 0;
    FastDiv() = default;
    explicit FastDiv(uint32_t divisor) : d(divisor) {
        while ((uint64_t(1) << shift) < d) ++shift;
        mul = static_cast<uint32_t>(((uint64_t(1) << 32) * ((uint64_t(1) << shift) - d)) / d + 1);
    }
    REPRO_HD uint32_t div(uint32_t n) const {
#if defined(__CUDA_ARCH__)
        return (__umulhi(n, mul) + n) >> shift;
#else
        return static_cast<uint32_t>(((uint64_t(n) * mul >> 32) + n) >> shift);
#endif
    }
};

// ---------------------------------------------------------------------------
// Vector access. A run is V = 16 / sizeof(T) consecutive elements (fp32 x 4,
// bf16 x 8) starting at a multiple of V: on the GPU one 16-byte load or store
// where the tensors are 16-byte aligned (`vec`) and the run is whole, else the
// same elements one by one (the tail, an unaligned view). The host path runs the
// same functions (the vector access is an element loop there), so the CPU tests
// check the run's index arithmetic, its tail and its unaligned case.
template <typename T>
constexpr int kVec = static_cast<int>(16 / sizeof(T));

REPRO_HD bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <int V, typename T>
REPRO_HD void load_run(const T* p, uint32_t i0, int n, bool vec, float (&v)[V]) {
    static_assert(V * sizeof(T) == 16, "a run is 16 bytes");
#if defined(__CUDA_ARCH__)
    if (vec && n == V) {
        const uint4 raw = __ldg(reinterpret_cast<const uint4*>(p + i0));
        const T* e = reinterpret_cast<const T*>(&raw);
        REPRO_UNROLL
        for (int t = 0; t < V; ++t) v[t] = to_float(e[t]);
        return;
    }
#endif
    REPRO_UNROLL
    for (int t = 0; t < V; ++t) v[t] = t < n ? load(p, i0 + t) : 0.0f;
}

template <int V, typename T>
REPRO_HD void store_run(T* p, uint32_t i0, int n, bool vec, const float (&v)[V]) {
#if defined(__CUDA_ARCH__)
    if (vec && n == V) {
        uint4 raw;
        T* e = reinterpret_cast<T*>(&raw);
        REPRO_UNROLL
        for (int t = 0; t < V; ++t) e[t] = from_float<T>(v[t]);
        *reinterpret_cast<uint4*>(p + i0) = raw;
        return;
    }
#endif
    REPRO_UNROLL
    for (int t = 0; t < V; ++t)
        if (t < n) store(p, i0 + t, v[t]);
}

// The number of elements of run r that exist (V, or fewer for the last).
template <int V>
REPRO_HD int run_length(uint32_t r, uint32_t numel) {
    const uint32_t left = numel - r * V;
    return left < uint32_t(V) ? int(left) : V;
}

// ---------------------------------------------------------------------------
// Philox4x32-10 (Salmon, Moraes, Dror & Shaw, SC 2011): a counter-based RNG.
// The random bits of element i are a pure function of (seed, i), so dropout's
// mask needs no state and no storage: backward regenerates it, and the CPU and
// the GPU draw the same mask.
struct Philox4 {
    uint32_t v[4];
};

REPRO_HD uint32_t mulhi32(uint32_t a, uint32_t b) {
    return static_cast<uint32_t>((static_cast<uint64_t>(a) * b) >> 32);
}

REPRO_HD Philox4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
    const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
#if defined(__CUDACC__)
#pragma unroll
#endif
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k0 += W0;
            k1 += W1;
        }
        const uint32_t hi0 = mulhi32(M0, c0), lo0 = M0 * c0;
        const uint32_t hi1 = mulhi32(M1, c2), lo1 = M1 * c2;
        const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
    }
    return Philox4{{c0, c1, c2, c3}};
}

// A uniform float in [0, 1) from the top 24 bits (exact in fp32).
REPRO_HD float uniform24(uint32_t bits) { return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f); }

}  // namespace repro_alexnet
