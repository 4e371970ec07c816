#include "nn/made.h"

#include <vector>

#include "autograd/ops.h"

namespace elbo::nn {
namespace {
// k(i): the input's position in the order, 1..D.
int64_t degree(int64_t i, int64_t d, bool reversed) { return reversed ? d - i : i + 1; }
int64_t hidden_degree(int64_t j, int64_t d) { return d > 1 ? 1 + j % (d - 1) : 0; }

Tensor input_mask(int64_t d, int64_t h, bool reversed) {
  std::vector<double> m(size_t(h * d));
  for (int64_t j = 0; j < h; ++j)
    for (int64_t i = 0; i < d; ++i) m[size_t(j * d + i)] = hidden_degree(j, d) >= degree(i, d, reversed) ? 1 : 0;
  return tensor(m, {h, d});
}
Tensor output_mask(int64_t d, int64_t h, bool reversed) {
  std::vector<double> m(size_t(2 * d * h));
  for (int64_t o = 0; o < 2 * d; ++o)
    for (int64_t j = 0; j < h; ++j) m[size_t(o * h + j)] = degree(o % d, d, reversed) > hidden_degree(j, d) ? 1 : 0;
  return tensor(m, {2 * d, h});
}
}  // namespace

MADE::MADE(int64_t features, int64_t hidden, int64_t context, bool reversed, Generator& gen)
    : features_(features), hidden_(hidden), context_(context), reversed_(reversed) {
  ELBO_CHECK(features >= 1 && hidden >= 1 && context >= 0,
             "MADE: features {} and hidden {} must be >= 1, context_features {} >= 0", features, hidden, context);
  input_ = &register_module("input", MaskedLinear(features, hidden, input_mask(features, hidden, reversed), gen));
  if (context > 0) context_layer_ = &register_module("context", Linear(context, hidden, false, gen));
  output_ = &register_module("output", MaskedLinear(hidden, 2 * features, output_mask(features, hidden, reversed), gen));
}

MADE::Output MADE::forward(const Tensor& x, const Tensor& context) const {
  ELBO_CHECK_SHAPE(x.dim() >= 1 && x.size(-1) == features_, "MADE: x {} is not [..., {}]", x.shape(), features_);
  Tensor h = input_->forward(x);
  if (context_layer_) {
    ELBO_CHECK_SHAPE(context.defined() && context.dim() >= 1 && context.size(-1) == context_,
                     "MADE: context {} is not [..., {}]", context.defined() ? context.shape() : Shape{}, context_);
    h = h + context_layer_->forward(context);
  } else {
    ELBO_CHECK(!context.defined(), "MADE: got a context {} but was built without context features", context.shape());
  }
  const Tensor out = output_->forward(relu(h));
  return {narrow(out, -1, 0, features_), narrow(out, -1, features_, features_)};
}

std::string MADE::extra_repr() const {
  return fmt::format("features={}, hidden={}, context_features={}, order={}", features_, hidden_, context_,
                     reversed_ ? "reversed" : "natural");
}

}  // namespace elbo::nn
