// The bf16 tensor-core convolution replayed on the CPU: conv_gemm.cuh's block
// logic (the very source conv.cu runs on the GPU) under a host policy that runs
// each step for every thread of the block in turn and emulates ldmatrix and
// mma.sync m16n8k16 from the PTX ISA's fragment layouts. Every block of the
// grid runs serially, then the split-K sum. Built by the test that uses it
// (tests/alexnet2012/kernels/test_conv_replay.py), not by the library's build.
//
// What it checks: the tile placement, the row/k tables and the gathers (every
// bound, stride residue, group and ragged edge), the two-stage rotation and the
// table ring, the lane addresses fed to ldmatrix, the accumulator-to-output
// mapping, the epilogue and the split-K partial sums. What it cannot: that the
// hardware's fragments are what the PTX ISA documents, races between threads
// (each step runs to completion here before the next), async-copy timing; the
// GPU check (bench/gpu_session.sh kernels: the kernel tests on CUDA and
// compute-sanitizer's racecheck/synccheck) covers those.
#include <torch/extension.h>

#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <vector>

#include "conv_gemm.cuh"

namespace repro_alexnet {
namespace {

using gemm::kThreads;
using gemm::kWarps;

float bf16_bits_to_float(uint32_t bits) {
    const uint32_t word = bits << 16;
    float v;
    std::memcpy(&v, &word, sizeof v);
    return v;
}

// Runs each of the block's steps for every thread (or warp, or lane) in turn, in
// ascending or descending order: a result that depends on the order means two
// threads talk through shared memory within one step (a missing barrier).
struct HostExec {
    struct Frag {
        uint32_t r[32][4];
    };
    struct Acc {
        float c[32][4][4][4];  // [lane][m16 block][n8 block][accumulator register]
    };
    bool reverse = false;
    std::vector<gemm::Regs> regs_ = std::vector<gemm::Regs>(kThreads);
    std::vector<Acc> acc_ = std::vector<Acc>(kWarps);

    gemm::Regs& regs(int tid) { return regs_[tid]; }
    Acc& acc(int warp) { return acc_[warp]; }
    template <class F>
    void each(int n, F&& f) {
        for (int i = 0; i < n; ++i) f(reverse ? n - 1 - i : i);
    }
    template <class F>
    void threads(F&& f) { each(kThreads, f); }
    template <class F>
    void warps(F&& f) { each(kWarps, f); }
    template <class F>
    void lanes(F&& f) { each(32, f); }
    void sync() {}
    void zero(Acc& a) { std::memset(&a, 0, sizeof a); }
    float acc_at(const Acc& a, int lane, int mi, int nj, int c) const { return a.c[lane][mi][nj][c]; }

    // ldmatrix.sync.aligned.m8n8.x4.shared.b16: lanes 8q..8q+7 give the 16-byte rows of
    // matrix q; lane i receives, of each matrix q, row i/4, elements 2(i%4) and 2(i%4)+1.
    template <class Addr>
    void ldmatrix_x4(const uint16_t* base, Frag& f, Addr&& addr) {
        int rows[32];
        for (int lane = 0; lane < 32; ++lane) {
            rows[lane] = addr(lane);
            if (rows[lane] % 8 != 0) throw std::runtime_error("ldmatrix: a row address is not 16-byte aligned");
        }
        for (int i = 0; i < 32; ++i)
            for (int q = 0; q < 4; ++q) {
                const uint16_t* row = base + rows[q * 8 + i / 4];
                f.r[i][q] = uint32_t(row[2 * (i % 4)]) | uint32_t(row[2 * (i % 4) + 1]) << 16;
            }
    }

    // mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32, lane = 4 g + t:
    // A: a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..), a3 (g+8, 2t+8..);
    // B (k x n): b0 (2t..2t+1, g), b1 (2t+8.., g); C/D: c0, c1 (g, 2t..2t+1), c2, c3 (g+8, 2t..).
    void mma(Acc& acc, int mi, int nj, const Frag& a, const Frag& b, int b0) {
        float A[16][16], B[16][8];
        for (int lane = 0; lane < 32; ++lane) {
            const int g = lane / 4, t = lane % 4;
            for (int j = 0; j < 4; ++j) {
                const int row = g + (j % 2) * 8, col = 2 * t + (j / 2) * 8;
                A[row][col] = bf16_bits_to_float(a.r[lane][j] & 0xffffu);
                A[row][col + 1] = bf16_bits_to_float(a.r[lane][j] >> 16);
            }
            for (int j = 0; j < 2; ++j) {
                B[2 * t + j * 8][g] = bf16_bits_to_float(b.r[lane][b0 + j] & 0xffffu);
                B[2 * t + j * 8 + 1][g] = bf16_bits_to_float(b.r[lane][b0 + j] >> 16);
            }
        }
        for (int lane = 0; lane < 32; ++lane) {
            const int g = lane / 4, t = lane % 4;
            for (int c = 0; c < 4; ++c) {
                const int row = g + (c / 2) * 8, col = 2 * t + c % 2;
                float sum = acc.c[lane][mi][nj][c];
                for (int k = 0; k < 16; ++k) sum += A[row][k] * B[k][col];
                acc.c[lane][mi][nj][c] = sum;
            }
        }
    }
};

int64_t conv_out(int64_t in, int64_t kernel, int64_t stride, int64_t padding) {
    return (in + 2 * padding - kernel) / stride + 1;
}

// Every block of the grid, in order, then the split-K sum; returns the plan's split count.
template <class Ops>
int64_t run_grid(const Ops& ops, int groups, int64_t force_splits, bool reverse) {
    const auto& p = ops.p;
    const gemm::Plan plan = force_splits > 0
                                ? gemm::plan_with_splits(p.M(), p.N(), p.K(), groups, gemm::kBK, force_splits)
                                : gemm::plan_for(p, groups, gemm::kBK, gemm::kBM, gemm::kBN);
    std::vector<float> partial(plan.splits > 1 ? plan.splits * plan.groups * plan.m * plan.n : 0,
                               std::numeric_limits<float>::quiet_NaN());
    auto sm = std::make_unique<gemm::Smem>();
    HostExec ex;
    ex.reverse = reverse;
    const int64_t bx = (plan.n + gemm::kBN - 1) / gemm::kBN, by = (plan.m + gemm::kBM - 1) / gemm::kBM;
    for (int64_t z = 0; z < int64_t(groups) * plan.splits; ++z)
        for (int64_t y = 0; y < by; ++y)
            for (int64_t x = 0; x < bx; ++x) {
                std::memset(sm.get(), 0xff, sizeof(gemm::Smem));  // NaNs: a read of anything unwritten shows
                gemm::conv_block(ex, ops, plan, gemm::block_coord(plan, int(x), int(y), int(z)), *sm,
                                 partial.data());
            }
    if (plan.splits > 1)
        for (int64_t i = 0; i < plan.groups * plan.m * plan.n; ++i) gemm::sum_splits_at(ops, plan, partial.data(), i);
    return plan.splits;
}

// pass 0: forward (a = x, b = weight) -> y; 1: backward data (a = grad_y, b = weight) -> grad_x;
// 2: backward weight (a = grad_y, b = x) -> grad_w. All bf16 (the tensor-core kernel's type).
std::tuple<at::Tensor, int64_t> replay(int64_t pass, const at::Tensor& a_, const at::Tensor& b_,
                                       const std::optional<at::Tensor>& bias_, std::vector<int64_t> input_shape,
                                       int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding,
                                       int64_t groups, bool relu, int64_t force_splits, bool reverse) {
    TORCH_CHECK(a_.scalar_type() == at::kBFloat16 && b_.scalar_type() == at::kBFloat16, "replay: bf16 tensors");
    TORCH_CHECK(input_shape.size() == 4, "replay: input_shape is [N, C, H, W]");
    const at::Tensor a = a_.contiguous(), b = b_.contiguous();
    const int64_t n = input_shape[0], cin = input_shape[1], h = input_shape[2], w = input_shape[3];
    const ConvShape s{n, h, w, conv_out(h, kernel, stride, padding), conv_out(w, kernel, stride, padding),
                      int(cin), int(out_channels), int(groups), int(kernel), int(stride), int(padding)};
    TORCH_CHECK(gemm::fits_32bit(s), "replay: tensors too large for 32-bit offsets");
    using T = c10::BFloat16;
    const auto opts = a.options();
    if (pass == 0) {
        const at::Tensor bias = bias_.has_value() ? bias_->to(at::kFloat).contiguous() : at::Tensor();
        at::Tensor y = at::empty({n, out_channels, s.out_height, s.out_width}, opts);
        const ConvForward<T> p{a.const_data_ptr<T>(), b.const_data_ptr<T>(),
                               bias.defined() ? bias.const_data_ptr<float>() : nullptr, y.mutable_data_ptr<T>(), s,
                               relu};
        return {y, run_grid(gemm::ForwardOps<T>(p), s.groups, force_splits, reverse)};
    }
    if (pass == 1) {
        at::Tensor dx = at::empty({n, cin, h, w}, opts);
        const ConvBackwardData<T> p{a.const_data_ptr<T>(), b.const_data_ptr<T>(), dx.mutable_data_ptr<T>(), s};
        return {dx, run_grid(gemm::BackwardDataOps<T>(p), s.groups, force_splits, reverse)};
    }
    TORCH_CHECK(pass == 2, "replay: pass is 0, 1 or 2");
    at::Tensor dw = at::empty({out_channels, cin / groups, kernel, kernel}, opts);
    const ConvBackwardWeight<T> p{a.const_data_ptr<T>(), b.const_data_ptr<T>(), dw.mutable_data_ptr<T>(), s};
    return {dw, run_grid(gemm::BackwardWeightOps<T>(p), s.groups, force_splits, reverse)};
}

// FastDiv against the division it replaces, on the given numerators and divisors.
bool fast_div_agrees(const std::vector<int64_t>& numerators, const std::vector<int64_t>& divisors) {
    for (int64_t d : divisors) {
        const gemm::FastDiv f(static_cast<uint32_t>(d));
        for (int64_t v : numerators)
            if (f.div(static_cast<uint32_t>(v)) != static_cast<uint32_t>(v / d)) return false;
    }
    return true;
}

// The planner's split count and per-split K for a GEMM (the tests sweep it).
std::tuple<int64_t, int64_t> plan_splits(int64_t m, int64_t n, int64_t k, int64_t groups, int64_t force_splits) {
    const gemm::Plan plan =
        force_splits > 0 ? gemm::plan_with_splits(m, n, k, int(groups), gemm::kBK, force_splits)
                         : gemm::plan_with_splits(m, n, k, int(groups), gemm::kBK,
                                                  gemm::splits_wanted(m, n, k, int(groups), gemm::kBM, gemm::kBN));
    return {plan.splits, plan.k_per_split};
}

}  // namespace
}  // namespace repro_alexnet

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("replay", &repro_alexnet::replay, "the bf16 tensor-core convolution's block logic, replayed on the CPU");
    m.def("fast_div_agrees", &repro_alexnet::fast_div_agrees, "FastDiv against integer division");
    m.def("plan_splits", &repro_alexnet::plan_splits, "the split-K planner: (splits, k_per_split)");
}
