// Dropout on the GPU: one thread per run of 16 bytes (4 fp32 or 8 bf16 elements:
// one or two Philox calls); the math is in dropout.cuh.
#include "dispatch.cuh"
#include "dropout.cuh"

namespace repro_alexnet {

template <typename T>
__global__ void dropout_kernel(const T* __restrict__ x, T* __restrict__ y, uint32_t numel, uint32_t runs,
                               uint64_t seed, float p, bool vec) {
    REPRO_FOR_EACH_32(r, runs) dropout_run<kVec<T>>(r, x, y, numel, seed, p, vec);
}

cudaError_t dropout_cuda(DType dt, const void* x, void* y, int64_t numel, uint64_t seed, float p, cudaStream_t st) {
    if (!fits_32bit(numel)) return cudaErrorInvalidValue;  // the binding checks first, with a message
    const bool vec = aligned16(x) && aligned16(y);
    return dispatch_dtype(dt, [&](auto t) {
        using T = decltype(t);
        const int64_t runs = (numel + kVec<T> - 1) / kVec<T>;
        dropout_kernel<T><<<capped_grid(runs), kThreads, 0, st>>>(static_cast<const T*>(x), static_cast<T*>(y),
                                                                  static_cast<uint32_t>(numel),
                                                                  static_cast<uint32_t>(runs), seed, p, vec);
    });
}

}  // namespace repro_alexnet
