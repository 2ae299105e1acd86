// Fused bias + ReLU on [N, C, S] (S = the spatial size; 1 after a fully
// connected layer):  y = max(x + b_c, 0), NaN passing through as in torch.relu.
// Backward:  dx = (y <= 0 ? 0 : dy),   db_c = sum_{n, s} dx_{n, c, s}  (fp32 sums).
// Written as torch's threshold_backward is, so a NaN output (NaN input) passes the
// gradient through like the forward passes the NaN, instead of zeroing it.
// Saves one read and one write of the activation against a separate bias add.
#pragma once

#include "common.cuh"

namespace repro_alexnet {

// [N, C, S] in 32 bits with its divisions prepared (the launchers refuse tensors of
// kOffsetLimit elements or more).
struct BiasReluShape {
    uint32_t numel, channels, spatial, per_channel;  // per_channel = N * S, the elements of one channel
    FastDiv by_spatial, by_channels;
};

inline BiasReluShape bias_relu_shape(int64_t batch, int64_t channels, int64_t spatial) {
    const auto u = [](int64_t v) { return static_cast<uint32_t>(v > 0 ? v : 1); };
    return {uint32_t(batch * channels * spatial), uint32_t(channels), uint32_t(spatial), uint32_t(batch * spatial),
            FastDiv(u(spatial)), FastDiv(u(channels))};
}

// Forward, run r of the flat tensor (elements r*V .. r*V+V-1; common.cuh): one
// channel lookup per run, then a counter walks the channel boundaries inside it
// (a run spans several channels where S is small: S = 1 after an fc layer).
template <int V, typename T>
REPRO_HD void bias_relu_forward_run(uint32_t r, const T* x, const float* bias, T* y, const BiasReluShape& g,
                                    bool vec) {
    const uint32_t i0 = r * V;
    const int n = run_length<V>(r, g.numel);
    const uint32_t plane = g.by_spatial.div(i0);
    uint32_t s = i0 - plane * g.spatial, c = plane - g.by_channels.div(plane) * g.channels;
    float v[V];
    load_run<V>(x, i0, n, vec, v);
    float b = bias[c];
    REPRO_UNROLL
    for (int t = 0; t < V; ++t) {
        const float u = v[t] + b;
        v[t] = (u > 0.0f || is_nan(u)) ? u : 0.0f;
        if (++s == g.spatial && t + 1 < n) {
            s = 0;
            c = c + 1 == g.channels ? 0 : c + 1;
            b = bias[c];
        }
    }
    store_run<V>(y, i0, n, vec, v);
}

REPRO_HD float relu_backward_value(float y, float dy) { return y <= 0.0f ? 0.0f : dy; }

template <typename T>
REPRO_HD float relu_backward_at(uint32_t idx, const T* dy, const T* y, T* dx) {
    const float g = relu_backward_value(load(y, idx), load(dy, idx));
    store(dx, idx, g);
    return g;
}

// Backward, run r of channel c: its elements e = r*V .. r*V+V-1 of the N * S that share
// the channel, in (n, s) order; writes their dx and returns their sum (ascending e).
// Contiguous in memory where S % V == 0 (the caller's `vec` includes it), so one
// vector access per tensor; else an (n, s) counter walks the run.
template <int V, typename T>
REPRO_HD float relu_backward_run(uint32_t r, uint32_t c, const T* dy, const T* y, T* dx, const BiasReluShape& g,
                                 bool vec) {
    const uint32_t e0 = r * V;
    const int n = run_length<V>(r, g.per_channel);
    uint32_t img = g.by_spatial.div(e0), s = e0 - img * g.spatial;
    float sum = 0.0f;
    if (vec && n == V) {
        const uint32_t o = (img * g.channels + c) * g.spatial + s;
        float yv[V], gv[V];
        load_run<V>(y, o, V, true, yv);
        load_run<V>(dy, o, V, true, gv);
        REPRO_UNROLL
        for (int t = 0; t < V; ++t) {
            gv[t] = relu_backward_value(yv[t], gv[t]);
            sum += gv[t];
        }
        store_run<V>(dx, o, V, true, gv);
        return sum;
    }
    for (int t = 0; t < n; ++t) {
        sum += relu_backward_at((img * g.channels + c) * g.spatial + s, dy, y, dx);
        if (++s == g.spatial) {
            s = 0;
            ++img;
        }
    }
    return sum;
}

}  // namespace repro_alexnet
