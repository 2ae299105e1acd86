// The bf16 tensor-core convolution's block logic, written once for the GPU and
// for a serial CPU replay (tests/alexnet2012/kernels/test_conv_replay.py).
//
// Every pass of conv.cuh is a GEMM C[m, n] = sum_k A[m, k] B[k, n] whose operand
// elements are gathered, never materialised. Here each operand element is split
// into a part that depends only on its row r (m of A, n of B: fixed per thread
// for the whole reduction) and a part that depends only on k:
//
//     X[r, k] = valid ? ptr[row.base + kin.off] : 0,
//     valid   = (unsigned)(row.h0 + kin.dh) < lim_h  &&  (unsigned)(row.w0 + kin.dw) < lim_w
//               && row.res == kin.res
//
// (h, w: the tap's position in the tensor being read; res: the stride residues
// of the data gradient, whose taps count only where (h + p - kh) is a multiple
// of the stride). The row parts are computed once per block into a table in
// shared memory, the k parts once per k-tile (BK entries, by one warp, with
// precomputed 32-bit reciprocal divisions), so the main loop does no division
// at all: a table read, two adds, three compares and a load per element, in
// 32-bit offsets (the launcher refuses a tensor of 2^30 elements or more).
//
// The block: BM x BN = 128 x 128 outputs, BK = 32, 8 warps of 64 x 32 each
// (mma.sync m16n8k16, bf16 in, fp32 accumulate; operands through ldmatrix),
// two shared-memory stages: while the warps multiply stage t, every thread's
// gathers of tile t+1 are in flight in registers, stored to the other stage
// after the multiply; one barrier per k-tile.
//
// Exec is the policy that runs it: on the GPU (conv.cu) every thread runs its
// own part and sync() is __syncthreads(); on the host (conv_replay.cpp) each
// step runs for every thread in turn, and ldmatrix / mma.sync are emulated per
// the PTX ISA's fragment layouts, so the replay checks the tile placement,
// tables, gathers, stage rotation, lane addresses, fragment-to-output mapping,
// epilogue and split-K reduction on the CPU.
#pragma once

#include <algorithm>

#include "conv.cuh"

namespace repro_alexnet {
namespace gemm {

constexpr int kBM = 128, kBN = 128, kBK = 32, kThreads = 256, kWarps = kThreads / 32;
constexpr int kWarpM = 64, kWarpN = 32;  // 2 x 4 warps
constexpr int kLd = kBK + 8;             // 80-byte rows: ldmatrix's 8 row addresses hit 8 distinct bank quads
constexpr int kPerThread = kBM * kBK / kThreads;  // elements of each operand a thread gathers per tile (16)
constexpr int kInvalid = 1 << 29;        // an h0 or dh that fails the bounds check whatever it is added to

// Planning: split K where there are too few output tiles to fill the GPU; the
// count is a function of the shape only (deterministic, fixed-order sum).
constexpr int64_t kTargetBlocks = 264;  // two waves of 132 SMs (H100 SXM)
constexpr int64_t kMinKPerSplit = 512;
constexpr int kMaxSplits = 64;

struct Plan {
    int64_t m, n, k;
    int groups, splits;
    int64_t k_per_split;  // a multiple of BK
};

// The split plan for a requested count: each split's share of K rounded up to
// whole BK tiles, which may leave fewer splits than asked for, never more, and
// never an empty one.
inline Plan plan_with_splits(int64_t m, int64_t n, int64_t k, int groups, int bk, int64_t splits) {
    Plan plan{m, n, k, groups, 1, 0};
    const int64_t per = std::max<int64_t>(1, (k + splits - 1) / splits);
    plan.k_per_split = (per + bk - 1) / bk * bk;
    plan.splits = static_cast<int>(std::max<int64_t>(1, (k + plan.k_per_split - 1) / plan.k_per_split));
    return plan;
}

inline int64_t splits_wanted(int64_t m, int64_t n, int64_t k, int groups, int tile_m, int tile_n) {
    const int64_t tiles = groups * ((m + tile_m - 1) / tile_m) * ((n + tile_n - 1) / tile_n);
    const int64_t wanted = tiles >= kTargetBlocks ? 1 : (kTargetBlocks + tiles - 1) / tiles;
    return std::max<int64_t>(1, std::min<int64_t>({wanted, k / kMinKPerSplit, int64_t(kMaxSplits)}));
}

template <class P>
Plan plan_for(const P& p, int groups, int bk, int tile_m, int tile_n) {
    const int64_t splits = splits_wanted(p.M(), p.N(), p.K(), groups, tile_m, tile_n);
    return plan_with_splits(p.M(), p.N(), p.K(), groups, bk, splits);
}

// n / d by a multiply and a shift: common.cuh's FastDiv, shared with the elementwise kernels.
using repro_alexnet::FastDiv;

struct RowInfo {
    int base, h0, w0, res;
};
struct KInfo {
    int off, dh, dw, res;
};

// ----------------------------------------------------------------------------- the three passes

// Each pass: its GEMM sizes, the two operands' row and k parts, their bounds, and
// the conv.cuh problem whose put() is the epilogue. Rows past M or N and k past
// the split's end come out invalid (zeros), so ragged tiles need no other test.

REPRO_HD RowInfo invalid_row() { return {0, kInvalid, 0, 0}; }
REPRO_HD KInfo invalid_k() { return {0, kInvalid, 0, 0}; }

// y = W * patches(x): A = weights [M = C_out/G, K = C_in/G*k*k] (row-major), B = input patches.
template <typename T>
struct ForwardOps {
    static constexpr bool kAAlongK = true;   // weights: contiguous along k
    static constexpr bool kBAlongK = false;  // patches: contiguous along the output row (n)
    ConvForward<T> p;
    const uint16_t *a, *b;
    FastDiv plane, out_w, taps, kernel;
    uint32_t lim_h, lim_w;

    explicit ForwardOps(const ConvForward<T>& problem)
        : p(problem), a(reinterpret_cast<const uint16_t*>(problem.w)), b(reinterpret_cast<const uint16_t*>(problem.x)),
          plane(uint32_t(problem.s.out_height * problem.s.out_width)), out_w(uint32_t(problem.s.out_width)),
          taps(uint32_t(problem.s.kernel * problem.s.kernel)), kernel(uint32_t(problem.s.kernel)),
          lim_h(uint32_t(problem.s.height)), lim_w(uint32_t(problem.s.width)) {}

    REPRO_HD RowInfo row_a(int g, int m) const {
        return m < p.M() ? RowInfo{int((g * p.M() + m) * p.K()), 0, 0, 0} : invalid_row();
    }
    REPRO_HD KInfo k_a(int k, bool valid) const { return valid ? KInfo{k, 0, 0, 0} : invalid_k(); }
    REPRO_HD RowInfo row_b(int g, int n) const {
        if (n >= p.N()) return invalid_row();
        const ConvShape& s = p.s;
        const int image = plane.div(n), pix = n - image * int(plane.d);
        const int oh = out_w.div(pix), ow = pix - oh * s.out_width;
        const int h0 = oh * s.stride - s.padding, w0 = ow * s.stride - s.padding;
        return {int(((image * s.in_channels + g * s.cin_g()) * s.height + h0) * s.width + w0), h0, w0, 0};
    }
    REPRO_HD KInfo k_b(int k, bool valid) const {
        if (!valid) return invalid_k();
        const ConvShape& s = p.s;
        const int c = taps.div(k), t = k - c * int(taps.d), kh = kernel.div(t), kw = t - kh * s.kernel;
        return {int((c * s.height + kh) * s.width + kw), kh, kw, 0};
    }
    REPRO_HD uint32_t a_lim_h() const { return 1; }
    REPRO_HD uint32_t a_lim_w() const { return 1; }
    REPRO_HD uint32_t b_lim_h() const { return lim_h; }
    REPRO_HD uint32_t b_lim_w() const { return lim_w; }
};

// dx = W^T * taps(dy): A[m = c_in, k = (c_out, kh, kw)] = w[c_out, c_in, kh, kw]; B[k, n = input pixel]
// = dy at ((h + p - kh) / s, (w + p - kw) / s) where both divide exactly. Written with
// quotients and residues: (h + p) = qh s + rh, kh = qk s + rk, so the tap counts iff rh == rk
// and reads output row qh - qk (likewise for columns).
template <typename T>
struct BackwardDataOps {
    static constexpr bool kAAlongK = true;   // a weight row is contiguous within each (kh, kw) run
    static constexpr bool kBAlongK = false;  // dy along the input row (n)
    ConvBackwardData<T> p;
    const uint16_t *a, *b;
    FastDiv plane, width, taps, kernel, stride;

    explicit BackwardDataOps(const ConvBackwardData<T>& problem)
        : p(problem), a(reinterpret_cast<const uint16_t*>(problem.w)), b(reinterpret_cast<const uint16_t*>(problem.dy)),
          plane(uint32_t(problem.s.height * problem.s.width)), width(uint32_t(problem.s.width)),
          taps(uint32_t(problem.s.kernel * problem.s.kernel)), kernel(uint32_t(problem.s.kernel)),
          stride(uint32_t(problem.s.stride)) {}

    REPRO_HD RowInfo row_a(int g, int m) const {
        const ConvShape& s = p.s;
        return m < p.M() ? RowInfo{int((g * s.cout_g() * s.cin_g() + m) * int(taps.d)), 0, 0, 0} : invalid_row();
    }
    REPRO_HD KInfo k_a(int k, bool valid) const {
        if (!valid) return invalid_k();
        const int co = taps.div(k), t = k - co * int(taps.d);
        return {int(co * p.s.cin_g() * int(taps.d) + t), 0, 0, 0};
    }
    REPRO_HD RowInfo row_b(int g, int n) const {
        if (n >= p.N()) return invalid_row();
        const ConvShape& s = p.s;
        const int image = plane.div(n), pix = n - image * int(plane.d), ih = width.div(pix), iw = pix - ih * s.width;
        const int hh = ih + s.padding, ww = iw + s.padding;
        const int qh = stride.div(hh), qw = stride.div(ww), rh = hh - qh * s.stride, rw = ww - qw * s.stride;
        return {int(((image * s.out_channels + g * s.cout_g()) * s.out_height + qh) * s.out_width + qw), qh, qw,
                rh * s.stride + rw};
    }
    REPRO_HD KInfo k_b(int k, bool valid) const {
        if (!valid) return invalid_k();
        const ConvShape& s = p.s;
        const int co = taps.div(k), t = k - co * int(taps.d), kh = kernel.div(t), kw = t - kh * s.kernel;
        const int qh = stride.div(kh), qw = stride.div(kw), rh = kh - qh * s.stride, rw = kw - qw * s.stride;
        return {int((co * s.out_height - qh) * s.out_width - qw), -qh, -qw, rh * s.stride + rw};
    }
    REPRO_HD uint32_t a_lim_h() const { return 1; }
    REPRO_HD uint32_t a_lim_w() const { return 1; }
    REPRO_HD uint32_t b_lim_h() const { return uint32_t(p.s.out_height); }
    REPRO_HD uint32_t b_lim_w() const { return uint32_t(p.s.out_width); }
};

// dw = dy * patches(x)^T: A[m = c_out, k = output pixel] = dy; B[k, n = (c_in, kh, kw)] = x under the tap.
template <typename T>
struct BackwardWeightOps {
    static constexpr bool kAAlongK = true;  // dy: contiguous along the output row (k)
    static constexpr bool kBAlongK = true;  // x: contiguous along the input row (k)
    ConvBackwardWeight<T> p;
    const uint16_t *a, *b;
    FastDiv plane, out_w, taps, kernel;

    explicit BackwardWeightOps(const ConvBackwardWeight<T>& problem)
        : p(problem), a(reinterpret_cast<const uint16_t*>(problem.dy)), b(reinterpret_cast<const uint16_t*>(problem.x)),
          plane(uint32_t(problem.s.out_height * problem.s.out_width)), out_w(uint32_t(problem.s.out_width)),
          taps(uint32_t(problem.s.kernel * problem.s.kernel)), kernel(uint32_t(problem.s.kernel)) {}

    REPRO_HD RowInfo row_a(int g, int m) const {
        return m < p.M() ? RowInfo{int((g * p.M() + m) * int(plane.d)), 0, 0, 0} : invalid_row();
    }
    REPRO_HD KInfo k_a(int k, bool valid) const {
        if (!valid) return invalid_k();
        const int image = plane.div(k);
        return {int(image * p.s.out_channels * int(plane.d) + (k - image * int(plane.d))), 0, 0, 0};
    }
    REPRO_HD RowInfo row_b(int g, int n) const {
        if (n >= p.N()) return invalid_row();
        const ConvShape& s = p.s;
        const int c = taps.div(n), t = n - c * int(taps.d), kh = kernel.div(t), kw = t - kh * s.kernel;
        return {int(((g * s.cin_g() + c) * s.height + kh) * s.width + kw), kh, kw, 0};
    }
    REPRO_HD KInfo k_b(int k, bool valid) const {
        if (!valid) return invalid_k();
        const ConvShape& s = p.s;
        const int image = plane.div(k), pix = k - image * int(plane.d);
        const int oh = out_w.div(pix), ow = pix - oh * s.out_width;
        const int h0 = oh * s.stride - s.padding, w0 = ow * s.stride - s.padding;
        return {int((image * s.in_channels * s.height + h0) * s.width + w0), h0, w0, 0};
    }
    REPRO_HD uint32_t a_lim_h() const { return 1; }
    REPRO_HD uint32_t a_lim_w() const { return 1; }
    REPRO_HD uint32_t b_lim_h() const { return uint32_t(p.s.height); }
    REPRO_HD uint32_t b_lim_w() const { return uint32_t(p.s.width); }
};

// Whether every offset of the pass fits the 32-bit arithmetic above.
inline bool fits_32bit(const ConvShape& s) {
    const int64_t limit = kOffsetLimit;  // common.cuh: headroom, base + off may pass through twice a tensor's size
    const int64_t in = s.batch * s.in_channels * s.height * s.width;
    const int64_t out = s.batch * s.out_channels * s.out_height * s.out_width;
    const int64_t w = int64_t(s.out_channels) * s.cin_g() * s.kernel * s.kernel;
    return in < limit && out < limit && w < limit;
}

// ----------------------------------------------------------------------------- the block

struct Smem {
    alignas(16) uint16_t a[2][kBM][kLd];  // A tiles, [m][k]
    alignas(16) uint16_t b[2][kBN][kLd];  // B tiles stored transposed, [n][k]: ldmatrix then yields mma's col-major B
    RowInfo a_rows[kBM], b_rows[kBN];
    KInfo a_k[2][kBK], b_k[2][kBK];
};

struct Regs {
    uint16_t a[kPerThread], b[kPerThread];
};

// The block's place: its group, split, first output row and column, and K range.
struct BlockCoord {
    int g, split, m0, n0, k_begin, k_end;
};

REPRO_HD BlockCoord block_coord(const Plan& plan, int bx, int by, int bz) {
    const int g = bz / plan.splits, split = bz % plan.splits;
    const int64_t k_begin = split * plan.k_per_split, k_end = k_begin + plan.k_per_split;
    return {g, split, by * kBM, bx * kBN, int(k_begin), int(k_end < plan.k ? k_end : plan.k)};
}

template <class Ops>
REPRO_HD void fill_rows(const Ops& ops, const BlockCoord& bc, Smem& sm, int tid) {
    if (tid < kBM) sm.a_rows[tid] = ops.row_a(bc.g, bc.m0 + tid);
    else if (tid < kBM + kBN) sm.b_rows[tid - kBM] = ops.row_b(bc.g, bc.n0 + tid - kBM);
}

// The k parts of tile `tile` (of this split) into table slot `slot`: warp 0 for A, warp 1 for B.
template <class Ops>
REPRO_HD void fill_k(const Ops& ops, const BlockCoord& bc, Smem& sm, int tid, int slot, int tile) {
    const int kk = tid % kBK, k = bc.k_begin + tile * kBK + kk;
    const bool valid = k < bc.k_end;
    if (tid < kBK) sm.a_k[slot][kk] = ops.k_a(k, valid);
    else if (tid < 2 * kBK) sm.b_k[slot][kk] = ops.k_b(k, valid);
}

REPRO_HD uint16_t fetch(const uint16_t* p, const RowInfo& row, const KInfo& kin, uint32_t lim_h, uint32_t lim_w) {
    const bool ok = uint32_t(row.h0) + uint32_t(kin.dh) < lim_h && uint32_t(row.w0) + uint32_t(kin.dw) < lim_w &&
                    row.res == kin.res;
    return ok ? p[row.base + kin.off] : uint16_t(0);
}

// One operand's share of a tile for thread tid. Along k: consecutive threads take
// consecutive k of one row (the thread's k is fixed: one table read; 2-byte stores
// along a shared row, conflict-free). Along r: consecutive threads take consecutive
// rows, each thread two runs of 8 consecutive k of its row (its row fixed: one table
// read), stored as two 16-byte words (2-byte stores down a column would conflict 4 ways).
constexpr int kRun = 8, kRuns = kPerThread / kRun;
static_assert(kBM == kBN && kThreads % kBK == 0 && kThreads % kBM == 0, "the gather's thread layout");
static_assert((kThreads / kBM) * kRuns * kRun == kBK, "along r, each row's runs cover the tile's k");
static_assert(kLd * sizeof(uint16_t) % 16 == 0, "16-byte aligned rows: ldmatrix and the 16-byte stores");

template <bool kAlongK>
REPRO_HD void gather_operand(const uint16_t* p, const RowInfo* rows, const KInfo* ks, uint32_t lim_h, uint32_t lim_w,
                             int tid, uint16_t* out) {
    if (kAlongK) {
        const KInfo kin = ks[tid % kBK];
        REPRO_UNROLL for (int i = 0; i < kPerThread; ++i)
            out[i] = fetch(p, rows[tid / kBK + (kThreads / kBK) * i], kin, lim_h, lim_w);
    } else {
        const RowInfo row = rows[tid % kBM];
        REPRO_UNROLL for (int i = 0; i < kPerThread; ++i) {
            const int run = tid / kBM + (kThreads / kBM) * (i / kRun);
            out[i] = fetch(p, row, ks[run * kRun + i % kRun], lim_h, lim_w);
        }
    }
}

REPRO_HD void store_run(uint16_t* dst, const uint16_t* src) {  // dst: 16-byte aligned
#if defined(__CUDA_ARCH__)
    uint4 v;
    v.x = src[0] | uint32_t(src[1]) << 16;
    v.y = src[2] | uint32_t(src[3]) << 16;
    v.z = src[4] | uint32_t(src[5]) << 16;
    v.w = src[6] | uint32_t(src[7]) << 16;
    *reinterpret_cast<uint4*>(dst) = v;
#else
    for (int i = 0; i < kRun; ++i) dst[i] = src[i];
#endif
}

template <bool kAlongK>
REPRO_HD void store_operand(uint16_t (*tile)[kLd], int tid, const uint16_t* in) {
    if (kAlongK) {
        REPRO_UNROLL for (int i = 0; i < kPerThread; ++i) tile[tid / kBK + (kThreads / kBK) * i][tid % kBK] = in[i];
    } else {
        REPRO_UNROLL for (int j = 0; j < kRuns; ++j)
            store_run(&tile[tid % kBM][(tid / kBM + (kThreads / kBM) * j) * kRun], in + j * kRun);
    }
}

template <class Ops>
REPRO_HD void gather(const Ops& ops, const Smem& sm, int slot, int tid, Regs& r) {
    gather_operand<Ops::kAAlongK>(ops.a, sm.a_rows, sm.a_k[slot], ops.a_lim_h(), ops.a_lim_w(), tid, r.a);
    gather_operand<Ops::kBAlongK>(ops.b, sm.b_rows, sm.b_k[slot], ops.b_lim_h(), ops.b_lim_w(), tid, r.b);
}

template <class Ops>
REPRO_HD void store(Smem& sm, int stage, int tid, const Regs& r) {
    store_operand<Ops::kAAlongK>(sm.a[stage], tid, r.a);
    store_operand<Ops::kBAlongK>(sm.b[stage], tid, r.b);
}

// A warp's 64 x 32 share of one BK tile: per 16-deep step, 4 ldmatrix.x4 for A (16 rows
// each), 2 for B (16 columns each) and 4 x 4 mma.sync m16n8k16. Lane addresses follow
// ldmatrix's rule: lanes 8q..8q+7 give the rows of matrix q.
template <class Exec>
REPRO_HD void warp_mma(Exec& ex, const Smem& sm, int stage, int warp, typename Exec::Acc& acc) {
    const int wm = warp / (kBN / kWarpN), wn = warp % (kBN / kWarpN);
    REPRO_UNROLL for (int ks = 0; ks < kBK; ks += 16) {
        typename Exec::Frag b[2];
        REPRO_UNROLL for (int p = 0; p < 2; ++p)
            ex.ldmatrix_x4(&sm.b[stage][0][0], b[p], [&](int lane) {
                const int q = lane / 8;  // matrices: (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15)
                return (wn * kWarpN + p * 16 + (q / 2) * 8 + lane % 8) * kLd + ks + (q % 2) * 8;
            });
        REPRO_UNROLL for (int mi = 0; mi < 4; ++mi) {  // one A fragment live at a time: fewer registers
            typename Exec::Frag a;
            ex.ldmatrix_x4(&sm.a[stage][0][0], a, [&](int lane) {
                return (wm * kWarpM + mi * 16 + lane % 16) * kLd + ks + (lane / 16) * 8;  // q: rows +8, k +8
            });
            REPRO_UNROLL for (int nj = 0; nj < 4; ++nj) ex.mma(acc, mi, nj, a, b[nj / 2], (nj % 2) * 2);
        }
    }
}

// Where output (m, n) of the block goes: through the problem's epilogue, or into its split's partial sums.
template <class Ops>
REPRO_HD void emit(const Ops& ops, const Plan& plan, float* partial, const BlockCoord& bc, int m, int n, float v) {
    if (m >= plan.m || n >= plan.n) return;
    if (plan.splits == 1) ops.p.put(bc.g, m, n, v);
    else partial[((bc.split * int64_t(plan.groups) + bc.g) * plan.m + m) * plan.n + n] = v;
}

// The accumulator fragment of mma m16n8k16: c0, c1 at (row lane/4, columns 2(lane%4) + 0, 1), c2, c3 eight rows down.
template <class Exec, class Ops>
REPRO_HD void warp_epilogue(Exec& ex, const Ops& ops, const Plan& plan, float* partial, const BlockCoord& bc, int warp,
                            typename Exec::Acc& acc) {
    const int wm = warp / (kBN / kWarpN), wn = warp % (kBN / kWarpN);
    ex.lanes([&](int lane) {
        REPRO_UNROLL for (int mi = 0; mi < 4; ++mi)
            REPRO_UNROLL for (int nj = 0; nj < 4; ++nj)
                REPRO_UNROLL for (int c = 0; c < 4; ++c) {
                    const int m = bc.m0 + wm * kWarpM + mi * 16 + lane / 4 + (c / 2) * 8;
                    const int n = bc.n0 + wn * kWarpN + nj * 8 + 2 * (lane % 4) + c % 2;
                    emit(ops, plan, partial, bc, m, n, ex.acc_at(acc, lane, mi, nj, c));
                }
    });
}

// The block, step by step; Exec decides whether "every thread" is the hardware's or a host loop.
template <class Exec, class Ops>
REPRO_HD void conv_block(Exec& ex, const Ops& ops, const Plan& plan, const BlockCoord& bc, Smem& sm, float* partial) {
    const int tiles = (bc.k_end - bc.k_begin + kBK - 1) / kBK;
    ex.threads([&](int tid) {
        fill_rows(ops, bc, sm, tid);
        fill_k(ops, bc, sm, tid, 0, 0);
        fill_k(ops, bc, sm, tid, 1, 1);
    });
    ex.warps([&](int warp) { ex.zero(ex.acc(warp)); });
    ex.sync();
    ex.threads([&](int tid) {
        gather(ops, sm, 0, tid, ex.regs(tid));
        store<Ops>(sm, 0, tid, ex.regs(tid));
    });
    ex.sync();
    for (int t = 0; t < tiles; ++t) {
        const bool more = t + 1 < tiles;
        // Loads of tile t+1 in flight (slot (t+1)%2, filled two tiles ago); the table slot
        // tile t used is refilled for tile t+2 (its readers passed the last barrier).
        ex.threads([&](int tid) {
            if (more) gather(ops, sm, (t + 1) % 2, tid, ex.regs(tid));
            fill_k(ops, bc, sm, tid, t % 2, t + 2);
        });
        ex.warps([&](int warp) { warp_mma(ex, sm, t % 2, warp, ex.acc(warp)); });
        ex.threads([&](int tid) {
            if (more) store<Ops>(sm, (t + 1) % 2, tid, ex.regs(tid));
        });
        ex.sync();
    }
    ex.warps([&](int warp) { warp_epilogue(ex, ops, plan, partial, bc, warp, ex.acc(warp)); });
}

// Output i of the split-K sum: the splits' partial sums added in split order, then the epilogue.
template <class Ops>
REPRO_HD void sum_splits_at(const Ops& ops, const Plan& plan, const float* partial, int64_t i) {
    const int64_t per_split = plan.groups * plan.m * plan.n;
    float sum = 0.0f;
    for (int s = 0; s < plan.splits; ++s) sum += partial[s * per_split + i];
    const int64_t n = i % plan.n, rest = i / plan.n;
    ops.p.put(static_cast<int>(rest / plan.m), rest % plan.m, n, sum);
}

}  // namespace gemm
}  // namespace repro_alexnet
