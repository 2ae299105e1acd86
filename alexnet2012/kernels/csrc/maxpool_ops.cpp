// The torch side of the max pooling: maxpool_forward, maxpool_backward.
// Op schemas (namespace repro_alexnet), argument checks, the CPU implementation (host
// loops over maxpool.cuh's per-element functions, the ones the CUDA kernels run) and the
// CUDA implementation (launchers in maxpool.cu). Fake and autograd registrations are in
// Python, with the reference: alexnet2012/kernels/maxpool.py.
#include <torch/library.h>

#include "maxpool.cuh"
#include "torch_glue.h"

namespace repro_alexnet {
namespace {

// ----------------------------------------------------------------------------- checks

PoolShape pool_shape(int64_t height, int64_t width, int64_t kernel, int64_t stride, int64_t padding) {
    TORCH_CHECK(kernel >= 1 && stride >= 1, "maxpool: kernel and stride must be >= 1, got ", kernel, ", ", stride);
    TORCH_CHECK(padding >= 0 && 2 * padding <= kernel, "maxpool: padding must be in [0, kernel/2], got ", padding);
    const int64_t oh = (height + 2 * padding - kernel) / stride + 1, ow = (width + 2 * padding - kernel) / stride + 1;
    TORCH_CHECK(height + 2 * padding >= kernel && width + 2 * padding >= kernel && oh >= 1 && ow >= 1,
                "maxpool: a ", height, "x", width, " input is smaller than the ", kernel, "x", kernel, " window");
    return {height, width, oh, ow, static_cast<int>(kernel), static_cast<int>(stride), static_cast<int>(padding)};
}

void check_pool_input(const Tensor& x) {
    check_float(x, "maxpool: x");
    TORCH_CHECK(x.dim() == 4, "maxpool: x must be [N, C, H, W], got ", x.dim(), " dims");
}

// The pooling's input and output within the kernels' 32-bit offsets (the output may be
// the larger: a 2x2 window with padding 1 and stride 1 adds a row and a column).
void check_pool_size(const Tensor& x, const PoolShape& g, const char* what) {
    const int64_t planes = x.size(0) * x.size(1);
    check_32bit(planes * std::max(g.height * g.width, g.out_height * g.out_width), what);
}

// ----------------------------------------------------------------------------- CPU

std::tuple<Tensor, Tensor> maxpool_forward_cpu(const Tensor& x_, int64_t kernel, int64_t stride, int64_t padding) {
    check_pool_input(x_);
    const PoolShape g = pool_shape(x_.size(2), x_.size(3), kernel, stride, padding);
    check_pool_size(x_, g, "maxpool: x");
    const Tensor x = x_.contiguous();
    Tensor y = at::empty({x.size(0), x.size(1), g.out_height, g.out_width}, x.options());
    Tensor argmax = at::empty(y.sizes(), x.options().dtype(at::kInt));
    cpu_dtype(x, [&](auto t) {
        using T = decltype(t);
        const T* xp = x.const_data_ptr<T>();
        T* yp = y.mutable_data_ptr<T>();
        int32_t* ap = argmax.mutable_data_ptr<int32_t>();
        const PoolIndex gi = pool_index(g);
        cpu_for(y.numel(), 1024, [&](int64_t i) { maxpool_forward_at(uint32_t(i), xp, yp, ap, gi); });
    });
    return {y, argmax};
}

Tensor maxpool_backward_cpu(const Tensor& dy_, const Tensor& argmax_, c10::SymInt height, c10::SymInt width,
                            int64_t kernel, int64_t stride, int64_t padding) {
    check_pool_input(dy_);
    const PoolShape g = pool_shape(height.expect_int(), width.expect_int(), kernel, stride, padding);
    check_pool_size(dy_, g, "maxpool_backward: the input gradient");
    TORCH_CHECK(argmax_.scalar_type() == at::kInt && argmax_.sizes() == dy_.sizes() && dy_.size(2) == g.out_height &&
                    dy_.size(3) == g.out_width,
                "maxpool_backward: grad and argmax (int32) must be the pooled shape");
    check_device(argmax_, dy_, "maxpool_backward: argmax");
    const Tensor dy = dy_.contiguous(), argmax = argmax_.contiguous();
    Tensor dx = at::empty({dy.size(0), dy.size(1), g.height, g.width}, dy.options());
    cpu_dtype(dy, [&](auto t) {
        using T = decltype(t);
        const T* dyp = dy.const_data_ptr<T>();
        const int32_t* ap = argmax.const_data_ptr<int32_t>();
        T* dxp = dx.mutable_data_ptr<T>();
        const PoolIndex gi = pool_index(g);
        cpu_for(dx.numel(), 1024, [&](int64_t i) { maxpool_backward_at(uint32_t(i), dyp, ap, dxp, gi); });
    });
    return dx;
}

// ----------------------------------------------------------------------------- CUDA

#ifdef REPRO_WITH_CUDA

std::tuple<Tensor, Tensor> maxpool_forward_cuda_op(const Tensor& x_, int64_t kernel, int64_t stride,
                                                   int64_t padding) {
    check_pool_input(x_);
    const PoolShape g = pool_shape(x_.size(2), x_.size(3), kernel, stride, padding);
    check_pool_size(x_, g, "maxpool: x");
    REPRO_CUDA_CONTEXT(x_);
    const Tensor x = x_.contiguous();
    Tensor y = at::empty({x.size(0), x.size(1), g.out_height, g.out_width}, x.options());
    Tensor argmax = at::empty(y.sizes(), x.options().dtype(at::kInt));
    if (y.numel() == 0) return {y, argmax};
    check_launch(maxpool_forward_cuda(dtype_of(x), x.const_data_ptr(), y.mutable_data_ptr(),
                                      argmax.mutable_data_ptr<int32_t>(), x.size(0) * x.size(1), g.height, g.width,
                                      g.out_height, g.out_width, g.kernel, g.stride, g.padding, stream),
                 "maxpool_forward");
    return {y, argmax};
}

Tensor maxpool_backward_cuda_op(const Tensor& dy_, const Tensor& argmax_, c10::SymInt height, c10::SymInt width,
                                int64_t kernel, int64_t stride, int64_t padding) {
    check_pool_input(dy_);
    const PoolShape g = pool_shape(height.expect_int(), width.expect_int(), kernel, stride, padding);
    check_pool_size(dy_, g, "maxpool_backward: the input gradient");
    TORCH_CHECK(argmax_.scalar_type() == at::kInt && argmax_.sizes() == dy_.sizes() && dy_.size(2) == g.out_height &&
                    dy_.size(3) == g.out_width,
                "maxpool_backward: grad and argmax (int32) must be the pooled shape");
    check_device(argmax_, dy_, "maxpool_backward: argmax");
    REPRO_CUDA_CONTEXT(dy_);
    const Tensor dy = dy_.contiguous(), argmax = argmax_.contiguous();
    Tensor dx = at::empty({dy.size(0), dy.size(1), g.height, g.width}, dy.options());
    if (dx.numel() == 0) return dx;
    check_launch(maxpool_backward_cuda(dtype_of(dy), dy.const_data_ptr(), argmax.const_data_ptr<int32_t>(),
                                       dx.mutable_data_ptr(), dy.size(0) * dy.size(1), g.height, g.width, g.out_height,
                                       g.out_width, g.kernel, g.stride, g.padding, stream),
                 "maxpool_backward");
    return dx;
}

#endif  // REPRO_WITH_CUDA

}  // namespace
}  // namespace repro_alexnet

TORCH_LIBRARY_FRAGMENT(repro_alexnet, m) {
    m.def("maxpool_forward(Tensor x, int kernel, int stride, int padding) -> (Tensor, Tensor)");
    m.def("maxpool_backward(Tensor grad_y, Tensor argmax, SymInt height, SymInt width, int kernel, int stride, "
          "int padding) -> Tensor");
}

TORCH_LIBRARY_IMPL(repro_alexnet, CPU, m) {
    using namespace repro_alexnet;
    m.impl("maxpool_forward", &maxpool_forward_cpu);
    m.impl("maxpool_backward", &maxpool_backward_cpu);
}

#ifdef REPRO_WITH_CUDA
TORCH_LIBRARY_IMPL(repro_alexnet, CUDA, m) {
    using namespace repro_alexnet;
    m.impl("maxpool_forward", &maxpool_forward_cuda_op);
    m.impl("maxpool_backward", &maxpool_backward_cuda_op);
}
#endif
