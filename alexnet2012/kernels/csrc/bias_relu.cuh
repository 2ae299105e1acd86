// Fused bias + ReLU on [N, C, S] (S = the spatial size; 1 after a fully
// connected layer):  y = max(x + b_c, 0), NaN passing through as in torch.relu.
// Backward:  dx = dy * [y > 0],   db_c = sum_{n, s} dx_{n, c, s}  (fp32 sums).
// Saves one read and one write of the activation against a separate bias add.
#pragma once

#include "common.cuh"

namespace repro_alexnet {

template <typename T>
REPRO_HD void bias_relu_forward_at(int64_t idx, const T* x, const float* bias, T* y, int64_t channels,
                                   int64_t spatial) {
    const int64_t c = (idx / spatial) % channels;
    const float v = load(x, idx) + bias[c];
    store(y, idx, (v > 0.0f || is_nan(v)) ? v : 0.0f);
}

template <typename T>
REPRO_HD float relu_backward_at(int64_t idx, const T* dy, const T* y, T* dx) {
    const float g = load(y, idx) > 0.0f ? load(dy, idx) : 0.0f;
    store(dx, idx, g);
    return g;
}

// Element e (of the N * S that share channel c) -> its flat index.
REPRO_HD int64_t channel_element(int64_t e, int64_t c, int64_t channels, int64_t spatial) {
    const int64_t n = e / spatial, s = e - n * spatial;
    return (n * channels + c) * spatial + s;
}

}  // namespace repro_alexnet
