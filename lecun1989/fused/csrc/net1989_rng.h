// Pure arithmetic both fused kernels need, one definition for the C++ and the
// CUDA compiler: the counter-based draws of a run (dropout masks) and AdamW's
// per-element update. NET1989_HD marks them __host__ __device__ under nvcc and
// is empty for the C++ compiler, so net1989_cpu.cpp and net1989_cuda.cu draw
// the same masks for one (seed, pass, step) by construction.
#pragma once

#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define NET1989_HD __host__ __device__
#else
#define NET1989_HD
#endif

namespace net1989 {

// ---- counter-based randomness a run owns --------------------------------
// splitmix64's finaliser as a hash: every draw is a pure function of (seed,
// stream, pass, step, index), so a run's draws do not depend on chunking, on
// resuming, on the device or on any global generator. lecun1989/fused/counter_rng.py
// is the same function in numpy (the eager replay and the shifts use it).
constexpr uint64_t STREAM_DROPOUT = 0x64726f706f7574ULL;  // "dropout"

NET1989_HD inline uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

NET1989_HD inline uint64_t step_key(uint64_t seed, uint64_t stream, uint64_t pass, uint64_t step) {
  return mix64(mix64(mix64(seed ^ stream) + pass) + step);
}

// A float in [0, 1) on a 2^-24 grid (exact in float32: the conversion never rounds).
NET1989_HD inline float uniform(uint64_t key, uint64_t index) {
  return (float)(mix64(key + index) >> 40) * 0x1p-24f;
}

// ---- AdamW (torch.optim.AdamW, decoupled weight decay) -------------------
// The per-step factors, in double as torch computes them, for step t (1-based):
// step_size = lr / (1 - beta1^t), bc2_sqrt = sqrt(1 - beta2^t).
inline float adamw_step_size(float lr, float beta1, double t) { return (float)(lr / (1.0 - std::pow((double)beta1, t))); }
inline float adamw_bc2_sqrt(float beta2, double t) { return (float)std::sqrt(1.0 - std::pow((double)beta2, t)); }

// One element: p <- p * decay (decay = 1 - lr * wd); m <- lerp(m, g, 1 - beta1);
// v <- beta2 v + (1 - beta2) g^2; p <- p - step_size * m / (sqrt(v) / bc2_sqrt + eps).
// The expression of net1989_cpu.cpp's adamw_update loop body, element for element.
NET1989_HD inline void adamw_element(float& p, float& m, float& v, float g, float decay, float step_size,
                                     float bc2_sqrt, float beta1, float beta2, float eps) {
  const float pi = p * decay;
  const float mi = m + (1.f - beta1) * (g - m);
  const float vi = v * beta2 + (1.f - beta2) * g * g;
  m = mi;
  v = vi;
  p = pi - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
}

}  // namespace net1989
