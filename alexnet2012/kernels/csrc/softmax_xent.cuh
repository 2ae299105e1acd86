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

template <typename T>
REPRO_HD float xent_grad_element(const T* z, int64_t idx, float lse, bool is_label, float g_over_n) {
    return g_over_n * (expf(load(z, idx) - lse) - (is_label ? 1.0f : 0.0f));
}

}  // namespace repro_alexnet
