// The torch side of the Philox dropout: dropout, and philox4x32_10 (the generator itself,
// for the known-answer test).
// Op schemas (namespace repro_alexnet), argument checks, the CPU implementation (host
// loops over dropout.cuh's per-element functions, the ones the CUDA kernels run) and the
// CUDA implementation (launchers in dropout.cu). Fake and autograd registrations are in
// Python, with the reference: alexnet2012/kernels/dropout.py.
#include <torch/library.h>

#include <vector>

#include "dropout.cuh"
#include "torch_glue.h"

namespace repro_alexnet {
namespace {

// ----------------------------------------------------------------------------- checks

void check_dropout(const Tensor& x, double p) {
    check_float(x, "dropout: x");
    TORCH_CHECK(p >= 0.0 && p <= 1.0, "dropout: p must be in [0, 1], got ", p);
    check_32bit(x.numel(), "dropout: x");
}

// ----------------------------------------------------------------------------- CPU

Tensor dropout_cpu(const Tensor& x_, double p, int64_t seed) {
    check_dropout(x_, p);
    const Tensor x = x_.contiguous();
    Tensor y = at::empty_like(x);
    const int64_t numel = x.numel();
    cpu_dtype(x, [&](auto t) {
        using T = decltype(t);
        const T* xp = x.const_data_ptr<T>();
        T* yp = y.mutable_data_ptr<T>();
        constexpr int V = kVec<T>;  // the GPU's runs (dropout.cu), vector access or not as there
        const bool vec = all_aligned16({xp, yp});
        cpu_for((numel + V - 1) / V, 1024 / V, [&](int64_t r) {
            dropout_run<V>(uint32_t(r), xp, yp, uint32_t(numel), static_cast<uint64_t>(seed), float(p), vec);
        });
    });
    return y;
}

// Philox4x32-10 as the kernels compute it, for the known-answer test.
std::vector<int64_t> philox_reference(int64_t c0, int64_t c1, int64_t c2, int64_t c3, int64_t k0, int64_t k1) {
    const Philox4 r = philox4x32_10(uint32_t(c0), uint32_t(c1), uint32_t(c2), uint32_t(c3), uint32_t(k0), uint32_t(k1));
    return {r.v[0], r.v[1], r.v[2], r.v[3]};
}

// ----------------------------------------------------------------------------- CUDA

#ifdef REPRO_WITH_CUDA

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

#endif  // REPRO_WITH_CUDA

}  // namespace
}  // namespace repro_alexnet

TORCH_LIBRARY_FRAGMENT(repro_alexnet, m) {
    m.def("dropout(Tensor x, float p, int seed) -> Tensor");
    m.def("philox4x32_10(int c0, int c1, int c2, int c3, int k0, int k1) -> int[]", &repro_alexnet::philox_reference);
}

TORCH_LIBRARY_IMPL(repro_alexnet, CPU, m) {
    using namespace repro_alexnet;
    m.impl("dropout", &dropout_cpu);
}

#ifdef REPRO_WITH_CUDA
TORCH_LIBRARY_IMPL(repro_alexnet, CUDA, m) {
    using namespace repro_alexnet;
    m.impl("dropout", &dropout_cuda_op);
}
#endif
