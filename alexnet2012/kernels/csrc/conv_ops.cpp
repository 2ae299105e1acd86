// The torch side of the convolution kernels: schemas, argument checks, the CPU
// path and the CUDA launch glue of repro_alexnet::conv_forward,
// conv_backward_data and conv_backward_weight. The math is conv.cuh's index
// functions; the GPU kernels are in conv.cu. Fake and autograd registrations are
// in Python, with the reference: alexnet2012/kernels/conv.py.
#include <torch/library.h>

#include <vector>

#include "conv.cuh"
#include "conv_gemm.cuh"
#include "torch_glue.h"

namespace repro_alexnet {
namespace {

int64_t conv_out(int64_t in, int64_t kernel, int64_t stride, int64_t padding) {
    return (in + 2 * padding - kernel) / stride + 1;
}

// Checks the geometry shared by the three passes and returns it.
ConvShape conv_shape(int64_t batch, int64_t in_channels, int64_t height, int64_t width, const Tensor& weight,
                     int64_t stride, int64_t padding, int64_t groups, const char* op) {
    check_float(weight, op);
    TORCH_CHECK(weight.dim() == 4, op, ": weight must be [C_out, C_in/groups, k, k], got ", weight.dim(), " dims");
    const int64_t out_channels = weight.size(0), kernel = weight.size(2);
    TORCH_CHECK(weight.size(3) == kernel, op, ": only square kernels are supported, got ", weight.size(2), "x",
                weight.size(3));
    TORCH_CHECK(kernel >= 1, op, ": empty kernel");
    TORCH_CHECK(stride >= 1, op, ": stride must be >= 1, got ", stride);
    TORCH_CHECK(padding >= 0, op, ": padding must be >= 0, got ", padding);
    TORCH_CHECK(groups >= 1 && in_channels % groups == 0 && out_channels % groups == 0, op, ": ", in_channels,
                " input and ", out_channels, " output channels do not split into ", groups, " groups");
    TORCH_CHECK(weight.size(1) * groups == in_channels, op, ": weight ", weight.sizes(), " expects ",
                weight.size(1) * groups, " input channels with ", groups, " groups, the input has ", in_channels);
    TORCH_CHECK(height + 2 * padding >= kernel && width + 2 * padding >= kernel, op, ": a ", height, "x", width,
                " input with padding ", padding, " is smaller than the ", kernel, "x", kernel, " kernel");
    return {batch, height, width, conv_out(height, kernel, stride, padding), conv_out(width, kernel, stride, padding),
            static_cast<int>(in_channels), static_cast<int>(out_channels), static_cast<int>(groups),
            static_cast<int>(kernel), static_cast<int>(stride), static_cast<int>(padding)};
}

ConvShape forward_shape(const Tensor& x, const Tensor& weight, const std::optional<Tensor>& bias, int64_t stride,
                        int64_t padding, int64_t groups) {
    check_float(x, "conv_forward: x");
    TORCH_CHECK(x.dim() == 4, "conv_forward: x must be [N, C, H, W], got ", x.dim(), " dims");
    check_same(x, weight, "conv_forward (x, weight)");
    if (bias.has_value()) {
        check_float(*bias, "conv_forward: bias");
        TORCH_CHECK(bias->dim() == 1 && bias->size(0) == weight.size(0), "conv_forward: bias must be [",
                    weight.size(0), "], got ", bias->sizes());
        TORCH_CHECK(bias->device() == x.device(), "conv_forward: bias on ", bias->device(), ", x on ", x.device());
    }
    return conv_shape(x.size(0), x.size(1), x.size(2), x.size(3), weight, stride, padding, groups, "conv_forward");
}

// grad_y must have the output shape of the convolution s describes.
void check_grad_y(const Tensor& grad_y, const ConvShape& s, const char* op) {
    check_float(grad_y, op);
    TORCH_CHECK(grad_y.dim() == 4 && grad_y.size(0) == s.batch && grad_y.size(1) == s.out_channels &&
                    grad_y.size(2) == s.out_height && grad_y.size(3) == s.out_width,
                op, ": grad_y must be [", s.batch, ", ", s.out_channels, ", ", s.out_height, ", ", s.out_width,
                "], got ", grad_y.sizes());
}

// Data gradient: the input is not an argument, so its geometry comes from (height, width).
ConvShape data_grad_shape(const Tensor& grad_y, const Tensor& weight, const c10::SymInt& height,
                          const c10::SymInt& width, int64_t stride, int64_t padding, int64_t groups) {
    check_same(grad_y, weight, "conv_backward_data (grad_y, weight)");
    TORCH_CHECK(grad_y.dim() == 4 && weight.dim() == 4,
                "conv_backward_data: grad_y must be [N, C_out, H_out, W_out] and weight [C_out, C_in/groups, k, k]");
    const ConvShape s = conv_shape(grad_y.size(0), weight.size(1) * groups, height.expect_int(), width.expect_int(),
                                   weight, stride, padding, groups, "conv_backward_data");
    check_grad_y(grad_y, s, "conv_backward_data");
    return s;
}

// Weight gradient: the weight tensor is not an input, so its geometry comes from (kernel, groups).
ConvShape weight_grad_shape(const Tensor& grad_y, const Tensor& x, int64_t kernel, int64_t stride, int64_t padding,
                            int64_t groups) {
    check_float(x, "conv_backward_weight: x");
    check_same(grad_y, x, "conv_backward_weight (grad_y, x)");
    TORCH_CHECK(x.dim() == 4 && grad_y.dim() == 4, "conv_backward_weight: x and grad_y must be 4-d");
    TORCH_CHECK(groups >= 1 && x.size(1) % groups == 0, "conv_backward_weight: ", x.size(1),
                " input channels do not split into ", groups, " groups");
    TORCH_CHECK(kernel >= 1, "conv_backward_weight: kernel must be >= 1, got ", kernel);
    const Tensor shape_only = at::empty({grad_y.size(1), x.size(1) / groups, kernel, kernel},
                                        x.options().device(at::kMeta));
    const ConvShape s = conv_shape(x.size(0), x.size(1), x.size(2), x.size(3), shape_only, stride, padding, groups,
                                   "conv_backward_weight");
    check_grad_y(grad_y, s, "conv_backward_weight");
    return s;
}

Tensor bias_f32(const std::optional<Tensor>& bias) {
    return bias.has_value() ? bias->to(at::kFloat).contiguous() : Tensor();  // the kernels add the bias in fp32
}

// ----------------------------------------------------------------------------- CPU

// C = A B for each group, tiled: a block of 64 columns of B is gathered once
// per 256 rows of K, then every row of A streams over it. Each output sums its
// products in ascending k, in fp32, whatever the thread count.
template <class P>
void gemm_cpu(const P& p, int groups) {
    constexpr int64_t kCols = 64, kRows = 256;
    const int64_t m_size = p.M(), n_size = p.N(), k_size = p.K();
    const int64_t blocks = (n_size + kCols - 1) / kCols;
    at::parallel_for(0, groups * blocks, 1, [&](int64_t begin, int64_t end) {
        std::vector<float> b_block(kRows * kCols), acc(m_size * kCols);
        for (int64_t task = begin; task < end; ++task) {
            const int g = static_cast<int>(task / blocks);
            const int64_t n0 = (task % blocks) * kCols, cols = std::min(kCols, n_size - n0);
            std::fill(acc.begin(), acc.end(), 0.0f);
            for (int64_t k0 = 0; k0 < k_size; k0 += kRows) {
                const int64_t rows = std::min(kRows, k_size - k0);
                for (int64_t k = 0; k < rows; ++k)
                    for (int64_t j = 0; j < cols; ++j) b_block[k * kCols + j] = p.b(g, k0 + k, n0 + j);
                for (int64_t m = 0; m < m_size; ++m) {
                    float* out = acc.data() + m * kCols;
                    for (int64_t k = 0; k < rows; ++k) {
                        const float a = p.a(g, m, k0 + k);
                        const float* b = b_block.data() + k * kCols;
                        for (int64_t j = 0; j < cols; ++j) out[j] += a * b[j];
                    }
                }
            }
            for (int64_t m = 0; m < m_size; ++m)
                for (int64_t j = 0; j < cols; ++j) p.put(g, m, n0 + j, acc[m * kCols + j]);
        }
    });
}

Tensor conv_forward_cpu(const Tensor& x_, const Tensor& weight_, const std::optional<Tensor>& bias_, int64_t stride,
                        int64_t padding, int64_t groups, bool relu) {
    const ConvShape s = forward_shape(x_, weight_, bias_, stride, padding, groups);
    const Tensor x = x_.contiguous(), weight = weight_.contiguous(), bias = bias_f32(bias_);
    Tensor y = at::empty({s.batch, s.out_channels, s.out_height, s.out_width}, x.options());
    if (y.numel() == 0) return y;
    cpu_dtype(x, [&](auto t) {
        using T = decltype(t);
        gemm_cpu(ConvForward<T>{x.const_data_ptr<T>(), weight.const_data_ptr<T>(),
                                bias.defined() ? bias.const_data_ptr<float>() : nullptr, y.mutable_data_ptr<T>(), s, relu},
                 s.groups);
    });
    return y;
}

Tensor conv_backward_data_cpu(const Tensor& grad_y_, const Tensor& weight_, c10::SymInt height, c10::SymInt width,
                              int64_t stride, int64_t padding, int64_t groups) {
    const ConvShape s = data_grad_shape(grad_y_, weight_, height, width, stride, padding, groups);
    const Tensor dy = grad_y_.contiguous(), weight = weight_.contiguous();
    Tensor dx = at::empty({s.batch, s.in_channels, s.height, s.width}, dy.options());
    if (dx.numel() == 0) return dx;
    cpu_dtype(dy, [&](auto t) {
        using T = decltype(t);
        gemm_cpu(ConvBackwardData<T>{dy.const_data_ptr<T>(), weight.const_data_ptr<T>(), dx.mutable_data_ptr<T>(), s},
                 s.groups);
    });
    return dx;
}

Tensor conv_backward_weight_cpu(const Tensor& grad_y_, const Tensor& x_, int64_t kernel, int64_t stride,
                                int64_t padding, int64_t groups) {
    const ConvShape s = weight_grad_shape(grad_y_, x_, kernel, stride, padding, groups);
    const Tensor dy = grad_y_.contiguous(), x = x_.contiguous();
    Tensor dw = at::zeros({s.out_channels, s.cin_g(), kernel, kernel}, x.options());
    if (dy.numel() == 0 || dw.numel() == 0) return dw;
    cpu_dtype(x, [&](auto t) {
        using T = decltype(t);
        gemm_cpu(ConvBackwardWeight<T>{dy.const_data_ptr<T>(), x.const_data_ptr<T>(), dw.mutable_data_ptr<T>(), s},
                 s.groups);
    });
    return dw;
}

// ----------------------------------------------------------------------------- CUDA

#ifdef REPRO_WITH_CUDA

// The bf16 tensor-core kernel computes offsets in 32 bits (conv_gemm.cuh): refuse what does not fit
// (the fp32 kernel and the CPU path use 64-bit offsets).
void check_offsets(const ConvShape& s, const Tensor& like, const char* op) {
    TORCH_CHECK(like.scalar_type() != at::kBFloat16 || gemm::fits_32bit(s), op,
                ": a tensor of this convolution has 2^30 elements or more, beyond the bf16 kernel's 32-bit offsets; "
                "split the batch or use torch's convolution (model.ops.conv=torch)");
}

// The fp32 workspace of the pass's split-K sums (undefined where it does not split).
Tensor workspace(ConvPass pass, const Tensor& like, const ConvShape& s, int64_t outputs) {
    const int splits = conv_splits_cuda(pass, dtype_of(like), s);
    return splits > 1 ? at::empty({splits * outputs}, like.options().dtype(at::kFloat)) : Tensor();
}

float* data_or_null(Tensor& t) { return t.defined() ? t.mutable_data_ptr<float>() : nullptr; }

Tensor conv_forward_cuda_op(const Tensor& x_, const Tensor& weight_, const std::optional<Tensor>& bias_,
                            int64_t stride, int64_t padding, int64_t groups, bool relu) {
    const ConvShape s = forward_shape(x_, weight_, bias_, stride, padding, groups);
    check_offsets(s, x_, "conv_forward");
    REPRO_CUDA_CONTEXT(x_);
    const Tensor x = x_.contiguous(), weight = weight_.contiguous(), bias = bias_f32(bias_);
    Tensor y = at::empty({s.batch, s.out_channels, s.out_height, s.out_width}, x.options());
    if (y.numel() == 0) return y;
    Tensor ws = workspace(ConvPass::Forward, x, s, y.numel());
    check_launch(conv_forward_cuda(dtype_of(x), x.const_data_ptr(), weight.const_data_ptr(),
                                   bias.defined() ? bias.const_data_ptr<float>() : nullptr, y.mutable_data_ptr(), s,
                                   relu, data_or_null(ws), stream),
                 "conv_forward");
    return y;
}

Tensor conv_backward_data_cuda_op(const Tensor& grad_y_, const Tensor& weight_, c10::SymInt height,
                                  c10::SymInt width, int64_t stride, int64_t padding, int64_t groups) {
    const ConvShape s = data_grad_shape(grad_y_, weight_, height, width, stride, padding, groups);
    check_offsets(s, grad_y_, "conv_backward_data");
    REPRO_CUDA_CONTEXT(grad_y_);
    const Tensor dy = grad_y_.contiguous(), weight = weight_.contiguous();
    Tensor dx = at::empty({s.batch, s.in_channels, s.height, s.width}, dy.options());
    if (dx.numel() == 0) return dx;
    Tensor ws = workspace(ConvPass::BackwardData, dy, s, dx.numel());
    check_launch(conv_backward_data_cuda(dtype_of(dy), dy.const_data_ptr(), weight.const_data_ptr(),
                                         dx.mutable_data_ptr(), s, data_or_null(ws), stream),
                 "conv_backward_data");
    return dx;
}

Tensor conv_backward_weight_cuda_op(const Tensor& grad_y_, const Tensor& x_, int64_t kernel, int64_t stride,
                                    int64_t padding, int64_t groups) {
    const ConvShape s = weight_grad_shape(grad_y_, x_, kernel, stride, padding, groups);
    check_offsets(s, x_, "conv_backward_weight");
    REPRO_CUDA_CONTEXT(x_);
    const Tensor dy = grad_y_.contiguous(), x = x_.contiguous();
    Tensor dw = at::zeros({s.out_channels, s.cin_g(), kernel, kernel}, x.options());
    if (dy.numel() == 0 || dw.numel() == 0) return dw;
    Tensor ws = workspace(ConvPass::BackwardWeight, x, s, dw.numel());
    check_launch(conv_backward_weight_cuda(dtype_of(x), dy.const_data_ptr(), x.const_data_ptr(),
                                           dw.mutable_data_ptr(), s, data_or_null(ws), stream),
                 "conv_backward_weight");
    return dw;
}

#endif  // REPRO_WITH_CUDA

}  // namespace
}  // namespace repro_alexnet

TORCH_LIBRARY_FRAGMENT(repro_alexnet, m) {
    m.def("conv_forward(Tensor x, Tensor weight, Tensor? bias, int stride, int padding, int groups, bool relu) "
          "-> Tensor");
    m.def("conv_backward_data(Tensor grad_y, Tensor weight, SymInt height, SymInt width, int stride, int padding, "
          "int groups) -> Tensor");
    m.def("conv_backward_weight(Tensor grad_y, Tensor x, int kernel, int stride, int padding, int groups) -> Tensor");
}

TORCH_LIBRARY_IMPL(repro_alexnet, CPU, m) {
    using namespace repro_alexnet;
    m.impl("conv_forward", &conv_forward_cpu);
    m.impl("conv_backward_data", &conv_backward_data_cpu);
    m.impl("conv_backward_weight", &conv_backward_weight_cpu);
}

#ifdef REPRO_WITH_CUDA
TORCH_LIBRARY_IMPL(repro_alexnet, CUDA, m) {
    using namespace repro_alexnet;
    m.impl("conv_forward", &conv_forward_cuda_op);
    m.impl("conv_backward_data", &conv_backward_data_cuda_op);
    m.impl("conv_backward_weight", &conv_backward_weight_cuda_op);
}
#endif
