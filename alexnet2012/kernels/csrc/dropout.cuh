// Inverted dropout (Hinton et al. 2012): keep each element with probability
// 1 - p and scale it by 1 / (1 - p), so evaluation needs no rescaling. The
// keep decision of element i (in the contiguous layout) is
//
//   u_i = uniform24(Philox4x32-10(counter = (i / 4, 0, 0, 0), key = seed)[i % 4]),   keep <=> u_i >= p
//
// a pure function of (seed, i): the same seed gives the same mask on the CPU
// and the GPU, for any launch shape, and backward regenerates the mask instead
// of storing it (backward = the same op applied to the gradient).
// Dropped elements are multiplied by 0 (NaN stays NaN), as x * mask in torch.
#pragma once

#include "common.cuh"

namespace repro_alexnet {

// Run r of V = 16 / sizeof(T) elements (common.cuh; V / 4 Philox calls): elements
// r*V .. r*V+V-1, a 16-byte access where aligned. Indices are 32-bit (the launchers
// refuse tensors of kOffsetLimit elements or more), so the counter's high word,
// quad >> 32, is 0: the stream is the one the 64-bit kernel drew.
template <int V, typename T>
REPRO_HD void dropout_run(uint32_t r, const T* x, T* y, uint32_t numel, uint64_t seed, float p, bool vec) {
    static_assert(V % 4 == 0, "a run is whole Philox quads");
    const uint32_t i0 = r * V;
    const int n = run_length<V>(r, numel);
    const float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    float v[V];
    load_run<V>(x, i0, n, vec, v);
    REPRO_UNROLL
    for (int q = 0; q < V / 4; ++q) {
        const Philox4 bits = philox4x32_10(i0 / 4 + q, 0u, 0u, 0u, static_cast<uint32_t>(seed),
                                           static_cast<uint32_t>(seed >> 32));
        REPRO_UNROLL
        for (int t = 0; t < 4; ++t) v[4 * q + t] *= uniform24(bits.v[t]) >= p ? scale : 0.0f;
    }
    store_run<V>(y, i0, n, vec, v);
}

}  // namespace repro_alexnet
