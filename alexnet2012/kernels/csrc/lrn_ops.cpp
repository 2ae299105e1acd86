// The torch side of the local response normalisation: lrn_forward, lrn_backward.
// Op schemas (namespace repro_alexnet), argument checks, the CPU implementation (host
// loops over lrn.cuh's per-element functions, the ones the CUDA kernels run) and the
// CUDA implementation (launchers in lrn.cu). Fake and autograd registrations are in
// Python, with the reference: alexnet2012/kernels/lrn.py.
#include <torch/library.h>

#include "lrn.cuh"
#include "torch_glue.h"

namespace repro_alexnet {
namespace {

// ----------------------------------------------------------------------------- checks

struct LrnDims {
    int64_t columns, hw;
    int channels_per_group, half;
};

LrnDims lrn_dims(const Tensor& x, int64_t size, double k, int64_t groups) {
    check_float(x, "lrn: x");
    TORCH_CHECK(x.dim() >= 2, "lrn: x must be [N, C, ...], got ", x.dim(), " dims");
    TORCH_CHECK(size >= 1 && size % 2 == 1, "lrn: size must be odd and >= 1 (the window i-n/2..i+n/2), got ", size);
    TORCH_CHECK(groups >= 1 && x.size(1) % groups == 0, "lrn: ", x.size(1), " channels do not split into ", groups,
                " groups");
    TORCH_CHECK(k > 0, "lrn: k must be > 0, got ", k);
    check_32bit(x.numel(), "lrn: x");
    const int64_t hw = x.numel() / std::max<int64_t>(1, x.size(0) * x.size(1));
    return {x.size(0) * groups * hw, hw, static_cast<int>(x.size(1) / groups), static_cast<int>(size / 2)};
}

// The backward's saved tensors (x, scale) and the incoming gradient: one device, one shape,
// scale in float32 (the forward saved it so), dy in x's dtype.
void check_backward_args(const Tensor& dy, const Tensor& x, const Tensor& scale) {
    check_same(dy, x, "lrn_backward");
    check_device(scale, x, "lrn_backward: scale");
    TORCH_CHECK(scale.scalar_type() == at::kFloat, "lrn_backward: scale must be float32, got ", scale.scalar_type());
    TORCH_CHECK(dy.sizes() == x.sizes() && scale.sizes() == x.sizes(), "lrn_backward: grad ", dy.sizes(), ", x ",
                x.sizes(), " and scale ", scale.sizes(), " must have one shape");
}

// ----------------------------------------------------------------------------- CPU

std::tuple<Tensor, Tensor> lrn_forward_cpu(const Tensor& x_, int64_t size, double alpha, double beta, double k,
                                           int64_t groups) {
    const LrnDims d = lrn_dims(x_, size, k, groups);
    const Tensor x = x_.contiguous();
    Tensor y = at::empty_like(x), scale = at::empty(x.sizes(), x.options().dtype(at::kFloat));
    cpu_dtype(x, [&](auto t) {
        using T = decltype(t);
        const T* xp = x.const_data_ptr<T>();
        T* yp = y.mutable_data_ptr<T>();
        float* sp = scale.mutable_data_ptr<float>();
        const LrnShape g = lrn_shape(d.hw, d.channels_per_group, d.half);
        cpu_for(d.columns, 64, [&](int64_t col) {
            lrn_forward_at(uint32_t(col), xp, yp, sp, g, float(alpha), float(beta), float(k));
        });
    });
    return {y, scale};
}

Tensor lrn_backward_cpu(const Tensor& dy_, const Tensor& x_, const Tensor& scale_, int64_t size, double alpha,
                        double beta, int64_t groups) {
    const LrnDims d = lrn_dims(x_, size, 1.0, groups);
    check_backward_args(dy_, x_, scale_);
    const Tensor dy = dy_.contiguous(), x = x_.contiguous(), scale = scale_.contiguous();
    Tensor dx = at::empty_like(x);
    cpu_dtype(x, [&](auto t) {
        using T = decltype(t);
        const T *dyp = dy.const_data_ptr<T>(), *xp = x.const_data_ptr<T>();
        const float* sp = scale.const_data_ptr<float>();
        T* dxp = dx.mutable_data_ptr<T>();
        const LrnShape g = lrn_shape(d.hw, d.channels_per_group, d.half);
        cpu_for(d.columns, 64, [&](int64_t col) {
            lrn_backward_at(uint32_t(col), dyp, xp, sp, dxp, g, float(alpha), float(beta));
        });
    });
    return dx;
}

// ----------------------------------------------------------------------------- CUDA

#ifdef REPRO_WITH_CUDA

std::tuple<Tensor, Tensor> lrn_forward_cuda_op(const Tensor& x_, int64_t size, double alpha, double beta, double k,
                                               int64_t groups) {
    const LrnDims d = lrn_dims(x_, size, k, groups);
    REPRO_CUDA_CONTEXT(x_);
    const Tensor x = x_.contiguous();
    Tensor y = at::empty_like(x), scale = at::empty(x.sizes(), x.options().dtype(at::kFloat));
    if (x.numel() == 0) return {y, scale};
    check_launch(lrn_forward_cuda(dtype_of(x), x.const_data_ptr(), y.mutable_data_ptr(), scale.mutable_data_ptr<float>(),
                                  d.columns, d.hw, d.channels_per_group, d.half, float(alpha), float(beta), float(k),
                                  stream),
                 "lrn_forward");
    return {y, scale};
}

Tensor lrn_backward_cuda_op(const Tensor& dy_, const Tensor& x_, const Tensor& scale_, int64_t size, double alpha,
                            double beta, int64_t groups) {
    const LrnDims d = lrn_dims(x_, size, 1.0, groups);
    check_backward_args(dy_, x_, scale_);
    REPRO_CUDA_CONTEXT(x_);
    const Tensor dy = dy_.contiguous(), x = x_.contiguous(), scale = scale_.contiguous();
    Tensor dx = at::empty_like(x);
    if (x.numel() == 0) return dx;
    check_launch(lrn_backward_cuda(dtype_of(x), dy.const_data_ptr(), x.const_data_ptr(), scale.const_data_ptr<float>(),
                                   dx.mutable_data_ptr(), d.columns, d.hw, d.channels_per_group, d.half, float(alpha),
                                   float(beta), stream),
                 "lrn_backward");
    return dx;
}

#endif  // REPRO_WITH_CUDA

}  // namespace
}  // namespace repro_alexnet

TORCH_LIBRARY_FRAGMENT(repro_alexnet, m) {
    m.def("lrn_forward(Tensor x, int size, float alpha, float beta, float k, int groups) -> (Tensor, Tensor)");
    m.def("lrn_backward(Tensor grad_y, Tensor x, Tensor scale, int size, float alpha, float beta, int groups) -> Tensor");
}

TORCH_LIBRARY_IMPL(repro_alexnet, CPU, m) {
    using namespace repro_alexnet;
    m.impl("lrn_forward", &lrn_forward_cpu);
    m.impl("lrn_backward", &lrn_backward_cpu);
}

#ifdef REPRO_WITH_CUDA
TORCH_LIBRARY_IMPL(repro_alexnet, CUDA, m) {
    using namespace repro_alexnet;
    m.impl("lrn_forward", &lrn_forward_cuda_op);
    m.impl("lrn_backward", &lrn_backward_cuda_op);
}
#endif
