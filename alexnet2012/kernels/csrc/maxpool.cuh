// Max pooling with a z x z window, stride s and padding p (implicit -inf),
// out = (in + 2p - z) / s + 1 (floor), as torch.nn.MaxPool2d. Overlapping when
// z > s: the paper's z = 3, s = 2 (section 3.4).
//
// Forward: one thread per output; it keeps the max and the plane index of the
// input that gave it. Ties keep the first maximum in scan order and a NaN wins
// (the last NaN), exactly as PyTorch, so gradients land on the same inputs.
// Backward gathers instead of scattering: one thread per input sums the
// gradients of the (at most ceil(z/s)^2) windows whose max it was. No atomics:
// the result is deterministic although windows overlap.
#pragma once

#include "common.cuh"

namespace repro_alexnet {

struct PoolShape {
    int64_t height, width, out_height, out_width;
    int kernel, stride, padding;
};

template <typename T>
REPRO_HD void maxpool_forward_at(int64_t idx, const T* x, T* y, int32_t* argmax, PoolShape g) {
    const int64_t ow = idx % g.out_width;
    const int64_t rest = idx / g.out_width;
    const int64_t oh = rest % g.out_height;
    const int64_t plane = rest / g.out_height;
    const T* xp = x + plane * g.height * g.width;
    int64_t h0 = oh * g.stride - g.padding, w0 = ow * g.stride - g.padding;
    const int64_t h1 = h0 + g.kernel < g.height ? h0 + g.kernel : g.height;
    const int64_t w1 = w0 + g.kernel < g.width ? w0 + g.kernel : g.width;
    h0 = h0 > 0 ? h0 : 0;
    w0 = w0 > 0 ? w0 : 0;
    float best = -INFINITY;
    int64_t best_at = h0 * g.width + w0;
    for (int64_t h = h0; h < h1; ++h) {
        for (int64_t w = w0; w < w1; ++w) {
            const float v = load(xp, h * g.width + w);
            if (v > best || is_nan(v)) {
                best = v;
                best_at = h * g.width + w;
            }
        }
    }
    store(y, idx, best);
    argmax[idx] = static_cast<int32_t>(best_at);
}

template <typename T>
REPRO_HD void maxpool_backward_at(int64_t idx, const T* dy, const int32_t* argmax, T* dx, PoolShape g) {
    const int64_t w = idx % g.width;
    const int64_t rest = idx / g.width;
    const int64_t h = rest % g.height;
    const int64_t plane = rest / g.height;
    // Windows oh with oh*s - p <= h < oh*s - p + z.
    const int64_t oh0 = (h + g.padding < g.kernel) ? 0 : (h + g.padding - g.kernel) / g.stride + 1;
    const int64_t ow0 = (w + g.padding < g.kernel) ? 0 : (w + g.padding - g.kernel) / g.stride + 1;
    const int64_t oh1_ = (h + g.padding) / g.stride + 1, ow1_ = (w + g.padding) / g.stride + 1;
    const int64_t oh1 = oh1_ < g.out_height ? oh1_ : g.out_height;
    const int64_t ow1 = ow1_ < g.out_width ? ow1_ : g.out_width;
    const int64_t out_plane = plane * g.out_height * g.out_width;
    const int32_t self = static_cast<int32_t>(h * g.width + w);
    float sum = 0.0f;
    for (int64_t oh = oh0; oh < oh1; ++oh) {
        for (int64_t ow = ow0; ow < ow1; ++ow) {
            const int64_t o = out_plane + oh * g.out_width + ow;
            if (argmax[o] == self) sum += load(dy, o);
        }
    }
    store(dx, idx, sum);
}

}  // namespace repro_alexnet
