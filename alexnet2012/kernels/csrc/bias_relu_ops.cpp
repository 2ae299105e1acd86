// The torch side of the bias + ReLU: bias_relu, bias_relu_backward.
// Op schemas (namespace repro_alexnet), argument checks, the CPU implementation (host
// loops over bias_relu.cuh's per-element functions, the ones the CUDA kernels run) and the
// CUDA implementation (launchers in bias_relu.cu). Fake and autograd registrations are in
// Python, with the reference: alexnet2012/kernels/bias_relu.py.
#include <torch/library.h>

#include <array>

#include "bias_relu.cuh"
#include "torch_glue.h"

namespace repro_alexnet {
namespace {

// ----------------------------------------------------------------------------- checks

// [N, C, S...] -> (N, C, S).
std::array<int64_t, 3> ncs(const Tensor& x, const char* what) {
    TORCH_CHECK(x.dim() >= 2, what, ": x must be [N, C, ...], got ", x.dim(), " dims");
    check_32bit(x.numel(), what);
    const int64_t n = x.size(0), c = x.size(1);
    return {n, c, n * c == 0 ? 0 : x.numel() / (n * c)};
}

// ----------------------------------------------------------------------------- CPU

Tensor bias_for(const Tensor& bias, int64_t channels, const Tensor& x) {
    TORCH_CHECK(bias.dim() == 1 && bias.size(0) == channels, "bias_relu: bias must be [", channels, "], got ",
                bias.sizes());
    TORCH_CHECK(bias.device() == x.device(), "bias_relu: bias on ", bias.device(), ", x on ", x.device());
    check_float(bias, "bias_relu: bias");
    return bias.to(at::kFloat).contiguous();  // [C] floats: the kernels read the bias in fp32
}

Tensor bias_relu_cpu(const Tensor& x_, const Tensor& bias_) {
    check_float(x_, "bias_relu: x");
    const auto [n, c, s] = ncs(x_, "bias_relu");
    const Tensor x = x_.contiguous(), bias = bias_for(bias_, c, x_);
    Tensor y = at::empty_like(x);
    cpu_dtype(x, [&](auto t) {
        using T = decltype(t);
        const T* xp = x.const_data_ptr<T>();
        const float* bp = bias.const_data_ptr<float>();
        T* yp = y.mutable_data_ptr<T>();
        constexpr int V = kVec<T>;  // the GPU's runs (bias_relu.cu), vector access or not as there
        const BiasReluShape g = bias_relu_shape(n, c, s);
        const bool vec = all_aligned16({xp, yp});
        cpu_for((x.numel() + V - 1) / V, 4096 / V,
                [&](int64_t r) { bias_relu_forward_run<V>(uint32_t(r), xp, bp, yp, g, vec); });
    });
    return y;
}

std::tuple<Tensor, Tensor> bias_relu_backward_cpu(const Tensor& dy_, const Tensor& y_) {
    check_float(y_, "bias_relu_backward: y");
    check_same(dy_, y_, "bias_relu_backward");
    TORCH_CHECK(dy_.sizes() == y_.sizes(), "bias_relu_backward: grad ", dy_.sizes(), " vs output ", y_.sizes());
    const auto [n, c, s] = ncs(y_, "bias_relu_backward");
    const Tensor dy = dy_.contiguous(), y = y_.contiguous();
    Tensor dx = at::empty_like(y), db = at::empty({c}, y.options().dtype(at::kFloat));
    cpu_dtype(y, [&](auto t) {
        using T = decltype(t);
        const T *dyp = dy.const_data_ptr<T>(), *yp = y.const_data_ptr<T>();
        T* dxp = dx.mutable_data_ptr<T>();
        float* dbp = db.mutable_data_ptr<float>();
        constexpr int V = kVec<T>;  // the GPU's runs (bias_relu.cu), vector access or not as there
        const BiasReluShape g = bias_relu_shape(n, c, s);
        const bool vec = all_aligned16({dyp, yp, dxp}) && s % V == 0;
        const int64_t runs = (n * s + V - 1) / V;
        cpu_for(c, 1, [&](int64_t ch) {
            double sum = 0.0;  // one channel per task: dx once per element, sum in a fixed order
            for (int64_t r = 0; r < runs; ++r)
                sum += relu_backward_run<V>(uint32_t(r), uint32_t(ch), dyp, yp, dxp, g, vec);
            dbp[ch] = static_cast<float>(sum);
        });
    });
    return {dx, db};
}

// ----------------------------------------------------------------------------- CUDA

#ifdef REPRO_WITH_CUDA

Tensor bias_relu_cuda_op(const Tensor& x_, const Tensor& bias_) {
    check_float(x_, "bias_relu: x");
    const auto [n, c, s] = ncs(x_, "bias_relu");
    REPRO_CUDA_CONTEXT(x_);
    const Tensor x = x_.contiguous(), bias = bias_for(bias_, c, x_);
    Tensor y = at::empty_like(x);
    if (x.numel() == 0) return y;
    check_launch(bias_relu_forward_cuda(dtype_of(x), x.const_data_ptr(), bias.const_data_ptr<float>(),
                                        y.mutable_data_ptr(), n, c, s, stream),
                 "bias_relu");
    return y;
}

std::tuple<Tensor, Tensor> bias_relu_backward_cuda_op(const Tensor& dy_, const Tensor& y_) {
    check_float(y_, "bias_relu_backward: y");
    check_same(dy_, y_, "bias_relu_backward");
    TORCH_CHECK(dy_.sizes() == y_.sizes(), "bias_relu_backward: grad ", dy_.sizes(), " vs output ", y_.sizes());
    const auto [n, c, s] = ncs(y_, "bias_relu_backward");
    REPRO_CUDA_CONTEXT(y_);
    const Tensor dy = dy_.contiguous(), y = y_.contiguous();
    Tensor dx = at::empty_like(y), db = at::zeros({c}, y.options().dtype(at::kFloat));
    if (y.numel() == 0) return {dx, db};
    Tensor partials = at::empty({c * bias_grad_splits(n * s)}, db.options());
    check_launch(bias_relu_backward_cuda(dtype_of(y), dy.const_data_ptr(), y.const_data_ptr(), dx.mutable_data_ptr(),
                                         partials.mutable_data_ptr<float>(), db.mutable_data_ptr<float>(), n, c, s,
                                         stream),
                 "bias_relu_backward");
    return {dx, db};
}

#endif  // REPRO_WITH_CUDA

}  // namespace
}  // namespace repro_alexnet

TORCH_LIBRARY_FRAGMENT(repro_alexnet, m) {
    m.def("bias_relu(Tensor x, Tensor bias) -> Tensor");
    m.def("bias_relu_backward(Tensor grad_y, Tensor y) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(repro_alexnet, CPU, m) {
    using namespace repro_alexnet;
    m.impl("bias_relu", &bias_relu_cpu);
    m.impl("bias_relu_backward", &bias_relu_backward_cpu);
}

#ifdef REPRO_WITH_CUDA
TORCH_LIBRARY_IMPL(repro_alexnet, CUDA, m) {
    using namespace repro_alexnet;
    m.impl("bias_relu", &bias_relu_cuda_op);
    m.impl("bias_relu_backward", &bias_relu_backward_cuda_op);
}
#endif
