// Convolution on the GPU: the implicit GEMMs of conv.cuh, in two kernels.
//
//  * bf16: tensor cores (mma.sync m16n8k16 through ldmatrix, fp32 accumulation),
//    128 x 128 block tiles, BK = 32, two shared-memory stages, the index
//    arithmetic out of the main loop. The block logic is conv_gemm.cuh, written
//    once for this kernel and for the CPU replay that tests it; here is only
//    its GPU policy (DeviceExec: the hardware's threads, __syncthreads,
//    ldmatrix and mma.sync as inline PTX).
//  * fp32: CUDA cores, 64 x 64 tiles with BK = 16 and 256 threads, each
//    accumulating a 4x4 register tile (outputs ty + 16i, tx + 16j: conflict-free
//    shared reads and coalesced stores along n), gathered through conv.cuh's
//    index functions.
//
// Split-K: where a pass has too few output tiles to fill the GPU (the weight
// gradient: C is only C_out/G x C_in/G*k*k, while K = N*H_out*W_out is huge),
// blockIdx.z also splits the reduction; each split writes fp32 partial sums
// to a workspace and a second kernel adds them in split order. The split
// count is a function of the shape only (gemm::plan_for), so results are
// deterministic (no atomics) and identical run to run.
//
// The epilogue (bias, ReLU, rounding to the element type) is the problem's
// put(): fused into the GEMM, or into the split-K sum.
#include <algorithm>

#include "conv.cuh"
#include "conv_gemm.cuh"
#include "dispatch.cuh"

namespace repro_alexnet {

namespace {

constexpr int kTile = 64;  // the fp32 kernel's BM = BN
constexpr int kSimtK = 16, kSimtThreads = 256;

using gemm::Plan;

// The block's place: its group, split, first output row and column, and K range.
struct TileOf {
    int g, split;
    int64_t m0, n0, k_begin, k_end;
};

__device__ __forceinline__ TileOf tile_of(const Plan& plan) {
    const int g = blockIdx.z / plan.splits, split = blockIdx.z % plan.splits;
    const int64_t k_begin = split * plan.k_per_split, k_end = k_begin + plan.k_per_split;
    return {g, split, int64_t(blockIdx.y) * kTile, int64_t(blockIdx.x) * kTile, k_begin,
            k_end < plan.k ? k_end : plan.k};
}

// Where output (g, m, n) goes: through the epilogue, or into split `split`'s partial sums.
template <class P>
__device__ __forceinline__ void emit(const P& p, const Plan& plan, float* partial, int split, int g, int64_t m,
                                     int64_t n, float acc) {
    if (m >= plan.m || n >= plan.n) return;
    if (plan.splits == 1) p.put(g, m, n, acc);
    else partial[((split * int64_t(plan.groups) + g) * plan.m + m) * plan.n + n] = acc;
}

// The GPU policy of conv_gemm.cuh's block: this thread's registers, the hardware's
// barrier, ldmatrix and mma.sync.
struct DeviceExec {
    struct Frag {
        uint32_t r[4];
    };
    struct Acc {
        float c[4][4][4];  // [m16 block][n8 block][mma's accumulator registers]
    };
    gemm::Regs regs_;
    Acc acc_;

    __device__ __forceinline__ gemm::Regs& regs(int) { return regs_; }
    __device__ __forceinline__ Acc& acc(int) { return acc_; }
    template <class F>
    __device__ __forceinline__ void threads(F&& f) { f(int(threadIdx.x)); }
    template <class F>
    __device__ __forceinline__ void warps(F&& f) { f(int(threadIdx.x) / 32); }
    template <class F>
    __device__ __forceinline__ void lanes(F&& f) { f(int(threadIdx.x) % 32); }
    __device__ __forceinline__ void sync() { __syncthreads(); }
    __device__ __forceinline__ void zero(Acc& a) {
        REPRO_UNROLL for (int i = 0; i < 4; ++i)
            REPRO_UNROLL for (int j = 0; j < 4; ++j)
                REPRO_UNROLL for (int c = 0; c < 4; ++c) a.c[i][j][c] = 0.0f;
    }
    __device__ __forceinline__ float acc_at(const Acc& a, int, int mi, int nj, int c) const { return a.c[mi][nj][c]; }
    template <class Addr>
    __device__ __forceinline__ void ldmatrix_x4(const uint16_t* base, Frag& f, Addr&& addr) {
        const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(base + addr(int(threadIdx.x) % 32)));
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                     : "=r"(f.r[0]), "=r"(f.r[1]), "=r"(f.r[2]), "=r"(f.r[3])
                     : "r"(s));
    }
    __device__ __forceinline__ void mma(Acc& acc, int mi, int nj, const Frag& a, const Frag& b, int b0) {
        float* c = acc.c[mi][nj];
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
            "{%0, %1, %2, %3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a.r[0]), "r"(a.r[1]), "r"(a.r[2]), "r"(a.r[3]), "r"(b.r[b0]), "r"(b.r[b0 + 1]));
    }
};

// Two blocks of 8 warps per SM: at most 128 registers a thread.
template <class Ops>
__global__ void __launch_bounds__(gemm::kThreads, 2)
    conv_gemm_mma_bf16(Ops ops, Plan plan, float* __restrict__ partial) {
    __shared__ gemm::Smem sm;
    DeviceExec ex;
    gemm::conv_block(ex, ops, plan, gemm::block_coord(plan, blockIdx.x, blockIdx.y, blockIdx.z), sm, partial);
}

template <class Ops>
__global__ void conv_sum_splits_mma(Ops ops, Plan plan, const float* __restrict__ partial) {
    REPRO_FOR_EACH(i, plan.groups * plan.m * plan.n) gemm::sum_splits_at(ops, plan, partial, i);
}

template <class P>
__global__ void __launch_bounds__(kSimtThreads) conv_gemm_simt_f32(P p, Plan plan, float* __restrict__ partial) {
    __shared__ float a_tile[kSimtK][kTile + 1];  // k-major: a column of A is a row here
    __shared__ float b_tile[kSimtK][kTile];

    const auto [g, split, m0, n0, k_begin, k_end] = tile_of(plan);
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;

    float acc[4][4] = {};
    for (int64_t k0 = k_begin; k0 < k_end; k0 += kSimtK) {
        REPRO_UNROLL for (int r = 0; r < kTile * kSimtK / kSimtThreads; ++r) {
            const int e = tid + r * kSimtThreads, mm = e / kSimtK, kk = e % kSimtK;
            const int64_t m = m0 + mm, k = k0 + kk;
            a_tile[kk][mm] = m < plan.m && k < k_end ? p.a(g, m, k) : 0.0f;
        }
        REPRO_UNROLL for (int r = 0; r < kTile * kSimtK / kSimtThreads; ++r) {
            const int e = tid + r * kSimtThreads, kk = e / kTile, nn = e % kTile;
            const int64_t k = k0 + kk, n = n0 + nn;
            b_tile[kk][nn] = k < k_end && n < plan.n ? p.b(g, k, n) : 0.0f;
        }
        __syncthreads();
        REPRO_UNROLL for (int kk = 0; kk < kSimtK; ++kk) {
            float av[4], bv[4];
            REPRO_UNROLL for (int i = 0; i < 4; ++i) av[i] = a_tile[kk][ty + 16 * i];
            REPRO_UNROLL for (int j = 0; j < 4; ++j) bv[j] = b_tile[kk][tx + 16 * j];
            REPRO_UNROLL for (int i = 0; i < 4; ++i)
                REPRO_UNROLL for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
        }
        __syncthreads();
    }
    REPRO_UNROLL for (int i = 0; i < 4; ++i)
        REPRO_UNROLL for (int j = 0; j < 4; ++j)
            emit(p, plan, partial, split, g, m0 + ty + 16 * i, n0 + tx + 16 * j, acc[i][j]);
}

// Adds the splits' partial sums in split order and applies the epilogue.
template <class P>
__global__ void conv_sum_splits(P p, Plan plan, const float* __restrict__ partial) {
    const int64_t per_split = plan.groups * plan.m * plan.n;
    REPRO_FOR_EACH(i, per_split) {
        float sum = 0.0f;
        for (int s = 0; s < plan.splits; ++s) sum += partial[s * per_split + i];
        const int64_t n = i % plan.n, rest = i / plan.n;
        p.put(static_cast<int>(rest / plan.m), rest % plan.m, n, sum);
    }
}

template <typename T>
constexpr bool uses_tensor_cores() {
    return sizeof(T) == 2;  // bf16
}

// The bf16 kernel's view of each pass (conv_gemm.cuh).
template <typename T>
gemm::ForwardOps<T> ops_for(const ConvForward<T>& p) { return gemm::ForwardOps<T>(p); }
template <typename T>
gemm::BackwardDataOps<T> ops_for(const ConvBackwardData<T>& p) { return gemm::BackwardDataOps<T>(p); }
template <typename T>
gemm::BackwardWeightOps<T> ops_for(const ConvBackwardWeight<T>& p) { return gemm::BackwardWeightOps<T>(p); }

// The plan depends on the GEMM's sizes and the kernel's tiles only, never on the data.
template <typename T, class P>
Plan plan_of(const P& p, int groups) {
    if constexpr (uses_tensor_cores<T>()) return gemm::plan_for(p, groups, gemm::kBK, gemm::kBM, gemm::kBN);
    else return gemm::plan_for(p, groups, kSimtK, kTile, kTile);
}

template <typename T, class P>
cudaError_t run_gemm(const P& p, int groups, float* workspace, cudaStream_t st) {
    const Plan plan = plan_of<T>(p, groups);
    if (plan.m == 0 || plan.n == 0) return cudaSuccess;
    if (plan.splits > 1 && workspace == nullptr) return cudaErrorInvalidValue;
    const unsigned z = static_cast<unsigned>(groups * plan.splits);
    if constexpr (uses_tensor_cores<T>()) {
        if (!gemm::fits_32bit(p.s)) return cudaErrorInvalidValue;  // the launcher checks first, with a message
        const auto ops = ops_for(p);
        const dim3 grid(static_cast<unsigned>((plan.n + gemm::kBN - 1) / gemm::kBN),
                        static_cast<unsigned>((plan.m + gemm::kBM - 1) / gemm::kBM), z);
        conv_gemm_mma_bf16<<<grid, gemm::kThreads, 0, st>>>(ops, plan, workspace);
        if (plan.splits > 1) {
            const cudaError_t err = cudaGetLastError();
            if (err != cudaSuccess) return err;
            conv_sum_splits_mma<<<capped_grid(plan.groups * plan.m * plan.n), kThreads, 0, st>>>(ops, plan, workspace);
        }
    } else {
        const dim3 grid(static_cast<unsigned>((plan.n + kTile - 1) / kTile),
                        static_cast<unsigned>((plan.m + kTile - 1) / kTile), z);
        conv_gemm_simt_f32<P><<<grid, kSimtThreads, 0, st>>>(p, plan, workspace);
        if (plan.splits > 1) {
            const cudaError_t err = cudaGetLastError();
            if (err != cudaSuccess) return err;
            conv_sum_splits<P><<<capped_grid(plan.groups * plan.m * plan.n), kThreads, 0, st>>>(p, plan, workspace);
        }
    }
    return cudaGetLastError();
}

// make(T{}) builds the pass's problem for element type T; the GEMM runs with it.
template <class Make>
cudaError_t run_pass(DType dt, int groups, float* workspace, cudaStream_t st, Make&& make) {
    cudaError_t err = cudaSuccess;
    const cudaError_t launch = dispatch_dtype(dt, [&](auto t) {
        err = run_gemm<decltype(t)>(make(t), groups, workspace, st);
    });
    return err != cudaSuccess ? err : launch;
}

}  // namespace

int conv_splits_cuda(ConvPass pass, DType dt, const ConvShape& s) {
    const auto splits = [&](const auto& p) {
        return dt == DType::BF16 ? plan_of<__nv_bfloat16>(p, s.groups).splits : plan_of<float>(p, s.groups).splits;
    };
    switch (pass) {
        case ConvPass::Forward: return splits(ConvForward<float>{nullptr, nullptr, nullptr, nullptr, s, false});
        case ConvPass::BackwardData: return splits(ConvBackwardData<float>{nullptr, nullptr, nullptr, s});
        case ConvPass::BackwardWeight: return splits(ConvBackwardWeight<float>{nullptr, nullptr, nullptr, s});
    }
    return 1;
}

cudaError_t conv_forward_cuda(DType dt, const void* x, const void* w, const float* bias, void* y, const ConvShape& s,
                              bool relu, float* workspace, cudaStream_t st) {
    return run_pass(dt, s.groups, workspace, st, [&](auto t) {
        using T = decltype(t);
        return ConvForward<T>{static_cast<const T*>(x), static_cast<const T*>(w), bias, static_cast<T*>(y), s, relu};
    });
}

cudaError_t conv_backward_data_cuda(DType dt, const void* dy, const void* w, void* dx, const ConvShape& s,
                                    float* workspace, cudaStream_t st) {
    return run_pass(dt, s.groups, workspace, st, [&](auto t) {
        using T = decltype(t);
        return ConvBackwardData<T>{static_cast<const T*>(dy), static_cast<const T*>(w), static_cast<T*>(dx), s};
    });
}

cudaError_t conv_backward_weight_cuda(DType dt, const void* dy, const void* x, void* dw, const ConvShape& s,
                                      float* workspace, cudaStream_t st) {
    return run_pass(dt, s.groups, workspace, st, [&](auto t) {
        using T = decltype(t);
        return ConvBackwardWeight<T>{static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<T*>(dw), s};
    });
}

}  // namespace repro_alexnet
