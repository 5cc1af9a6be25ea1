// Helpers shared by ela_mm's CPU kernels (strip_attention.cpp, dwconv_gn_sigmoid.cpp).
#pragma once

#include <torch/extension.h>

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace ela_mm {

constexpr int kLanes = 8;  // independent partial sums so that row reductions vectorise

inline void check_input(const at::Tensor& t, const char* name, int64_t dim) {
  TORCH_CHECK(t.device().is_cpu(), name, " must be a CPU tensor");
  TORCH_CHECK(t.dim() == dim, name, " must have ", dim, " dimensions, got ", t.dim());
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

// sum of f(i) for i in [0, n), in kLanes independent partial sums so that the loop vectorises
// (a single accumulator is a chain of dependent additions the compiler may not reorder)
template <typename acc_t, typename F>
inline acc_t lane_sum(int64_t n, F f) {
  acc_t lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int k = 0; k < kLanes; ++k) lane[k] += f(i + k);
  }
  acc_t s = 0;
  for (int k = 0; k < kLanes; ++k) s += lane[k];
  for (; i < n; ++i) s += f(i);
  return s;
}

inline int64_t grain(int64_t plane) {
  // about 32k elements per task: enough to amortise scheduling, small enough to balance
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(plane, 1));
}

}  // namespace ela_mm
