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
#include <cstring>
#include <vector>

#include "net1989_args.h"

namespace {

using namespace net1989;

// tanh without a library call, so the block loops vectorize: Cephes' tanhf
// (odd polynomial for |x| < 0.625, 1 - 2/(exp(2|x|)+1) beyond, exp by range
// reduction and a degree-6 polynomial). Within ~2e-7 of torch.tanh (tested).
inline float vtanh(float x) {
  const float ax = std::fmin(std::fabs(x), 9.f);  // tanh(9) rounds to 1 in float
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
  return ax < 0.625f ? small : std::copysign(big, x);
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

// ---- counter-based randomness a run owns --------------------------------
// splitmix64's finaliser as a hash: every draw is a pure function of (seed,
// stream, pass, step, index), so a run's draws do not depend on chunking, on
// resuming or on any global generator. lecun1989/fused/counter_rng.py is the
// same function in numpy (the eager replay and the shifts use it).
constexpr uint64_t STREAM_DROPOUT = 0x64726f706f7574ULL;  // "dropout"

inline uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

inline uint64_t step_key(uint64_t seed, uint64_t stream, uint64_t pass, uint64_t step) {
  return mix64(mix64(mix64(seed ^ stream) + pass) + step);
}

// A float in [0, 1) on a 2^-24 grid (exact in float32).
inline float uniform(uint64_t key, uint64_t index) { return (float)(mix64(key + index) >> 40) * 0x1p-24f; }

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

struct Work {
  // activations
  std::vector<float> p1;   // [25][64] input patches (im2col)
  std::vector<float> h1;   // [M1][64]
  std::vector<float> q;    // [M1][25][16] H1 patches for H2 (im2col)
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
      : p1(KK * N1), h1(n.M1 * N1), q(n.M1 * KK * N2), h2(n.M2 * N2), h2d(n.M2 * N2), mask(n.M2 * N2, 1.f),
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

// p <- p * (1 - lr * wd); m <- lerp(m, g, 1 - beta1); v <- beta2 v + (1 - beta2) g^2;
// p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)  (torch.optim.AdamW)
inline void adamw_update(float* __restrict p, float* __restrict m, float* __restrict v, const float* __restrict g,
                         size_t n, const Adam& a, float lr) {
  const double t = a.t + 1.0;
  const float decay = 1.f - lr * a.weight_decay;
  const float step_size = (float)(lr / (1.0 - std::pow((double)a.beta1, t)));
  const float bc2_sqrt = (float)std::sqrt(1.0 - std::pow((double)a.beta2, t));
  const float b1 = a.beta1, b2 = a.beta2, eps = a.eps;
#pragma omp simd
  for (size_t i = 0; i < n; ++i) {
    const float gi = g[i];
    const float pi = p[i] * decay;
    const float mi = m[i] + (1.f - b1) * (gi - m[i]);
    const float vi = v[i] * b2 + (1.f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - step_size * (mi / (std::sqrt(vi) / bc2_sqrt + eps));
  }
}

// One example: forward, backward, update (SGD, or AdamW when adam.on). Returns the example's loss.
float step(const Net& n, Work& w, const float* x, int label, const Options& o, const Adam& adam, uint64_t pass,
           uint64_t step_index) {
  const Act& act = o.act;
  const Act& out_act = o.out_act;
  const float pad = o.pad, lr = o.lr;
  // ---- forward -------------------------------------------------------
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
            row[i * S2 + j] = (y < 0 || y >= S1 || xx < 0 || xx >= S1) ? pad : h[y * S1 + xx];
          }
        }
      }
  }
  for (int m = 0; m < n.M2; ++m) {
    float acc[N2];
    const float* bias = n.b2 + m * N2;
    for (int t = 0; t < N2; ++t) acc[t] = bias[t];
    for (int k = 0; k < n.K; ++k) {
      const float* wk = n.w2 + (m * n.K + k) * KK;
      const float* qc = &w.q[n.idx[m * n.K + k] * KK * N2];
      for (int uv = 0; uv < KK; ++uv) {
        const float wv = wk[uv];
        const float* row = qc + uv * N2;
#pragma omp simd
        for (int t = 0; t < N2; ++t) acc[t] += wv * row[t];
      }
    }
    act.apply(acc, &w.h2[m * N2], N2);
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
  float loss = 0.f;
  for (int k = 0; k < OUT; ++k) w.out[k] = n.b4[k] + dot(n.w4 + k * n.H3, w.h3.data(), n.H3);
  out_act.apply(w.out, w.out, OUT);
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
    const float* h = &w.h1[c * N1];
    for (int t = 0; t < N1; ++t) d1[t] *= act.df(h[t]);
  }

  if (adam.on) {
    // ---- AdamW: the gradients first, then one update per tensor --------
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
        float* gk = &w.grad[2][(m * n.K + k) * KK];
        const float* qc = &w.q[n.idx[m * n.K + k] * KK * N2];
        for (int uv = 0; uv < KK; ++uv) gk[uv] = dot(d2, qc + uv * N2, N2);
      }
      for (int t = 0; t < N2; ++t) w.grad[3][m * N2 + t] = d2[t];
    }
    for (int m = 0; m < n.M1; ++m) {
      const float* d1 = &w.d1[m * N1];
      for (int k = 0; k < KK; ++k) w.grad[0][m * KK + k] = dot(d1, &w.p1[k * N1], N1);
      for (int t = 0; t < N1; ++t) w.grad[1][m * N1 + t] = d1[t];
    }
    float* params[8] = {n.w1, n.b1, n.w2, n.b2, n.w3, n.b3, n.w4, n.b4};
    for (int i = 0; i < 8; ++i) adamw_update(params[i], adam.m[i], adam.v[i], w.grad[i].data(), w.grad[i].size(), adam, lr);
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
      float* wk = n.w2 + (m * n.K + k) * KK;
      const float* qc = &w.q[n.idx[m * n.K + k] * KK * N2];
      for (int uv = 0; uv < KK; ++uv) wk[uv] -= lr * dot(d2, qc + uv * N2, N2);
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
// with `adam` = (beta1, beta2, eps, weight_decay, steps taken before). Returns
// the sum of the per-step losses.
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
  if (!adam_state.empty()) {
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
  Work work(net, a.on);
  const float* x = xs.data_ptr<float>();
  double total = 0.0;
  {
    torch::NoGradGuard no_grad;
    // Raw pointers only from here: other Python threads (other runs) may run meanwhile.
    pybind11::gil_scoped_release release;
    for (int64_t i = 0; i < n_steps; ++i) {
      total += step(net, work, x + i * IN * IN, (int)y[i], o, a, (uint64_t)pass, (uint64_t)(step0 + i));
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
// [unit][BB] rows and every multiply-add is one SIMD lane per example, with R
// output maps (or units) per pass over an input row. No im2col buffer and no
// grouped convolution: H2 reads the H1 maps through an offset table.
namespace {

constexpr int BB = 16;  // examples per block (one AVX-512 or two AVX2 registers per row)
constexpr int R = 4;    // output rows computed per pass over the inputs

struct Squash {
  float amp, slope;  // amp * tanh(slope * a); amp = 0: no squashing (raw outputs)
  bool relu = false;  // max(a, 0) instead
};

// out[r][:] = squash(bias[r] + sum_k w[r * wstride + k] * in[off[k]][:]) for r < rows (<= R).
template <int Rows>
inline void rows_block(const float* __restrict in, const int* __restrict off, int K, const float* __restrict w,
                       int wstride, const float* bias, float* const* out, Squash sq) {
  alignas(64) float acc[Rows][BB];
  for (int r = 0; r < Rows; ++r)
#pragma omp simd
    for (int b = 0; b < BB; ++b) acc[r][b] = bias[r];
#pragma GCC unroll 4
  for (int k = 0; k < K; ++k) {
    const float* __restrict row = in + off[k];
    for (int r = 0; r < Rows; ++r) {
      const float wk = w[r * wstride + k];
#pragma omp simd
      for (int b = 0; b < BB; ++b) acc[r][b] += wk * row[b];
    }
  }
  for (int r = 0; r < Rows; ++r) {
    float* __restrict o = out[r];
    if (sq.relu) {
#pragma omp simd
      for (int b = 0; b < BB; ++b) o[b] = acc[r][b] > 0.f ? acc[r][b] : 0.f;
    } else if (sq.amp == 0.f) {
#pragma omp simd
      for (int b = 0; b < BB; ++b) o[b] = acc[r][b];
    } else {
#pragma omp simd
      for (int b = 0; b < BB; ++b) o[b] = sq.amp * vtanh(sq.slope * acc[r][b]);
    }
  }
}

inline void rows_any(int rows, const float* in, const int* off, int K, const float* w, int wstride,
                     const float* bias, float* const* out, Squash sq) {
  switch (rows) {
    case 4: rows_block<4>(in, off, K, w, wstride, bias, out, sq); break;
    case 3: rows_block<3>(in, off, K, w, wstride, bias, out, sq); break;
    case 2: rows_block<2>(in, off, K, w, wstride, bias, out, sq); break;
    default: rows_block<1>(in, off, K, w, wstride, bias, out, sq); break;
  }
}

}  // namespace

// The network's outputs [N, 10] for the examples xs [N, 1, 16, 16] (no gradients,
// weights unchanged): the forward of `step`, many examples at a time.
// Activation kinds as in train_steps_ex: 0 squash (amp * tanh(slope * a)), 1 relu, 2 identity.
torch::Tensor forward_ex(torch::Tensor xs, torch::Tensor idx, std::vector<torch::Tensor> params, double pad,
                         int64_t act_kind, double act_amp, double act_slope, int64_t out_kind, double out_amp,
                         double out_slope) {
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

  // Block buffers, [unit][BB]; the padding rings are written once and never touched again.
  std::vector<float> xp(PADDED * PADDED * BB, (float)pad), h1p((size_t)M1 * N1P * BB, (float)pad);
  std::vector<float> h2(F3 * BB), h3(H3 * BB), out(OUT * BB);
  // Offset tables (in floats): H1 position t reads the input pixels off1[t][uv];
  // H2 map m at position t reads its K H1 maps' pixels off2[m][t][k*25+uv].
  std::vector<int> off1(N1 * KK), off2((size_t)M2 * N2 * K * KK), off3(std::max(F3, H3));
  for (int i = 0; i < S1; ++i)
    for (int j = 0; j < S1; ++j)
      for (int u = 0; u < KS; ++u)
        for (int v = 0; v < KS; ++v) off1[(i * S1 + j) * KK + u * KS + v] = ((2 * i + u) * PADDED + 2 * j + v) * BB;
  for (int m = 0; m < M2; ++m)
    for (int i = 0; i < S2; ++i)
      for (int j = 0; j < S2; ++j)
        for (int k = 0; k < K; ++k)
          for (int u = 0; u < KS; ++u)
            for (int v = 0; v < KS; ++v)
              off2[((size_t)(m * N2 + i * S2 + j) * K + k) * KK + u * KS + v] =
                  (ix[m * K + k] * N1P + (2 * i + u) * S1P + 2 * j + v) * BB;
  for (int k = 0; k < (int)off3.size(); ++k) off3[k] = k * BB;
  // H2 maps run in chunks of up to R consecutive maps with the same inputs (three_groups: 4 maps per group).
  std::vector<int> chunk_start;
  for (int m = 0; m < M2;) {
    chunk_start.push_back(m);
    int e = m + 1;
    while (e < M2 && e - m < R && std::equal(ix + e * K, ix + (e + 1) * K, ix + m * K)) ++e;
    m = e;
  }
  chunk_start.push_back(M2);

  torch::NoGradGuard no_grad;
  pybind11::gil_scoped_release release;  // raw pointers only below: other runs' threads may step meanwhile
  float bias[R];
  float* dst[R];
  for (int64_t start = 0; start < n; start += BB) {
    const int nb = (int)std::min<int64_t>(BB, n - start);
    for (int p = 0; p < IN * IN; ++p) {  // transpose the block into the padded [pixel][BB] input
      float* row = &xp[((p / IN + 2) * PADDED + p % IN + 2) * BB];
      for (int b = 0; b < nb; ++b) row[b] = x[(start + b) * IN * IN + p];
      for (int b = nb; b < BB; ++b) row[b] = (float)pad;
    }
    // H1: R maps at a time, every position
    for (int m0 = 0; m0 < M1; m0 += R) {
      const int rows = std::min(R, M1 - m0);
      for (int t = 0; t < N1; ++t) {
        for (int r = 0; r < rows; ++r) {
          bias[r] = b1[(m0 + r) * N1 + t];
          dst[r] = &h1p[((size_t)(m0 + r) * N1P + (t / S1 + 2) * S1P + t % S1 + 2) * BB];
        }
        rows_any(rows, xp.data(), &off1[t * KK], KK, w1 + m0 * KK, KK, bias, dst, act);
      }
    }
    // H2: each chunk of maps sharing their inputs, every position
    for (size_t c = 0; c + 1 < chunk_start.size(); ++c) {
      const int m0 = chunk_start[c], rows = chunk_start[c + 1] - m0;
      for (int t = 0; t < N2; ++t) {
        for (int r = 0; r < rows; ++r) {
          bias[r] = b2[(m0 + r) * N2 + t];
          dst[r] = &h2[((m0 + r) * N2 + t) * BB];
        }
        rows_any(rows, h1p.data(), &off2[(size_t)(m0 * N2 + t) * K * KK], K * KK, w2 + (size_t)m0 * K * KK, K * KK,
                 bias, dst, act);
      }
    }
    // H3 and the outputs: fully connected, R units at a time
    for (int o0 = 0; o0 < H3; o0 += R) {
      const int rows = std::min(R, H3 - o0);
      for (int r = 0; r < rows; ++r) {
        bias[r] = b3[o0 + r];
        dst[r] = &h3[(o0 + r) * BB];
      }
      rows_any(rows, h2.data(), off3.data(), F3, w3 + (size_t)o0 * F3, F3, bias, dst, act);
    }
    for (int o0 = 0; o0 < OUT; o0 += R) {
      const int rows = std::min(R, OUT - o0);
      for (int r = 0; r < rows; ++r) {
        bias[r] = b4[o0 + r];
        dst[r] = &out[(o0 + r) * BB];
      }
      rows_any(rows, h3.data(), off3.data(), H3, w4 + o0 * H3, H3, bias, dst, out_act);
    }
    for (int b = 0; b < nb; ++b)
      for (int o = 0; o < OUT; ++o) res[(start + b) * OUT + o] = out[o * BB + b];
  }
  return result;
}

// The squashing units' forward (amp = 0 for the outputs: raw logits), the original binding.
torch::Tensor forward(torch::Tensor xs, torch::Tensor idx, std::vector<torch::Tensor> params, double pad,
                      double act_amp, double act_slope, double out_amp, double out_slope) {
  return forward_ex(xs, idx, params, pad, 0, act_amp, act_slope, out_amp == 0 ? 2 : 0, out_amp, out_slope);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("train_steps", &train_steps, "fused per-example SGD steps of the 1989 network, the paper's recipe (CPU)");
  m.def("train_steps_ex", &train_steps_ex,
        "fused per-example steps with the per-example modern tricks: relu, cross-entropy, dropout, AdamW (CPU)");
  m.def("dropout_uniforms", &dropout_uniforms, "the counter-based uniforms behind one step's dropout mask");
  m.def("forward", &forward, "the 1989 network's outputs for many examples, vectorized across them (CPU)");
  m.def("forward_ex", &forward_ex, "forward with any of the fused activations (squash, relu, identity)");
}
