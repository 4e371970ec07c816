#pragma once
// Sequential: runs its children in order, as torch.nn.Sequential. Children are named "0", "1", ...
// so parameter names match PyTorch's ("0.weight"). Any module with `Tensor forward(const Tensor&)`
// can be a child; this is the one place where forward is type-erased.
#include <functional>
#include <type_traits>

#include "module.h"

namespace elbo::nn {

class Sequential : public Module {
 public:
  Sequential() = default;
  template <class... M>
    requires(sizeof...(M) > 0 && (std::is_base_of_v<Module, std::remove_cvref_t<M>> && ...))
  explicit Sequential(M&&... modules) {
    (push_back(std::forward<M>(modules)), ...);
  }

  template <class M> std::remove_cvref_t<M>& push_back(M&& m) {
    auto& child = register_module(std::to_string(steps_.size()), std::forward<M>(m));
    steps_.push_back([p = &child](const Tensor& x) { return p->forward(x); });
    return child;
  }

  Tensor forward(const Tensor& x) const;

  Tensor operator()(const Tensor& x) const { return forward(x); }
  size_t size() const { return steps_.size(); }

 private:
  std::vector<std::function<Tensor(const Tensor&)>> steps_;
};

}  // namespace elbo::nn
