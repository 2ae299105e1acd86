// Softmax cross-entropy on the GPU: one block per row for lse and the row's
// loss, one block for the batch mean (fixed order: deterministic), one thread
// per logit for the backward. The math is in softmax_xent.cuh.
#include "dispatch.cuh"
#include "softmax_xent.cuh"

namespace repro_alexnet {

template <typename T>
__global__ void xent_rows_kernel(const T* __restrict__ logits, const int64_t* __restrict__ labels,
                                 float* __restrict__ row_loss, float* __restrict__ lse_out, int64_t classes) {
    const int64_t row = blockIdx.x;
    const T* z = logits + row * classes;
    float m = -INFINITY;
    for (int64_t k = threadIdx.x; k < classes; k += blockDim.x) m = MaxOp{}(load(z, k), m);
    m = block_reduce(m, MaxOp{}, -INFINITY);
    float s = 0.0f;
    for (int64_t k = threadIdx.x; k < classes; k += blockDim.x) s += expf(load(z, k) - m);
    s = block_reduce(s, SumOp{}, 0.0f);
    if (threadIdx.x == 0) {
        const int64_t label = labels[row];
        const float lse = label_ok(label, classes) ? m + logf(s) : NAN;
        lse_out[row] = lse;
        row_loss[row] = label_ok(label, classes) ? lse - load(z, label) : NAN;
    }
}

__global__ void mean_kernel(const float* __restrict__ values, float* __restrict__ out, int64_t n) {
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += values[i];
    s = block_reduce(s, SumOp{}, 0.0f);
    if (threadIdx.x == 0) out[0] = s / static_cast<float>(n);
}

template <typename T>
__global__ void xent_backward_kernel(const float* __restrict__ grad_loss, const T* __restrict__ logits,
                                     const int64_t* __restrict__ labels, const float* __restrict__ lse,
                                     T* __restrict__ grad, int64_t rows, int64_t classes) {
    const float g_over_n = grad_loss[0] / static_cast<float>(rows);
    REPRO_FOR_EACH(i, rows * classes) {
        const int64_t row = i / classes;
        store(grad, i, xent_grad_element(logits, i, lse[row], labels[row] == i - row * classes, g_over_n));
    }
}

cudaError_t softmax_xent_forward_cuda(DType dt, const void* logits, const int64_t* labels, float* row_loss,
                                      float* lse, float* loss, int64_t rows, int64_t classes, cudaStream_t st) {
    return dispatch_dtype(dt, [&](auto t) {
        using T = decltype(t);
        xent_rows_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, st>>>(static_cast<const T*>(logits), labels,
                                                                              row_loss, lse, classes);
        mean_kernel<<<1, 1024, 0, st>>>(row_loss, loss, rows);
    });
}

cudaError_t softmax_xent_backward_cuda(DType dt, const float* grad_loss, const void* logits, const int64_t* labels,
                                       const float* lse, void* grad_logits, int64_t rows, int64_t classes,
                                       cudaStream_t st) {
    return dispatch_dtype(dt, [&](auto t) {
        using T = decltype(t);
        xent_backward_kernel<T><<<capped_grid(rows * classes), kThreads, 0, st>>>(
            grad_loss, static_cast<const T*>(logits), labels, lse, static_cast<T*>(grad_logits), rows, classes);
    });
}

}  // namespace repro_alexnet
