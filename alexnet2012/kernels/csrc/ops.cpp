// The torch side of the AlexNet kernels: op schemas (namespace repro_alexnet),
// argument checks, the CPU implementation (host loops over the same per-element
// functions the CUDA kernels run) and the CUDA implementation (launchers in the
// .cu files). Autograd and the fake (meta) implementations are registered in
// Python (alexnet2012/kernels/ops.py), next to the plain-PyTorch references.
#include <torch/library.h>

#include <array>
#include <vector>

#include "bias_relu.cuh"
#include "dropout.cuh"
#include "lrn.cuh"
#include "maxpool.cuh"
#include "softmax_xent.cuh"

#include "torch_glue.h"

namespace repro_alexnet {
namespace {

// ----------------------------------------------------------------------------- shapes and checks

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
    const int64_t hw = x.numel() / std::max<int64_t>(1, x.size(0) * x.size(1));
    return {x.size(0) * groups * hw, hw, static_cast<int>(x.size(1) / groups), static_cast<int>(size / 2)};
}

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

// [N, C, S...] -> (N, C, S).
std::array<int64_t, 3> ncs(const Tensor& x, const char* what) {
    TORCH_CHECK(x.dim() >= 2, what, ": x must be [N, C, ...], got ", x.dim(), " dims");
    const int64_t n = x.size(0), c = x.size(1);
    return {n, c, n * c == 0 ? 0 : x.numel() / (n * c)};
}

void check_dropout(const Tensor& x, double p) {
    check_float(x, "dropout: x");
    TORCH_CHECK(p >= 0.0 && p <= 1.0, "dropout: p must be in [0, 1], got ", p);
}

void check_xent(const Tensor& logits, const Tensor& labels) {
    check_float(logits, "softmax_xent: logits");
    TORCH_CHECK(logits.dim() == 2, "softmax_xent: logits must be [N, K], got ", logits.dim(), " dims");
    TORCH_CHECK(logits.size(0) >= 1 && logits.size(1) >= 1, "softmax_xent: empty logits ", logits.sizes());
    TORCH_CHECK(labels.scalar_type() == at::kLong && labels.dim() == 1 && labels.size(0) == logits.size(0),
                "softmax_xent: labels must be int64 [", logits.size(0), "], got ", labels.scalar_type(), " ",
                labels.sizes());
    TORCH_CHECK(labels.device() == logits.device(), "softmax_xent: labels on ", labels.device(), ", logits on ",
                logits.device());
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
        cpu_for(d.columns, 64, [&](int64_t col) {
            lrn_forward_at(col, xp, yp, sp, d.hw, d.channels_per_group, d.half, float(alpha), float(beta), float(k));
        });
    });
    return {y, scale};
}

Tensor lrn_backward_cpu(const Tensor& dy_, const Tensor& x_, const Tensor& scale_, int64_t size, double alpha,
                        double beta, int64_t groups) {
    const LrnDims d = lrn_dims(x_, size, 1.0, groups);
    check_same(dy_, x_, "lrn_backward");
    TORCH_CHECK(dy_.sizes() == x_.sizes() && scale_.sizes() == x_.sizes() && scale_.scalar_type() == at::kFloat,
                "lrn_backward: grad, x and scale (float32) must have one shape");
    const Tensor dy = dy_.contiguous(), x = x_.contiguous(), scale = scale_.contiguous();
    Tensor dx = at::empty_like(x);
    cpu_dtype(x, [&](auto t) {
        using T = decltype(t);
        const T *dyp = dy.const_data_ptr<T>(), *xp = x.const_data_ptr<T>();
        const float* sp = scale.const_data_ptr<float>();
        T* dxp = dx.mutable_data_ptr<T>();
        cpu_for(d.columns, 64, [&](int64_t col) {
            lrn_backward_at(col, dyp, xp, sp, dxp, d.hw, d.channels_per_group, d.half, float(alpha), float(beta));
        });
    });
    return dx;
}

std::tuple<Tensor, Tensor> maxpool_forward_cpu(const Tensor& x_, int64_t kernel, int64_t stride, int64_t padding) {
    check_pool_input(x_);
    const PoolShape g = pool_shape(x_.size(2), x_.size(3), kernel, stride, padding);
    const Tensor x = x_.contiguous();
    Tensor y = at::empty({x.size(0), x.size(1), g.out_height, g.out_width}, x.options());
    Tensor argmax = at::empty(y.sizes(), x.options().dtype(at::kInt));
    cpu_dtype(x, [&](auto t) {
        using T = decltype(t);
        const T* xp = x.const_data_ptr<T>();
        T* yp = y.mutable_data_ptr<T>();
        int32_t* ap = argmax.mutable_data_ptr<int32_t>();
        cpu_for(y.numel(), 1024, [&](int64_t i) { maxpool_forward_at(i, xp, yp, ap, g); });
    });
    return {y, argmax};
}

Tensor maxpool_backward_cpu(const Tensor& dy_, const Tensor& argmax_, c10::SymInt height, c10::SymInt width,
                            int64_t kernel, int64_t stride, int64_t padding) {
    check_pool_input(dy_);
    const PoolShape g = pool_shape(height.expect_int(), width.expect_int(), kernel, stride, padding);
    TORCH_CHECK(argmax_.scalar_type() == at::kInt && argmax_.sizes() == dy_.sizes() && dy_.size(2) == g.out_height &&
                    dy_.size(3) == g.out_width,
                "maxpool_backward: grad and argmax (int32) must be the pooled shape");
    const Tensor dy = dy_.contiguous(), argmax = argmax_.contiguous();
    Tensor dx = at::empty({dy.size(0), dy.size(1), g.height, g.width}, dy.options());
    cpu_dtype(dy, [&](auto t) {
        using T = decltype(t);
        const T* dyp = dy.const_data_ptr<T>();
        const int32_t* ap = argmax.const_data_ptr<int32_t>();
        T* dxp = dx.mutable_data_ptr<T>();
        cpu_for(dx.numel(), 1024, [&](int64_t i) { maxpool_backward_at(i, dyp, ap, dxp, g); });
    });
    return dx;
}

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
        cpu_for(x.numel(), 4096, [&](int64_t i) { bias_relu_forward_at(i, xp, bp, yp, c, s); });
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
        cpu_for(c, 1, [&](int64_t ch) {
            double sum = 0.0;  // one channel per task: dx once per element, sum in a fixed order
            for (int64_t e = 0; e < n * s; ++e) sum += relu_backward_at(channel_element(e, ch, c, s), dyp, yp, dxp);
            dbp[ch] = static_cast<float>(sum);
        });
    });
    return {dx, db};
}

Tensor dropout_cpu(const Tensor& x_, double p, int64_t seed) {
    check_dropout(x_, p);
    const Tensor x = x_.contiguous();
    Tensor y = at::empty_like(x);
    const int64_t numel = x.numel();
    cpu_dtype(x, [&](auto t) {
        using T = decltype(t);
        const T* xp = x.const_data_ptr<T>();
        T* yp = y.mutable_data_ptr<T>();
        cpu_for((numel + 3) / 4, 1024,
                [&](int64_t q) { dropout_quad_at(q, xp, yp, numel, static_cast<uint64_t>(seed), float(p)); });
    });
    return y;
}

std::tuple<Tensor, Tensor> softmax_xent_cpu(const Tensor& logits_, const Tensor& labels_) {
    check_xent(logits_, labels_);
    const Tensor z = logits_.contiguous(), labels = labels_.contiguous();
    const int64_t rows = z.size(0), classes = z.size(1);
    const int64_t* lp = labels.const_data_ptr<int64_t>();
    for (int64_t r = 0; r < rows; ++r)
        TORCH_CHECK(label_ok(lp[r], classes), "softmax_xent: label ", lp[r], " of row ", r, " is outside [0, ",
                    classes, ")");
    Tensor lse = at::empty({rows}, z.options().dtype(at::kFloat));
    std::vector<float> row_loss(rows);
    cpu_dtype(z, [&](auto t) {
        using T = decltype(t);
        const T* zp = z.const_data_ptr<T>();
        float* lsep = lse.mutable_data_ptr<float>();
        cpu_for(rows, 1, [&](int64_t r) {
            const T* row = zp + r * classes;
            float m = -INFINITY;
            for (int64_t k = 0; k < classes; ++k) {
                const float v = load(row, k);
                if (v > m || is_nan(v)) m = v;
            }
            float s = 0.0f;
            for (int64_t k = 0; k < classes; ++k) s += expf(load(row, k) - m);
            lsep[r] = m + logf(s);
            row_loss[r] = lsep[r] - load(row, lp[r]);
        });
    });
    double total = 0.0;
    for (float v : row_loss) total += v;
    Tensor loss = at::full({}, static_cast<float>(total / rows), z.options().dtype(at::kFloat));
    return {loss, lse};
}

Tensor softmax_xent_backward_cpu(const Tensor& grad_loss, const Tensor& logits_, const Tensor& labels_,
                                 const Tensor& lse_) {
    check_xent(logits_, labels_);
    TORCH_CHECK(grad_loss.numel() == 1, "softmax_xent_backward: the loss gradient must be a scalar");
    const Tensor z = logits_.contiguous(), labels = labels_.contiguous(), lse = lse_.to(at::kFloat).contiguous();
    const int64_t rows = z.size(0), classes = z.size(1);
    const float g_over_n = grad_loss.to(at::kFloat).item<float>() / static_cast<float>(rows);
    Tensor dz = at::empty_like(z);
    cpu_dtype(z, [&](auto t) {
        using T = decltype(t);
        const T* zp = z.const_data_ptr<T>();
        const int64_t* lp = labels.const_data_ptr<int64_t>();
        const float* lsep = lse.const_data_ptr<float>();
        T* dzp = dz.mutable_data_ptr<T>();
        cpu_for(rows * classes, 4096, [&](int64_t i) {
            const int64_t r = i / classes;
            store(dzp, i, xent_grad_element(zp, i, lsep[r], lp[r] == i - r * classes, g_over_n));
        });
    });
    return dz;
}

// Philox4x32-10 as the kernels compute it, for the known-answer test.
std::vector<int64_t> philox_reference(int64_t c0, int64_t c1, int64_t c2, int64_t c3, int64_t k0, int64_t k1) {
    const Philox4 r = philox4x32_10(uint32_t(c0), uint32_t(c1), uint32_t(c2), uint32_t(c3), uint32_t(k0), uint32_t(k1));
    return {r.v[0], r.v[1], r.v[2], r.v[3]};
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
    check_same(dy_, x_, "lrn_backward");
    TORCH_CHECK(dy_.sizes() == x_.sizes() && scale_.sizes() == x_.sizes() && scale_.scalar_type() == at::kFloat,
                "lrn_backward: grad, x and scale (float32) must have one shape");
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

std::tuple<Tensor, Tensor> maxpool_forward_cuda_op(const Tensor& x_, int64_t kernel, int64_t stride,
                                                   int64_t padding) {
    check_pool_input(x_);
    const PoolShape g = pool_shape(x_.size(2), x_.size(3), kernel, stride, padding);
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
    TORCH_CHECK(argmax_.scalar_type() == at::kInt && argmax_.sizes() == dy_.sizes() && dy_.size(2) == g.out_height &&
                    dy_.size(3) == g.out_width,
                "maxpool_backward: grad and argmax (int32) must be the pooled shape");
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

Tensor dropout_cuda_op(const Tensor& x_, double p, int64_t seed) {
    check_dropout(x_, p);
    REPRO_CUDA_CONTEXT(x_);
    const Tensor x = x_.contiguous();
    Tensor y = at::empty_like(x);
    if (x.numel() == 0) return y;
    check_launch(dropout_cuda(dtype_of(x), x.const_data_ptr(), y.mutable_data_ptr(), x.numel(),
                              static_cast<uint64_t>(seed), float(p), stream),
                 "dropout");
    return y;
}

std::tuple<Tensor, Tensor> softmax_xent_cuda_op(const Tensor& logits_, const Tensor& labels_) {
    check_xent(logits_, labels_);
    REPRO_CUDA_CONTEXT(logits_);
    const Tensor z = logits_.contiguous(), labels = labels_.contiguous();
    const int64_t rows = z.size(0), classes = z.size(1);
    const auto f32 = z.options().dtype(at::kFloat);
    Tensor loss = at::empty({}, f32), lse = at::empty({rows}, f32), row_loss = at::empty({rows}, f32);
    check_launch(softmax_xent_forward_cuda(dtype_of(z), z.const_data_ptr(), labels.const_data_ptr<int64_t>(),
                                           row_loss.mutable_data_ptr<float>(), lse.mutable_data_ptr<float>(),
                                           loss.mutable_data_ptr<float>(), rows, classes, stream),
                 "softmax_xent");
    return {loss, lse};
}

Tensor softmax_xent_backward_cuda_op(const Tensor& grad_loss, const Tensor& logits_, const Tensor& labels_,
                                     const Tensor& lse_) {
    check_xent(logits_, labels_);
    TORCH_CHECK(grad_loss.numel() == 1, "softmax_xent_backward: the loss gradient must be a scalar");
    REPRO_CUDA_CONTEXT(logits_);
    const Tensor z = logits_.contiguous(), labels = labels_.contiguous();
    const Tensor lse = lse_.to(at::kFloat).contiguous(), g = grad_loss.to(z.device(), at::kFloat).contiguous();
    Tensor dz = at::empty_like(z);
    check_launch(softmax_xent_backward_cuda(dtype_of(z), g.const_data_ptr<float>(), z.const_data_ptr(),
                                            labels.const_data_ptr<int64_t>(), lse.const_data_ptr<float>(),
                                            dz.mutable_data_ptr(), z.size(0), z.size(1), stream),
                 "softmax_xent_backward");
    return dz;
}

#endif  // REPRO_WITH_CUDA

}  // namespace
}  // namespace repro_alexnet

TORCH_LIBRARY(repro_alexnet, m) {
    m.def("lrn_forward(Tensor x, int size, float alpha, float beta, float k, int groups) -> (Tensor, Tensor)");
    m.def("lrn_backward(Tensor grad_y, Tensor x, Tensor scale, int size, float alpha, float beta, int groups) -> Tensor");
    m.def("maxpool_forward(Tensor x, int kernel, int stride, int padding) -> (Tensor, Tensor)");
    m.def("maxpool_backward(Tensor grad_y, Tensor argmax, SymInt height, SymInt width, int kernel, int stride, "
          "int padding) -> Tensor");
    m.def("bias_relu(Tensor x, Tensor bias) -> Tensor");
    m.def("bias_relu_backward(Tensor grad_y, Tensor y) -> (Tensor, Tensor)");
    m.def("dropout(Tensor x, float p, int seed) -> Tensor");
    m.def("softmax_xent(Tensor logits, Tensor labels) -> (Tensor, Tensor)");
    m.def("softmax_xent_backward(Tensor grad_loss, Tensor logits, Tensor labels, Tensor lse) -> Tensor");
    m.def("philox4x32_10(int c0, int c1, int c2, int c3, int k0, int k1) -> int[]", &repro_alexnet::philox_reference);
}

TORCH_LIBRARY_IMPL(repro_alexnet, CPU, m) {
    using namespace repro_alexnet;
    m.impl("lrn_forward", &lrn_forward_cpu);
    m.impl("lrn_backward", &lrn_backward_cpu);
    m.impl("maxpool_forward", &maxpool_forward_cpu);
    m.impl("maxpool_backward", &maxpool_backward_cpu);
    m.impl("bias_relu", &bias_relu_cpu);
    m.impl("bias_relu_backward", &bias_relu_backward_cpu);
    m.impl("dropout", &dropout_cpu);
    m.impl("softmax_xent", &softmax_xent_cpu);
    m.impl("softmax_xent_backward", &softmax_xent_backward_cpu);
}

#ifdef REPRO_WITH_CUDA
TORCH_LIBRARY_IMPL(repro_alexnet, CUDA, m) {
    using namespace repro_alexnet;
    m.impl("lrn_forward", &lrn_forward_cuda_op);
    m.impl("lrn_backward", &lrn_backward_cuda_op);
    m.impl("maxpool_forward", &maxpool_forward_cuda_op);
    m.impl("maxpool_backward", &maxpool_backward_cuda_op);
    m.impl("bias_relu", &bias_relu_cuda_op);
    m.impl("bias_relu_backward", &bias_relu_backward_cuda_op);
    m.impl("dropout", &dropout_cuda_op);
    m.impl("softmax_xent", &softmax_xent_cuda_op);
    m.impl("softmax_xent_backward", &softmax_xent_backward_cuda_op);
}
#endif
