// The geometry of one convolution, shared by the CPU path, the CUDA kernels
// and their host launchers (plain C++: launch.h includes it without nvcc).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define REPRO_SHAPE_HD __host__ __device__ __forceinline__
#else
#define REPRO_SHAPE_HD inline
#endif

namespace repro_alexnet {

// Square k x k kernel, one stride and one zero padding in both directions.
struct ConvShape {
    int64_t batch, height, width, out_height, out_width;
    int in_channels, out_channels, groups, kernel, stride, padding;

    REPRO_SHAPE_HD int cin_g() const { return in_channels / groups; }
    REPRO_SHAPE_HD int cout_g() const { return out_channels / groups; }
};

// The three GEMMs of a convolution (conv.cuh says which is which).
enum class ConvPass : int { Forward = 0, BackwardData = 1, BackwardWeight = 2 };

}  // namespace repro_alexnet
