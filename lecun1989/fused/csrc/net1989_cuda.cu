// A persistent CUDA kernel for the 1989 network: one launch, one thread block,
// runs every per-example SGD step of a pass (or of any run of steps).
//
// Faithful per-example SGD is sequential: step t+1 needs the weights step t
// wrote. With 9,760 parameters and ~1K activations the whole network fits in
// one multiprocessor's shared memory, so a single block keeps weights,
// activations and deltas on chip for the whole launch and separates the
// layers of each step with __syncthreads() only. No atomics: every sum has a
// fixed owner thread and order, so a run is bit-for-bit repeatable.
//
// Same parameter layout and arithmetic as net1989_cpu.cpp (see there).
//
// Two kernels. train_steps_kernel runs the paper's recipe only (squashing
// units, MSE, plain SGD): the faithful path, kept as it was measured.
// train_steps_ex_kernel runs the per-example modern tricks of the CPU's
// train_steps_ex (ReLU, softmax cross-entropy with label smoothing, dropout on
// H2's outputs with the CPU's counter-based masks, AdamW), one run per thread
// block: train_steps_many launches R independent runs (say the seeds of a row)
// at once, one block per run, each block the same code as a single run.
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>
#include <algorithm>
#include <cstdlib>
#include <vector>

#include "net1989_args.h"
#include "net1989_rng.h"

namespace {

using namespace net1989;

struct Squash {
  float amp, slope;
  __device__ float f(float a) const { return amp * tanhf(slope * a); }
  __device__ float df(float y) const { return slope * (amp - y * y / amp); }
};

// Offsets (in floats) of every array in dynamic shared memory.
struct Layout {
  int w1, b1, w2, b2, w3, b3, w4, b4, n_params;
  int xp, h1p, part, h2, h3, out, sq, d1, d2, d3, dout, n_floats;
  int idx, rev, rev_count, n_ints;
  __host__ __device__ Layout(const Dims& d) {
    int o = 0;
    w1 = o; o += d.M1 * KK;
    b1 = o; o += d.M1 * N1;
    w2 = o; o += d.M2 * d.K * KK;
    b2 = o; o += d.M2 * N2;
    w3 = o; o += d.H3 * d.M2 * N2;
    b3 = o; o += d.H3;
    w4 = o; o += OUT * d.H3;
    b4 = o; o += OUT;
    n_params = o;
    xp = o; o += PADDED * PADDED;
    h1p = o; o += d.M1 * N1P;
    part = o; o += d.M2 * N2 * d.K;
    h2 = o; o += d.M2 * N2;
    h3 = o; o += d.H3;
    out = o; o += OUT;
    sq = o; o += OUT;
    d1 = o; o += d.M1 * N1;
    d2 = o; o += d.M2 * N2;
    d3 = o; o += d.H3;
    dout = o; o += OUT;
    n_floats = o;
    int i = 0;
    idx = i; i += d.M2 * d.K;
    rev = i; i += d.M1 * d.M2 * d.K;  // for H1 map c: the (m*K + k) that read it
    rev_count = i; i += d.M1;
    n_ints = i;
  }
  __host__ __device__ size_t bytes() const { return sizeof(float) * n_floats + sizeof(int) * n_ints + 16; }
};

__device__ __forceinline__ float warp_sum(float s) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) s += __shfl_down_sync(0xffffffffu, s, off);
  return s;
}

template <int THREADS>
__global__ void __launch_bounds__(THREADS, 1)
train_steps_kernel(const float* __restrict__ xs, const int64_t* __restrict__ ys, int64_t n_steps,
                   const int* __restrict__ idx_g, float* const* __restrict__ params_g, Dims d, float lr,
                   float pad, Squash act, Squash out_act, double* __restrict__ loss_out) {
  extern __shared__ float4 smem_raw[];
  float* sf = reinterpret_cast<float*>(smem_raw);
  const Layout L(d);
  int* si = reinterpret_cast<int*>(sf + L.n_floats);
  constexpr int WARPS = THREADS / 32;
  static_assert(THREADS >= IN * IN, "one thread per input pixel (the prefetch below)");
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int F3 = d.M2 * N2;

  float *w1 = sf + L.w1, *b1 = sf + L.b1, *w2 = sf + L.w2, *b2 = sf + L.b2;
  float *w3 = sf + L.w3, *b3 = sf + L.b3, *w4 = sf + L.w4, *b4 = sf + L.b4;
  float *xp = sf + L.xp, *h1p = sf + L.h1p, *part = sf + L.part, *h2 = sf + L.h2, *h3 = sf + L.h3;
  float *out = sf + L.out, *sq = sf + L.sq, *d1 = sf + L.d1, *d2 = sf + L.d2, *d3 = sf + L.d3, *dout = sf + L.dout;
  int *idx = si + L.idx, *rev = si + L.rev, *rev_count = si + L.rev_count;

  // ---- load the parameters and the connectivity; fill the padding rings ----
  const int sizes[8] = {d.M1 * KK, d.M1 * N1, d.M2 * d.K * KK, d.M2 * N2, d.H3 * F3, d.H3, OUT * d.H3, OUT};
  const int offs[8] = {L.w1, L.b1, L.w2, L.b2, L.w3, L.b3, L.w4, L.b4};
  for (int p = 0; p < 8; ++p)
    for (int e = tid; e < sizes[p]; e += THREADS) sf[offs[p] + e] = params_g[p][e];
  for (int e = tid; e < d.M2 * d.K; e += THREADS) idx[e] = idx_g[e];
  for (int e = tid; e < PADDED * PADDED; e += THREADS) xp[e] = pad;
  for (int e = tid; e < d.M1 * N1P; e += THREADS) h1p[e] = pad;
  __syncthreads();
  // Every per-unit loop strides by the block size, so any width (d.M1, d.H3 > THREADS) is covered.
  for (int c = tid; c < d.M1; c += THREADS) {  // reverse connectivity, in a fixed order
    int r = 0;
    for (int e = 0; e < d.M2 * d.K; ++e)
      if (idx[e] == c) rev[c * d.M2 * d.K + r++] = e;
    rev_count[c] = r;
  }
  double loss_sum = 0.0;  // owned by thread 0
  // Prefetch: each of the first 256 threads holds its pixel of the next example.
  float pixel = (tid < IN * IN && n_steps > 0) ? xs[tid] : 0.f;
  __syncthreads();

  for (int64_t step = 0; step < n_steps; ++step) {
    const int label = static_cast<int>(ys[step]);
    // ---- input into the padded 20x20 frame; fetch the next example early ----
    if (tid < IN * IN) {
      xp[(tid / IN + 2) * PADDED + tid % IN + 2] = pixel;
      if (step + 1 < n_steps) pixel = xs[(step + 1) * IN * IN + tid];
    }
    __syncthreads();
    // ---- H1: M1 maps 8x8, 5x5 stride 2 ----
    for (int u = tid; u < d.M1 * N1; u += THREADS) {
      const int m = u / N1, i = (u % N1) / S1, j = u % S1;
      float s = b1[u];
      const float* w = w1 + m * KK;
      const float* x = xp + 2 * i * PADDED + 2 * j;
#pragma unroll
      for (int ky = 0; ky < KS; ++ky)
#pragma unroll
        for (int kx = 0; kx < KS; ++kx) s += w[ky * KS + kx] * x[ky * PADDED + kx];
      h1p[m * N1P + (i + 2) * S1P + j + 2] = act.f(s);
    }
    __syncthreads();
    // ---- H2: partial sums per (map, input map, position), then per unit.
    //      Positions vary fastest across lanes: conflict-free reads of each H1 map. ----
    for (int e = tid; e < F3 * d.K; e += THREADS) {
      const int mk = e / N2, pos = e % N2, i = pos / S2, j = pos % S2;
      const float* w = w2 + mk * KK;
      const float* h = h1p + idx[mk] * N1P + 2 * i * S1P + 2 * j;
      float s = 0.f;
#pragma unroll
      for (int ky = 0; ky < KS; ++ky)
#pragma unroll
        for (int kx = 0; kx < KS; ++kx) s += w[ky * KS + kx] * h[ky * S1P + kx];
      part[e] = s;
    }
    __syncthreads();
    for (int unit = tid; unit < F3; unit += THREADS) {
      const int m = unit / N2, pos = unit % N2;
      float s = b2[unit];
      for (int k = 0; k < d.K; ++k) s += part[(m * d.K + k) * N2 + pos];
      h2[unit] = act.f(s);
    }
    __syncthreads();
    // ---- H3: one warp per unit ----
    for (int o = warp; o < d.H3; o += WARPS) {
      float s = 0.f;
      for (int q = lane; q < F3; q += 32) s += w3[o * F3 + q] * h2[q];
      s = warp_sum(s);
      if (lane == 0) h3[o] = act.f(s + b3[o]);
    }
    __syncthreads();
    // ---- outputs and the loss gradient: one warp per output ----
    for (int o = warp; o < OUT; o += WARPS) {
      float s = 0.f;
      for (int q = lane; q < d.H3; q += 32) s += w4[o * d.H3 + q] * h3[q];
      s = warp_sum(s);
      if (lane == 0) {
        const float y = out_act.f(s + b4[o]);
        const float diff = y - (o == label ? 1.f : -1.f);
        out[o] = y;
        sq[o] = diff * diff;
        dout[o] = (2.f / OUT) * diff * out_act.df(y);
      }
    }
    __syncthreads();
    // ---- backward: H3 deltas; the loss of this step ----
    for (int o = tid; o < d.H3; o += THREADS) {
      float s = 0.f;
      for (int k = 0; k < OUT; ++k) s += w4[k * d.H3 + o] * dout[k];
      d3[o] = s * act.df(h3[o]);
    }
    if (tid == THREADS - 1) {
      float l = 0.f;
      for (int k = 0; k < OUT; ++k) l += sq[k];
      loss_sum += l / OUT;
    }
    __syncthreads();
    for (int q = tid; q < F3; q += THREADS) {
      float s = 0.f;
      for (int o = 0; o < d.H3; ++o) s += w3[o * F3 + q] * d3[o];
      d2[q] = s * act.df(h2[q]);
    }
    __syncthreads();
    // ---- H1 deltas (gathered through the reverse connectivity), and the
    //      updates of the two top layers, whose weights nobody reads any more ----
    for (int u = tid; u < d.M1 * N1; u += THREADS) {
      const int c = u / N1, y = (u % N1) / S1, x = u % S1;
      // H2 rows i with 0 <= y + 2 - 2i < 5, columns likewise: 2 or 3 of each.
      const int i0 = max(0, (y - 1) / 2), i1 = min(S2 - 1, (y + 2) / 2);
      const int j0 = max(0, (x - 1) / 2), j1 = min(S2 - 1, (x + 2) / 2);
      float s = 0.f;
      for (int r = 0; r < rev_count[c]; ++r) {
        const int mk = rev[c * d.M2 * d.K + r], m = mk / d.K;
        const float* w = w2 + mk * KK + (y + 2) * KS + (x + 2);
        const float* dm = d2 + m * N2;
        for (int i = i0; i <= i1; ++i)
          for (int j = j0; j <= j1; ++j) s += w[-2 * i * KS - 2 * j] * dm[i * S2 + j];
      }
      const float h = h1p[c * N1P + (y + 2) * S1P + x + 2];
      d1[u] = s * act.df(h);
    }
    for (int e = tid; e < d.H3 * F3; e += THREADS) w3[e] -= lr * d3[e / F3] * h2[e % F3];
    for (int e = tid; e < OUT * d.H3; e += THREADS) w4[e] -= lr * dout[e / d.H3] * h3[e % d.H3];
    for (int o = tid; o < d.H3; o += THREADS) b3[o] -= lr * d3[o];
    for (int o = tid; o < OUT; o += THREADS) b4[o] -= lr * dout[o];
    __syncthreads();
    // ---- updates of H2 and H1 (their deltas are complete) ----
    for (int e = tid; e < d.M2 * d.K * KK; e += THREADS) {
      const int mk = e / KK, m = mk / d.K, ky = (e % KK) / KS, kx = e % KS;
      const float* h = h1p + idx[mk] * N1P + ky * S1P + kx;
      const float* dm = d2 + m * N2;
      float g = 0.f;
#pragma unroll
      for (int i = 0; i < S2; ++i)
#pragma unroll
        for (int j = 0; j < S2; ++j) g += dm[i * S2 + j] * h[2 * i * S1P + 2 * j];
      w2[e] -= lr * g;
    }
    for (int e = tid; e < d.M1 * KK; e += THREADS) {
      const int m = e / KK, ky = (e % KK) / KS, kx = e % KS;
      const float* x = xp + ky * PADDED + kx;
      const float* dm = d1 + m * N1;
      float g = 0.f;
#pragma unroll
      for (int i = 0; i < S1; ++i)
#pragma unroll
        for (int j = 0; j < S1; ++j) g += dm[i * S1 + j] * x[2 * i * PADDED + 2 * j];
      w1[e] -= lr * g;
    }
    for (int e = tid; e < F3; e += THREADS) b2[e] -= lr * d2[e];
    for (int e = tid; e < d.M1 * N1; e += THREADS) b1[e] -= lr * d1[e];
    __syncthreads();
  }

  // ---- write the parameters back ----
  for (int p = 0; p < 8; ++p)
    for (int e = tid; e < sizes[p]; e += THREADS) params_g[p][e] = sf[offs[p] + e];
  if (tid == THREADS - 1) *loss_out = loss_sum;
}


// ---- the per-example modern tricks: train_steps_ex_kernel ------------------
// tests/lecun1989/test_fused_cuda_tricks.py compiles this section, down to the kernel's
// last line, for the host (a std::thread per CUDA thread) to check its logic without a GPU.

// The units' functions, as net1989_cpu.cpp's Act (tanhf here, Cephes' tanhf there: within 2 ulps).
// SQUASH: amp * tanh(slope * a); RELU: max(a, 0), f' = [f > 0]; IDENTITY: raw logits.
enum ActKind : int { SQUASH = 0, RELU = 1, IDENTITY = 2 };

struct Act {
  int kind;
  float amp, slope;
  __device__ float f(float a) const {
    if (kind == RELU) return a > 0.f ? a : 0.f;
    if (kind == IDENTITY) return a;
    return amp * tanhf(slope * a);
  }
  __device__ float df(float y) const {
    if (kind == RELU) return y > 0.f ? 1.f : 0.f;
    if (kind == IDENTITY) return 1.f;
    return slope * (amp - y * y / amp);
  }
};

// What every run of a launch shares: the recipe and the step counter.
struct Recipe {
  Dims d;
  float pad;
  Act act, out_act;
  int loss;                   // 0: MSE to +-1 (mean over the 10), 1: softmax cross-entropy
  float smoothing;            // label smoothing of the cross-entropy
  float dropout, keep_scale;  // probability of zeroing an H2 output (0: none); 1 / (1 - p)
  int adam;                   // 1: AdamW, 0: plain SGD
  int adam_in_smem;           // AdamW's state held in shared memory for the launch (when it fits)
  float beta1, beta2, eps;
  uint64_t pass, step0;       // step i of the launch is step step0 + i of pass `pass` (the masks' counter)
  int64_t n_steps;
};

// What one run (one thread block) owns. All pointers are global memory.
struct Run {
  float* p[8];             // w1 b1 w2 b2 w3 b3 w4 b4, updated in place
  float* m[8];             // AdamW's exp_avg of each (unused for SGD)
  float* v[8];             // and exp_avg_sq
  const float* xs;         // [n_steps][16*16]
  const int64_t* ys;       // [n_steps]
  const float* adam_f;     // [n_steps][2]: AdamW's step_size and bias-corrected sqrt at each step
  uint64_t seed;           // the run's seed (dropout masks)
  float lr, decay;         // decay = 1 - lr * weight_decay (AdamW)
  double* loss;            // the summed loss of the launch's steps
};

// Offsets (in floats, then ints) of every array in dynamic shared memory. The reverse
// connectivity is compressed (rev_start[c]..rev_start[c+1] list the (m*K + k) reading H1
// map c), which keeps the wider networks within the 227 KB a block may hold.
struct LayoutEx {
  int w1, b1, w2, b2, w3, b3, w4, b4, n_params;
  int xp, h1p, part, h2, h2d, mask, h3, out, sq, d1, d2, d3, dout, adam_m, adam_v, n_floats;
  int idx, rev, rev_start, n_ints;
  __host__ __device__ LayoutEx(const Dims& d, bool adam_in_smem) {
    int o = 0;
    w1 = o; o += d.M1 * KK;
    b1 = o; o += d.M1 * N1;
    w2 = o; o += d.M2 * d.K * KK;
    b2 = o; o += d.M2 * N2;
    w3 = o; o += d.H3 * d.M2 * N2;
    b3 = o; o += d.H3;
    w4 = o; o += OUT * d.H3;
    b4 = o; o += OUT;
    n_params = o;
    xp = o; o += PADDED * PADDED;
    h1p = o; o += d.M1 * N1P;
    part = o; o += d.M2 * N2 * d.K;
    h2 = o; o += d.M2 * N2;
    h2d = o; o += d.M2 * N2;
    mask = o; o += d.M2 * N2;
    h3 = o; o += d.H3;
    out = o; o += OUT;
    sq = o; o += OUT;
    d1 = o; o += d.M1 * N1;
    d2 = o; o += d.M2 * N2;
    d3 = o; o += d.H3;
    dout = o; o += OUT;
    adam_m = o; o += adam_in_smem ? n_params : 0;
    adam_v = o; o += adam_in_smem ? n_params : 0;
    n_floats = o;
    int i = 0;
    idx = i; i += d.M2 * d.K;
    rev = i; i += d.M2 * d.K;
    rev_start = i; i += d.M1 + 1;
    n_ints = i;
  }
  __host__ __device__ size_t bytes() const { return sizeof(float) * n_floats + sizeof(int) * n_ints + 16; }
};

// The update of one parameter: AdamW (net1989_rng.h) or SGD, w - sgd_delta, where the caller
// forms sgd_delta as the CPU kernel does (lr * d * x for the two top layers, lr * g below).
struct Update {
  int adam;
  float decay, step_size, bc2_sqrt, beta1, beta2, eps;
  __device__ __forceinline__ void operator()(float& w, float* m, float* v, int e, float g, float sgd_delta) const {
    if (adam) adamw_element(w, m[e], v[e], g, decay, step_size, bc2_sqrt, beta1, beta2, eps);
    else w -= sgd_delta;
  }
};

template <int THREADS>
__global__ void __launch_bounds__(THREADS, 1)
train_steps_ex_kernel(const Run* __restrict__ runs, const int* __restrict__ idx_g, Recipe r) {
  extern __shared__ float4 smem_raw[];
  float* sf = reinterpret_cast<float*>(smem_raw);
  const Dims d = r.d;
  const LayoutEx L(d, r.adam_in_smem);
  int* si = reinterpret_cast<int*>(sf + L.n_floats);
  constexpr int WARPS = THREADS / 32;
  static_assert(THREADS >= IN * IN, "one thread per input pixel (the prefetch below)");
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int F3 = d.M2 * N2;
  const Run run = runs[blockIdx.x];  // this block's run
  const Act act = r.act, out_act = r.out_act;
  const float lr = run.lr;

  float *w1 = sf + L.w1, *b1 = sf + L.b1, *w2 = sf + L.w2, *b2 = sf + L.b2;
  float *w3 = sf + L.w3, *b3 = sf + L.b3, *w4 = sf + L.w4, *b4 = sf + L.b4;
  float *xp = sf + L.xp, *h1p = sf + L.h1p, *part = sf + L.part, *h2 = sf + L.h2, *h2d = sf + L.h2d;
  float *mask = sf + L.mask, *h3 = sf + L.h3, *out = sf + L.out, *sq = sf + L.sq;
  float *d1 = sf + L.d1, *d2 = sf + L.d2, *d3 = sf + L.d3, *dout = sf + L.dout;
  int *idx = si + L.idx, *rev = si + L.rev, *rev_start = si + L.rev_start;
  // H3 and the update of w3 read H2's outputs after dropout (model.py: F.dropout(flat, p) before H3).
  const float* h2in = r.dropout > 0.f ? h2d : h2;

  // ---- load the parameters (and AdamW's state), the connectivity; fill the padding rings ----
  const int sizes[8] = {d.M1 * KK, d.M1 * N1, d.M2 * d.K * KK, d.M2 * N2, d.H3 * F3, d.H3, OUT * d.H3, OUT};
  const int offs[8] = {L.w1, L.b1, L.w2, L.b2, L.w3, L.b3, L.w4, L.b4};
  float* am[8];
  float* av[8];
  for (int p = 0; p < 8; ++p) {
    am[p] = r.adam_in_smem ? sf + L.adam_m + offs[p] : run.m[p];
    av[p] = r.adam_in_smem ? sf + L.adam_v + offs[p] : run.v[p];
    for (int e = tid; e < sizes[p]; e += THREADS) sf[offs[p] + e] = run.p[p][e];
    if (r.adam && r.adam_in_smem)
      for (int e = tid; e < sizes[p]; e += THREADS) am[p][e] = run.m[p][e], av[p][e] = run.v[p][e];
  }
  for (int e = tid; e < d.M2 * d.K; e += THREADS) idx[e] = idx_g[e];
  for (int e = tid; e < PADDED * PADDED; e += THREADS) xp[e] = r.pad;
  for (int e = tid; e < d.M1 * N1P; e += THREADS) h1p[e] = r.pad;
  __syncthreads();
  // Reverse connectivity in a fixed order: count per H1 map, prefix sums, fill.
  for (int c = tid; c < d.M1; c += THREADS) {
    int n = 0;
    for (int e = 0; e < d.M2 * d.K; ++e) n += idx[e] == c;
    rev_start[c + 1] = n;
  }
  __syncthreads();
  if (tid == 0) {
    rev_start[0] = 0;
    for (int c = 0; c < d.M1; ++c) rev_start[c + 1] += rev_start[c];
  }
  __syncthreads();
  for (int c = tid; c < d.M1; c += THREADS) {
    int n = rev_start[c];
    for (int e = 0; e < d.M2 * d.K; ++e)
      if (idx[e] == c) rev[n++] = e;
  }
  double loss_sum = 0.0;  // owned by thread THREADS - 1
  float pixel = (tid < IN * IN && r.n_steps > 0) ? run.xs[tid] : 0.f;
  __syncthreads();

  for (int64_t step = 0; step < r.n_steps; ++step) {
    const int label = static_cast<int>(run.ys[step]);
    Update up{r.adam, run.decay, 0.f, 1.f, r.beta1, r.beta2, r.eps};
    if (r.adam) up.step_size = run.adam_f[2 * step], up.bc2_sqrt = run.adam_f[2 * step + 1];
    // ---- input into the padded 20x20 frame; fetch the next example early ----
    if (tid < IN * IN) {
      xp[(tid / IN + 2) * PADDED + tid % IN + 2] = pixel;
      if (step + 1 < r.n_steps) pixel = run.xs[(step + 1) * IN * IN + tid];
    }
    __syncthreads();
    // ---- H1 ----
    for (int u = tid; u < d.M1 * N1; u += THREADS) {
      const int m = u / N1, i = (u % N1) / S1, j = u % S1;
      float s = b1[u];
      const float* w = w1 + m * KK;
      const float* x = xp + 2 * i * PADDED + 2 * j;
#pragma unroll
      for (int ky = 0; ky < KS; ++ky)
#pragma unroll
        for (int kx = 0; kx < KS; ++kx) s += w[ky * KS + kx] * x[ky * PADDED + kx];
      h1p[m * N1P + (i + 2) * S1P + j + 2] = act.f(s);
    }
    __syncthreads();
    // ---- H2: partial sums per (map, input map, position), then per unit ----
    for (int e = tid; e < F3 * d.K; e += THREADS) {
      const int mk = e / N2, pos = e % N2, i = pos / S2, j = pos % S2;
      const float* w = w2 + mk * KK;
      const float* h = h1p + idx[mk] * N1P + 2 * i * S1P + 2 * j;
      float s = 0.f;
#pragma unroll
      for (int ky = 0; ky < KS; ++ky)
#pragma unroll
        for (int kx = 0; kx < KS; ++kx) s += w[ky * KS + kx] * h[ky * S1P + kx];
      part[e] = s;
    }
    __syncthreads();
    // Dropout: keep with probability 1-p, scaled by 1/(1-p); unit t's draw is uniform(key, t),
    // the CPU kernel's draw for the same (seed, pass, step): the same mask on either device.
    const uint64_t key = step_key(run.seed, STREAM_DROPOUT, r.pass, r.step0 + (uint64_t)step);
    for (int unit = tid; unit < F3; unit += THREADS) {
      const int m = unit / N2, pos = unit % N2;
      float s = b2[unit];
      for (int k = 0; k < d.K; ++k) s += part[(m * d.K + k) * N2 + pos];
      const float h = act.f(s);
      h2[unit] = h;
      if (r.dropout > 0.f) {
        const float keep = uniform(key, (uint64_t)unit) >= r.dropout ? r.keep_scale : 0.f;
        mask[unit] = keep;
        h2d[unit] = h * keep;
      }
    }
    __syncthreads();
    // ---- H3: one warp per unit ----
    for (int o = warp; o < d.H3; o += WARPS) {
      float s = 0.f;
      for (int q = lane; q < F3; q += 32) s += w3[o * F3 + q] * h2in[q];
      s = warp_sum(s);
      if (lane == 0) h3[o] = act.f(s + b3[o]);
    }
    __syncthreads();
    // ---- outputs (one warp each) and, for MSE, the loss gradient ----
    for (int o = warp; o < OUT; o += WARPS) {
      float s = 0.f;
      for (int q = lane; q < d.H3; q += 32) s += w4[o * d.H3 + q] * h3[q];
      s = warp_sum(s);
      if (lane == 0) {
        const float y = out_act.f(s + b4[o]);
        out[o] = y;
        if (r.loss == 0) {
          const float diff = y - (o == label ? 1.f : -1.f);
          sq[o] = diff * diff;
          dout[o] = (2.f / OUT) * diff * out_act.df(y);  // d(mean over 10 of diff^2)/d out
        }
      }
    }
    __syncthreads();
    if (r.loss == 1) {
      // Softmax cross-entropy against (1 - eps) one-hot + eps / 10 (torch's label_smoothing),
      // in the CPU kernel's order: d loss / d logit_k = p_k - t_k, then through the output function.
      if (tid == THREADS - 1) {
        float mx = out[0];
        for (int k = 1; k < OUT; ++k) mx = fmaxf(mx, out[k]);
        float se = 0.f;
        for (int k = 0; k < OUT; ++k) se += expf(out[k] - mx);
        const float lse = mx + logf(se);
        const float off = r.smoothing / OUT;
        float l = 0.f;
        for (int k = 0; k < OUT; ++k) {
          const float target = (k == label ? 1.f - r.smoothing : 0.f) + off;
          const float logp = out[k] - lse;
          l -= target * logp;
          dout[k] = (expf(logp) - target) * out_act.df(out[k]);
        }
        loss_sum += l;
      }
      __syncthreads();
    }
    // ---- backward: H3 deltas; the MSE loss of this step ----
    for (int o = tid; o < d.H3; o += THREADS) {
      float s = 0.f;
      for (int k = 0; k < OUT; ++k) s += w4[k * d.H3 + o] * dout[k];
      d3[o] = s * act.df(h3[o]);
    }
    if (r.loss == 0 && tid == THREADS - 1) {
      float l = 0.f;
      for (int k = 0; k < OUT; ++k) l += sq[k];
      loss_sum += l / OUT;
    }
    __syncthreads();
    for (int q = tid; q < F3; q += THREADS) {
      float s = 0.f;
      for (int o = 0; o < d.H3; ++o) s += w3[o * F3 + q] * d3[o];
      d2[q] = r.dropout > 0.f ? s * mask[q] * act.df(h2[q]) : s * act.df(h2[q]);
    }
    __syncthreads();
    // ---- H1 deltas (gathered through the reverse connectivity), and the
    //      updates of the two top layers, whose weights nobody reads any more ----
    for (int u = tid; u < d.M1 * N1; u += THREADS) {
      const int c = u / N1, y = (u % N1) / S1, x = u % S1;
      const int i0 = max(0, (y - 1) / 2), i1 = min(S2 - 1, (y + 2) / 2);
      const int j0 = max(0, (x - 1) / 2), j1 = min(S2 - 1, (x + 2) / 2);
      float s = 0.f;
      for (int q = rev_start[c]; q < rev_start[c + 1]; ++q) {
        const int mk = rev[q], m = mk / d.K;
        const float* w = w2 + mk * KK + (y + 2) * KS + (x + 2);
        const float* dm = d2 + m * N2;
        for (int i = i0; i <= i1; ++i)
          for (int j = j0; j <= j1; ++j) s += w[-2 * i * KS - 2 * j] * dm[i * S2 + j];
      }
      const float h = h1p[c * N1P + (y + 2) * S1P + x + 2];
      d1[u] = s * act.df(h);
    }
    for (int e = tid; e < d.H3 * F3; e += THREADS) {
      const float dd = d3[e / F3], x = h2in[e % F3];
      up(w3[e], am[4], av[4], e, dd * x, lr * dd * x);
    }
    for (int e = tid; e < OUT * d.H3; e += THREADS) {
      const float dd = dout[e / d.H3], x = h3[e % d.H3];
      up(w4[e], am[6], av[6], e, dd * x, lr * dd * x);
    }
    for (int o = tid; o < d.H3; o += THREADS) up(b3[o], am[5], av[5], o, d3[o], lr * d3[o]);
    for (int o = tid; o < OUT; o += THREADS) up(b4[o], am[7], av[7], o, dout[o], lr * dout[o]);
    __syncthreads();
    // ---- updates of H2 and H1 (their deltas are complete) ----
    for (int e = tid; e < d.M2 * d.K * KK; e += THREADS) {
      const int mk = e / KK, m = mk / d.K, ky = (e % KK) / KS, kx = e % KS;
      const float* h = h1p + idx[mk] * N1P + ky * S1P + kx;
      const float* dm = d2 + m * N2;
      float g = 0.f;
#pragma unroll
      for (int i = 0; i < S2; ++i)
#pragma unroll
        for (int j = 0; j < S2; ++j) g += dm[i * S2 + j] * h[2 * i * S1P + 2 * j];
      up(w2[e], am[2], av[2], e, g, lr * g);
    }
    for (int e = tid; e < d.M1 * KK; e += THREADS) {
      const int m = e / KK, ky = (e % KK) / KS, kx = e % KS;
      const float* x = xp + ky * PADDED + kx;
      const float* dm = d1 + m * N1;
      float g = 0.f;
#pragma unroll
      for (int i = 0; i < S1; ++i)
#pragma unroll
        for (int j = 0; j < S1; ++j) g += dm[i * S1 + j] * x[2 * i * PADDED + 2 * j];
      up(w1[e], am[0], av[0], e, g, lr * g);
    }
    for (int e = tid; e < F3; e += THREADS) up(b2[e], am[3], av[3], e, d2[e], lr * d2[e]);
    for (int e = tid; e < d.M1 * N1; e += THREADS) up(b1[e], am[1], av[1], e, d1[e], lr * d1[e]);
    __syncthreads();
  }

  // ---- write the parameters (and AdamW's state) back ----
  for (int p = 0; p < 8; ++p) {
    for (int e = tid; e < sizes[p]; e += THREADS) run.p[p][e] = sf[offs[p] + e];
    if (r.adam && r.adam_in_smem)
      for (int e = tid; e < sizes[p]; e += THREADS) run.m[p][e] = am[p][e], run.v[p][e] = av[p][e];
  }
  if (tid == THREADS - 1) *run.loss = loss_sum;
}

}  // namespace

double train_steps(torch::Tensor xs, torch::Tensor ys, torch::Tensor idx, std::vector<torch::Tensor> params,
                   double lr, double pad, double act_amp, double act_slope, double out_amp, double out_slope) {
  const Dims d = check_args(xs, ys, idx, params, /*cuda=*/true);
  const int64_t n_steps = ys.size(0);
  // Labels come from a validated data set; an out-of-range label would only change which output is the +1 target.

  const c10::cuda::CUDAGuard guard(xs.device());
  auto stream = c10::cuda::getCurrentCUDAStream();
  auto idx_dev = idx.to(xs.device());
  std::vector<float*> ptrs(8);
  for (int p = 0; p < 8; ++p) ptrs[p] = params[p].data_ptr<float>();
  auto ptr_tensor = torch::from_blob(ptrs.data(), {8}, torch::kInt64).to(xs.device(), /*non_blocking=*/false);
  auto loss = torch::zeros({1}, xs.options().dtype(torch::kFloat64));
  const size_t smem = Layout(d).bytes();
  int max_smem = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&max_smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, xs.device().index()));
  TORCH_CHECK(smem <= (size_t)max_smem, "the network needs ", smem, " bytes of shared memory, the GPU offers ", max_smem);
  // Block size 1024 (fastest measured on an H100: 2.7 s for 23 passes vs 3.3 s at 512,
  // 4.3 s at 256; results are bit-identical); $REPRO_CUDA_THREADS=256|512 for the bench.
  const char* env = std::getenv("REPRO_CUDA_THREADS");
  const int threads = env ? std::atoi(env) : 1024;
  auto launch = [&](auto kernel, int block) {
    C10_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    kernel<<<1, block, smem, stream>>>(
        xs.data_ptr<float>(), ys.data_ptr<int64_t>(), n_steps, idx_dev.data_ptr<int>(),
        reinterpret_cast<float* const*>(ptr_tensor.data_ptr<int64_t>()), d, (float)lr, (float)pad,
        Squash{(float)act_amp, (float)act_slope}, Squash{(float)out_amp, (float)out_slope}, loss.data_ptr<double>());
  };
  if (threads == 256) launch(train_steps_kernel<256>, 256);
  else if (threads == 512) launch(train_steps_kernel<512>, 512);
  else {
    TORCH_CHECK(threads == 1024, "REPRO_CUDA_THREADS must be 256, 512 or 1024, got ", threads);
    launch(train_steps_kernel<1024>, 1024);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return loss.item<double>();
}

// ---- the per-example modern tricks: train_steps_ex and train_steps_many ----
namespace {

// The draws of one step's dropout mask, computed on the GPU the way the kernel computes them.
__global__ void dropout_uniforms_kernel(uint64_t seed, uint64_t pass, uint64_t step, int64_t n, float* out) {
  const uint64_t key = step_key(seed, STREAM_DROPOUT, pass, step);
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = uniform(key, (uint64_t)i);
}

Act make_act(int64_t kind, double amp, double slope) {
  TORCH_CHECK(kind == SQUASH || kind == RELU || kind == IDENTITY,
              "activation kind must be 0 (squash), 1 (relu) or 2 (identity)");
  TORCH_CHECK(kind != SQUASH || amp > 0, "a squashing activation needs amp > 0");
  return Act{(int)kind, (float)amp, (float)slope};
}

// One run's tensors: the examples, the 8 parameters, AdamW's 16 state tensors (or none).
struct RunTensors {
  torch::Tensor xs, ys;
  std::vector<torch::Tensor> params, state;
};

// Checks every run against run 0's shapes, launches one block per run and returns the runs'
// summed losses (float64, CPU). The arithmetic is train_steps_ex's of net1989_cpu.cpp.
torch::Tensor launch_ex(const std::vector<RunTensors>& runs, const torch::Tensor& idx, const std::vector<double>& adam,
                        const std::vector<double>& lrs, double pad, Act act, Act out_act, int64_t loss_kind,
                        double smoothing, double dropout, const std::vector<int64_t>& seeds, int64_t pass,
                        int64_t step0) {
  const int64_t R = (int64_t)runs.size();
  TORCH_CHECK(R >= 1 && (int64_t)lrs.size() == R && (int64_t)seeds.size() == R, "need one lr and one seed per run");
  const Dims d = check_args(runs[0].xs, runs[0].ys, idx, runs[0].params, /*cuda=*/true);
  const bool adam_on = !runs[0].state.empty();
  TORCH_CHECK(loss_kind == 0 || loss_kind == 1, "loss kind must be 0 (mse) or 1 (cross-entropy)");
  TORCH_CHECK(dropout >= 0 && dropout < 1, "dropout must be in [0, 1)");
  TORCH_CHECK(smoothing >= 0 && smoothing < 1, "label smoothing must be in [0, 1)");
  TORCH_CHECK(pass >= 0 && step0 >= 0, "pass and step0 must be >= 0");
  TORCH_CHECK(!adam_on || adam.size() == 5, "AdamW needs 5 numbers (beta1, beta2, eps, weight_decay, steps taken)");
  const auto device = runs[0].xs.device();
  const int64_t n_steps = runs[0].ys.size(0);
  for (const auto& run : runs) {
    TORCH_CHECK(run.params.size() == 8, "expected 8 parameter tensors (w1 b1 w2 b2 w3 b3 w4 b4)");
    TORCH_CHECK(run.state.size() == (adam_on ? 16u : 0u), "AdamW needs 16 state tensors (exp_avg x 8, exp_avg_sq x 8) in every run");
    TORCH_CHECK(run.ys.is_cuda() && run.ys.scalar_type() == torch::kInt64 && run.ys.is_contiguous() &&
                    run.ys.sizes() == runs[0].ys.sizes() && run.xs.device() == device && run.ys.device() == device,
                "every run needs int64 labels [N] on the device of the examples");
    check_tensor(run.xs, "xs", runs[0].xs.sizes().vec(), true);
    for (int p = 0; p < 8; ++p) {
      check_tensor(run.params[p], "a parameter", runs[0].params[p].sizes().vec(), true);
      TORCH_CHECK(run.params[p].device() == device, "every tensor must be on the device of the examples");
      if (adam_on)
        for (const auto& s : {run.state[p], run.state[8 + p]}) {
          check_tensor(s, "AdamW state", runs[0].params[p].sizes().vec(), true);
          TORCH_CHECK(s.device() == device, "every tensor must be on the device of the examples");
        }
    }
  }
  // Labels come from a validated data set (as in train_steps); the CPU kernel checks them.

  Recipe rc{};
  rc.d = d;
  rc.pad = (float)pad;
  rc.act = act, rc.out_act = out_act;
  rc.loss = (int)loss_kind;
  rc.smoothing = (float)smoothing;
  rc.dropout = (float)dropout;
  rc.keep_scale = 1.f / (1.f - rc.dropout);
  rc.adam = adam_on;
  rc.pass = (uint64_t)pass, rc.step0 = (uint64_t)step0;
  rc.n_steps = n_steps;
  // AdamW's per-step factors, in double on the host as the CPU kernel computes them (net1989_rng.h).
  auto factors = torch::zeros({R, std::max<int64_t>(n_steps, 1), 2}, torch::kFloat32);
  float weight_decay = 0.f;
  if (adam_on) {
    rc.beta1 = (float)adam[0], rc.beta2 = (float)adam[1], rc.eps = (float)adam[2];
    weight_decay = (float)adam[3];
    float* f = factors.data_ptr<float>();
    for (int64_t r = 0; r < R; ++r)
      for (int64_t i = 0; i < n_steps; ++i) {
        const double t = adam[4] + (double)i + 1.0;
        f[(r * n_steps + i) * 2] = adamw_step_size((float)lrs[r], rc.beta1, t);
        f[(r * n_steps + i) * 2 + 1] = adamw_bc2_sqrt(rc.beta2, t);
      }
  }

  const c10::cuda::CUDAGuard guard(device);
  auto stream = c10::cuda::getCurrentCUDAStream();
  auto idx_dev = idx.to(device);
  auto factors_dev = factors.to(device);
  auto loss = torch::zeros({R}, runs[0].xs.options().dtype(torch::kFloat64));
  std::vector<Run> table(R);
  for (int64_t r = 0; r < R; ++r) {
    Run& run = table[r];
    for (int p = 0; p < 8; ++p) {
      run.p[p] = runs[r].params[p].data_ptr<float>();
      run.m[p] = adam_on ? runs[r].state[p].data_ptr<float>() : nullptr;
      run.v[p] = adam_on ? runs[r].state[8 + p].data_ptr<float>() : nullptr;
    }
    run.xs = runs[r].xs.data_ptr<float>();
    run.ys = runs[r].ys.data_ptr<int64_t>();
    run.adam_f = factors_dev.data_ptr<float>() + r * std::max<int64_t>(n_steps, 1) * 2;
    run.seed = (uint64_t)seeds[r];
    run.lr = (float)lrs[r];
    run.decay = 1.f - run.lr * weight_decay;
    run.loss = loss.data_ptr<double>() + r;
  }
  auto table_dev = torch::from_blob(table.data(), {(int64_t)(sizeof(Run) * R)}, torch::kUInt8).to(device);

  int max_smem = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&max_smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, device.index()));
  rc.adam_in_smem = adam_on && LayoutEx(d, true).bytes() <= (size_t)max_smem;  // else in global memory (L2)
  const size_t smem = LayoutEx(d, rc.adam_in_smem).bytes();
  TORCH_CHECK(smem <= (size_t)max_smem, "the network needs ", smem, " bytes of shared memory, the GPU offers ", max_smem);
  const char* env = std::getenv("REPRO_CUDA_THREADS");  // as train_steps: 1024 unless the bench says otherwise
  const int threads = env ? std::atoi(env) : 1024;
  auto launch = [&](auto kernel, int block) {
    C10_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    kernel<<<(unsigned)R, block, smem, stream>>>(reinterpret_cast<const Run*>(table_dev.data_ptr<uint8_t>()),
                                                 idx_dev.data_ptr<int>(), rc);
  };
  if (threads == 256) launch(train_steps_ex_kernel<256>, 256);
  else if (threads == 512) launch(train_steps_ex_kernel<512>, 512);
  else {
    TORCH_CHECK(threads == 1024, "REPRO_CUDA_THREADS must be 256, 512 or 1024, got ", threads);
    launch(train_steps_ex_kernel<1024>, 1024);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return loss.to(torch::kCPU);
}

}  // namespace

// net1989_cpu.cpp's train_steps_ex on the GPU, same signature and semantics: len(ys)
// per-example steps updating the parameters (and AdamW's state) in place, step i being
// step step0 + i of pass `pass` for the dropout masks. Returns the summed loss.
double train_steps_ex(torch::Tensor xs, torch::Tensor ys, torch::Tensor idx, std::vector<torch::Tensor> params,
                      std::vector<torch::Tensor> adam_state, std::vector<double> adam, double lr, double pad,
                      int64_t act_kind, double act_amp, double act_slope, int64_t out_kind, double out_amp,
                      double out_slope, int64_t loss_kind, double smoothing, double dropout, int64_t seed,
                      int64_t pass, int64_t step0) {
  TORCH_CHECK(adam_state.empty() || adam_state.size() == 16, "AdamW needs 16 state tensors and 5 numbers");
  const std::vector<RunTensors> runs{{xs, ys, params, adam_state}};
  return launch_ex(runs, idx, adam, {lr}, pad, make_act(act_kind, act_amp, act_slope),
                   make_act(out_kind, out_amp, out_slope), loss_kind, smoothing, dropout, {seed}, pass, step0)
      .item<double>();
}

// R independent runs of one recipe in one launch, one thread block each: xs [R, N, 1, 16, 16],
// ys [R, N], each of the 8 parameters (and of AdamW's 16 state tensors) stacked along a
// leading R dimension; one learning rate and one seed per run; the connectivity and AdamW's
// numbers shared. Run r computes exactly what train_steps_ex does on its slice. Returns the
// runs' summed losses [R] (float64).
torch::Tensor train_steps_many(torch::Tensor xs, torch::Tensor ys, torch::Tensor idx, std::vector<torch::Tensor> params,
                               std::vector<torch::Tensor> adam_state, std::vector<double> adam, std::vector<double> lrs,
                               double pad, int64_t act_kind, double act_amp, double act_slope, int64_t out_kind,
                               double out_amp, double out_slope, int64_t loss_kind, double smoothing, double dropout,
                               std::vector<int64_t> seeds, int64_t pass, int64_t step0) {
  TORCH_CHECK(xs.dim() == 5 && ys.dim() == 2 && xs.size(0) == ys.size(0), "xs must be [R, N, 1, 16, 16], ys [R, N]");
  TORCH_CHECK(params.size() == 8, "expected 8 parameter tensors (w1 b1 w2 b2 w3 b3 w4 b4), each [R, ...]");
  TORCH_CHECK(adam_state.empty() || adam_state.size() == 16, "AdamW needs 16 state tensors, each [R, ...]");
  const int64_t R = xs.size(0);
  for (const auto& t : params) TORCH_CHECK(t.dim() >= 1 && t.size(0) == R, "every parameter must be stacked [R, ...]");
  for (const auto& t : adam_state) TORCH_CHECK(t.dim() >= 1 && t.size(0) == R, "AdamW's state must be stacked [R, ...]");
  std::vector<RunTensors> runs(R);
  for (int64_t r = 0; r < R; ++r) {
    runs[r].xs = xs.select(0, r);
    runs[r].ys = ys.select(0, r);
    for (const auto& t : params) runs[r].params.push_back(t.select(0, r));
    for (const auto& t : adam_state) runs[r].state.push_back(t.select(0, r));
  }
  return launch_ex(runs, idx, adam, lrs, pad, make_act(act_kind, act_amp, act_slope),
                   make_act(out_kind, out_amp, out_slope), loss_kind, smoothing, dropout, seeds, pass, step0);
}

// The dropout keep-mask draws of one step (uniforms in [0, 1)) drawn on the current GPU, for
// tests against the CPU kernel's dropout_uniforms: the same numbers, bit for bit.
torch::Tensor dropout_uniforms(int64_t seed, int64_t pass, int64_t step_index, int64_t n) {
  auto out = torch::empty({n}, torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCUDA));
  const c10::cuda::CUDAGuard guard(out.device());
  if (n > 0) {
    dropout_uniforms_kernel<<<(unsigned)std::min<int64_t>((n + 255) / 256, 1024), 256, 0,
                              c10::cuda::getCurrentCUDAStream()>>>((uint64_t)seed, (uint64_t)pass, (uint64_t)step_index,
                                                                   n, out.data_ptr<float>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("train_steps", &train_steps, "persistent-kernel per-example SGD steps of the 1989 network (CUDA)");
  m.def("train_steps_ex", &train_steps_ex,
        "persistent-kernel per-example steps with the modern tricks: relu, cross-entropy, dropout, AdamW (CUDA)");
  m.def("train_steps_many", &train_steps_many, "R independent runs of train_steps_ex in one launch, one block each");
  m.def("dropout_uniforms", &dropout_uniforms, "the counter-based uniforms behind one step's dropout mask, drawn on the GPU");
}
