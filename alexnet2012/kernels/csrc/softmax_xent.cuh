// Softmax cross-entropy over [N, K] logits z with integer labels y, mean over
// the batch (torch.nn.CrossEntropyLoss's default):
//
//   lse_n = log sum_k exp(z_nk)          loss = (1/N) sum_n (lse_n - z_{n, y_n})
//   dz_nk = (g / N) * (exp(z_nk - lse_n) - [k == y_n])          (g = dloss)
//
// lse is computed stably (max first) in fp32 and saved for the backward, so
// the backward is one elementwise pass. A label outside [0, K) makes that
// row's loss and lse NaN (the GPU cannot raise without a host sync; the CPU
// path raises).
#pragma once

#include "common.cuh"

namespace repro_alexnet {

REPRO_HD bool label_ok(int64_t label, int64_t classes) { return label >= 0 && label < classes; }

REPRO_HD float xent_grad_value(float z, float lse, bool is_label, float g_over_n) {
    return g_over_n * (expf(z - lse) - (is_label ? 1.0f : 0.0f));
}

// [N, K] in 32 bits, the division by K prepared (the launchers refuse tensors of
// kOffsetLimit elements or more).
struct XentShape {
    uint32_t numel, classes;
    FastDiv by_classes;
};

inline XentShape xent_shape(int64_t rows, int64_t classes) {
    const uint32_t k = static_cast<uint32_t>(classes > 0 ? classes : 1);
    return {uint32_t(rows * classes), k, FastDiv(k)};
}

// Backward, run r of the flat [N, K] gradient (elements r*V .. r*V+V-1; common.cuh):
// one row lookup per run, then a counter walks the row boundaries inside it (a run
// spans rows where K is small or not a multiple of V).
template <int V, typename T>
REPRO_HD void xent_backward_run(uint32_t r, const T* z, const int64_t* labels, const float* lse, T* dz,
                                const XentShape& g, float g_over_n, bool vec) {
    const uint32_t i0 = r * V;
    const int n = run_length<V>(r, g.numel);
    uint32_t row = g.by_classes.div(i0), k = i0 - row * g.classes;
    float v[V];
    load_run<V>(z, i0, n, vec, v);
    float l = lse[row];
    int64_t label = labels[row];
    REPRO_UNROLL
    for (int t = 0; t < V; ++t) {
        v[t] = xent_grad_value(v[t], l, label == int64_t(k), g_over_n);
        if (++k == g.classes && t + 1 < n) {
            k = 0;
            ++row;
            l = lse[row];
            label = labels[row];
        }
    }
    store_run<V>(dz, i0, n, vec, v);
}

}  // namespace repro_alexnet
