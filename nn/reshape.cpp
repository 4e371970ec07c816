#include "nn/reshape.h"

#include "autograd/ops.h"

namespace elbo::nn {

Tensor Flatten::forward(const Tensor& x) const { return flatten(x, start_, end_); }
std::string Flatten::extra_repr() const { return fmt::format("start_dim={}, end_dim={}", start_, end_); }

Unflatten::Unflatten(int64_t dim, Shape sizes) : dim_(dim), sizes_(std::move(sizes)) {
  ELBO_CHECK(!sizes_.empty(), "Unflatten: sizes must not be empty");
  for (int64_t s : sizes_) ELBO_CHECK(s > 0, "Unflatten: sizes {} must be positive", sizes_);
}

Tensor Unflatten::forward(const Tensor& x) const {
  const int64_t nd = x.dim();
  ELBO_CHECK(dim_ >= -nd && dim_ < nd, "Unflatten: dim {} out of range for input {}", dim_, x.shape());
  const size_t d = size_t(dim_ < 0 ? dim_ + nd : dim_);
  int64_t prod = 1;
  for (int64_t s : sizes_) prod *= s;
  ELBO_CHECK(x.shape()[d] == prod, "Unflatten: dim {} of input {} has size {}, but sizes {} multiply to {}", dim_,
             x.shape(), x.shape()[d], sizes_, prod);
  detail::Dims s(x.shape().begin(), x.shape().begin() + long(d));
  s.insert(s.end(), sizes_.begin(), sizes_.end());
  s.insert(s.end(), x.shape().begin() + long(d) + 1, x.shape().end());
  return reshape(x, s);
}

std::string Unflatten::extra_repr() const { return fmt::format("dim={}, unflattened_size={}", dim_, sizes_); }

}  // namespace elbo::nn
