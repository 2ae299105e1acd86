// Fused bias + ReLU on the GPU; the math is in bias_relu.cuh. The bias gradient
// is a two-stage reduction with a split count fixed by the shape (never by the
// scheduler), so it is deterministic without atomics.
#include "bias_relu.cuh"
#include "dispatch.cuh"

namespace repro_alexnet {

// One thread per run of V = 16 / sizeof(T) elements (a 16-byte access where aligned).
template <typename T>
__global__ void bias_relu_forward_kernel(const T* __restrict__ x, const float* __restrict__ bias, T* __restrict__ y,
                                         BiasReluShape g, uint32_t runs, bool vec) {
    REPRO_FOR_EACH_32(r, runs) bias_relu_forward_run<kVec<T>>(r, x, bias, y, g, vec);
}

// Block (c, split): dx for its slice of channel c's runs, and the slice's sum.
template <typename T>
__global__ void bias_relu_backward_kernel(const T* __restrict__ dy, const T* __restrict__ y, T* __restrict__ dx,
                                          float* __restrict__ partials, BiasReluShape g, uint32_t runs,
                                          uint32_t runs_per_split, int splits, bool vec) {
    const uint32_t c = blockIdx.x, split = blockIdx.y;
    const uint32_t begin = split * runs_per_split;
    const uint32_t end = begin + runs_per_split < runs ? begin + runs_per_split : runs;
    float sum = 0.0f;
    for (uint32_t r = begin + threadIdx.x; r < end; r += blockDim.x)
        sum += relu_backward_run<kVec<T>>(r, c, dy, y, dx, g, vec);
    sum = block_reduce(sum, SumOp{}, 0.0f);
    if (threadIdx.x == 0) partials[c * splits + split] = sum;
}

__global__ void sum_splits_kernel(const float* __restrict__ partials, float* __restrict__ out, uint32_t channels,
                                  int splits) {
    REPRO_FOR_EACH_32(c, channels) {
        float s = 0.0f;
        for (int k = 0; k < splits; ++k) s += partials[c * splits + k];
        out[c] = s;
    }
}

int bias_grad_splits(int64_t per_channel) {
    const int64_t splits = (per_channel + kThreads * 8 - 1) / (kThreads * 8);
    return static_cast<int>(splits < 1 ? 1 : (splits > 64 ? 64 : splits));
}

cudaError_t bias_relu_forward_cuda(DType dt, const void* x, const float* bias, void* y, int64_t batch,
                                   int64_t channels, int64_t spatial, cudaStream_t st) {
    const int64_t numel = batch * channels * spatial;
    if (!fits_32bit(numel)) return cudaErrorInvalidValue;  // the binding checks first, with a message
    const BiasReluShape g = bias_relu_shape(batch, channels, spatial);
    const bool vec = aligned16(x) && aligned16(y);
    return dispatch_dtype(dt, [&](auto t) {
        using T = decltype(t);
        const int64_t runs = (numel + kVec<T> - 1) / kVec<T>;
        bias_relu_forward_kernel<T><<<capped_grid(runs), kThreads, 0, st>>>(
            static_cast<const T*>(x), bias, static_cast<T*>(y), g, static_cast<uint32_t>(runs), vec);
    });
}

cudaError_t bias_relu_backward_cuda(DType dt, const void* dy, const void* y, void* dx, float* partials,
                                    float* grad_bias, int64_t batch, int64_t channels, int64_t spatial,
                                    cudaStream_t st) {
    const int64_t per_channel = batch * spatial;
    if (!fits_32bit(per_channel * channels)) return cudaErrorInvalidValue;  // the binding checks first
    const int splits = bias_grad_splits(per_channel);
    const BiasReluShape g = bias_relu_shape(batch, channels, spatial);
    return dispatch_dtype(dt, [&](auto t) {
        using T = decltype(t);
        constexpr int V = kVec<T>;
        const bool vec = aligned16(dy) && aligned16(y) && aligned16(dx) && spatial % V == 0;
        const int64_t runs = (per_channel + V - 1) / V, per_split = (runs + splits - 1) / splits;
        const dim3 grid(static_cast<unsigned>(channels), static_cast<unsigned>(splits));
        bias_relu_backward_kernel<T><<<grid, kThreads, 0, st>>>(
            static_cast<const T*>(dy), static_cast<const T*>(y), static_cast<T*>(dx), partials, g,
            static_cast<uint32_t>(runs), static_cast<uint32_t>(per_split), splits, vec);
        sum_splits_kernel<<<capped_grid(channels), kThreads, 0, st>>>(partials, grad_bias,
                                                                      static_cast<uint32_t>(channels), splits);
    });
}

}  // namespace repro_alexnet
