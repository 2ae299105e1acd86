// Softmax cross-entropy on the GPU: one block per row for lse and the row's
// loss, one block for the batch mean (fixed order: deterministic), one thread
// per 16-byte run of logits for the backward. The math is in softmax_xent.cuh.
#include "dispatch.cuh"
#include "softmax_xent.cuh"

namespace repro_alexnet {

template <typename T>
__global__ void xent_rows_kernel(const T* __restrict__ logits, const int64_t* __restrict__ labels,
                                 float* __restrict__ row_loss, float* __restrict__ lse_out, uint32_t classes) {
    const uint32_t row = blockIdx.x;
    const T* z = logits + row * classes;
    float m = -INFINITY;
    for (uint32_t k = threadIdx.x; k < classes; k += blockDim.x) m = MaxOp{}(load(z, k), m);
    m = block_reduce(m, MaxOp{}, -INFINITY);
    float s = 0.0f;
    for (uint32_t k = threadIdx.x; k < classes; k += blockDim.x) s += expf(load(z, k) - m);
    s = block_reduce(s, SumOp{}, 0.0f);
    if (threadIdx.x == 0) {
        const int64_t label = labels[row];
        const float lse = label_ok(label, classes) ? m + logf(s) : NAN;
        lse_out[row] = lse;
        row_loss[row] = label_ok(label, classes) ? lse - load(z, label) : NAN;
    }
}

__global__ void mean_kernel(const float* __restrict__ values, float* __restrict__ out, uint32_t n) {
    float s = 0.0f;
    for (uint32_t i = threadIdx.x; i < n; i += blockDim.x) s += values[i];
    s = block_reduce(s, SumOp{}, 0.0f);
    if (threadIdx.x == 0) out[0] = s / static_cast<float>(n);
}

template <typename T>
__global__ void xent_backward_kernel(const float* __restrict__ grad_loss, const T* __restrict__ logits,
                                     const int64_t* __restrict__ labels, const float* __restrict__ lse,
                                     T* __restrict__ grad, uint32_t rows, XentShape g, uint32_t runs, bool vec) {
    const float g_over_n = grad_loss[0] / static_cast<float>(rows);
    REPRO_FOR_EACH_32(r, runs) xent_backward_run<kVec<T>>(r, logits, labels, lse, grad, g, g_over_n, vec);
}

cudaError_t softmax_xent_forward_cuda(DType dt, const void* logits, const int64_t* labels, float* row_loss,
                                      float* lse, float* loss, int64_t rows, int64_t classes, cudaStream_t st) {
    if (!fits_32bit(rows * classes)) return cudaErrorInvalidValue;  // the binding checks first, with a message
    return dispatch_dtype(dt, [&](auto t) {
        using T = decltype(t);
        xent_rows_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, st>>>(static_cast<const T*>(logits), labels,
                                                                              row_loss, lse,
                                                                              static_cast<uint32_t>(classes));
        mean_kernel<<<1, 1024, 0, st>>>(row_loss, loss, static_cast<uint32_t>(rows));
    });
}

cudaError_t softmax_xent_backward_cuda(DType dt, const float* grad_loss, const void* logits, const int64_t* labels,
                                       const float* lse, void* grad_logits, int64_t rows, int64_t classes,
                                       cudaStream_t st) {
    if (!fits_32bit(rows * classes)) return cudaErrorInvalidValue;  // the binding checks first, with a message
    const XentShape g = xent_shape(rows, classes);
    const bool vec = aligned16(logits) && aligned16(grad_logits);
    return dispatch_dtype(dt, [&](auto t) {
        using T = decltype(t);
        const int64_t runs = (rows * classes + kVec<T> - 1) / kVec<T>;
        xent_backward_kernel<T><<<capped_grid(runs), kThreads, 0, st>>>(
            grad_loss, static_cast<const T*>(logits), labels, lse, static_cast<T*>(grad_logits),
            static_cast<uint32_t>(rows), g, static_cast<uint32_t>(runs), vec);
    });
}

}  // namespace repro_alexnet
