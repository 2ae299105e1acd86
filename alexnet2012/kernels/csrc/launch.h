// Host-side entry points of the CUDA kernels: raw pointers, sizes and a stream,
// no torch types, so the .cu files compile without torch's headers (seconds,
// not minutes). Each <family>_ops.cpp checks the tensors and calls its family's.
#pragma once

#include <cstdint>
#include <cuda_runtime_api.h>

#include "conv_shape.h"

namespace repro_alexnet {

enum class DType : int { F32 = 0, BF16 = 1 };

constexpr int kThreads = 256;

cudaError_t lrn_forward_cuda(DType dt, const void* x, void* y, float* scale, int64_t columns, int64_t hw,
                             int channels_per_group, int half, float alpha, float beta, float k, cudaStream_t st);
cudaError_t lrn_backward_cuda(DType dt, const void* dy, const void* x, const float* scale, void* dx, int64_t columns,
                              int64_t hw, int channels_per_group, int half, float alpha, float beta, cudaStream_t st);

cudaError_t maxpool_forward_cuda(DType dt, const void* x, void* y, int32_t* argmax, int64_t planes, int64_t height,
                                 int64_t width, int64_t out_height, int64_t out_width, int kernel, int stride,
                                 int padding, cudaStream_t st);
cudaError_t maxpool_backward_cuda(DType dt, const void* dy, const int32_t* argmax, void* dx, int64_t planes,
                                  int64_t height, int64_t width, int64_t out_height, int64_t out_width, int kernel,
                                  int stride, int padding, cudaStream_t st);

cudaError_t bias_relu_forward_cuda(DType dt, const void* x, const float* bias, void* y, int64_t batch,
                                   int64_t channels, int64_t spatial, cudaStream_t st);
// partials: a workspace of channels * bias_grad_splits(batch * spatial) floats.
int bias_grad_splits(int64_t per_channel);
cudaError_t bias_relu_backward_cuda(DType dt, const void* dy, const void* y, void* dx, float* partials,
                                    float* grad_bias, int64_t batch, int64_t channels, int64_t spatial,
                                    cudaStream_t st);

cudaError_t dropout_cuda(DType dt, const void* x, void* y, int64_t numel, uint64_t seed, float p, cudaStream_t st);

// row_loss: a workspace of `rows` floats.
cudaError_t softmax_xent_forward_cuda(DType dt, const void* logits, const int64_t* labels, float* row_loss,
                                      float* lse, float* loss, int64_t rows, int64_t classes, cudaStream_t st);
cudaError_t softmax_xent_backward_cuda(DType dt, const float* grad_loss, const void* logits, const int64_t* labels,
                                       const float* lse, void* grad_logits, int64_t rows, int64_t classes,
                                       cudaStream_t st);

// Convolution (conv.cu). The split-K factor is a function of the pass, dtype and
// shape; where it is > 1 the caller passes a workspace of splits * (the pass's
// output elements) floats, else workspace may be null.
int conv_splits_cuda(ConvPass pass, DType dt, const ConvShape& s);
cudaError_t conv_forward_cuda(DType dt, const void* x, const void* w, const float* bias, void* y, const ConvShape& s,
                              bool relu, float* workspace, cudaStream_t st);
cudaError_t conv_backward_data_cuda(DType dt, const void* dy, const void* w, void* dx, const ConvShape& s,
                                    float* workspace, cudaStream_t st);
cudaError_t conv_backward_weight_cuda(DType dt, const void* dy, const void* x, void* dw, const ConvShape& s,
                                      float* workspace, cudaStream_t st);

}  // namespace repro_alexnet
