// Fused per-example SGD for the 1989 network on the CPU.
//
// One call runs many consecutive training steps (forward, backward, SGD update
// per example) in plain C++: no per-op Python, dispatcher or allocator work,
// which is what the eager PyTorch loop spends nearly all its time on at batch
// size 1. The arithmetic is the eager model's (lecun1989/model.py) in float32;
// only the summation order differs.
//
// Layout (the model's own parameter tensors, updated in place):
//   w1 [M1,1,5,5]  b1 [M1,8,8]   H1: 5x5 stride 2 on the 16x16 input padded to 20x20
//   w2 [M2,K,5,5]  b2 [M2,4,4]   H2: map m reads H1 maps idx[m, 0..K), padded to 12x12
//   w3 [H3,M2*16]  b3 [H3]       H3: fully connected
//   w4 [10,H3]     b4 [10]       outputs, MSE to +-1 targets (mean over the 10)
#include <cmath>
#include <vector>

#include "net1989_args.h"

namespace {

using namespace net1989;

struct Act {
  // f(a) = amp * tanh(slope * a); f'(a) = slope * (amp - f^2 / amp)
  float amp, slope;
  inline float f(float a) const { return amp * std::tanh(slope * a); }
  inline float df(float y) const { return slope * (amp - y * y / amp); }
};

struct Net {
  int M1, M2, K, H3;
  float *w1, *b1, *w2, *b2, *w3, *b3, *w4, *b4;
  const int *idx;
};

struct Work {
  // activations
  std::vector<float> p1;   // [25][64] input patches (im2col)
  std::vector<float> h1;   // [M1][64]
  std::vector<float> q;    // [M1][25][16] H1 patches for H2 (im2col)
  std::vector<float> h2;   // [M2*16]
  std::vector<float> h3;   // [H3]
  float out[OUT];
  // deltas (gradients w.r.t. pre-activations)
  std::vector<float> d1, dq, d2, d3;
  float dout[OUT];
  Work(const Net& n)
      : p1(KK * N1), h1(n.M1 * N1), q(n.M1 * KK * N2), h2(n.M2 * N2), h3(n.H3),
        d1(n.M1 * N1), dq(n.M1 * KK * N2), d2(n.M2 * N2), d3(n.H3) {}
};

inline float dot(const float* __restrict a, const float* __restrict b, int n) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// One example: forward, backward, SGD update. Returns the example's loss.
float step(const Net& n, Work& w, const float* x, int label, float lr, float pad, const Act& act,
           const Act& out_act) {
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
    float* h = &w.h1[m * N1];
    for (int t = 0; t < N1; ++t) h[t] = act.f(acc[t]);
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
    for (int t = 0; t < N2; ++t) w.h2[m * N2 + t] = act.f(acc[t]);
  }
  const int F3 = n.M2 * N2;
  for (int o = 0; o < n.H3; ++o) w.h3[o] = act.f(n.b3[o] + dot(n.w3 + o * F3, w.h2.data(), F3));
  float loss = 0.f;
  for (int o = 0; o < OUT; ++o) {
    w.out[o] = out_act.f(n.b4[o] + dot(n.w4 + o * n.H3, w.h3.data(), n.H3));
    const float diff = w.out[o] - (o == label ? 1.f : -1.f);
    loss += diff * diff;
    // d(mean over 10 of diff^2)/d out = 2 diff / 10, then through the output squashing
    w.dout[o] = (2.f / OUT) * diff * out_act.df(w.out[o]);
  }
  loss /= OUT;

  // ---- backward (all deltas from the old weights) ----------------------
  for (int o = 0; o < n.H3; ++o) {
    float s = 0.f;
    for (int k = 0; k < OUT; ++k) s += n.w4[k * n.H3 + o] * w.dout[k];
    w.d3[o] = s * act.df(w.h3[o]);
  }
  std::fill(w.d2.begin(), w.d2.end(), 0.f);
  for (int o = 0; o < n.H3; ++o) {
    const float d = w.d3[o];
    const float* row = n.w3 + o * F3;
    float* d2 = w.d2.data();
#pragma omp simd
    for (int t = 0; t < F3; ++t) d2[t] += row[t] * d;
  }
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

  // ---- SGD update: w -= lr * grad --------------------------------------
  for (int k = 0; k < OUT; ++k) {
    const float g = lr * w.dout[k];
    float* row = n.w4 + k * n.H3;
#pragma omp simd
    for (int o = 0; o < n.H3; ++o) row[o] -= g * w.h3[o];
    n.b4[k] -= g;
  }
  for (int o = 0; o < n.H3; ++o) {
    const float g = lr * w.d3[o];
    float* row = n.w3 + o * F3;
    const float* h2 = w.h2.data();
#pragma omp simd
    for (int t = 0; t < F3; ++t) row[t] -= g * h2[t];
    n.b3[o] -= g;
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

}  // namespace

// Runs len(ys) consecutive SGD steps on the examples xs[i], ys[i] in order,
// updating the parameters in place. Returns the sum of the per-step losses.
double train_steps(torch::Tensor xs, torch::Tensor ys, torch::Tensor idx, std::vector<torch::Tensor> params,
                   double lr, double pad, double act_amp, double act_slope, double out_amp, double out_slope) {
  const Dims d = check_args(xs, ys, idx, params, /*cuda=*/false);
  const int M1 = d.M1, M2 = d.M2, K = d.K, H3 = d.H3;
  const int64_t n_steps = ys.size(0);
  const int* ix = idx.data_ptr<int>();
  const int64_t* y = ys.data_ptr<int64_t>();
  for (int64_t i = 0; i < n_steps; ++i) TORCH_CHECK(y[i] >= 0 && y[i] < OUT, "label out of range");

  Net net{M1, M2, K, H3,
          params[0].data_ptr<float>(), params[1].data_ptr<float>(), params[2].data_ptr<float>(),
          params[3].data_ptr<float>(), params[4].data_ptr<float>(), params[5].data_ptr<float>(),
          params[6].data_ptr<float>(), params[7].data_ptr<float>(), ix};
  Work work(net);
  const Act act{(float)act_amp, (float)act_slope}, out_act{(float)out_amp, (float)out_slope};
  const float* x = xs.data_ptr<float>();
  double total = 0.0;
  {
    torch::NoGradGuard no_grad;
    for (int64_t i = 0; i < n_steps; ++i)
      total += step(net, work, x + i * IN * IN, (int)y[i], (float)lr, (float)pad, act, out_act);
  }
  return total;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("train_steps", &train_steps, "fused per-example SGD steps of the 1989 network (CPU)");
}
