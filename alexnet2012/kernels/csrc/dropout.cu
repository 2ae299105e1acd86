// Dropout on the GPU: one thread per 4 elements (one Philox call); the math is
// in dropout.cuh.
#include "dispatch.cuh"
#include "dropout.cuh"

namespace repro_alexnet {

template <typename T>
__global__ void dropout_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t numel, uint64_t seed, float p) {
    REPRO_FOR_EACH(q, (numel + 3) / 4) dropout_quad_at(q, x, y, numel, seed, p);
}

cudaError_t dropout_cuda(DType dt, const void* x, void* y, int64_t numel, uint64_t seed, float p, cudaStream_t st) {
    return dispatch_dtype(dt, [&](auto t) {
        using T = decltype(t);
        dropout_kernel<T><<<capped_grid((numel + 3) / 4), kThreads, 0, st>>>(static_cast<const T*>(x),
                                                                              static_cast<T*>(y), numel, seed, p);
    });
}

}  // namespace repro_alexnet
