#pragma once
// Module: the base of every layer and model. A module registers its parameters, buffers and child
// modules by name in its constructor; names compose with dots as PyTorch's do ("encoder.0.weight"),
// so checkpoints map one-to-one onto torch state_dicts. Children are heap-owned by the parent's
// registry and handed back as typed references, so pointers to them survive moving the parent.
// Modules are move-only: a copy of tensor handles would silently share weights.
// Registered tensors are never reassigned: loading and to(DType) change them in place, so every handle
// (the layer's member, an optimizer) keeps seeing the same parameter.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../autograd/tensor.h"

namespace elbo::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  Module();
  virtual ~Module();
  Module(Module&& other) noexcept;
  Module& operator=(Module&& other) noexcept;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Parameters in registration order, depth first (own parameters, then each child's), dotted names.
  NamedTensors named_parameters() const;
  std::vector<Tensor> parameters() const;
  NamedTensors named_buffers() const;
  // Parameters then buffers per module, in the order torch.nn.Module.state_dict lists them.
  NamedTensors state_dict() const;
  // Copies a state_dict (strict, as torch's load_state_dict(strict=True): same names, dtypes and shapes,
  // all checked before anything changes); nn::load reads one from a file.
  void load_state_dict(const NamedTensors& state);
  // This module ("") and every descendant, depth first.
  std::vector<std::pair<std::string, const Module*>> named_modules() const;
  std::vector<std::pair<std::string, Module*>> named_children();

  int64_t num_parameters() const;
  void train(bool on = true);  // recursive; Dropout reads it
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();            // clears every parameter's gradient (undefined, as set_to_none=True)
  void to(DType dtype);        // converts every parameter and floating buffer in place

  // The module tree with each layer's settings, parameter shapes and counts (like torch's repr).
  std::string repr() const;
  // "Linear" for nn::Linear; the demangled class name for user modules. Override to rename.
  virtual std::string type_name() const;
  // One line of settings shown after the type name, e.g. "in_features=784, out_features=400".
  virtual std::string extra_repr() const { return ""; }

 protected:
  // Marks t as a parameter (requires grad) and returns the handle the layer keeps.
  Tensor register_parameter(std::string name, Tensor t);
  Tensor register_buffer(std::string name, Tensor t);
  // Moves m into this module's registry; the reference stays valid for the parent's lifetime.
  template <class M> M& register_module(std::string name, M&& m) {
    auto owned = std::make_unique<std::remove_cvref_t<M>>(std::forward<M>(m));
    auto& ref = *owned;
    add_child(std::move(name), std::move(owned));
    return ref;
  }
  // The same for a module built elsewhere (an architecture picked at run time, held by its base class).
  template <class M> M& register_module(std::string name, std::unique_ptr<M> m) {
    auto& ref = *m;
    add_child(std::move(name), std::move(m));
    return ref;
  }
  // A child whose tensors are named as this module's own ("fc1.weight", not "encoder.fc1.weight"): for a
  // model assembled from parts that keeps a flat checkpoint layout, as PyTorch's examples/vae does. Its
  // names and this module's must not collide (checked here and at every later registration).
  template <class M> M& register_inline(std::unique_ptr<M> m) {
    auto& ref = *m;
    add_inline(std::move(m));
    return ref;
  }

 private:
  void add_child(std::string name, std::unique_ptr<Module> m);
  void add_inline(std::unique_ptr<Module> m);
  // The names at this module's level: its own and, through inline children, theirs.
  std::vector<std::string> local_names() const;
  void check_name(const std::string& name, const char* what) const;
  void repr_into(std::string& out, int indent) const;

  NamedTensors params_, buffers_;
  std::vector<std::pair<std::string, std::unique_ptr<Module>>> children_;
  bool training_ = true;
  // For the check of unregistered modules (check_unregistered_modules): the module this one was
  // registered with, and whether anyone collected this module's tensors (parameters(), state_dict(), ...).
  const Module* parent_ = nullptr;
  mutable bool collected_ = false;
  friend void check_unregistered_modules(const std::vector<Tensor>&, const char*);
};

// A module held as a plain member (`nn::Linear fc{4, 2};` inside a user's module) is invisible to its
// parent's parameters(), so an optimizer built from them would never train it. Optimizers call this on
// their first step: a live module that was never registered with a parent nor had its tensors collected,
// and whose parameters received gradients that `stepped` does not hold, is an elbo::Error naming it.
void check_unregistered_modules(const std::vector<Tensor>& stepped, const char* optimizer);

std::ostream& operator<<(std::ostream& os, const Module& m);

}  // namespace elbo::nn
