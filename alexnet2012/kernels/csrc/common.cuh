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
