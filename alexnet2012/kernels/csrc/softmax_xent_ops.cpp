// The torch side of the softmax cross-entropy: softmax_xent, softmax_xent_backward.
// Op schemas (namespace repro_alexnet), argument checks, the CPU implementation (host
// loops over softmax_xent.cuh's per-element functions, the ones the CUDA kernels run) and the
// CUDA implementation (launchers in softmax_xent.cu). Fake and autograd registrations are in
// Python, with the reference: alexnet2012/kernels/softmax_xent.py.
#include <torch/library.h>

#include <cmath>
#include <vector>

#include "softmax_xent.cuh"
#include "torch_glue.h"

namespace repro_alexnet {
namespace {

// ----------------------------------------------------------------------------- checks

void check_xent(const Tensor& logits, const Tensor& labels) {
    check_float(logits, "softmax_xent: logits");
    TORCH_CHECK(logits.dim() == 2, "softmax_xent: logits must be [N, K], got ", logits.dim(), " dims");
    TORCH_CHECK(logits.size(0) >= 1 && logits.size(1) >= 1, "softmax_xent: empty logits ", logits.sizes());
    check_32bit(logits.numel(), "softmax_xent: logits");
    TORCH_CHECK(labels.scalar_type() == at::kLong && labels.dim() == 1 && labels.size(0) == logits.size(0),
                "softmax_xent: labels must be int64 [", logits.size(0), "], got ", labels.scalar_type(), " ",
                labels.sizes());
    TORCH_CHECK(labels.device() == logits.device(), "softmax_xent: labels on ", labels.device(), ", logits on ",
                logits.device());
}

// The backward's saved tensors (logits, labels, lse) and the loss gradient: lse is the
// forward's fp32 [N] log-sum-exp, on the logits' device like the labels.
void check_xent_backward(const Tensor& grad_loss, const Tensor& logits, const Tensor& labels, const Tensor& lse) {
    check_xent(logits, labels);
    TORCH_CHECK(grad_loss.numel() == 1, "softmax_xent_backward: the loss gradient must be a scalar");
    check_device(lse, logits, "softmax_xent_backward: lse");
    TORCH_CHECK(lse.scalar_type() == at::kFloat && lse.dim() == 1 && lse.size(0) == logits.size(0),
                "softmax_xent_backward: lse must be float32 [", logits.size(0), "], got ", lse.scalar_type(), " ",
                lse.sizes());
}

// ----------------------------------------------------------------------------- CPU

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
    check_xent_backward(grad_loss, logits_, labels_, lse_);
    const Tensor z = logits_.contiguous(), labels = labels_.contiguous(), lse = lse_.contiguous();
    const int64_t rows = z.size(0), classes = z.size(1);
    const float g_over_n = grad_loss.to(at::kFloat).item<float>() / static_cast<float>(rows);
    Tensor dz = at::empty_like(z);
    cpu_dtype(z, [&](auto t) {
        using T = decltype(t);
        const T* zp = z.const_data_ptr<T>();
        const int64_t* lp = labels.const_data_ptr<int64_t>();
        const float* lsep = lse.const_data_ptr<float>();
        T* dzp = dz.mutable_data_ptr<T>();
        constexpr int V = kVec<T>;  // the GPU's runs (softmax_xent.cu), vector access or not as there
        const XentShape g = xent_shape(rows, classes);
        const bool vec = all_aligned16({zp, dzp});
        cpu_for((rows * classes + V - 1) / V, 4096 / V, [&](int64_t r) {
            xent_backward_run<V>(uint32_t(r), zp, lp, lsep, dzp, g, g_over_n, vec);
        });
    });
    return dz;
}

// ----------------------------------------------------------------------------- CUDA

#ifdef REPRO_WITH_CUDA

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
    check_xent_backward(grad_loss, logits_, labels_, lse_);
    REPRO_CUDA_CONTEXT(logits_);
    const Tensor z = logits_.contiguous(), labels = labels_.contiguous();
    const Tensor lse = lse_.contiguous(), g = grad_loss.to(z.device(), at::kFloat).contiguous();
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

TORCH_LIBRARY_FRAGMENT(repro_alexnet, m) {
    m.def("softmax_xent(Tensor logits, Tensor labels) -> (Tensor, Tensor)");
    m.def("softmax_xent_backward(Tensor grad_loss, Tensor logits, Tensor labels, Tensor lse) -> Tensor");
}

TORCH_LIBRARY_IMPL(repro_alexnet, CPU, m) {
    using namespace repro_alexnet;
    m.impl("softmax_xent", &softmax_xent_cpu);
    m.impl("softmax_xent_backward", &softmax_xent_backward_cpu);
}

#ifdef REPRO_WITH_CUDA
TORCH_LIBRARY_IMPL(repro_alexnet, CUDA, m) {
    using namespace repro_alexnet;
    m.impl("softmax_xent", &softmax_xent_cuda_op);
    m.impl("softmax_xent_backward", &softmax_xent_backward_cuda_op);
}
#endif
