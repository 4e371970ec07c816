#pragma once
// Normalization layers and Embedding, as their torch.nn namesakes, with PyTorch's parameter and buffer
// names so state_dicts load both ways:
//   LayerNorm(normalized_shape)  weight (ones), bias (zeros) of normalized_shape
//   BatchNorm1d(C) / BatchNorm2d(C)  weight, bias [C]; buffers running_mean (zeros), running_var (ones),
//     num_batches_tracked (i64 0); training normalizes by the batch and updates the running statistics,
//     eval() uses them
//   Embedding(num, dim)  weight [num, dim] ~ N(0, 1); forward(i64 indices) -> [*indices.shape, dim]
#include "init.h"
#include "module.h"

namespace elbo::nn {

class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  Tensor forward(const Tensor& x) const;
  Tensor operator()(const Tensor& x) const { return forward(x); }
  std::string extra_repr() const override;

 private:
  Shape shape_;
  double eps_;
  Tensor weight_, bias_;
};

class BatchNorm : public Module {  // BatchNorm1d (x [N, C] or [N, C, L]) and BatchNorm2d (x [N, C, H, W])
 public:
  Tensor forward(const Tensor& x) const;
  Tensor operator()(const Tensor& x) const { return forward(x); }
  std::string extra_repr() const override;
  const Tensor& running_mean() const { return running_mean_; }
  const Tensor& running_var() const { return running_var_; }

 protected:
  BatchNorm(int64_t num_features, double eps, double momentum, bool affine, std::vector<int64_t> input_dims);

 private:
  int64_t c_;
  double eps_, momentum_;
  std::vector<int64_t> input_dims_;
  Tensor weight_, bias_, running_mean_, running_var_, num_batches_tracked_;
};

class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(int64_t num_features, double eps = 1e-5, double momentum = 0.1, bool affine = true)
      : BatchNorm(num_features, eps, momentum, affine, {2, 3}) {}
};
class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, double momentum = 0.1, bool affine = true)
      : BatchNorm(num_features, eps, momentum, affine, {4}) {}
};

class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, Generator& gen = default_generator());
  Tensor forward(const Tensor& indices) const;
  Tensor operator()(const Tensor& indices) const { return forward(indices); }
  std::string extra_repr() const override;
  const Tensor& weight() const { return weight_; }

 private:
  Tensor weight_;
};

}  // namespace elbo::nn
