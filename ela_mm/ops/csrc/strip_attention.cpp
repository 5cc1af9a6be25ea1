// Fused CPU kernels for strip attention (ELA, Coordinate Attention).
//
//   strip_pool(x)                          -> (mean of x over W: (N,C,H), over H: (N,C,W))
//   gate_forward(x, a_h, a_w)              -> y = x * a_h * a_w
//   gate_backward_strips(g, x, a_h, a_w)   -> (sum_w g*x*a_w, sum_h g*x*a_h)
//   gate_backward_input(g, a_h, a_w, b_h, b_w) -> g * a_w * a_h + b_h + b_w
//
//   dwconv_gn_sigmoid_forward(z, w, gamma, beta, G, eps, save)
//       -> (a = sigmoid(GN(depthwise_conv1d(z))), conv output u (if save), GN mean, GN rstd)
//   dwconv_gn_sigmoid_backward(g, a, u, mean, rstd, z, w, gamma) -> (dz, dw, dgamma, dbeta)
//
// gate_backward_input writes the whole input gradient of a strip-attention module at once: the gating
// term plus the strip means' gradients b_h = dL/dz_h / W and b_w = dL/dz_w / H.
// Each reads its full-size inputs once and writes its result in one pass, one (n, c) plane per task.
// x and g must be contiguous NCHW; a_h is (N,C,H) and a_w is (N,C,W), contiguous, same dtype.
// Sums accumulate in float (double for double inputs). The Python side (ela_mm/ops/strip_attention.py)
// falls back to plain PyTorch for any other layout, device or dtype.
#include <torch/extension.h>

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <vector>

namespace {

constexpr int kLanes = 8;  // independent partial sums so that row reductions vectorise

void check_input(const at::Tensor& t, const char* name, int64_t dim) {
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

// buf = [pad zeros, row (length L), zeros]: a strip padded for a 'same' 1D convolution
template <typename in_t, typename acc_t>
inline void pad_row(const in_t* row, int64_t L, int64_t pad, std::vector<acc_t>& buf) {
  std::fill(buf.begin(), buf.end(), acc_t(0));
  for (int64_t l = 0; l < L; ++l) buf[pad + l] = acc_t(row[l]);
}

// out[l] = sum_j w[j] * in[l + j] for l in [0, Lp): a 1D correlation over a padded row. The
// usual kernel sizes get an unrolled tap loop, so that the loop over l vectorises.
template <int K, typename acc_t>
inline void correlate_k(const acc_t* __restrict__ in, const acc_t* __restrict__ w, int64_t Lp,
                        acc_t* __restrict__ out) {
  for (int64_t l = 0; l < Lp; ++l) {
    acc_t s = 0;
    for (int j = 0; j < K; ++j) s += w[j] * in[l + j];
    out[l] = s;
  }
}

template <typename acc_t>
inline void correlate(const acc_t* __restrict__ in, const acc_t* __restrict__ w, int64_t K,
                      int64_t Lp, acc_t* __restrict__ out) {
  switch (K) {
    case 1: return correlate_k<1>(in, w, Lp, out);
    case 3: return correlate_k<3>(in, w, Lp, out);
    case 5: return correlate_k<5>(in, w, Lp, out);
    case 7: return correlate_k<7>(in, w, Lp, out);
    case 9: return correlate_k<9>(in, w, Lp, out);
    default:
      std::fill(out, out + Lp, acc_t(0));
      for (int64_t j = 0; j < K; ++j) {
        for (int64_t l = 0; l < Lp; ++l) out[l] += w[j] * in[l + j];
      }
  }
}

// channel c's kernel taps as acc_t, reversed for the transposed convolution
template <typename scalar_t, typename acc_t>
inline void load_taps(const scalar_t* w, int64_t K, bool flip, std::vector<acc_t>& taps) {
  for (int64_t j = 0; j < K; ++j) taps[j] = acc_t(w[flip ? K - 1 - j : j]);
}

int64_t grain(int64_t plane) {
  // about 32k elements per task: enough to amortise scheduling, small enough to balance
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(plane, 1));
}

}  // namespace

std::vector<at::Tensor> strip_pool(const at::Tensor& x) {
  check_input(x, "x", 4);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  at::Tensor z_h = at::empty({N, C, H}, x.options());
  at::Tensor z_w = at::empty({N, C, W}, x.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "strip_pool", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    scalar_t* zh = z_h.mutable_data_ptr<scalar_t>();
    scalar_t* zw = z_w.mutable_data_ptr<scalar_t>();
    const acc_t inv_w = acc_t(1) / acc_t(W), inv_h = acc_t(1) / acc_t(H);
    at::parallel_for(0, N * C, grain(H * W), [&](int64_t begin, int64_t end) {
      std::vector<acc_t> col(W);
      for (int64_t p = begin; p < end; ++p) {
        const scalar_t* plane = xp + p * H * W;
        std::fill(col.begin(), col.end(), acc_t(0));
        for (int64_t h = 0; h < H; ++h) {
          const scalar_t* row = plane + h * W;
          acc_t lane[kLanes] = {};
          int64_t w = 0;
          for (; w + kLanes <= W; w += kLanes) {
            for (int k = 0; k < kLanes; ++k) {
              const acc_t v = acc_t(row[w + k]);
              lane[k] += v;
              col[w + k] += v;
            }
          }
          acc_t s = 0;
          for (int k = 0; k < kLanes; ++k) s += lane[k];
          for (; w < W; ++w) {
            const acc_t v = acc_t(row[w]);
            s += v;
            col[w] += v;
          }
          zh[p * H + h] = scalar_t(s * inv_w);
        }
        for (int64_t w = 0; w < W; ++w) zw[p * W + w] = scalar_t(col[w] * inv_h);
      }
    });
  });
  return {z_h, z_w};
}

at::Tensor gate_forward(const at::Tensor& x, const at::Tensor& a_h, const at::Tensor& a_w) {
  check_input(x, "x", 4);
  check_input(a_h, "a_h", 3);
  check_input(a_w, "a_w", 3);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  TORCH_CHECK(a_h.sizes() == at::IntArrayRef({N, C, H}), "a_h must have shape (N, C, H)");
  TORCH_CHECK(a_w.sizes() == at::IntArrayRef({N, C, W}), "a_w must have shape (N, C, W)");
  TORCH_CHECK(a_h.scalar_type() == x.scalar_type() && a_w.scalar_type() == x.scalar_type(),
              "x, a_h and a_w must have one dtype");
  at::Tensor y = at::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "gate_forward", [&] {
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    const scalar_t* ah = a_h.const_data_ptr<scalar_t>();
    const scalar_t* aw = a_w.const_data_ptr<scalar_t>();
    scalar_t* yp = y.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, N * C, grain(H * W), [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const scalar_t* aw_p = aw + p * W;
        for (int64_t h = 0; h < H; ++h) {
          const scalar_t s = ah[p * H + h];
          const scalar_t* xr = xp + (p * H + h) * W;
          scalar_t* yr = yp + (p * H + h) * W;
          // (x * a_h) * a_w: the order of the reference expression, so float32 results match it
          for (int64_t w = 0; w < W; ++w) yr[w] = scalar_t(xr[w] * s) * aw_p[w];
        }
      }
    });
  });
  return y;
}

std::vector<at::Tensor> gate_backward_strips(const at::Tensor& grad, const at::Tensor& x,
                                             const at::Tensor& a_h, const at::Tensor& a_w) {
  check_input(grad, "grad", 4);
  check_input(x, "x", 4);
  check_input(a_h, "a_h", 3);
  check_input(a_w, "a_w", 3);
  TORCH_CHECK(grad.sizes() == x.sizes(), "grad and x must have one shape");
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  at::Tensor gah = at::empty_like(a_h);
  at::Tensor gaw = at::empty_like(a_w);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "gate_bwd_strips", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* gp = grad.const_data_ptr<scalar_t>();
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    const scalar_t* ah = a_h.const_data_ptr<scalar_t>();
    const scalar_t* aw = a_w.const_data_ptr<scalar_t>();
    scalar_t* gahp = gah.mutable_data_ptr<scalar_t>();
    scalar_t* gawp = gaw.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, N * C, grain(H * W), [&](int64_t begin, int64_t end) {
      std::vector<acc_t> col(W), aw_acc(W);
      for (int64_t p = begin; p < end; ++p) {
        for (int64_t w = 0; w < W; ++w) aw_acc[w] = acc_t(aw[p * W + w]);
        std::fill(col.begin(), col.end(), acc_t(0));
        for (int64_t h = 0; h < H; ++h) {
          const scalar_t* gr = gp + (p * H + h) * W;
          const scalar_t* xr = xp + (p * H + h) * W;
          const acc_t s = acc_t(ah[p * H + h]);
          acc_t lane[kLanes] = {};
          int64_t w = 0;
          for (; w + kLanes <= W; w += kLanes) {
            for (int k = 0; k < kLanes; ++k) {
              const acc_t gx = acc_t(gr[w + k]) * acc_t(xr[w + k]);
              lane[k] += gx * aw_acc[w + k];
              col[w + k] += gx * s;
            }
          }
          acc_t sum = 0;
          for (int k = 0; k < kLanes; ++k) sum += lane[k];
          for (; w < W; ++w) {
            const acc_t gx = acc_t(gr[w]) * acc_t(xr[w]);
            sum += gx * aw_acc[w];
            col[w] += gx * s;
          }
          gahp[p * H + h] = scalar_t(sum);
        }
        for (int64_t w = 0; w < W; ++w) gawp[p * W + w] = scalar_t(col[w]);
      }
    });
  });
  return {gah, gaw};
}

at::Tensor gate_backward_input(const at::Tensor& grad, const at::Tensor& a_h,
                               const at::Tensor& a_w, const at::Tensor& b_h,
                               const at::Tensor& b_w) {
  check_input(grad, "grad", 4);
  for (const auto* t : {&a_h, &a_w, &b_h, &b_w}) check_input(*t, "strip", 3);
  const int64_t N = grad.size(0), C = grad.size(1), H = grad.size(2), W = grad.size(3);
  TORCH_CHECK(a_h.sizes() == b_h.sizes() && a_h.sizes() == at::IntArrayRef({N, C, H}),
              "a_h and b_h must have shape (N, C, H)");
  TORCH_CHECK(a_w.sizes() == b_w.sizes() && a_w.sizes() == at::IntArrayRef({N, C, W}),
              "a_w and b_w must have shape (N, C, W)");
  at::Tensor gx = at::empty_like(grad);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "gate_bwd_input", [&] {
    const scalar_t* gp = grad.const_data_ptr<scalar_t>();
    const scalar_t* ah = a_h.const_data_ptr<scalar_t>();
    const scalar_t* aw = a_w.const_data_ptr<scalar_t>();
    const scalar_t* bh = b_h.const_data_ptr<scalar_t>();
    const scalar_t* bw = b_w.const_data_ptr<scalar_t>();
    scalar_t* gxp = gx.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, N * C, grain(H * W), [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const scalar_t* aw_p = aw + p * W;
        const scalar_t* bw_p = bw + p * W;
        for (int64_t h = 0; h < H; ++h) {
          const scalar_t s = ah[p * H + h], b = bh[p * H + h];
          const scalar_t* gr = gp + (p * H + h) * W;
          scalar_t* gxr = gxp + (p * H + h) * W;
          for (int64_t w = 0; w < W; ++w) {
            gxr[w] = scalar_t(scalar_t(gr[w] * aw_p[w]) * s) + scalar_t(b + bw_p[w]);
          }
        }
      }
    });
  });
  return gx;
}

std::vector<at::Tensor> dwconv_gn_sigmoid_forward(const at::Tensor& z, const at::Tensor& weight,
                                                   const at::Tensor& gamma, const at::Tensor& beta,
                                                   int64_t groups, double eps, bool save) {
  check_input(z, "z", 3);
  const int64_t N = z.size(0), C = z.size(1), L = z.size(2);
  TORCH_CHECK(weight.is_contiguous() && weight.dim() == 3 && weight.size(0) == C &&
                  weight.size(1) == 1, "weight must be a contiguous depthwise (C, 1, k) kernel");
  TORCH_CHECK(gamma.numel() == C && beta.numel() == C && gamma.is_contiguous() &&
                  beta.is_contiguous(), "GroupNorm weight and bias must have C elements");
  TORCH_CHECK(groups > 0 && C % groups == 0, "groups must divide C");
  TORCH_CHECK(weight.scalar_type() == z.scalar_type() && gamma.scalar_type() == z.scalar_type() &&
                  beta.scalar_type() == z.scalar_type(), "all inputs must have one dtype");
  const int64_t K = weight.size(2), pad = K / 2, cg = C / groups, M = cg * L;
  const int64_t Lp = (L + kLanes - 1) / kLanes * kLanes;
  const auto acc_opt = z.options().dtype(at::toOpMathType(z.scalar_type()));
  at::Tensor out = at::empty_like(z);
  // for backward (save): the conv output (float accumulation) and the GN statistics
  at::Tensor u = at::empty({save ? N : 0, C, L}, acc_opt);
  at::Tensor mean = at::empty({N, groups}, acc_opt);
  at::Tensor rstd = at::empty({N, groups}, acc_opt);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, z.scalar_type(), "dwconv_gn_sigmoid", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* zp = z.const_data_ptr<scalar_t>();
    const scalar_t* wp = weight.const_data_ptr<scalar_t>();
    const scalar_t* gp = gamma.const_data_ptr<scalar_t>();
    const scalar_t* bp = beta.const_data_ptr<scalar_t>();
    scalar_t* op = out.mutable_data_ptr<scalar_t>();
    acc_t* up = u.mutable_data_ptr<acc_t>();
    acc_t* meanp = mean.mutable_data_ptr<acc_t>();
    acc_t* rstdp = rstd.mutable_data_ptr<acc_t>();
    at::parallel_for(0, N * groups, grain(M * K), [&](int64_t begin, int64_t end) {
      std::vector<acc_t> zpad(Lp + K - 1), row(Lp), taps(K), scratch(save ? 0 : M);
      for (int64_t ng = begin; ng < end; ++ng) {
        const int64_t n = ng / groups, g = ng % groups;
        // the group's conv output: its channels are contiguous
        acc_t* ug = save ? up + (n * C + g * cg) * L : scratch.data();
        for (int64_t ci = 0; ci < cg; ++ci) {
          const int64_t c = g * cg + ci;
          pad_row(zp + (n * C + c) * L, L, pad, zpad);
          load_taps(wp + c * K, K, false, taps);
          correlate(zpad.data(), taps.data(), K, Lp, row.data());
          std::copy(row.begin(), row.begin() + L, ug + ci * L);
        }
        const acc_t mu = lane_sum<acc_t>(M, [&](int64_t i) { return ug[i]; }) / acc_t(M);
        const acc_t sumsq = lane_sum<acc_t>(M, [&](int64_t i) {
          const acc_t d = ug[i] - mu;
          return d * d;
        });
        const acc_t r = acc_t(1) / std::sqrt(sumsq / acc_t(M) + acc_t(eps));
        meanp[ng] = mu;
        rstdp[ng] = r;
        for (int64_t ci = 0; ci < cg; ++ci) {
          const int64_t c = g * cg + ci;
          const acc_t a = acc_t(gp[c]) * r, b = acc_t(bp[c]) - mu * a;
          const acc_t* ur = ug + ci * L;
          scalar_t* orow = op + (n * C + c) * L;
          for (int64_t l = 0; l < L; ++l) orow[l] = scalar_t(ur[l] * a + b);
        }
      }
    });
  });
  out.sigmoid_();  // ATen's vectorised sigmoid, over the small strips
  return {out, u, mean, rstd};
}

std::vector<at::Tensor> dwconv_gn_sigmoid_backward(const at::Tensor& grad, const at::Tensor& out,
                                                    const at::Tensor& u, const at::Tensor& mean,
                                                    const at::Tensor& rstd, const at::Tensor& z,
                                                    const at::Tensor& weight,
                                                    const at::Tensor& gamma) {
  for (const auto* t : {&grad, &out, &u, &z}) check_input(*t, "strip", 3);
  TORCH_CHECK(grad.sizes() == z.sizes() && out.sizes() == z.sizes() && u.sizes() == z.sizes(),
              "grad, out, u and z must have one shape");
  const int64_t N = z.size(0), C = z.size(1), L = z.size(2), groups = mean.size(1);
  const int64_t K = weight.size(2), pad = K / 2, cg = C / groups, M = cg * L;
  const int64_t Lp = (L + kLanes - 1) / kLanes * kLanes;
  TORCH_CHECK(mean.is_contiguous() && rstd.is_contiguous() && mean.size(0) == N &&
                  rstd.sizes() == mean.sizes() && C % groups == 0,
              "mean and rstd must be the (N, groups) statistics of the forward");
  const auto acc_opt = z.options().dtype(at::toOpMathType(z.scalar_type()));
  at::Tensor gz = at::empty_like(z);
  at::Tensor gw = at::empty_like(weight);
  at::Tensor ggamma = at::empty_like(gamma);
  at::Tensor gbeta = at::empty_like(gamma);
  at::Tensor gu = at::empty({N, C, L}, acc_opt);        // dL/du
  at::Tensor part = at::empty({2, N, C}, acc_opt);      // per-sample dL/dgamma, dL/dbeta
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, z.scalar_type(), "dwconv_gn_sigmoid_bwd", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* gp = grad.const_data_ptr<scalar_t>();
    const scalar_t* op = out.const_data_ptr<scalar_t>();
    const acc_t* up = u.const_data_ptr<acc_t>();
    const acc_t* meanp = mean.const_data_ptr<acc_t>();
    const acc_t* rstdp = rstd.const_data_ptr<acc_t>();
    const scalar_t* zp = z.const_data_ptr<scalar_t>();
    const scalar_t* wp = weight.const_data_ptr<scalar_t>();
    const scalar_t* gammap = gamma.const_data_ptr<scalar_t>();
    scalar_t* gzp = gz.mutable_data_ptr<scalar_t>();
    acc_t* gup = gu.mutable_data_ptr<acc_t>();
    acc_t* pgp = part.mutable_data_ptr<acc_t>();
    acc_t* pbp = pgp + N * C;
    // 1. per (sample, group): sigmoid and GroupNorm backward to dL/du, then the conv's input
    //    gradient (a transposed depthwise conv)
    at::parallel_for(0, N * groups, grain(M * K), [&](int64_t begin, int64_t end) {
      std::vector<acc_t> gpad(Lp + K - 1), row(Lp), taps(K);
      for (int64_t ng = begin; ng < end; ++ng) {
        const int64_t n = ng / groups, g = ng % groups, base = (n * C + g * cg) * L;
        const acc_t mu = meanp[ng], r = rstdp[ng];
        acc_t s1 = 0, s2 = 0;  // sums of dL/dv and dL/dv * v over the group
        for (int64_t ci = 0; ci < cg; ++ci) {
          const int64_t c = g * cg + ci, o = base + ci * L;
          const acc_t gam = acc_t(gammap[c]);
          acc_t* gt = gup + o;  // first dL/dt (through the sigmoid), then dL/dv = gamma dL/dt
          for (int64_t l = 0; l < L; ++l) {
            const acc_t a = acc_t(op[o + l]);
            gt[l] = acc_t(gp[o + l]) * a * (acc_t(1) - a);
          }
          const acc_t sg =
              r * lane_sum<acc_t>(L, [&](int64_t l) { return gt[l] * (up[o + l] - mu); });
          const acc_t sb = lane_sum<acc_t>(L, [&](int64_t l) { return gt[l]; });
          for (int64_t l = 0; l < L; ++l) gt[l] *= gam;
          pgp[n * C + c] = sg;  // dL/dgamma_c = sum dL/dt * v, dL/dbeta_c = sum dL/dt
          pbp[n * C + c] = sb;
          s1 += gam * sb;
          s2 += gam * sg;
        }
        s1 /= acc_t(M);
        s2 /= acc_t(M);
        for (int64_t i = base; i < base + M; ++i) {
          gup[i] = r * (gup[i] - s1 - (up[i] - mu) * r * s2);
        }
        for (int64_t ci = 0; ci < cg; ++ci) {  // dz = dL/du correlated with the reversed kernel
          const int64_t c = g * cg + ci, o = base + ci * L;
          pad_row(gup + o, L, pad, gpad);
          load_taps(wp + c * K, K, true, taps);
          correlate(gpad.data(), taps.data(), K, Lp, row.data());
          for (int64_t l = 0; l < L; ++l) gzp[o + l] = scalar_t(row[l]);
        }
      }
    });
    // 2. per channel: the parameters' gradients, reductions over the batch
    scalar_t* gwp = gw.mutable_data_ptr<scalar_t>();
    scalar_t* ggp = ggamma.mutable_data_ptr<scalar_t>();
    scalar_t* gbp = gbeta.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, C, grain(N * L * K), [&](int64_t begin, int64_t end) {
      std::vector<acc_t> zpad(Lp + K - 1), lanes(K * kLanes);
      for (int64_t c = begin; c < end; ++c) {
        // dw[j] = sum_n sum_l dL/du[l] * z[l + j - pad], in kLanes partial sums per tap, which
        // are added up once per channel
        std::fill(lanes.begin(), lanes.end(), acc_t(0));
        const int64_t Lv = L / kLanes * kLanes;
        for (int64_t n = 0; n < N; ++n) {
          const acc_t* gur = gup + (n * C + c) * L;
          pad_row(zp + (n * C + c) * L, L, pad, zpad);
          for (int64_t j = 0; j < K; ++j) {
            const acc_t* zs = zpad.data() + j;
            acc_t* lane = lanes.data() + j * kLanes;
            for (int64_t l = 0; l < Lv; l += kLanes) {
              for (int k = 0; k < kLanes; ++k) lane[k] += gur[l + k] * zs[l + k];
            }
            for (int64_t l = Lv; l < L; ++l) lane[l - Lv] += gur[l] * zs[l];
          }
        }
        for (int64_t j = 0; j < K; ++j) {
          acc_t sum = 0;
          for (int k = 0; k < kLanes; ++k) sum += lanes[j * kLanes + k];
          gwp[c * K + j] = scalar_t(sum);
        }
        acc_t sg = 0, sb = 0;
        for (int64_t n = 0; n < N; ++n) {
          sg += pgp[n * C + c];
          sb += pbp[n * C + c];
        }
        ggp[c] = scalar_t(sg);
        gbp[c] = scalar_t(sb);
      }
    });
  });
  return {gz, gw, ggamma, gbeta};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "ela_mm fused strip pooling and strip gating (CPU)";
  m.def("strip_pool", &strip_pool, "means of x over W and over H in one pass", py::arg("x"));
  m.def("gate_forward", &gate_forward, "x * a_h * a_w in one pass", py::arg("x"),
        py::arg("a_h"), py::arg("a_w"));
  m.def("gate_backward_strips", &gate_backward_strips,
        "(sum_w g*x*a_w, sum_h g*x*a_h) in one read of g and x", py::arg("grad"), py::arg("x"),
        py::arg("a_h"), py::arg("a_w"));
  m.def("gate_backward_input", &gate_backward_input,
        "g * a_w * a_h + b_h + b_w (the gating and the strip-mean gradients) in one pass",
        py::arg("grad"), py::arg("a_h"), py::arg("a_w"), py::arg("b_h"), py::arg("b_w"));
  m.def("dwconv_gn_sigmoid_forward", &dwconv_gn_sigmoid_forward,
        "(sigmoid(GroupNorm(depthwise conv1d(z))), conv output, GN mean, GN rstd) for strips z "
        "(N, C, L); u is empty unless save", py::arg("z"), py::arg("weight"), py::arg("gamma"),
        py::arg("beta"), py::arg("groups"), py::arg("eps"), py::arg("save"));
  m.def("dwconv_gn_sigmoid_backward", &dwconv_gn_sigmoid_backward,
        "gradients (z, weight, gamma, beta) of dwconv_gn_sigmoid_forward", py::arg("grad"),
        py::arg("out"), py::arg("u"), py::arg("mean"), py::arg("rstd"), py::arg("z"),
        py::arg("weight"), py::arg("gamma"));
}
