// The strip operator of ELA, CPU: sigmoid(GroupNorm(depthwise conv1d(z))) on strips z (N, C, L).
//
//   dwconv_gn_sigmoid_forward(z, w, gamma, beta, G, eps, save)
//       -> (a = sigmoid(GN(depthwise_conv1d(z))), conv output u (if save), GN mean, GN rstd)
//   dwconv_gn_sigmoid_backward(g, a, u, mean, rstd, z, w, gamma) -> (dz, dw, dgamma, dbeta)
//
// Forward is one pass per (sample, group); backward is two: GroupNorm/sigmoid backward plus the
// transposed convolution per (sample, group), then the weight gradient per channel. The Python
// side (ela_mm/ops/dwconv_gn_sigmoid.py) falls back to PyTorch ops where this does not apply.
#include "common.h"

namespace ela_mm {
namespace {

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

}  // namespace

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

}  // namespace ela_mm
