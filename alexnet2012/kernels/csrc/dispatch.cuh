// Kernel-side helpers shared by the .cu files: dtype dispatch and grid sizes.
#pragma once

#include <cuda_bf16.h>

#include "common.cuh"
#include "launch.h"

namespace repro_alexnet {

// Calls fn(T{}) with T = float or __nv_bfloat16.
template <typename Fn>
cudaError_t dispatch_dtype(DType dt, Fn&& fn) {
    switch (dt) {
        case DType::F32: fn(float{}); break;
        case DType::BF16: fn(__nv_bfloat16{}); break;
        default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}


// One thread per item, in a grid-stride loop (any size fits the grid limit).
#define REPRO_FOR_EACH(i, n) \
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
         i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// The same in 32-bit arithmetic, for the kernels whose tensors fit common.cuh's
// kOffsetLimit (n < 2^30; the capped grid's stride is below 2^29, so i never wraps).
#define REPRO_FOR_EACH_32(i, n)                                                          \
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < static_cast<uint32_t>(n); \
         i += gridDim.x * blockDim.x)

inline unsigned capped_grid(int64_t work) {
    const int64_t blocks = (work + kThreads - 1) / kThreads;
    return static_cast<unsigned>(blocks < 65535 * 32 ? (blocks > 0 ? blocks : 1) : 65535 * 32);
}

}  // namespace repro_alexnet

namespace repro_alexnet {

struct SumOp {
    __device__ float operator()(float a, float b) const { return a + b; }
};
struct MaxOp {  // NaN-propagating, as torch's max
    __device__ float operator()(float a, float b) const { return (a > b || is_nan(a)) ? a : b; }
};

// Reduce one value per thread over the block (blockDim.x a multiple of 32, at
// most 1024) in a fixed order: warp shuffles, then the warps' results through
// shared memory. Every thread gets the result. Deterministic run to run.
template <typename Op>
__device__ float block_reduce(float v, Op op, float identity) {
    __shared__ float partial[32];
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, o));
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < static_cast<int>(blockDim.x >> 5) ? partial[lane] : identity;
        for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, o));
        if (lane == 0) partial[0] = v;
    }
    __syncthreads();
    v = partial[0];
    __syncthreads();  // partial[] is free for the next call
    return v;
}

}  // namespace repro_alexnet
