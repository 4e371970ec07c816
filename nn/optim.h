#pragma once
// Optimizers, as torch.optim with torch 1.13's single-tensor update formulas, so the same gradients give
// the same numbers. An optimizer holds handles to the parameters (shared with the module) and updates
// them in place; parameters without a gradient are skipped, as torch does. State is created on the
// first step and can be saved and restored by name ("step", "exp_avg.3", ...) for checkpoints.
// Options are typed structs: optim::Adam opt(net.parameters(), {.lr = 1e-3}).
#include <array>
#include <vector>

#include "module.h"

namespace elbo::optim {

using nn::NamedTensors;

class Optimizer {
 public:
  explicit Optimizer(std::vector<Tensor> params, const char* name);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  void zero_grad();  // clears the gradients (undefined, as set_to_none=True)
  virtual void step() = 0;
  virtual double lr() const = 0;
  virtual void set_lr(double lr) = 0;
  const std::vector<Tensor>& params() const { return params_; }
  int64_t steps() const { return step_; }

  // The state as named tensors (step count, learning rate, per-parameter buffers by parameter index).
  virtual NamedTensors state_dict() const;
  // Restores a state_dict() of the same optimizer over parameters of the same shapes; the error names
  // the first missing or mismatched entry, and nothing changes.
  virtual void load_state_dict(const NamedTensors& state);

 protected:
  // Per-parameter buffers, named; created zero-filled on first use.
  Tensor& buffer(const char* name, size_t i);
  bool has_buffer(const char* name, size_t i) const;
  virtual std::vector<const char*> buffer_names() const = 0;
  const char* name_;
  std::vector<Tensor> params_;
  int64_t step_ = 0;

 private:
  std::vector<std::pair<const char*, std::vector<Tensor>>> buffers_;
};

struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;  // needs momentum > 0 and dampening = 0, as torch
};

// g += wd * p; buf = momentum * buf + (1 - dampening) * g (buf = g on the first step);
// g = nesterov ? g + momentum * buf : buf; p -= lr * g
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions options);
  void step() override;
  double lr() const override { return o_.lr; }
  void set_lr(double lr) override { o_.lr = lr; }
  const SGDOptions& options() const { return o_; }

 private:
  std::vector<const char*> buffer_names() const override { return {"momentum_buffer"}; }
  SGDOptions o_;
};

struct AdamOptions {
  double lr = 1e-3;
  std::array<double, 2> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0;
  bool amsgrad = false;
};
struct AdamWOptions {
  double lr = 1e-3;
  std::array<double, 2> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 1e-2;  // torch.optim.AdamW's default
  bool amsgrad = false;
};

// Adam (Kingma and Ba 2015) with L2 weight decay added to the gradient; AdamW (Loshchilov and Hutter
// 2019) decays the weights directly: p *= 1 - lr * wd. The update itself is kernels::adam (SIMD).
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options);
  void step() override;
  double lr() const override { return o_.lr; }
  void set_lr(double lr) override { o_.lr = lr; }
  const AdamOptions& options() const { return o_; }

 protected:
  Adam(std::vector<Tensor> params, AdamOptions options, bool decoupled, const char* name);

 private:
  std::vector<const char*> buffer_names() const override;
  AdamOptions o_;
  bool decoupled_ = false;
};

// Adam over the rows of [N, ...] parameters of which a step touches only some: a per-example table, such
// as the posteriors of non-amortized variational inference. step(rows) updates those rows alone, each row
// with its own step count, so its bias correction counts its own updates ("lazy" Adam; torch's SparseAdam
// keeps one count per tensor, which over-corrects rows visited once per epoch). Gradients are the
// parameters' dense .grad (index_select's backward writes the touched rows). step() updates every row.
// state_dict adds "row_step" [N] (i64) to Adam's entries.
class RowAdam : public Adam {
 public:
  RowAdam(std::vector<Tensor> params, AdamOptions options);  // every parameter [N, ...] with the same N
  void step() override;
  void step(const std::vector<int64_t>& rows);  // distinct row numbers in [0, N)
  NamedTensors state_dict() const override;
  void load_state_dict(const NamedTensors& state) override;
  int64_t rows() const { return int64_t(row_step_.size()); }
  int64_t row_steps(int64_t row) const { return row_step_.at(size_t(row)); }

 private:
  std::vector<int64_t> row_step_;
  std::vector<int64_t> seen_;  // step's duplicate check, its capacity kept from call to call
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, AdamWOptions o)
      : Adam(std::move(params), {o.lr, o.betas, o.eps, o.weight_decay, o.amsgrad}, true, "AdamW") {}
};

// Learning-rate schedules: call step() once per epoch (or per iteration), after opt.step().
// StepLR: lr = base * gamma^floor(t / step_size).
class StepLR {
 public:
  StepLR(Optimizer& opt, int64_t step_size, double gamma = 0.1);
  void step();
  double lr() const { return opt_->lr(); }

 private:
  Optimizer* opt_;
  int64_t step_size_, t_ = 0;
  double base_, gamma_;
};

// CosineAnnealingLR: lr = eta_min + (base - eta_min) * (1 + cos(pi * t / T_max)) / 2 (closed form).
class CosineAnnealingLR {
 public:
  CosineAnnealingLR(Optimizer& opt, int64_t T_max, double eta_min = 0);
  void step();
  double lr() const { return opt_->lr(); }

 private:
  Optimizer* opt_;
  int64_t T_max_, t_ = 0;
  double base_, eta_min_;
};

// Scales all gradients so their global 2-norm is at most max_norm (as torch.nn.utils.clip_grad_norm_:
// coefficient max_norm / (norm + 1e-6), applied only when below 1). Returns the norm before clipping.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm);

}  // namespace elbo::optim
