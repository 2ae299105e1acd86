// Convolution on the GPU: the implicit GEMMs of conv.cuh, in two kernels.
//
//  * bf16: tensor cores (WMMA 16x16x16, bf16 inputs, fp32 accumulation). A
//    block of 4 warps computes a 64x64 tile of C; each warp a 32x32 quarter
//    as 2x2 fragments. Operands are gathered tile by tile (BK = 32) into
//    shared memory through the index functions, so padding, stride and the
//    towers cost nothing but the address arithmetic.
//  * fp32: CUDA cores, the same tiling with BK = 16 and 256 threads, each
//    accumulating a 4x4 register tile (outputs ty + 16i, tx + 16j: conflict-free
//    shared reads and coalesced stores along n).
//
// Split-K: where a pass has too few output tiles to fill the GPU (the weight
// gradient: C is only C_out/G x C_in/G*k*k, while K = N*H_out*W_out is huge),
// blockIdx.z also splits the reduction; each split writes fp32 partial sums
// to a workspace and a second kernel adds them in split order. The split
// count is a function of the shape only, so results are deterministic (no
// atomics) and identical run to run.
//
// The epilogue (bias, ReLU, rounding to the element type) is the problem's
// put(): fused into the GEMM, or into the split-K sum.
#include <mma.h>

#include <algorithm>

#include "conv.cuh"
#include "dispatch.cuh"

namespace repro_alexnet {

namespace {

constexpr int kTile = 64;            // BM = BN
constexpr int kWmmaK = 32, kWmmaThreads = 128;
constexpr int kSimtK = 16, kSimtThreads = 256;
constexpr int64_t kTargetBlocks = 264;  // two waves of 132 SMs (H100 SXM); more tiles than this: no split
constexpr int64_t kMinKPerSplit = 512;  // each split reduces at least this many products per output
constexpr int kMaxSplits = 64;

struct Plan {
    int64_t m, n, k;
    int groups, splits;
    int64_t k_per_split;  // a multiple of the kernel's BK
};

template <class P>
Plan plan_for(const P& p, int groups, int bk) {
    Plan plan{p.M(), p.N(), p.K(), groups, 1, 0};
    const int64_t tiles = groups * ((plan.m + kTile - 1) / kTile) * ((plan.n + kTile - 1) / kTile);
    const int64_t wanted = tiles >= kTargetBlocks ? 1 : (kTargetBlocks + tiles - 1) / tiles;
    const int64_t splits = std::max<int64_t>(1, std::min<int64_t>({wanted, plan.k / kMinKPerSplit, kMaxSplits}));
    // Each split's share of K, rounded up to whole BK tiles (at least one); rounding
    // may leave fewer splits than asked for, never more.
    const int64_t per = std::max<int64_t>(1, (plan.k + splits - 1) / splits);
    plan.k_per_split = (per + bk - 1) / bk * bk;
    plan.splits = static_cast<int>(std::max<int64_t>(1, (plan.k + plan.k_per_split - 1) / plan.k_per_split));
    return plan;
}

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

template <class P>
__global__ void __launch_bounds__(kWmmaThreads) conv_gemm_wmma_bf16(P p, Plan plan, float* __restrict__ partial) {
    using namespace nvcuda;
    constexpr int kPadAB = 8, kPadC = 4;  // keeps WMMA's 32-byte alignment, spreads banks
    __shared__ __align__(128) __nv_bfloat16 a_tile[kTile][kWmmaK + kPadAB];
    __shared__ __align__(128) __nv_bfloat16 b_tile[kWmmaK][kTile + kPadAB];
    __shared__ __align__(128) float c_tile[kTile][kTile + kPadC];

    const auto [g, split, m0, n0, k_begin, k_end] = tile_of(plan);
    const int tid = threadIdx.x, warp = tid / 32, wm = warp / 2, wn = warp % 2;

    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
    REPRO_UNROLL for (int i = 0; i < 2; ++i)
        REPRO_UNROLL for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

    for (int64_t k0 = k_begin; k0 < k_end; k0 += kWmmaK) {
        // Consecutive threads gather consecutive k of A and consecutive n of B:
        // the directions in which the operands are (mostly) contiguous.
        REPRO_UNROLL for (int r = 0; r < kTile * kWmmaK / kWmmaThreads; ++r) {
            const int e = tid + r * kWmmaThreads, mm = e / kWmmaK, kk = e % kWmmaK;
            const int64_t m = m0 + mm, k = k0 + kk;
            a_tile[mm][kk] = __float2bfloat16(m < plan.m && k < k_end ? p.a(g, m, k) : 0.0f);
        }
        REPRO_UNROLL for (int r = 0; r < kTile * kWmmaK / kWmmaThreads; ++r) {
            const int e = tid + r * kWmmaThreads, kk = e / kTile, nn = e % kTile;
            const int64_t k = k0 + kk, n = n0 + nn;
            b_tile[kk][nn] = __float2bfloat16(k < k_end && n < plan.n ? p.b(g, k, n) : 0.0f);
        }
        __syncthreads();
        REPRO_UNROLL for (int kk = 0; kk < kWmmaK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> fb[2];
            REPRO_UNROLL for (int i = 0; i < 2; ++i)
                wmma::load_matrix_sync(fa[i], &a_tile[wm * 32 + i * 16][kk], kWmmaK + kPadAB);
            REPRO_UNROLL for (int j = 0; j < 2; ++j)
                wmma::load_matrix_sync(fb[j], &b_tile[kk][wn * 32 + j * 16], kTile + kPadAB);
            REPRO_UNROLL for (int i = 0; i < 2; ++i)
                REPRO_UNROLL for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
        __syncthreads();
    }
    REPRO_UNROLL for (int i = 0; i < 2; ++i)
        REPRO_UNROLL for (int j = 0; j < 2; ++j)
            wmma::store_matrix_sync(&c_tile[wm * 32 + i * 16][wn * 32 + j * 16], acc[i][j], kTile + kPadC,
                                    wmma::mem_row_major);
    __syncthreads();
    // Consecutive threads take consecutive n: coalesced stores along the output rows.
    for (int e = tid; e < kTile * kTile; e += kWmmaThreads) {
        const int mm = e / kTile, nn = e % kTile;
        emit(p, plan, partial, split, g, m0 + mm, n0 + nn, c_tile[mm][nn]);
    }
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

template <typename T>
constexpr int bk_of() {
    return uses_tensor_cores<T>() ? kWmmaK : kSimtK;
}

template <typename T, class P>
cudaError_t run_gemm(const P& p, int groups, float* workspace, cudaStream_t st) {
    const Plan plan = plan_for(p, groups, bk_of<T>());
    if (plan.m == 0 || plan.n == 0) return cudaSuccess;
    if (plan.splits > 1 && workspace == nullptr) return cudaErrorInvalidValue;
    const dim3 grid(static_cast<unsigned>((plan.n + kTile - 1) / kTile), static_cast<unsigned>((plan.m + kTile - 1) / kTile),
                    static_cast<unsigned>(groups * plan.splits));
    if constexpr (uses_tensor_cores<T>()) conv_gemm_wmma_bf16<P><<<grid, kWmmaThreads, 0, st>>>(p, plan, workspace);
    else conv_gemm_simt_f32<P><<<grid, kSimtThreads, 0, st>>>(p, plan, workspace);
    if (plan.splits > 1) {
        const cudaError_t err = cudaGetLastError();
        if (err != cudaSuccess) return err;
        conv_sum_splits<P><<<capped_grid(plan.groups * plan.m * plan.n), kThreads, 0, st>>>(p, plan, workspace);
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
    // The plan depends on the GEMM's sizes and the kernel's BK only, never on the data.
    const int bk = dt == DType::BF16 ? bk_of<__nv_bfloat16>() : bk_of<float>();
    switch (pass) {
        case ConvPass::Forward: return plan_for(ConvForward<float>{nullptr, nullptr, nullptr, nullptr, s, false}, s.groups, bk).splits;
        case ConvPass::BackwardData: return plan_for(ConvBackwardData<float>{nullptr, nullptr, nullptr, s}, s.groups, bk).splits;
        case ConvPass::BackwardWeight: return plan_for(ConvBackwardWeight<float>{nullptr, nullptr, nullptr, s}, s.groups, bk).splits;
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
