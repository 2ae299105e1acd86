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

template <typename T>
REPRO_HD void dropout_quad_at(int64_t quad, const T* x, T* y, int64_t numel, uint64_t seed, float p) {
    const uint64_t q = static_cast<uint64_t>(quad);
    const Philox4 bits = philox4x32_10(static_cast<uint32_t>(q), static_cast<uint32_t>(q >> 32), 0u, 0u,
                                       static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
    const float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    for (int t = 0; t < 4; ++t) {
        const int64_t i = quad * 4 + t;
        if (i < numel) store(y, i, load(x, i) * (uniform24(bits.v[t]) >= p ? scale : 0.0f));
    }
}

}  // namespace repro_alexnet
