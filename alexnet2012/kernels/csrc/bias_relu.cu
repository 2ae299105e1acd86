// Fused bias + ReLU on the GPU; the math is in bias_relu.cuh. The bias gradient
// is a two-stage reduction with a split count fixed by the shape (never by the
// scheduler), so it is deterministic without atomics.
#include "bias_relu.cuh"
#include "dispatch.cuh"

namespace repro_alexnet {

template <typename T>
__global__ void bias_relu_forward_kernel(const T* __restrict__ x, const float* __restrict__ bias, T* __restrict__ y,
                                         int64_t numel, int64_t channels, int64_t spatial) {
    REPRO_FOR_EACH(i, numel) bias_relu_forward_at(i, x, bias, y, channels, spatial);
}

// Block (c, split): dx for its slice of channel c, and the slice's sum.
template <typename T>
__global__ void bias_relu_backward_kernel(const T* __restrict__ dy, const T* __restrict__ y, T* __restrict__ dx,
                                          float* __restrict__ partials, int64_t channels, int64_t spatial,
                                          int64_t per_channel, int splits) {
    const int64_t c = blockIdx.x;
    const int split = blockIdx.y;
    const int64_t chunk = (per_channel + splits - 1) / splits;
    const int64_t begin = split * chunk;
    const int64_t end = begin + chunk < per_channel ? begin + chunk : per_channel;
    float sum = 0.0f;
    for (int64_t e = begin + threadIdx.x; e < end; e += blockDim.x)
        sum += relu_backward_at(channel_element(e, c, channels, spatial), dy, y, dx);
    sum = block_reduce(sum, SumOp{}, 0.0f);
    if (threadIdx.x == 0) partials[c * splits + split] = sum;
}

__global__ void sum_splits_kernel(const float* __restrict__ partials, float* __restrict__ out, int64_t channels,
                                  int splits) {
    REPRO_FOR_EACH(c, channels) {
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
    return dispatch_dtype(dt, [&](auto t) {
        using T = decltype(t);
        bias_relu_forward_kernel<T><<<capped_grid(numel), kThreads, 0, st>>>(
            static_cast<const T*>(x), bias, static_cast<T*>(y), numel, channels, spatial);
    });
}

cudaError_t bias_relu_backward_cuda(DType dt, const void* dy, const void* y, void* dx, float* partials,
                                    float* grad_bias, int64_t batch, int64_t channels, int64_t spatial,
                                    cudaStream_t st) {
    const int64_t per_channel = batch * spatial;
    const int splits = bias_grad_splits(per_channel);
    return dispatch_dtype(dt, [&](auto t) {
        using T = decltype(t);
        const dim3 grid(static_cast<unsigned>(channels), static_cast<unsigned>(splits));
        bias_relu_backward_kernel<T><<<grid, kThreads, 0, st>>>(static_cast<const T*>(dy), static_cast<const T*>(y),
                                                                static_cast<T*>(dx), partials, channels, spatial,
                                                                per_channel, splits);
        sum_splits_kernel<<<capped_grid(channels), kThreads, 0, st>>>(partials, grad_bias, channels, splits);
    });
}

}  // namespace repro_alexnet
