#include "nn/optim.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "autograd/error.h"
#include "autograd/kernels/kernels.h"
#include "autograd/ops.h"
#include "autograd/tape.h"

namespace elbo::optim {

Optimizer::Optimizer(std::vector<Tensor> params, const char* name) : name_(name), params_(std::move(params)) {
  ELBO_CHECK(!params_.empty(), "{}: got an empty parameter list", name_);
  for (size_t i = 0; i < params_.size(); ++i) {
    ELBO_CHECK(params_[i].defined() && is_floating(params_[i].dtype()),
               "{}: parameter {} must be a defined f32/f64 tensor", name_, i);
    ELBO_CHECK(params_[i].is_leaf(), "{}: parameter {} {} is not a leaf (did you pass an op's result?)", name_, i,
               params_[i].shape());
    for (size_t j = 0; j < i; ++j)
      ELBO_CHECK(!params_[i].same(params_[j]), "{}: parameter {} appears twice (also at {})", name_, i, j);
  }
}

void Optimizer::zero_grad() {
  for (auto& p : params_) p.set_grad(Tensor());
}

Tensor& Optimizer::buffer(const char* name, size_t i) {
  for (auto& [n, v] : buffers_)
    if (std::string_view(n) == name) {
      if (!v[i].defined()) v[i] = zeros(params_[i].shape(), params_[i].dtype());
      return v[i];
    }
  buffers_.emplace_back(name, std::vector<Tensor>(params_.size()));
  auto& v = buffers_.back().second;
  v[i] = zeros(params_[i].shape(), params_[i].dtype());
  return v[i];
}

bool Optimizer::has_buffer(const char* name, size_t i) const {
  for (auto& [n, v] : buffers_)
    if (std::string_view(n) == name) return v[i].defined();
  return false;
}

NamedTensors Optimizer::state_dict() const {
  NamedTensors out;
  out.emplace_back("step", tensor({double(step_)}, {1}, DType::i64));
  out.emplace_back("lr", tensor({lr()}, {1}, DType::f64));
  for (auto& [n, v] : buffers_)
    for (size_t i = 0; i < v.size(); ++i)
      if (v[i].defined()) out.emplace_back(fmt::format("{}.{}", n, i), v[i].clone().detach());
  return out;
}

void Optimizer::load_state_dict(const NamedTensors& state) {
  auto find = [&](const std::string& key) -> const Tensor* {
    for (auto& [n, t] : state)
      if (n == key) return &t;
    return nullptr;
  };
  const Tensor* step = find("step");
  const Tensor* lr_t = find("lr");
  ELBO_CHECK(step && lr_t && step->numel() == 1 && lr_t->numel() == 1,
             "{}.load_state_dict: the state lacks one-element 'step' and 'lr' entries", name_);
  // Check everything before changing anything.
  std::vector<std::pair<std::string, size_t>> entries;
  for (auto& [n, t] : state) {
    if (n == "step" || n == "lr") continue;
    const auto dot = n.rfind('.');
    bool known = false;
    for (const char* b : buffer_names()) known |= dot != std::string::npos && n.substr(0, dot) == b;
    ELBO_CHECK(known, "{}.load_state_dict: unexpected entry '{}'", name_, n);
    size_t i = 0;
    try {
      i = std::stoul(n.substr(dot + 1));
    } catch (const std::exception&) {
      throw Error(fmt::format("{}.load_state_dict: bad parameter index in '{}'", name_, n));
    }
    ELBO_CHECK(i < params_.size(), "{}.load_state_dict: '{}' names parameter {}, but there are {}", name_, n, i,
               params_.size());
    ELBO_CHECK(t.shape() == params_[i].shape(), "{}.load_state_dict: '{}' has shape {}, parameter {} has {}", name_,
               n, t.shape(), i, params_[i].shape());
    entries.emplace_back(n.substr(0, dot), i);
  }
  buffers_.clear();
  size_t k = 0;
  for (auto& [n, t] : state) {
    if (n == "step" || n == "lr") continue;
    const auto& [bname, i] = entries[k++];
    for (const char* b : buffer_names())
      if (bname == b) buffer(b, i).copy_(t);
  }
  step_ = int64_t(step->item());
  set_lr(lr_t->item());
}

// ---- SGD ----

SGD::SGD(std::vector<Tensor> params, SGDOptions o) : Optimizer(std::move(params), "SGD"), o_(o) {
  ELBO_CHECK(o.lr >= 0 && o.momentum >= 0 && o.weight_decay >= 0,
             "SGD: lr {}, momentum {} and weight_decay {} must be >= 0", o.lr, o.momentum, o.weight_decay);
  ELBO_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
             "SGD: nesterov needs momentum > 0 and dampening = 0 (got momentum {}, dampening {})", o.momentum,
             o.dampening);
}

void SGD::step() {
  if (step_ == 0) nn::check_unregistered_modules(params_, name_);
  ++step_;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    const bool first = o_.momentum != 0 && !has_buffer("momentum_buffer", i);
    Tensor buf = o_.momentum != 0 ? buffer("momentum_buffer", i) : Tensor();
    with_float(p.dtype(), "SGD.step", [&](auto t) {
      using T = decltype(t);
      T* pp = p.data<T>();
      const T* gp = g.data<T>();
      T* bp = buf.defined() ? buf.data<T>() : nullptr;
      const T lr = T(o_.lr), wd = T(o_.weight_decay), mom = T(o_.momentum), damp = T(1 - o_.dampening);
      for (int64_t j = 0; j < p.numel(); ++j) {
        T d = gp[j] + wd * pp[j];
        if (bp) {
          bp[j] = first ? d : mom * bp[j] + damp * d;
          d = o_.nesterov ? d + mom * bp[j] : bp[j];
        }
        pp[j] -= lr * d;
      }
    });
  }
}

// ---- Adam / AdamW ----

Adam::Adam(std::vector<Tensor> params, AdamOptions o) : Adam(std::move(params), o, false, "Adam") {}

Adam::Adam(std::vector<Tensor> params, AdamOptions o, bool decoupled, const char* name)
    : Optimizer(std::move(params), name), o_(o), decoupled_(decoupled) {
  ELBO_CHECK(o.lr >= 0 && o.eps >= 0 && o.weight_decay >= 0, "{}: lr {}, eps {} and weight_decay {} must be >= 0",
             name, o.lr, o.eps, o.weight_decay);
  ELBO_CHECK(o.betas[0] >= 0 && o.betas[0] < 1 && o.betas[1] >= 0 && o.betas[1] < 1,
             "{}: betas ({}, {}) must be in [0, 1)", name, o.betas[0], o.betas[1]);
}

std::vector<const char*> Adam::buffer_names() const { return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}; }

void Adam::step() {
  if (step_ == 0) nn::check_unregistered_modules(params_, name_);
  ++step_;
  const kernels::AdamParams a{o_.lr, o_.betas[0], o_.betas[1], o_.eps, o_.weight_decay, step_, decoupled_, o_.amsgrad};
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    const Tensor m = buffer("exp_avg", i);  // handles: buffer() may grow its table
    const Tensor v = buffer("exp_avg_sq", i);
    Tensor vmax = o_.amsgrad ? buffer("max_exp_avg_sq", i) : Tensor();
    with_float(p.dtype(), "Adam.step", [&](auto t) {
      using T = decltype(t);
      kernels::adam<T>(a, p.data<T>(), g.data<T>(), m.data<T>(), v.data<T>(), vmax.defined() ? vmax.data<T>() : nullptr,
                       p.numel());
    });
  }
}

// ---- RowAdam ----

RowAdam::RowAdam(std::vector<Tensor> params, AdamOptions o) : Adam(std::move(params), o, false, "RowAdam") {
  ELBO_CHECK_VALUE(!o.amsgrad, "RowAdam: amsgrad is not supported");
  const Shape& s0 = params_.front().shape();
  for (size_t i = 0; i < params_.size(); ++i)
    ELBO_CHECK_SHAPE(params_[i].dim() >= 1 && params_[i].size(0) == s0.front(),
                     "RowAdam: parameter {} has shape {}, but every parameter must have the same rows as parameter 0 "
                     "{}", i, params_[i].shape(), s0);
  row_step_.assign(size_t(s0.front()), 0);
}

void RowAdam::step() {
  std::vector<int64_t> all(row_step_.size());
  for (size_t r = 0; r < all.size(); ++r) all[r] = int64_t(r);
  step(all);
}

void RowAdam::step(const std::vector<int64_t>& rows) {
  if (step_ == 0) nn::check_unregistered_modules(params_, name_);
  ++step_;
  const AdamOptions& o = options();
  for (int64_t r : rows)
    ELBO_CHECK_VALUE(r >= 0 && r < this->rows(), "RowAdam.step: row {} is outside [0, {})", r, this->rows());
  seen_.assign(rows.begin(), rows.end());
  std::sort(seen_.begin(), seen_.end());
  ELBO_CHECK_VALUE(std::adjacent_find(seen_.begin(), seen_.end()) == seen_.end(), "RowAdam.step: a row appears twice");
  for (int64_t r : rows) ++row_step_[size_t(r)];
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    const Tensor m = buffer("exp_avg", i), v = buffer("exp_avg_sq", i);
    const int64_t width = p.numel() / p.size(0);
    with_float(p.dtype(), "RowAdam.step", [&](auto t) {
      using T = decltype(t);
      for (int64_t r : rows) {
        const kernels::AdamParams a{o.lr, o.betas[0], o.betas[1], o.eps, o.weight_decay, row_step_[size_t(r)], false,
                                    false};
        const int64_t at = r * width;
        kernels::adam<T>(a, p.data<T>() + at, g.data<T>() + at, m.data<T>() + at, v.data<T>() + at, nullptr, width);
      }
    });
  }
}

NamedTensors RowAdam::state_dict() const {
  NamedTensors out = Adam::state_dict();
  out.emplace_back("row_step", tensor(std::vector<double>(row_step_.begin(), row_step_.end()), {rows()}, DType::i64));
  return out;
}

void RowAdam::load_state_dict(const NamedTensors& state) {
  NamedTensors rest;
  const Tensor* rs = nullptr;
  for (const auto& [n, t] : state) {
    if (n == "row_step") rs = &t;
    else rest.emplace_back(n, t);
  }
  ELBO_CHECK(rs && rs->dtype() == DType::i64 && rs->shape() == Shape{rows()},
             "RowAdam.load_state_dict: needs an i64 'row_step' entry of shape [{}]", rows());
  const std::vector<int64_t> steps = rs->to_vector<int64_t>();
  for (size_t r = 0; r < steps.size(); ++r)
    ELBO_CHECK_VALUE(steps[r] >= 0, "RowAdam.load_state_dict: row_step {} of row {} is negative", steps[r], r);
  Adam::load_state_dict(rest);  // checks everything before it changes anything
  row_step_ = steps;
}

// ---- schedules ----

StepLR::StepLR(Optimizer& opt, int64_t step_size, double gamma)
    : opt_(&opt), step_size_(step_size), base_(opt.lr()), gamma_(gamma) {
  ELBO_CHECK(step_size > 0, "StepLR: step_size must be positive, got {}", step_size);
}
void StepLR::step() {
  ++t_;
  opt_->set_lr(base_ * std::pow(gamma_, double(t_ / step_size_)));
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& opt, int64_t T_max, double eta_min)
    : opt_(&opt), T_max_(T_max), base_(opt.lr()), eta_min_(eta_min) {
  ELBO_CHECK(T_max > 0, "CosineAnnealingLR: T_max must be positive, got {}", T_max);
}
void CosineAnnealingLR::step() {
  ++t_;
  opt_->set_lr(eta_min_ + (base_ - eta_min_) * (1 + std::cos(std::numbers::pi * double(t_) / double(T_max_))) / 2);
}

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm) {
  ELBO_CHECK(max_norm > 0, "clip_grad_norm_: max_norm must be positive, got {}", max_norm);
  double sq = 0;
  for (auto& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    NoGradGuard guard;
    sq += sum(square(g.to(DType::f64))).item();  // in f64, as before; pooled tensors, no heap
  }
  const double norm = std::sqrt(sq), coef = max_norm / (norm + 1e-6);
  if (coef < 1) {
    NoGradGuard guard;
    for (auto& p : params)
      if (p.grad().defined()) p.grad().copy_(p.grad() * coef);
  }
  return norm;
}

}  // namespace elbo::optim
