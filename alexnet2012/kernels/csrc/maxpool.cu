// Overlapping max pooling on the GPU: one thread per output (forward) and per
// input (backward, a gather); the math is in maxpool.cuh.
#include "dispatch.cuh"
#include "maxpool.cuh"

namespace repro_alexnet {

template <typename T>
__global__ void maxpool_forward_kernel(const T* __restrict__ x, T* __restrict__ y, int32_t* __restrict__ argmax,
                                       uint32_t outputs, PoolIndex g) {
    REPRO_FOR_EACH_32(i, outputs) maxpool_forward_at(i, x, y, argmax, g);
}

template <typename T>
__global__ void maxpool_backward_kernel(const T* __restrict__ dy, const int32_t* __restrict__ argmax,
                                        T* __restrict__ dx, uint32_t inputs, PoolIndex g) {
    REPRO_FOR_EACH_32(i, inputs) maxpool_backward_at(i, dy, argmax, dx, g);
}

cudaError_t maxpool_forward_cuda(DType dt, const void* x, void* y, int32_t* argmax, int64_t planes, int64_t height,
                                 int64_t width, int64_t out_height, int64_t out_width, int kernel, int stride,
                                 int padding, cudaStream_t st) {
    const PoolIndex g = pool_index({height, width, out_height, out_width, kernel, stride, padding});
    const int64_t outputs = planes * out_height * out_width;
    if (!fits_32bit(outputs) || !fits_32bit(planes * height * width)) return cudaErrorInvalidValue;  // checked first
    return dispatch_dtype(dt, [&](auto t) {
        using T = decltype(t);
        maxpool_forward_kernel<T><<<capped_grid(outputs), kThreads, 0, st>>>(
            static_cast<const T*>(x), static_cast<T*>(y), argmax, static_cast<uint32_t>(outputs), g);
    });
}

cudaError_t maxpool_backward_cuda(DType dt, const void* dy, const int32_t* argmax, void* dx, int64_t planes,
                                  int64_t height, int64_t width, int64_t out_height, int64_t out_width, int kernel,
                                  int stride, int padding, cudaStream_t st) {
    const PoolIndex g = pool_index({height, width, out_height, out_width, kernel, stride, padding});
    const int64_t inputs = planes * height * width;
    if (!fits_32bit(inputs) || !fits_32bit(planes * out_height * out_width)) return cudaErrorInvalidValue;
    return dispatch_dtype(dt, [&](auto t) {
        using T = decltype(t);
        maxpool_backward_kernel<T><<<capped_grid(inputs), kThreads, 0, st>>>(
            static_cast<const T*>(dy), argmax, static_cast<T*>(dx), static_cast<uint32_t>(inputs), g);
    });
}

}  // namespace repro_alexnet
