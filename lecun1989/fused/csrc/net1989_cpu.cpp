// Fused per-example SGD for the 1989 network on the CPU.
//
// One call runs many consecutive training steps (forward, backward, SGD update
// per example) in plain C++: no per-op Python, dispatcher or allocator work,
// which is what the eager PyTorch loop spends nearly all its time on at batch
// size 1. The arithmetic is the eager model's (lecun1989/model.py) in float32;
// only the summation order differs, and tanh is `vtanh` (Cephes' tanhf, vectorizable,
// within 2e-7 of torch.tanh: tests/lecun1989/test_fast_eval.py).
//
// Layout (the model's own parameter tensors, updated in place):
//   w1 [M1,1,5,5]  b1 [M1,8,8]   H1: 5x5 stride 2 on the 16x16 input padded to 20x20
//   w2 [M2,K,5,5]  b2 [M2,4,4]   H2: map m reads H1 maps idx[m, 0..K), padded to 12x12
//   w3 [H3,M2*16]  b3 [H3]       H3: fully connected
//   w4 [10,H3]     b4 [10]       outputs, MSE to +-1 targets (mean over the 10)
//
// The per-example modern tricks run here too (train_steps_ex): ReLU units,
// raw-logit outputs with softmax cross-entropy (label smoothing), dropout on
// H2's outputs with masks from a counter-based generator keyed by (seed, pass,
// step), and AdamW on the optimizer's own state tensors. Widths are runtime.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "net1989_args.h"
#include "net1989_rng.h"

namespace {

using namespace net1989;

// tanh without a library call, so the block loops vectorize: Cephes' tanhf
// (odd polynomial for |x| < 0.625, 1 - 2/(exp(2|x|)+1) beyond, exp by range
// reduction and a degree-6 polynomial). Within ~2e-7 of torch.tanh (tested).
inline float vtanh(float x) {
  // A comparison, not std::fmin (which GCC vectorizes only under -ffinite-math-only); std::floor
  // vectorizes under -fno-trapping-math (build.py). Without both, every tanh here ran scalar.
  const float ax0 = std::fabs(x), ax = ax0 < 9.f ? ax0 : 9.f;  // tanh(9) rounds to 1 in float
  const float z = x * x;
  const float small =
      x + x * z * ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z + 1.33314422036e-1f) * z -
                   3.33332819422e-1f);
  float e = 2.f * ax;  // exp(e), e in [0, 18]
  const float n = std::floor(e * 1.44269504088896341f + 0.5f);
  e = e - n * 0.693359375f - n * -2.12194440e-4f;
  const float p =
      (((((1.9875691500e-4f * e + 1.3981999507e-3f) * e + 8.3334519073e-3f) * e + 4.1665795894e-2f) * e +
        1.6666665459e-1f) * e + 5.0000001201e-1f) * (e * e) + e + 1.f;
  const int bits = ((int)n + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const float big = 1.f - 2.f / (p * scale + 1.f);
  return !(ax0 >= 0.625f) ? small : std::copysign(big, x);  // NaN in, NaN out (via small), as torch.tanh
}

// The units' functions. kind SQUASH: f(a) = amp * tanh(slope * a), f'(a) = slope * (amp - f^2 / amp);
// RELU: max(a, 0), f' = [f > 0] (torch's threshold_backward); IDENTITY: raw logits (softmax_ce's outputs).
enum ActKind : int { SQUASH = 0, RELU = 1, IDENTITY = 2 };

struct Act {
  int kind;
  float amp, slope;
  inline float f(float a) const {
    if (kind == RELU) return a > 0.f ? a : 0.f;
    if (kind == IDENTITY) return a;
    return amp * vtanh(slope * a);
  }
  // out[i] = f(in[i]) for i < n, vectorized (in may equal out)
  inline void apply(const float* in, float* out, int n) const {
    if (kind == SQUASH) {
      const float A = amp, S = slope;
#pragma omp simd
      for (int i = 0; i < n; ++i) out[i] = A * vtanh(S * in[i]);
    } else if (kind == RELU) {
#pragma omp simd
      for (int i = 0; i < n; ++i) out[i] = in[i] > 0.f ? in[i] : 0.f;
    } else {
      for (int i = 0; i < n; ++i) out[i] = in[i];
    }
  }
  inline float df(float y) const {
    if (kind == RELU) return y > 0.f ? 1.f : 0.f;
    if (kind == IDENTITY) return 1.f;
    return slope * (amp - y * y / amp);
  }
};

// The counter-based randomness a run owns (mix64, step_key, uniform, STREAM_DROPOUT)
// is in net1989_rng.h, shared with the CUDA kernel: both draw the same masks.

// H2's weight gradient runs along the 25 taps (QT lanes) rather than as 25 dot products
// of length 16, whose horizontal sums cost more than their multiply-adds.
constexpr int QT = 32;

struct Net {
  int M1, M2, K, H3;
  float *w1, *b1, *w2, *b2, *w3, *b3, *w4, *b4;
  const int *idx;
};

struct Options {
  float lr, pad;
  Act act, out_act;
  int loss;          // 0: MSE to +-1 (mean over the 10), 1: softmax cross-entropy
  float smoothing;   // label smoothing of the cross-entropy
  float dropout;     // probability of zeroing an H2 output before H3 (0: none)
  uint64_t seed;     // the run's seed, for the dropout masks
};

// AdamW (torch.optim.AdamW's update, decoupled weight decay), on the optimizer's own state tensors.
struct Adam {
  bool on = false;
  float beta1, beta2, eps, weight_decay;
  double t;                 // steps taken before this one
  float *m[8], *v[8];
};

// optim=sdlm: one step size per parameter (eta = eps / (mu + h), computed per pass in Python).
struct Rates {
  bool on = false;
  const float* eta[8];
};

struct Work {
  // activations
  std::vector<float> p1;   // [25][64] input patches (im2col)
  std::vector<float> h1;   // [M1][64]
  std::vector<float> q;    // [M1][25][16] H1 patches for H2 (im2col)
  std::vector<float> qt;   // [M1][16][QT] the same patches transposed, taps padded with zeros to QT
  float gw2[QT];           // one (H2 map, input map) pair's 25 weight gradients, padded to QT
  std::vector<float> h2;   // [M2*16]
  std::vector<float> h2d;  // [M2*16] H2 after dropout (what H3 reads)
  std::vector<float> mask; // [M2*16] dropout's 0 or 1/(1-p)
  std::vector<float> h3;   // [H3]
  float out[OUT];
  // deltas (gradients w.r.t. pre-activations)
  std::vector<float> d1, dq, d2, d3;
  float dout[OUT];
  std::vector<float> grad[8];  // AdamW only: the gradients of the 8 parameter tensors
  Work(const Net& n, bool adam)
      : p1(KK * N1), h1(n.M1 * N1), q(n.M1 * KK * N2), qt((size_t)n.M1 * N2 * QT, 0.f), h2(n.M2 * N2), h2d(n.M2 * N2), mask(n.M2 * N2, 1.f),
        h3(n.H3), d1(n.M1 * N1), dq(n.M1 * KK * N2), d2(n.M2 * N2), d3(n.H3) {
    if (adam) {
      const size_t sizes[8] = {(size_t)n.M1 * KK, (size_t)n.M1 * N1, (size_t)n.M2 * n.K * KK, (size_t)n.M2 * N2,
                               (size_t)n.H3 * n.M2 * N2, (size_t)n.H3, (size_t)OUT * n.H3, (size_t)OUT};
      for (int i = 0; i < 8; ++i) grad[i].assign(sizes[i], 0.f);
    }
  }
};

inline float dot(const float* __restrict a, const float* __restrict b, int n) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// torch.optim.AdamW on one tensor: the factors and the element update of net1989_rng.h, which
// the CUDA kernel uses too.
inline void adamw_update(float* __restrict p, float* __restrict m, float* __restrict v, const float* __restrict g,
                         size_t n, const Adam& a, float lr) {
  const double t = a.t + 1.0;
  const float decay = 1.f - lr * a.weight_decay;
  const float step_size = adamw_step_size(lr, a.beta1, t), bc2_sqrt = adamw_bc2_sqrt(a.beta2, t);
#pragma omp simd
  for (size_t i = 0; i < n; ++i)
    adamw_element(p[i], m[i], v[i], g[i], decay, step_size, bc2_sqrt, a.beta1, a.beta2, a.eps);
}

// w.gw2[uv] = sum_t d2[t] * patch_uv[t] for H2 map m's k-th input map: its 25 weight gradients.
// H1 map c's deltas from its 5x5 taps' per-H2-unit sums (w.dq), the stride-2 convolution's
// transpose: shared by the gradient sweep and the Gauss-Newton sweep (same order of additions).
inline void scatter_taps_to_h1(const Work& w, int c, float* d1) {
    for (int u = 0; u < KS; ++u)
      for (int v = 0; v < KS; ++v) {
        const float* row = &w.dq[(c * KK + u * KS + v) * N2];
        for (int i = 0; i < S2; ++i) {
          int y = 2 * i + u - 2;
          if (y < 0 || y >= S1) continue;
          for (int j = 0; j < S2; ++j) {
            int xx = 2 * j + v - 2;
            if (xx >= 0 && xx < S1) d1[y * S1 + xx] += row[i * S2 + j];
          }
        }
      }
}

inline void h2_weight_grad(const Net& n, Work& w, const float* __restrict d2, int m, int k) {
  const float* __restrict qt = &w.qt[(size_t)n.idx[m * n.K + k] * N2 * QT];
  float* __restrict g = w.gw2;
#pragma omp simd
  for (int uv = 0; uv < QT; ++uv) g[uv] = d2[0] * qt[uv];
  for (int t = 1; t < N2; ++t) {
    const float d = d2[t];
    const float* __restrict row = qt + t * QT;
#pragma omp simd
    for (int uv = 0; uv < QT; ++uv) g[uv] += d * row[uv];
  }
}

// One example's forward: every layer's outputs into w (H2 after dropout in w.h2d when o.dropout > 0).
// Returns what H3 reads (w.h2 or w.h2d).
const float* forward_one(const Net& n, Work& w, const float* x, const Options& o, uint64_t pass, uint64_t step_index) {
  const Act& act = o.act;
  const Act& out_act = o.out_act;
  const float pad = o.pad;
  // im2col of the padded input: p1[u*5+v][i*8+j] = xpad[2i+u][2j+v]
  for (int u = 0; u < KS; ++u)
    for (int v = 0; v < KS; ++v) {
      float* row = &w.p1[(u * KS + v) * N1];
      for (int i = 0; i < S1; ++i) {
        int y = 2 * i + u - 2;
        for (int j = 0; j < S1; ++j) {
          int xx = 2 * j + v - 2;
          row[i * S1 + j] = (y < 0 || y >= IN || xx < 0 || xx >= IN) ? pad : x[y * IN + xx];
        }
      }
    }
  for (int m = 0; m < n.M1; ++m) {
    float acc[N1];
    const float* bias = n.b1 + m * N1;
    for (int t = 0; t < N1; ++t) acc[t] = bias[t];
    for (int k = 0; k < KK; ++k) {
      const float wk = n.w1[m * KK + k];
      const float* row = &w.p1[k * N1];
#pragma omp simd
      for (int t = 0; t < N1; ++t) acc[t] += wk * row[t];
    }
    act.apply(acc, &w.h1[m * N1], N1);
  }
  // im2col of each padded H1 map: q[c][u*5+v][i*4+j] = h1pad[c][2i+u][2j+v]
  for (int c = 0; c < n.M1; ++c) {
    const float* h = &w.h1[c * N1];
    for (int u = 0; u < KS; ++u)
      for (int v = 0; v < KS; ++v) {
        float* row = &w.q[(c * KK + u * KS + v) * N2];
        for (int i = 0; i < S2; ++i) {
          int y = 2 * i + u - 2;
          for (int j = 0; j < S2; ++j) {
            int xx = 2 * j + v - 2;
            const float val = (y < 0 || y >= S1 || xx < 0 || xx >= S1) ? pad : h[y * S1 + xx];
            row[i * S2 + j] = val;
            w.qt[((size_t)c * N2 + i * S2 + j) * QT + u * KS + v] = val;
          }
        }
      }
  }
  for (int m = 0; m < n.M2; ++m) {
    // Four partial sums (taps uv mod 4): one running sum would wait on each multiply-add's latency.
    float acc[4][N2] = {};
    for (int k = 0; k < n.K; ++k) {
      const float* wk = n.w2 + (m * n.K + k) * KK;
      const float* qc = &w.q[n.idx[m * n.K + k] * KK * N2];
      for (int uv = 0; uv < KK; uv += 4)
        for (int r = 0; r < 4 && uv + r < KK; ++r) {
          const float wv = wk[uv + r];
          const float* row = qc + (uv + r) * N2;
#pragma omp simd
          for (int t = 0; t < N2; ++t) acc[r][t] += wv * row[t];
        }
    }
    const float* bias = n.b2 + m * N2;
#pragma omp simd
    for (int t = 0; t < N2; ++t) acc[0][t] = bias[t] + ((acc[0][t] + acc[1][t]) + (acc[2][t] + acc[3][t]));
    act.apply(acc[0], &w.h2[m * N2], N2);
  }
  const int F3 = n.M2 * N2;
  // Dropout on H2's outputs (model.py: F.dropout(flat, p) before H3): keep with
  // probability 1-p, scaled by 1/(1-p), the mask drawn from (seed, pass, step).
  const float* h2in = w.h2.data();
  if (o.dropout > 0.f) {
    const uint64_t key = step_key(o.seed, STREAM_DROPOUT, pass, step_index);
    const float scale = 1.f / (1.f - o.dropout);
    for (int t = 0; t < F3; ++t) {
      w.mask[t] = uniform(key, (uint64_t)t) >= o.dropout ? scale : 0.f;
      w.h2d[t] = w.h2[t] * w.mask[t];
    }
    h2in = w.h2d.data();
  }
  for (int u = 0; u < n.H3; ++u) w.h3[u] = n.b3[u] + dot(n.w3 + u * F3, h2in, F3);
  act.apply(w.h3.data(), w.h3.data(), n.H3);
  for (int k = 0; k < OUT; ++k) w.out[k] = n.b4[k] + dot(n.w4 + k * n.H3, w.h3.data(), n.H3);
  out_act.apply(w.out, w.out, OUT);
  return h2in;
}

// One example: forward, backward, update (SGD; AdamW when adam.on; per-parameter step sizes when
// rates.on: optim=sdlm). Returns the example's loss.
float step(const Net& n, Work& w, const float* x, int label, const Options& o, const Adam& adam, const Rates& rates,
           uint64_t pass, uint64_t step_index) {
  const Act& act = o.act;
  const Act& out_act = o.out_act;
  const float lr = o.lr;
  const int F3 = n.M2 * N2;
  const float* h2in = forward_one(n, w, x, o, pass, step_index);
  float loss = 0.f;
  if (o.loss == 0) {
    for (int k = 0; k < OUT; ++k) {
      const float diff = w.out[k] - (k == label ? 1.f : -1.f);
      loss += diff * diff;
      // d(mean over 10 of diff^2)/d out = 2 diff / 10, then through the output squashing
      w.dout[k] = (2.f / OUT) * diff * out_act.df(w.out[k]);
    }
    loss /= OUT;
  } else {
    // softmax cross-entropy against (1 - eps) one-hot + eps / 10 (torch's label_smoothing):
    // loss = -sum_k t_k log p_k, d loss / d logit_k = p_k - t_k (then through the output function).
    float mx = w.out[0];
    for (int k = 1; k < OUT; ++k) mx = std::max(mx, w.out[k]);
    float se = 0.f;
    for (int k = 0; k < OUT; ++k) se += std::exp(w.out[k] - mx);
    const float lse = mx + std::log(se);
    const float off = o.smoothing / OUT;
    for (int k = 0; k < OUT; ++k) {
      const float target = (k == label ? 1.f - o.smoothing : 0.f) + off;
      const float logp = w.out[k] - lse;
      loss -= target * logp;
      w.dout[k] = (std::exp(logp) - target) * out_act.df(w.out[k]);
    }
  }

  // ---- backward (all deltas from the old weights) ----------------------
  for (int u = 0; u < n.H3; ++u) {
    float s = 0.f;
    for (int k = 0; k < OUT; ++k) s += n.w4[k * n.H3 + u] * w.dout[k];
    w.d3[u] = s * act.df(w.h3[u]);
  }
  std::fill(w.d2.begin(), w.d2.end(), 0.f);
  for (int u = 0; u < n.H3; ++u) {
    const float d = w.d3[u];
    const float* row = n.w3 + u * F3;
    float* d2 = w.d2.data();
#pragma omp simd
    for (int t = 0; t < F3; ++t) d2[t] += row[t] * d;
  }
  if (o.dropout > 0.f)
    for (int t = 0; t < F3; ++t) w.d2[t] = w.d2[t] * w.mask[t] * act.df(w.h2[t]);
  else
    for (int t = 0; t < F3; ++t) w.d2[t] *= act.df(w.h2[t]);
  // H2 -> H1 patches, then col2im back onto the H1 maps (the padding ring is dropped)
  std::fill(w.dq.begin(), w.dq.end(), 0.f);
  for (int m = 0; m < n.M2; ++m) {
    const float* d2 = &w.d2[m * N2];
    for (int k = 0; k < n.K; ++k) {
      const float* wk = n.w2 + (m * n.K + k) * KK;
      float* dqc = &w.dq[n.idx[m * n.K + k] * KK * N2];
      for (int uv = 0; uv < KK; ++uv) {
        const float wv = wk[uv];
        float* row = dqc + uv * N2;
#pragma omp simd
        for (int t = 0; t < N2; ++t) row[t] += wv * d2[t];
      }
    }
  }
  std::fill(w.d1.begin(), w.d1.end(), 0.f);
  for (int c = 0; c < n.M1; ++c) {
    float* d1 = &w.d1[c * N1];
    scatter_taps_to_h1(w, c, d1);
    const float* h = &w.h1[c * N1];
    for (int t = 0; t < N1; ++t) d1[t] *= act.df(h[t]);
  }

  if (adam.on || rates.on) {
    // ---- AdamW or SDLM: the gradients first, then one update per tensor --------
    float* g4 = w.grad[6].data();
    for (int k = 0; k < OUT; ++k) {
      const float d = w.dout[k];
      for (int u = 0; u < n.H3; ++u) g4[k * n.H3 + u] = d * w.h3[u];
      w.grad[7][k] = d;
    }
    float* g3 = w.grad[4].data();
    for (int u = 0; u < n.H3; ++u) {
      const float d = w.d3[u];
#pragma omp simd
      for (int t = 0; t < F3; ++t) g3[u * F3 + t] = d * h2in[t];
      w.grad[5][u] = d;
    }
    for (int m = 0; m < n.M2; ++m) {
      const float* d2 = &w.d2[m * N2];
      for (int k = 0; k < n.K; ++k) {
        h2_weight_grad(n, w, d2, m, k);
        std::copy(w.gw2, w.gw2 + KK, &w.grad[2][(m * n.K + k) * KK]);
      }
      for (int t = 0; t < N2; ++t) w.grad[3][m * N2 + t] = d2[t];
    }
    for (int m = 0; m < n.M1; ++m) {
      const float* d1 = &w.d1[m * N1];
      for (int k = 0; k < KK; ++k) w.grad[0][m * KK + k] = dot(d1, &w.p1[k * N1], N1);
      for (int t = 0; t < N1; ++t) w.grad[1][m * N1 + t] = d1[t];
    }
    float* params[8] = {n.w1, n.b1, n.w2, n.b2, n.w3, n.b3, n.w4, n.b4};
    for (int i = 0; i < 8; ++i) {
      if (adam.on) {
        adamw_update(params[i], adam.m[i], adam.v[i], w.grad[i].data(), w.grad[i].size(), adam, lr);
      } else {  // SDLM: w_k -= eta_k * g_k, eta_k = eps / (mu + h_kk) fixed for the pass (lecun1989/sdlm.py)
        float* __restrict p = params[i];
        const float* __restrict eta = rates.eta[i];
        const float* __restrict g = w.grad[i].data();
        const size_t m = w.grad[i].size();
#pragma omp simd
        for (size_t j = 0; j < m; ++j) p[j] -= eta[j] * g[j];
      }
    }
    return loss;
  }

  // ---- SGD update: w -= lr * grad --------------------------------------
  for (int k = 0; k < OUT; ++k) {
    const float g = lr * w.dout[k];
    float* row = n.w4 + k * n.H3;
#pragma omp simd
    for (int u = 0; u < n.H3; ++u) row[u] -= g * w.h3[u];
    n.b4[k] -= g;
  }
  for (int u = 0; u < n.H3; ++u) {
    const float g = lr * w.d3[u];
    float* row = n.w3 + u * F3;
#pragma omp simd
    for (int t = 0; t < F3; ++t) row[t] -= g * h2in[t];
    n.b3[u] -= g;
  }
  for (int m = 0; m < n.M2; ++m) {
    const float* d2 = &w.d2[m * N2];
    for (int k = 0; k < n.K; ++k) {
      h2_weight_grad(n, w, d2, m, k);
      float* wk = n.w2 + (m * n.K + k) * KK;
#pragma omp simd
      for (int uv = 0; uv < KK; ++uv) wk[uv] -= lr * w.gw2[uv];
    }
    for (int t = 0; t < N2; ++t) n.b2[m * N2 + t] -= lr * d2[t];
  }
  for (int m = 0; m < n.M1; ++m) {
    const float* d1 = &w.d1[m * N1];
    for (int k = 0; k < KK; ++k) n.w1[m * KK + k] -= lr * dot(d1, &w.p1[k * N1], N1);
    for (int t = 0; t < N1; ++t) n.b1[m * N1 + t] -= lr * d1[t];
  }
  return loss;
}

// optim=sdlm's curvature of one example, added into h[0..8) (the layout of the 8 parameter tensors):
// the diagonal Gauss-Newton terms of LeCun et al. 1998, appendix C, back-propagated like the gradient
// with squared weights and squared slopes, the off-diagonal terms dropped:
//   output a (MSE, mean over the 10):  d2E/da2 = f'(a)^2 * 2/10
//   through a connection:              d2E/dx_i2 = sum_j w_ji^2 d2E/da_j2
//   through a unit:                    d2E/da_i2 = f'(a_i)^2 d2E/dx_i2
//   a weight:                          h += x_i^2 d2E/da_j2, summed over every connection sharing it
// Work's delta buffers (dout, d3, d2, dq, d1) hold the second derivatives here. The reference is
// lecun1989/sdlm.py:gauss_newton_diag (tests/lecun1989/test_sdlm.py).
void gauss_newton_one(const Net& n, Work& w, const float* x, const Options& o, float* const* h) {
  const Act& act = o.act;
  const Act& out_act = o.out_act;
  const int F3 = n.M2 * N2;
  const float* h2in = forward_one(n, w, x, o, 0, 0);
  for (int k = 0; k < OUT; ++k) {
    const float s = out_act.df(w.out[k]);
    w.dout[k] = (2.f / OUT) * s * s;
    for (int u = 0; u < n.H3; ++u) h[6][k * n.H3 + u] += w.dout[k] * w.h3[u] * w.h3[u];
    h[7][k] += w.dout[k];
  }
  for (int u = 0; u < n.H3; ++u) {
    float s = 0.f;
    for (int k = 0; k < OUT; ++k) s += n.w4[k * n.H3 + u] * n.w4[k * n.H3 + u] * w.dout[k];
    const float f = act.df(w.h3[u]);
    w.d3[u] = s * f * f;
    const float d = w.d3[u];
    float* row = h[4] + u * F3;
#pragma omp simd
    for (int t = 0; t < F3; ++t) row[t] += d * h2in[t] * h2in[t];
    h[5][u] += d;
  }
  std::fill(w.d2.begin(), w.d2.end(), 0.f);
  for (int u = 0; u < n.H3; ++u) {
    const float d = w.d3[u];
    const float* row = n.w3 + u * F3;
    float* d2 = w.d2.data();
#pragma omp simd
    for (int t = 0; t < F3; ++t) d2[t] += row[t] * row[t] * d;
  }
  for (int t = 0; t < F3; ++t) {
    const float f = act.df(w.h2[t]);
    w.d2[t] *= f * f;
  }
  // H2's weights and biases; the second derivatives back onto H1's patches (squared weights).
  std::fill(w.dq.begin(), w.dq.end(), 0.f);
  for (int m = 0; m < n.M2; ++m) {
    const float* d2 = &w.d2[m * N2];
    for (int k = 0; k < n.K; ++k) {
      const int c = n.idx[m * n.K + k];
      const float* wk = n.w2 + (m * n.K + k) * KK;
      const float* qc = &w.q[c * KK * N2];
      float* dqc = &w.dq[c * KK * N2];
      float* hk = h[2] + (m * n.K + k) * KK;
      for (int uv = 0; uv < KK; ++uv) {
        const float* q = qc + uv * N2;
        float s = 0.f;
        for (int t = 0; t < N2; ++t) s += d2[t] * q[t] * q[t];
        hk[uv] += s;
        const float w2 = wk[uv] * wk[uv];
        float* row = dqc + uv * N2;
#pragma omp simd
        for (int t = 0; t < N2; ++t) row[t] += w2 * d2[t];
      }
    }
    for (int t = 0; t < N2; ++t) h[3][m * N2 + t] += d2[t];
  }
  std::fill(w.d1.begin(), w.d1.end(), 0.f);
  for (int c = 0; c < n.M1; ++c) {
    float* d1 = &w.d1[c * N1];
    scatter_taps_to_h1(w, c, d1);
    const float* hh = &w.h1[c * N1];
    for (int t = 0; t < N1; ++t) {
      const float f = act.df(hh[t]);
      d1[t] *= f * f;
    }
    for (int k = 0; k < KK; ++k) {
      const float* p = &w.p1[k * N1];
      float s = 0.f;
      for (int t = 0; t < N1; ++t) s += d1[t] * p[t] * p[t];
      h[0][c * KK + k] += s;
    }
    for (int t = 0; t < N1; ++t) h[1][c * N1 + t] += d1[t];
  }
}

Act make_act(int64_t kind, double amp, double slope) {
  TORCH_CHECK(kind == SQUASH || kind == RELU || kind == IDENTITY, "activation kind must be 0 (squash), 1 (relu) or 2 (identity)");
  TORCH_CHECK(kind != SQUASH || amp > 0, "a squashing activation needs amp > 0");
  return Act{(int)kind, (float)amp, (float)slope};
}

}  // namespace

// Runs len(ys) consecutive per-example steps on the examples xs[i], ys[i] in
// order, updating the parameters (and AdamW's state) in place. Step i is step
// `step0 + i` of pass `pass` (the dropout masks' counter). `adam_state`: empty
// for plain SGD, else AdamW's exp_avg of the 8 tensors then their exp_avg_sq,
// with `adam` = (beta1, beta2, eps, weight_decay, steps taken before); or, with
// `adam` empty, 8 tensors of per-parameter step sizes (optim=sdlm; `lr` unused).
// Returns the sum of the per-step losses.
double train_steps_ex(torch::Tensor xs, torch::Tensor ys, torch::Tensor idx, std::vector<torch::Tensor> params,
                      std::vector<torch::Tensor> adam_state, std::vector<double> adam, double lr, double pad,
                      int64_t act_kind, double act_amp, double act_slope, int64_t out_kind, double out_amp,
                      double out_slope, int64_t loss_kind, double smoothing, double dropout, int64_t seed,
                      int64_t pass, int64_t step0) {
  const Dims d = check_args(xs, ys, idx, params, /*cuda=*/false);
  const int M1 = d.M1, M2 = d.M2, K = d.K, H3 = d.H3;
  const int64_t n_steps = ys.size(0);
  const int* ix = idx.data_ptr<int>();
  const int64_t* y = ys.data_ptr<int64_t>();
  for (int64_t i = 0; i < n_steps; ++i) TORCH_CHECK(y[i] >= 0 && y[i] < OUT, "label out of range");
  TORCH_CHECK(loss_kind == 0 || loss_kind == 1, "loss kind must be 0 (mse) or 1 (cross-entropy)");
  TORCH_CHECK(dropout >= 0 && dropout < 1, "dropout must be in [0, 1)");
  TORCH_CHECK(smoothing >= 0 && smoothing < 1, "label smoothing must be in [0, 1)");
  TORCH_CHECK(pass >= 0 && step0 >= 0, "pass and step0 must be >= 0");

  Net net{M1, M2, K, H3,
          params[0].data_ptr<float>(), params[1].data_ptr<float>(), params[2].data_ptr<float>(),
          params[3].data_ptr<float>(), params[4].data_ptr<float>(), params[5].data_ptr<float>(),
          params[6].data_ptr<float>(), params[7].data_ptr<float>(), ix};
  Adam a;
  Rates rates;
  if (adam_state.size() == 8 && adam.empty()) {  // optim=sdlm: the 8 step-size tensors
    for (int i = 0; i < 8; ++i) {
      const auto& e = adam_state[i];
      TORCH_CHECK(!e.is_cuda() && e.scalar_type() == torch::kFloat32 && e.is_contiguous() && e.sizes() == params[i].sizes(),
                  "SDLM step sizes must be float32 CPU tensors shaped like the parameters");
      rates.eta[i] = e.data_ptr<float>();
    }
    rates.on = true;
  } else if (!adam_state.empty()) {
    TORCH_CHECK(adam_state.size() == 16 && adam.size() == 5, "AdamW needs 16 state tensors and 5 numbers");
    for (int i = 0; i < 8; ++i) {
      for (const auto& s : {adam_state[i], adam_state[8 + i]}) {
        TORCH_CHECK(!s.is_cuda() && s.scalar_type() == torch::kFloat32 && s.is_contiguous() &&
                        s.sizes() == params[i].sizes(), "AdamW state must be float32 CPU tensors shaped like the parameters");
      }
      a.m[i] = adam_state[i].data_ptr<float>();
      a.v[i] = adam_state[8 + i].data_ptr<float>();
    }
    a.on = true;
    a.beta1 = (float)adam[0], a.beta2 = (float)adam[1], a.eps = (float)adam[2], a.weight_decay = (float)adam[3];
    a.t = adam[4];
  }
  const Options o{(float)lr, (float)pad, make_act(act_kind, act_amp, act_slope), make_act(out_kind, out_amp, out_slope),
                  (int)loss_kind, (float)smoothing, (float)dropout, (uint64_t)seed};
  Work work(net, a.on || rates.on);
  const float* x = xs.data_ptr<float>();
  double total = 0.0;
  {
    torch::NoGradGuard no_grad;
    // Raw pointers only from here: other Python threads (other runs) may run meanwhile.
    pybind11::gil_scoped_release release;
    for (int64_t i = 0; i < n_steps; ++i) {
      total += step(net, work, x + i * IN * IN, (int)y[i], o, a, rates, (uint64_t)pass, (uint64_t)(step0 + i));
      a.t += 1.0;
    }
  }
  return total;
}

// The paper's recipe only (squashing units, MSE, plain SGD): the original binding, kept for callers of it.
double train_steps(torch::Tensor xs, torch::Tensor ys, torch::Tensor idx, std::vector<torch::Tensor> params,
                   double lr, double pad, double act_amp, double act_slope, double out_amp, double out_slope) {
  return train_steps_ex(xs, ys, idx, params, {}, {}, lr, pad, SQUASH, act_amp, act_slope, SQUASH, out_amp, out_slope,
                        0, 0.0, 0.0, 0, 0, 0);
}

// optim=sdlm's curvature estimate: the diagonal Gauss-Newton terms (gauss_newton_one) summed over
// the examples xs (weights unchanged), as 8 tensors shaped like the parameters. MSE outputs only.
std::vector<torch::Tensor> gauss_newton_diag(torch::Tensor xs, torch::Tensor idx, std::vector<torch::Tensor> params,
                                             double pad, int64_t act_kind, double act_amp, double act_slope,
                                             int64_t out_kind, double out_amp, double out_slope) {
  auto ys = torch::zeros({xs.size(0)}, torch::kInt64);
  const Dims d = check_args(xs, ys, idx, params, /*cuda=*/false);
  Net net{d.M1, d.M2, d.K, d.H3,
          params[0].data_ptr<float>(), params[1].data_ptr<float>(), params[2].data_ptr<float>(),
          params[3].data_ptr<float>(), params[4].data_ptr<float>(), params[5].data_ptr<float>(),
          params[6].data_ptr<float>(), params[7].data_ptr<float>(), idx.data_ptr<int>()};
  const Options o{0.f, (float)pad, make_act(act_kind, act_amp, act_slope), make_act(out_kind, out_amp, out_slope),
                  0, 0.f, 0.f, 0};
  std::vector<torch::Tensor> out;
  float* h[8];
  for (int i = 0; i < 8; ++i) {
    out.push_back(torch::zeros_like(params[i]));
    h[i] = out.back().data_ptr<float>();
  }
  Work work(net, false);
  const float* x = xs.data_ptr<float>();
  {
    torch::NoGradGuard no_grad;
    pybind11::gil_scoped_release release;
    for (int64_t i = 0; i < xs.size(0); ++i) gauss_newton_one(net, work, x + i * IN * IN, o, h);
  }
  return out;
}

// The dropout keep-mask draws of one step (uniforms in [0, 1)), for tests against counter_rng.py.
torch::Tensor dropout_uniforms(int64_t seed, int64_t pass, int64_t step_index, int64_t n) {
  auto out = torch::empty({n}, torch::kFloat32);
  const uint64_t key = step_key((uint64_t)seed, STREAM_DROPOUT, (uint64_t)pass, (uint64_t)step_index);
  float* p = out.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) p[i] = uniform(key, (uint64_t)i);
  return out;
}

// ---- evaluation: the same forward for many examples at once ---------------
//
// Evaluation runs the forward only, on thousands of examples with fixed
// weights, so it vectorizes across examples: a block of BB examples is held as
// [unit][BB] rows and every multiply-add is one SIMD lane per example. No
// im2col buffer and no grouped convolution: each layer reads its inputs through
// a table of tap offsets. The unit of work is a tile of RM output maps (sharing
// their inputs) times RP output positions, so each loaded input row feeds RM
// multiply-adds and each broadcast weight RP of them: RM * RP * BB/16
// independent accumulators (16 with AVX-512) hide the FMA latency, which a
// single map's row (one accumulator) cannot. Timed per run in
// results/bench/lecun1989_speed.md ("Whole process": evaluation / training).
namespace {

// 16 examples: one AVX-512 register (GCC splits it in two on AVX2). aligned(4): rows are
// addressed at any float offset; the buffers below keep them 64-byte aligned anyway.
typedef float v16 __attribute__((vector_size(64), aligned(4)));
constexpr int BB = 32;          // examples per block
constexpr int V = BB / 16;      // v16 per row
constexpr int TILE = 8;         // RM * RQ * RP <= TILE: 16 accumulators of 16 lanes at V = 2

struct Squash {
  float amp, slope;  // amp * tanh(slope * a); amp = 0: no squashing (raw outputs)
  bool relu = false;  // max(a, 0) instead
};

// A tile: RM maps (weights w + m * wstride) at RQ x RP positions, RP along a row (inputs
// 2 * BB floats apart: stride 2) and RQ rows (rstride floats apart). Compile-time displacements
// along the row keep the loads' addresses to one register per row.
// out[(m * RQ + q) * RP + p][:] = squash(bias[same] + sum_k w[m * wstride + k] * in[q * rstride + p * 2BB + off[k]][:]).
template <int RM, int RQ, int RP>
inline void tile(const float* __restrict in, const int* __restrict off, int K, const float* __restrict w, int wstride,
                 int rstride, const float* bias, float* const* out, Squash sq) {
  constexpr int T = RM * RQ * RP;
  v16 acc[T][V];
#pragma GCC unroll 16
  for (int u = 0; u < T; ++u)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[u][v] = v16{} + bias[u];
  for (int k = 0; k < K; ++k) {
    v16 x[RQ][RP][V];
#pragma GCC unroll 4
    for (int q = 0; q < RQ; ++q) {
      const float* __restrict row = in + q * rstride + off[k];
#pragma GCC unroll 16
      for (int p = 0; p < RP; ++p)
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) x[q][p][v] = *reinterpret_cast<const v16*>(row + p * 2 * BB + 16 * v);
    }
#pragma GCC unroll 16
    for (int m = 0; m < RM; ++m) {
      const float wk = w[m * wstride + k];
#pragma GCC unroll 4
      for (int q = 0; q < RQ; ++q)
#pragma GCC unroll 16
        for (int p = 0; p < RP; ++p)
#pragma GCC unroll 4
          for (int v = 0; v < V; ++v) acc[(m * RQ + q) * RP + p][v] += wk * x[q][p][v];
    }
  }
#pragma GCC unroll 16
  for (int u = 0; u < T; ++u) {
    float* __restrict o = out[u];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) *reinterpret_cast<v16*>(o + 16 * v) = acc[u][v];
    if (sq.relu) {
#pragma omp simd
      for (int b = 0; b < BB; ++b) o[b] = o[b] > 0.f ? o[b] : 0.f;
    } else if (sq.amp != 0.f) {
#pragma omp simd
      for (int b = 0; b < BB; ++b) o[b] = sq.amp * vtanh(sq.slope * o[b]);
    }
  }
}

// The tile shapes the layers use (see Layer::shape).
void tile_any(int rm, int rq, int rp, const float* in, const int* off, int K, const float* w, int wstride, int rstride,
              const float* bias, float* const* out, Squash sq) {
  switch ((rm * 16 + rq) * 16 + rp) {
#define NET1989_TILE(a, q, b) \
  case (a * 16 + q) * 16 + b: tile<a, q, b>(in, off, K, w, wstride, rstride, bias, out, sq); return;
    NET1989_TILE(1, 2, 4) NET1989_TILE(2, 1, 4) NET1989_TILE(3, 1, 2) NET1989_TILE(4, 1, 2) NET1989_TILE(1, 1, 1)
    NET1989_TILE(2, 1, 1) NET1989_TILE(3, 1, 1) NET1989_TILE(4, 1, 1) NET1989_TILE(5, 1, 1) NET1989_TILE(6, 1, 1)
    NET1989_TILE(7, 1, 1) NET1989_TILE(8, 1, 1)
#undef NET1989_TILE
    default: TORCH_CHECK(false, "no evaluation tile ", rm, "x", rq, "x", rp);
  }
}

// A layer of `maps` output maps on a side x side grid (side 1: fully connected), stride 2 over
// inputs `pitch` floats per row: position (i, j) reads from (2i * pitch + 2j) * BB.
struct Layer {
  const float* in;
  const int* taps;       // map m's K tap offsets at taps + m * tap_stride
  int tap_stride, K;
  int side, pitch;
  const float* w;        // w[m * K + k]
  const float* b;        // b[m * side^2 + t]
  float* out;            // unit (m, t) at out + out_off[m * side^2 + t]
  const int* out_off;
  Squash sq;
};

// Tiles: chunks of rm maps sharing their inputs, times rq x rp positions (RM * RQ * RP <= TILE:
// 16 accumulators at V = 2); the fully connected layers take rm units at a single "position".
void run_layer(const Layer& L, const std::vector<int>& chunk_start) {
  float bias[TILE];
  float* dst[TILE];
  const int n = L.side * L.side;
  for (size_t c = 0; c + 1 < chunk_start.size(); ++c) {
    const int m0 = chunk_start[c], rm = chunk_start[c + 1] - m0;
    const int rp = L.side == 1 ? 1 : rm == 1 || rm == 2 ? 4 : 2, rq = L.side == 1 ? 1 : rm == 1 ? 2 : 1;
    for (int i0 = 0; i0 < L.side; i0 += rq)
      for (int j0 = 0; j0 < L.side; j0 += rp) {
        for (int m = 0; m < rm; ++m)
          for (int q = 0; q < rq; ++q)
            for (int p = 0; p < rp; ++p) {
              const int u = (m0 + m) * n + (i0 + q) * L.side + j0 + p, slot = (m * rq + q) * rp + p;
              bias[slot] = L.b[u];
              dst[slot] = L.out + L.out_off[u];
            }
        tile_any(rm, rq, rp, L.in + (2 * i0 * L.pitch + 2 * j0) * BB, L.taps + (size_t)m0 * L.tap_stride, L.K,
                 L.w + (size_t)m0 * L.K, L.K, 2 * L.pitch * BB, bias, dst, L.sq);
      }
  }
}

// Chunks of up to `most` consecutive maps whose tap rows are equal (one map per chunk for n > 1
// when maps differ: H2's three_groups has 4 maps per group reading the same H1 maps).
std::vector<int> chunks(int maps, int most, const std::function<bool(int, int)>& same) {
  std::vector<int> start;
  for (int m = 0; m < maps;) {
    start.push_back(m);
    int e = m + 1;
    while (e < maps && e - m < most && same(e, m)) ++e;
    m = e;
  }
  start.push_back(maps);
  return start;
}

// Aligned scratch for the block's rows.
struct Buffer {
  std::unique_ptr<float, decltype(&std::free)> p{nullptr, &std::free};
  Buffer(size_t n, float fill) {
    p.reset(static_cast<float*>(std::aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64)));
    TORCH_CHECK(p, "out of memory for the evaluation buffers");
    std::fill(p.get(), p.get() + n, fill);
  }
  float* get() const { return p.get(); }
};

}  // namespace

// The network's outputs [N, 10] for the examples xs [N, 1, 16, 16] (no gradients,
// weights unchanged): the forward of `step`, many examples at a time.
// Activation kinds as in train_steps_ex: 0 squash (amp * tanh(slope * a)), 1 relu, 2 identity.
torch::Tensor forward_ex(torch::Tensor xs, torch::Tensor idx, std::vector<torch::Tensor> params, double pad,
                         int64_t act_kind, double act_amp, double act_slope, int64_t out_kind, double out_amp,
                         double out_slope, int64_t threads) {
  TORCH_CHECK(threads >= 1, "threads must be >= 1");
  auto ys = torch::zeros({xs.size(0)}, torch::kInt64);
  const Dims d = check_args(xs, ys, idx, params, /*cuda=*/false);
  const int M1 = d.M1, M2 = d.M2, K = d.K, H3 = d.H3, F3 = M2 * N2;
  const int64_t n = xs.size(0);
  const int* ix = idx.data_ptr<int>();
  const float *w1 = params[0].data_ptr<float>(), *b1 = params[1].data_ptr<float>();
  const float *w2 = params[2].data_ptr<float>(), *b2 = params[3].data_ptr<float>();
  const float *w3 = params[4].data_ptr<float>(), *b3 = params[5].data_ptr<float>();
  const float *w4 = params[6].data_ptr<float>(), *b4 = params[7].data_ptr<float>();
  auto squash = [](int64_t kind, double amp, double slope) {
    TORCH_CHECK(kind >= 0 && kind <= 2, "activation kind must be 0 (squash), 1 (relu) or 2 (identity)");
    return kind == 0 ? Squash{(float)amp, (float)slope, false} : Squash{0.f, 0.f, kind == 1};
  };
  const Squash act = squash(act_kind, act_amp, act_slope), out_act = squash(out_kind, out_amp, out_slope);
  auto result = torch::empty({n, OUT}, torch::kFloat32);
  float* res = result.data_ptr<float>();
  const float* x = xs.data_ptr<float>();

  // Tap and position offsets (in floats). H1: tap (u, v) of position (i, j) reads padded
  // input pixel (2i + u, 2j + v); H2 map m: tap (k, u, v) of position (i, j) reads its k-th
  // H1 map's padded pixel (2i + u, 2j + v); H3 and the outputs: tap k reads unit k.
  std::vector<int> taps1(KK), taps2((size_t)M2 * K * KK), taps3(std::max(F3, H3));
  std::vector<int> out1((size_t)M1 * N1), out2((size_t)F3), out3(H3), out4(OUT);
  for (int u = 0; u < KS; ++u)
    for (int v = 0; v < KS; ++v) taps1[u * KS + v] = (u * PADDED + v) * BB;
  for (int m = 0; m < M1; ++m)
    for (int t = 0; t < N1; ++t) out1[m * N1 + t] = (m * N1P + (t / S1 + 2) * S1P + t % S1 + 2) * BB;
  for (int m = 0; m < M2; ++m)
    for (int k = 0; k < K; ++k)
      for (int u = 0; u < KS; ++u)
        for (int v = 0; v < KS; ++v) taps2[((size_t)m * K + k) * KK + u * KS + v] = (ix[m * K + k] * N1P + u * S1P + v) * BB;
  for (int u = 0; u < F3; ++u) out2[u] = u * BB;
  for (int k = 0; k < (int)taps3.size(); ++k) taps3[k] = k * BB;
  for (int o = 0; o < H3; ++o) out3[o] = o * BB;
  for (int o = 0; o < OUT; ++o) out4[o] = o * BB;

  // H1's maps all read the input (chunks of 4); H2's chunks are maps with the same inputs;
  // the fully connected layers take up to TILE units per tile.
  const auto c1 = chunks(M1, 4, [](int, int) { return true; });
  const auto c2 = chunks(M2, 4, [&](int a, int b) { return std::equal(ix + a * K, ix + (a + 1) * K, ix + b * K); });
  const auto c3 = chunks(H3, TILE, [](int, int) { return true; });
  const auto c4 = chunks(OUT, TILE, [](int, int) { return true; });
  // Blocks [first, last) of BB examples, with this worker's own buffers ([unit][BB]; the padding
  // rings are written once and never touched again).
  auto blocks = [&](int64_t first, int64_t last) {
    Buffer xp(PADDED * PADDED * BB, (float)pad), h1p((size_t)M1 * N1P * BB, (float)pad);
    Buffer h2(F3 * BB, 0.f), h3(H3 * BB, 0.f), out(OUT * BB, 0.f);
    const Layer L1{xp.get(), taps1.data(), 0, KK, S1, PADDED, w1, b1, h1p.get(), out1.data(), act};
    const Layer L2{h1p.get(), taps2.data(), K * KK, K * KK, S2, S1P, w2, b2, h2.get(), out2.data(), act};
    const Layer L3{h2.get(), taps3.data(), 0, F3, 1, 0, w3, b3, h3.get(), out3.data(), act};
    const Layer L4{h3.get(), taps3.data(), 0, H3, 1, 0, w4, b4, out.get(), out4.data(), out_act};
    for (int64_t start = first * BB; start < std::min(n, last * BB); start += BB) {
      const int nb = (int)std::min<int64_t>(BB, n - start);
      float* xb = xp.get();
      for (int p = 0; p < IN * IN; ++p) {  // transpose the block into the padded [pixel][BB] input
        float* row = &xb[((p / IN + 2) * PADDED + p % IN + 2) * BB];
        for (int b = 0; b < nb; ++b) row[b] = x[(start + b) * IN * IN + p];
        for (int b = nb; b < BB; ++b) row[b] = (float)pad;
      }
      run_layer(L1, c1);
      run_layer(L2, c2);
      run_layer(L3, c3);
      run_layer(L4, c4);
      const float* o = out.get();
      for (int b = 0; b < nb; ++b)
        for (int u = 0; u < OUT; ++u) res[(start + b) * OUT + u] = o[u * BB + b];
    }
  };

  torch::NoGradGuard no_grad;
  pybind11::gil_scoped_release release;  // raw pointers only below: other runs' threads may step meanwhile
  // `threads` workers on contiguous ranges of blocks: each example's outputs are computed by
  // the same code whichever worker takes it, so the result does not depend on `threads`.
  const int64_t n_blocks = (n + BB - 1) / BB;
  const int64_t workers = std::max<int64_t>(1, std::min<int64_t>(threads, n_blocks));
  std::vector<std::exception_ptr> errors(workers);  // a worker's error is raised here, not std::terminate
  auto work = [&](int64_t t) {
    try {
      blocks(n_blocks * t / workers, n_blocks * (t + 1) / workers);
    } catch (...) {
      errors[t] = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < workers; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return result;
}

// The squashing units' forward (amp = 0 for the outputs: raw logits), the original binding.
torch::Tensor forward(torch::Tensor xs, torch::Tensor idx, std::vector<torch::Tensor> params, double pad,
                      double act_amp, double act_slope, double out_amp, double out_slope) {
  return forward_ex(xs, idx, params, pad, 0, act_amp, act_slope, out_amp == 0 ? 2 : 0, out_amp, out_slope, 1);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("train_steps", &train_steps, "fused per-example SGD steps of the 1989 network, the paper's recipe (CPU)");
  m.def("train_steps_ex", &train_steps_ex,
        "fused per-example steps with the per-example modern tricks: relu, cross-entropy, dropout, AdamW (CPU)");
  m.def("gauss_newton_diag", &gauss_newton_diag,
        "optim=sdlm: the diagonal Gauss-Newton curvature summed over examples, per parameter (CPU)");
  m.def("dropout_uniforms", &dropout_uniforms, "the counter-based uniforms behind one step's dropout mask");
  m.def("forward", &forward, "the 1989 network's outputs for many examples, vectorized across them (CPU)");
  m.def("forward_ex", &forward_ex, "forward with any of the fused activations (squash, relu, identity)");
}
