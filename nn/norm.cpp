#include "nn/norm.h"

#include <algorithm>

#include "autograd/ops.h"

namespace elbo::nn {

LayerNorm::LayerNorm(Shape normalized_shape, double eps, bool affine) : shape_(std::move(normalized_shape)), eps_(eps) {
  ELBO_CHECK_SHAPE(!shape_.empty(), "LayerNorm: normalized_shape must have at least one dim");
  if (affine) {
    weight_ = register_parameter("weight", ones(shape_));
    bias_ = register_parameter("bias", zeros(shape_));
  }
}
Tensor LayerNorm::forward(const Tensor& x) const { return layer_norm(x, shape_, weight_, bias_, eps_); }
std::string LayerNorm::extra_repr() const {
  return fmt::format("{}, eps={}, elementwise_affine={}", shape_, eps_, weight_.defined());
}

BatchNorm::BatchNorm(int64_t c, double eps, double momentum, bool affine, std::vector<int64_t> input_dims)
    : c_(c), eps_(eps), momentum_(momentum), input_dims_(std::move(input_dims)) {
  ELBO_CHECK_VALUE(c > 0, "BatchNorm: num_features must be positive, got {}", c);
  if (affine) {
    weight_ = register_parameter("weight", ones({c}));
    bias_ = register_parameter("bias", zeros({c}));
  }
  running_mean_ = register_buffer("running_mean", zeros({c}));
  running_var_ = register_buffer("running_var", ones({c}));
  num_batches_tracked_ = register_buffer("num_batches_tracked", zeros({}, DType::i64));
}

Tensor BatchNorm::forward(const Tensor& x) const {
  ELBO_CHECK_SHAPE(std::find(input_dims_.begin(), input_dims_.end(), x.dim()) != input_dims_.end() && x.size(1) == c_,
                   "{}: input {} must be [N, {}{}]", type_name(), x.shape(), c_,
                   input_dims_.front() == 4 ? ", H, W" : "] or [N, " + std::to_string(c_) + ", L");
  if (is_training()) num_batches_tracked_.copy_(num_batches_tracked_ + 1);
  return batch_norm(x, running_mean_, running_var_, weight_, bias_, is_training(), momentum_, eps_);
}
std::string BatchNorm::extra_repr() const {
  return fmt::format("{}, eps={}, momentum={}, affine={}", c_, eps_, momentum_, weight_.defined());
}

Embedding::Embedding(int64_t num, int64_t dim, Generator& gen) {
  ELBO_CHECK_VALUE(num > 0 && dim > 0, "Embedding: num_embeddings {} and embedding_dim {} must be positive", num, dim);
  weight_ = register_parameter("weight", init::normal_(empty({num, dim}), 0, 1, gen));
}
Tensor Embedding::forward(const Tensor& indices) const {
  if (indices.defined() && indices.dtype() == DType::i64 && indices.numel() > 0) {
    const auto v = max(reshape(indices, {-1}), 0).item(), lo = min(reshape(indices, {-1}), 0).item();
    ELBO_CHECK_VALUE(lo >= 0 && v < double(weight_.size(0)), "Embedding: index {} is out of range [0, {})",
                     lo < 0 ? lo : v, weight_.size(0));
  }
  return embedding(indices, weight_);
}
std::string Embedding::extra_repr() const { return fmt::format("{}, {}", weight_.size(0), weight_.size(1)); }

}  // namespace elbo::nn
