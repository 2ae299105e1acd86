// Local response normalisation on the GPU: one thread per (image, group, pixel)
// column; the math is in lrn.cuh.
#include "dispatch.cuh"
#include "lrn.cuh"

namespace repro_alexnet {

template <typename T>
__global__ void lrn_forward_kernel(const T* __restrict__ x, T* __restrict__ y, float* __restrict__ scale,
                                   int64_t columns, int64_t hw, int channels, int half, float alpha, float beta,
                                   float k) {
    REPRO_FOR_EACH(col, columns) lrn_forward_at(col, x, y, scale, hw, channels, half, alpha, beta, k);
}

template <typename T>
__global__ void lrn_backward_kernel(const T* __restrict__ dy, const T* __restrict__ x,
                                    const float* __restrict__ scale, T* __restrict__ dx, int64_t columns,
                                    int64_t hw, int channels, int half, float alpha, float beta) {
    REPRO_FOR_EACH(col, columns) lrn_backward_at(col, dy, x, scale, dx, hw, channels, half, alpha, beta);
}

cudaError_t lrn_forward_cuda(DType dt, const void* x, void* y, float* scale, int64_t columns, int64_t hw,
                             int channels_per_group, int half, float alpha, float beta, float k, cudaStream_t st) {
    return dispatch_dtype(dt, [&](auto t) {
        using T = decltype(t);
        lrn_forward_kernel<T><<<capped_grid(columns), kThreads, 0, st>>>(
            static_cast<const T*>(x), static_cast<T*>(y), scale, columns, hw, channels_per_group, half, alpha, beta,
            k);
    });
}

cudaError_t lrn_backward_cuda(DType dt, const void* dy, const void* x, const float* scale, void* dx, int64_t columns,
                              int64_t hw, int channels_per_group, int half, float alpha, float beta, cudaStream_t st) {
    return dispatch_dtype(dt, [&](auto t) {
        using T = decltype(t);
        lrn_backward_kernel<T><<<capped_grid(columns), kThreads, 0, st>>>(
            static_cast<const T*>(dy), static_cast<const T*>(x), scale, static_cast<T*>(dx), columns, hw,
            channels_per_group, half, alpha, beta);
    });
}

}  // namespace repro_alexnet
