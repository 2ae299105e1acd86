// Torch-side helpers shared by the binding files (<family>_ops.cpp, one per kernel
// family): dtype and device checks, the CPU loop, and the CUDA launch context.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <initializer_list>

#include "common.cuh"

#ifdef REPRO_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "launch.h"
#endif

namespace repro_alexnet {

using at::Tensor;

inline void check_float(const Tensor& t, const char* name) {
    TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kBFloat16, name,
                " must be float32 or bfloat16, got ", t.scalar_type());
}

inline void check_same(const Tensor& a, const Tensor& b, const char* what) {
    TORCH_CHECK(a.device() == b.device(), what, ": tensors on different devices (", a.device(), ", ", b.device(), ")");
    TORCH_CHECK(a.scalar_type() == b.scalar_type(), what, ": dtypes differ (", a.scalar_type(), ", ", b.scalar_type(),
                ")");
}

// A tensor the op reads through a raw pointer must live where the kernel runs: a
// CPU tensor handed to the CUDA path (or the reverse) would be read as the wrong
// kind of pointer. The dispatcher picks the path from the tensors' devices but
// does not refuse a mix, so every saved tensor an op reads is checked here.
inline void check_device(const Tensor& t, const Tensor& like, const char* what) {
    TORCH_CHECK(t.device() == like.device(), what, " on ", t.device(), ", expected ", like.device(),
                " (where the op's other tensors are)");
}

// The kernels index in 32 bits (common.cuh's kOffsetLimit): refuse a tensor they cannot address,
// on the CPU path too (it runs the same index arithmetic), before anything is allocated.
inline void check_32bit(int64_t numel, const char* what) {
    TORCH_CHECK(fits_32bit(numel), what, " has ", numel, " elements: 2^30 or more is beyond the kernels' 32-bit "
                "offsets; split the batch or use torch's layer (model.ops.<kind>=torch)");
}

// Whether every pointer is 16-byte aligned: the vector loads' condition (common.cuh).
inline bool all_aligned16(std::initializer_list<const void*> pointers) {
    for (const void* p : pointers)
        if (!aligned16(p)) return false;
    return true;
}

// Runs fn(T{}) with T = float or c10::BFloat16 (the CPU element types).
template <typename Fn>
inline void cpu_dtype(const Tensor& t, Fn&& fn) {
    if (t.scalar_type() == at::kFloat) fn(float{});
    else fn(c10::BFloat16{});
}

template <typename Body>
inline void cpu_for(int64_t n, int64_t grain, const Body& body) {
    at::parallel_for(0, n, grain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) body(i);
    });
}

#ifdef REPRO_WITH_CUDA
inline DType dtype_of(const Tensor& t) { return t.scalar_type() == at::kFloat ? DType::F32 : DType::BF16; }

inline void check_launch(cudaError_t err, const char* op) {
    TORCH_CHECK(err == cudaSuccess, op, ": CUDA kernel launch failed: ", cudaGetErrorString(err));
}

#define REPRO_CUDA_CONTEXT(t)                 \
    const c10::cuda::CUDAGuard guard((t).device()); \
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream().stream()
#endif  // REPRO_WITH_CUDA

}  // namespace repro_alexnet
