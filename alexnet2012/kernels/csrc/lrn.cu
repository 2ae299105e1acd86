// Local response normalisation on the GPU: one thread per (image, group, pixel)
// column; the math is in lrn.cuh.
#include "dispatch.cuh"
#include "lrn.cuh"

namespace repro_alexnet {

template <typename T>
__global__ void lrn_forward_kernel(const T* __restrict__ x, T* __restrict__ y, float* __restrict__ scale,
                                   uint32_t columns, LrnShape g, float alpha, float beta, float k) {
    REPRO_FOR_EACH_32(col, columns) lrn_forward_at(col, x, y, scale, g, alpha, beta, k);
}

template <typename T>
__global__ void lrn_backward_kernel(const T* __restrict__ dy, const T* __restrict__ x,
                                    const float* __restrict__ scale, T* __restrict__ dx, uint32_t columns,
                                    LrnShape g, float alpha, float beta) {
    REPRO_FOR_EACH_32(col, columns) lrn_backward_at(col, dy, x, scale, dx, g, alpha, beta);
}

cudaError_t lrn_forward_cuda(DType dt, const void* x, void* y, float* scale, int64_t columns, int64_t hw,
                             int channels_per_group, int half, float alpha, float beta, float k, cudaStream_t st) {
    if (!fits_32bit(columns * channels_per_group)) return cudaErrorInvalidValue;  // the binding checks first
    const LrnShape g = lrn_shape(hw, channels_per_group, half);
    return dispatch_dtype(dt, [&](auto t) {
        using T = decltype(t);
        lrn_forward_kernel<T><<<capped_grid(columns), kThreads, 0, st>>>(
            static_cast<const T*>(x), static_cast<T*>(y), scale, static_cast<uint32_t>(columns), g, alpha, beta, k);
    });
}

cudaError_t lrn_backward_cuda(DType dt, const void* dy, const void* x, const float* scale, void* dx, int64_t columns,
                              int64_t hw, int channels_per_group, int half, float alpha, float beta, cudaStream_t st) {
    if (!fits_32bit(columns * channels_per_group)) return cudaErrorInvalidValue;  // the binding checks first
    const LrnShape g = lrn_shape(hw, channels_per_group, half);
    return dispatch_dtype(dt, [&](auto t) {
        using T = decltype(t);
        lrn_backward_kernel<T><<<capped_grid(columns), kThreads, 0, st>>>(
            static_cast<const T*>(dy), static_cast<const T*>(x), scale, static_cast<T*>(dx),
            static_cast<uint32_t>(columns), g, alpha, beta);
    });
}

}  // namespace repro_alexnet
