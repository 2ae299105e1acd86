// Sizes and argument checks shared by the CPU and CUDA bindings of train_steps.
#pragma once

#include <torch/extension.h>

#include <vector>

namespace net1989 {

constexpr int IN = 16, PADDED = 20, KS = 5, KK = 25;
constexpr int S1 = 8, N1 = 64, S1P = 12, N1P = 144;  // H1 map side, units, padded side, padded units
constexpr int S2 = 4, N2 = 16;                        // H2 map side and units per map
constexpr int OUT = 10;

struct Dims {
  int M1, M2, K, H3;  // H1 maps, H2 maps, H1 maps read per H2 map, H3 units
};

inline void check_tensor(const torch::Tensor& t, const char* name, std::vector<int64_t> shape, bool cuda) {
  TORCH_CHECK(t.is_cuda() == cuda, name, cuda ? " must be on a CUDA device" : " must be on the CPU");
  TORCH_CHECK(t.scalar_type() == torch::kFloat32, name, " must be float32");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
  TORCH_CHECK(t.sizes() == torch::IntArrayRef(shape), name, " has shape ", t.sizes(), ", expected ",
              torch::IntArrayRef(shape));
}

// Checks the examples, the connectivity and the 8 parameter tensors
// (w1 b1 w2 b2 w3 b3 w4 b4, the layout of lecun1989/model.py); returns the layer sizes.
inline Dims check_args(const torch::Tensor& xs, const torch::Tensor& ys, const torch::Tensor& idx,
                       const std::vector<torch::Tensor>& params, bool cuda) {
  TORCH_CHECK(params.size() == 8, "expected 8 parameter tensors (w1 b1 w2 b2 w3 b3 w4 b4)");
  TORCH_CHECK(idx.scalar_type() == torch::kInt32 && idx.dim() == 2 && idx.is_contiguous(), "idx must be int32 [M2, K]");
  const Dims d{(int)params[0].size(0), (int)idx.size(0), (int)idx.size(1), (int)params[4].size(0)};
  check_tensor(params[0], "w1", {d.M1, 1, KS, KS}, cuda);
  check_tensor(params[1], "b1", {d.M1, S1, S1}, cuda);
  check_tensor(params[2], "w2", {d.M2, d.K, KS, KS}, cuda);
  check_tensor(params[3], "b2", {d.M2, S2, S2}, cuda);
  check_tensor(params[4], "w3", {d.H3, d.M2 * N2}, cuda);
  check_tensor(params[5], "b3", {d.H3}, cuda);
  check_tensor(params[6], "w4", {OUT, d.H3}, cuda);
  check_tensor(params[7], "b4", {OUT}, cuda);
  check_tensor(xs, "xs", {ys.size(0), 1, IN, IN}, cuda);
  TORCH_CHECK(ys.is_cuda() == cuda && ys.scalar_type() == torch::kInt64 && ys.dim() == 1 && ys.is_contiguous(),
              "ys must be int64 [N] on the same device as xs");
  auto idx_cpu = idx.to(torch::kCPU);
  const int* ix = idx_cpu.data_ptr<int>();
  for (int i = 0; i < d.M2 * d.K; ++i) TORCH_CHECK(ix[i] >= 0 && ix[i] < d.M1, "idx entry out of range");
  return d;
}

}  // namespace net1989
