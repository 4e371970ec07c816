#include "nn/pixelcnn.h"

#include <cmath>

#include "autograd/ops.h"

namespace elbo::nn {
namespace {

void check_kernel(const char* layer, int64_t k) {
  ELBO_CHECK_VALUE(k >= 1 && k % 2 == 1, "{}: kernel_size {} must be odd (the centre is the pixel)", layer, k);
}

// As torch's Conv2d.reset_parameters (kaiming_uniform with a = sqrt(5), i.e. U(+-1/sqrt(fan_in)), bias the same).
Tensor conv_weight(const Shape& shape, Generator& gen) { return init::kaiming_uniform_(empty(shape), gen, std::sqrt(5.0)); }
Tensor conv_bias(int64_t n, const Shape& weight_shape, Generator& gen) {
  const double b = 1.0 / std::sqrt(double(init::fan_in_and_fan_out(weight_shape).first));
  return init::uniform_(empty({n}), -b, b, gen);
}

// tanh of the first half of the channels times sigmoid of the second
Tensor gate(const Tensor& x) {
  const int64_t c = x.size(1) / 2;
  return tanh(narrow(x, 1, 0, c)) * sigmoid(narrow(x, 1, c, c));
}

}  // namespace

Tensor pixelcnn_mask(int64_t k, Mask type, bool vertical) {
  check_kernel("pixelcnn_mask", k);
  const int64_t m = k / 2;
  std::vector<double> v(size_t(k * k), 0.0);
  for (int64_t r = 0; r < k; ++r)
    for (int64_t c = 0; c < k; ++c) {
      const bool on = vertical ? r <= m : r < m || (r == m && (type == Mask::A ? c < m : c <= m));
      v[size_t(r * k + c)] = on ? 1.0 : 0.0;
    }
  return tensor(v, {k, k});
}

MaskedConv2d::MaskedConv2d(int64_t in, int64_t out, int64_t k, Mask type, bool bias, Generator& gen)
    : MaskedConv2d(in, out, pixelcnn_mask(k, type), type == Mask::A ? "A" : "B", bias, gen) {}

MaskedConv2d::MaskedConv2d(int64_t in, int64_t out, Tensor mask, std::string name, bool bias, Generator& gen)
    : in_(in), out_(out), k_(mask.defined() ? mask.size(0) : 0), name_(std::move(name)), mask_(std::move(mask)) {
  ELBO_CHECK_SHAPE(mask_.defined() && mask_.dim() == 2 && mask_.size(0) == mask_.size(1),
                   "MaskedConv2d: the mask must be [k, k]");
  check_kernel("MaskedConv2d", k_);
  ELBO_CHECK_VALUE(in > 0 && out > 0, "MaskedConv2d: in_channels {} and out_channels {} must be positive", in, out);
  weight_ = register_parameter("weight", conv_weight({out, in, k_, k_}, gen));
  if (bias) bias_ = register_parameter("bias", conv_bias(out, weight_.shape(), gen));
}

Tensor MaskedConv2d::forward(const Tensor& x) const {
  return conv2d(x, weight_ * mask_.to(weight_.dtype()), bias_, 1, k_ / 2);
}

std::string MaskedConv2d::extra_repr() const {
  return fmt::format("{}, {}, kernel_size=({}, {}), mask={}, bias={}", in_, out_, k_, k_, name_, bias_.defined());
}

Tensor shift_down(const Tensor& x) {
  ELBO_CHECK_SHAPE(x.defined() && x.dim() == 4, "shift_down: input {} must be [N, C, H, W]",
                   x.defined() ? x.shape() : Shape{});
  const int64_t h = x.size(2);
  const Tensor top = zeros({x.size(0), x.size(1), 1, x.size(3)}, x.dtype());
  if (h == 1) return top;
  return cat({top, narrow(x, 2, 0, h - 1)}, 2);
}

GatedPixelCnnLayer::GatedPixelCnnLayer(int64_t channels, GatedLayerOptions o, Generator& gen) : f_(channels), o_(o) {
  check_kernel("GatedPixelCnnLayer", o.kernel);
  ELBO_CHECK_VALUE(channels > 0 && o.condition >= 0, "GatedPixelCnnLayer: {} channels, condition {}", channels,
                   o.condition);
  const int64_t k = o.kernel, f = channels;
  v_conv_ = &register_module("v_conv", MaskedConv2d(f, 2 * f, pixelcnn_mask(k, Mask::B, true), "vertical", true, gen));
  // the horizontal stack: only the centre row, left of the pixel (A) or up to it (B)
  std::vector<double> centre = pixelcnn_mask(k, o.mask).to_vector<double>();
  for (int64_t r = 0; r < k / 2; ++r)
    for (int64_t c = 0; c < k; ++c) centre[size_t(r * k + c)] = 0;
  h_conv_ = &register_module("h_conv", MaskedConv2d(f, 2 * f, tensor(centre, {k, k}),
                                                    o.mask == Mask::A ? "horizontal A" : "horizontal B", true, gen));
  v_to_h_ = &register_module("v_to_h", Conv2d(2 * f, 2 * f, 1, 1, 0, true, gen));
  h_out_ = &register_module("h_out", Conv2d(f, f, 1, 1, 0, true, gen));
  if (o.condition > 0) {
    cond_v_ = &register_module("cond_v", Linear(o.condition, 2 * f, false, gen));
    cond_h_ = &register_module("cond_h", Linear(o.condition, 2 * f, false, gen));
  }
}

std::pair<Tensor, Tensor> GatedPixelCnnLayer::forward(const Tensor& v, const Tensor& h, const Tensor& cond) const {
  ELBO_CHECK_SHAPE(v.defined() && h.defined() && v.dim() == 4 && v.shape() == h.shape() && v.size(1) == f_,
                   "GatedPixelCnnLayer: v {} and h {} must both be [N, {}, H, W]", v.defined() ? v.shape() : Shape{},
                   h.defined() ? h.shape() : Shape{}, f_);
  ELBO_CHECK_SHAPE((o_.condition == 0) == !cond.defined(),
                   "GatedPixelCnnLayer: built with condition {}, called {} a condition", o_.condition,
                   cond.defined() ? "with" : "without");
  Tensor v_pre = v_conv_->forward(v);
  // the horizontal stack sees the vertical one of the rows above only: its outputs shifted down one row
  Tensor h_pre = h_conv_->forward(h) + v_to_h_->forward(shift_down(v_pre));
  if (cond.defined()) {
    ELBO_CHECK_SHAPE(cond.dim() == 2 && cond.size(0) == v.size(0) && cond.size(1) == o_.condition,
                     "GatedPixelCnnLayer: condition {} must be [{}, {}]", cond.shape(), v.size(0), o_.condition);
    v_pre = v_pre + unsqueeze(unsqueeze(cond_v_->forward(cond), 2), 3);
    h_pre = h_pre + unsqueeze(unsqueeze(cond_h_->forward(cond), 2), 3);
  }
  Tensor h_next = h_out_->forward(gate(h_pre));
  if (o_.mask == Mask::B) h_next = h_next + h;
  return {gate(v_pre), h_next};
}

std::string GatedPixelCnnLayer::extra_repr() const {
  return fmt::format("{}, kernel_size={}, mask={}, condition={}", f_, o_.kernel, o_.mask == Mask::A ? "A" : "B",
                     o_.condition);
}

}  // namespace elbo::nn
