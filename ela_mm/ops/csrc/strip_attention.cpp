// Strip pooling and strip gating of strip-attention modules (ELA, Coordinate Attention), CPU.
//
//   strip_pool(x)                              -> (mean of x over W: (N,C,H), over H: (N,C,W))
//   gate_forward(x, a_h, a_w)                  -> y = x * a_h * a_w
//   gate_backward_strips(g, x, a_h, a_w)       -> (sum_w g*x*a_w, sum_h g*x*a_h)
//   gate_backward_input(g, a_h, a_w, b_h, b_w) -> g * a_w * a_h + b_h + b_w
//
// gate_backward_input writes the whole input gradient of a strip-attention module at once: the
// gating term plus the strip means' gradients b_h = dL/dz_h / W and b_w = dL/dz_w / H.
// Each reads its full-size inputs once and writes its result in one pass, one (n, c) plane per
// task. x and g must be contiguous NCHW; a_h is (N,C,H) and a_w is (N,C,W), contiguous, same
// dtype. Sums accumulate in float (double for double inputs). The Python side
// (ela_mm/ops/strip_attention.py) falls back to PyTorch ops for any other layout, device or dtype.
#include "common.h"

namespace ela_mm {

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

}  // namespace ela_mm
