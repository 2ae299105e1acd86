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

// The shape in 32 bits with its divisions prepared (the launchers refuse tensors of
// kOffsetLimit elements or more): an output or input index splits into (plane, row,
// column) by two multiply-shifts, and the backward's window bounds divide by the
// stride the same way. No vector loads: a window is a gather of kernel-wide rows at
// stride-spaced, unaligned columns.
struct PoolIndex {
    uint32_t height, width, out_height, out_width;
    int kernel, stride, padding;
    FastDiv by_out_plane, by_out_width, by_plane, by_width, by_stride;
};

inline PoolIndex pool_index(const PoolShape& g) {
    const auto u = [](int64_t v) { return static_cast<uint32_t>(v > 0 ? v : 1); };
    return {uint32_t(g.height), uint32_t(g.width), uint32_t(g.out_height), uint32_t(g.out_width), g.kernel, g.stride,
            g.padding, FastDiv(u(g.out_height * g.out_width)), FastDiv(u(g.out_width)),
            FastDiv(u(g.height * g.width)), FastDiv(u(g.width)), FastDiv(u(g.stride))};
}

template <typename T>
REPRO_HD void maxpool_forward_at(uint32_t idx, const T* x, T* y, int32_t* argmax, const PoolIndex& g) {
    const uint32_t plane = g.by_out_plane.div(idx);
    const uint32_t rest = idx - plane * g.out_height * g.out_width;
    const uint32_t oh = g.by_out_width.div(rest), ow = rest - oh * g.out_width;
    const T* xp = x + plane * g.height * g.width;
    const int height = int(g.height), width = int(g.width);
    int h0 = int(oh) * g.stride - g.padding, w0 = int(ow) * g.stride - g.padding;
    const int h1 = h0 + g.kernel < height ? h0 + g.kernel : height;
    const int w1 = w0 + g.kernel < width ? w0 + g.kernel : width;
    h0 = h0 > 0 ? h0 : 0;
    w0 = w0 > 0 ? w0 : 0;
    float best = -INFINITY;
    int best_at = h0 * width + w0;
    for (int h = h0; h < h1; ++h) {
        for (int w = w0; w < w1; ++w) {
            const float v = load(xp, uint32_t(h * width + w));
            if (v > best || is_nan(v)) {
                best = v;
                best_at = h * width + w;
            }
        }
    }
    store(y, idx, best);
    argmax[idx] = static_cast<int32_t>(best_at);
}

template <typename T>
REPRO_HD void maxpool_backward_at(uint32_t idx, const T* dy, const int32_t* argmax, T* dx, const PoolIndex& g) {
    const uint32_t plane = g.by_plane.div(idx);
    const uint32_t rest = idx - plane * g.height * g.width;
    const uint32_t h = g.by_width.div(rest), w = rest - h * g.width;
    // Windows oh with oh*s - p <= h < oh*s - p + z.
    const uint32_t hp = h + uint32_t(g.padding), wp = w + uint32_t(g.padding), z = uint32_t(g.kernel);
    const uint32_t oh0 = hp < z ? 0 : g.by_stride.div(hp - z) + 1;
    const uint32_t ow0 = wp < z ? 0 : g.by_stride.div(wp - z) + 1;
    const uint32_t oh1_ = g.by_stride.div(hp) + 1, ow1_ = g.by_stride.div(wp) + 1;
    const uint32_t oh1 = oh1_ < g.out_height ? oh1_ : g.out_height;
    const uint32_t ow1 = ow1_ < g.out_width ? ow1_ : g.out_width;
    const uint32_t out_plane = plane * g.out_height * g.out_width;
    const int32_t self = static_cast<int32_t>(rest);
    float sum = 0.0f;
    for (uint32_t oh = oh0; oh < oh1; ++oh) {
        for (uint32_t ow = ow0; ow < ow1; ++ow) {
            const uint32_t o = out_plane + oh * g.out_width + ow;
            if (argmax[o] == self) sum += load(dy, o);
        }
    }
    store(dx, idx, sum);
}

}  // namespace repro_alexnet
