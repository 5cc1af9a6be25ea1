// Python bindings of ela_mm._ext: one declaration per kernel, defined in the op family's file.
#include <torch/extension.h>

#include <vector>

namespace ela_mm {
// strip_attention.cpp
std::vector<at::Tensor> strip_pool(const at::Tensor& x);
at::Tensor gate_forward(const at::Tensor& x, const at::Tensor& a_h, const at::Tensor& a_w);
std::vector<at::Tensor> gate_backward_strips(const at::Tensor& grad, const at::Tensor& x,
                                             const at::Tensor& a_h, const at::Tensor& a_w);
at::Tensor gate_backward_input(const at::Tensor& grad, const at::Tensor& a_h,
                               const at::Tensor& a_w, const at::Tensor& b_h,
                               const at::Tensor& b_w);
// dwconv_gn_sigmoid.cpp
std::vector<at::Tensor> dwconv_gn_sigmoid_forward(const at::Tensor& z, const at::Tensor& weight,
                                                  const at::Tensor& gamma,
                                                  const at::Tensor& beta, int64_t groups,
                                                  double eps, bool save);
std::vector<at::Tensor> dwconv_gn_sigmoid_backward(
    const at::Tensor& grad, const at::Tensor& out, const at::Tensor& u, const at::Tensor& mean,
    const at::Tensor& rstd, const at::Tensor& z, const at::Tensor& weight,
    const at::Tensor& gamma);
}  // namespace ela_mm

using namespace ela_mm;

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
