// Losses, composed from stable primitives (their gradients come for free).
#include "autograd/ops/common.h"
#include "autograd/ops/derivatives.h"

#include <algorithm>


using elbo::detail::Dims;

namespace elbo {
namespace {
Tensor reduce(const Tensor& l, Reduction r) {
  switch (r) {
    case Reduction::none: return l;
    case Reduction::sum: return sum(l);
    case Reduction::mean: return mean(l);
    case Reduction::batchmean:
      ELBO_CHECK_SHAPE(l.dim() >= 1 && l.size(0) > 0, "batchmean: the loss {} has no batch dim", l.shape());
      return sum(l) / double(l.size(0));
  }
  return l;
}
}  // namespace

// BCE(x, t) = -[t log sigmoid(x) + (1 - t) log sigmoid(-x)] = softplus(x) - x t, which never overflows:
// softplus(x) = max(x, 0) + log1p(exp(-|x|)). d/dx = sigmoid(x) - t.
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target, Reduction r) {
  ELBO_CHECK_SHAPE(logits.shape() == target.shape(),
                   "binary_cross_entropy_with_logits: logits {} and target {} must have the same shape",
                   logits.shape(), target.shape());
  const DType d = detail::promote("binary_cross_entropy_with_logits", logits, target);
  const Tensor x = logits.to(d), t = target.to(d);
  Tensor l = detail::binary_kernel("binary_cross_entropy_with_logits", x, t, kernels::Binary::bce_logits);
  const bool gt = t.requires_grad();
  l = record(op::bce_logits, l, {x, t}, [x, t, gt](const Tensor& gy) {
    // d/dx = sigmoid(x) - t, d/dt = -x
    return Grads{detail::bce_logits_backward(gy, x, t), gt ? gy * -x : Tensor()};
  });
  return reduce(l, r);
}

// Each row (the last n dims) summed by one kernel (kernels::bce_logits_rows), its gradient by another.
Tensor binary_cross_entropy_with_logits_sum(const Tensor& logits, const Tensor& target, int64_t n) {
  constexpr const char* op = "binary_cross_entropy_with_logits_sum";
  ELBO_CHECK_SHAPE(logits.shape() == target.shape(), "{}: logits {} and target {} must have the same shape", op,
                   logits.shape(), target.shape());
  ELBO_CHECK_SHAPE(n >= 0 && n <= logits.dim(), "{}: cannot sum the last {} dims of {}", op, n, logits.shape());
  const DType d = detail::promote(op, logits, target);
  const Tensor x = logits.to(d), t = target.to(d);
  const int64_t lead = x.dim() - n;
  int64_t cols = 1;
  for (int64_t i = lead; i < x.dim(); ++i) cols *= x.size(i);
  const IntList out_shape(x.shape().data(), size_t(lead));
  Tensor y = empty(out_shape, d);
  const int64_t rows = y.numel();
  with_float(d, op, [&](auto z) {
    using T = decltype(z);
    kernels::bce_logits_rows<T>(detail::in<T>(x), detail::in<T>(t), detail::out<T>(y), cols);
  });
  const bool gt = t.requires_grad();
  return record(op::bce_logits_sum, y, {x, t}, [x, t, gt, rows, cols](const Tensor& gy) {
    Tensor gtarget;  // d/dt = -x, scaled by the row's gradient
    if (gt) gtarget = reshape(expand(reshape(gy, {rows, 1}), {rows, cols}) * -reshape(x, {rows, cols}), x.shape());
    return Grads{detail::bce_logits_sum_backward(gy, x, t), gtarget};
  });
}

namespace detail {
namespace {
// The second derivatives of g_x = gy (sigmoid(x) - t), given the gradient g of g_x and gy at x's shape:
// d/dx = g gy sigmoid'(x), d/dt = -g gy.
Grads bce_second(const Tensor& g, const Tensor& gy_full, const Tensor& x, bool gx, bool gt) {
  const Tensor ggy = (gx || gt) ? g * gy_full : Tensor();
  return Grads{gx ? sigmoid_backward(ggy, sigmoid(x)) : Tensor(), gt ? -ggy : Tensor()};
}
}  // namespace

Tensor bce_logits_backward(const Tensor& gy, const Tensor& x, const Tensor& t) {
  Tensor r = binary_kernel("binary_cross_entropy_with_logits_backward", x, t, kernels::Binary::sigmoid_sub);
  with_float(r.dtype(), "binary_cross_entropy_with_logits_backward", [&](auto z) {
    using T = decltype(z);
    kernels::binary<T>(kernels::Binary::mul, in<T>(r), in<T>(gy), out<T>(r));  // in place: (sigmoid(x) - t) gy
  });
  const bool ggy = gy.requires_grad(), gx = x.requires_grad(), gt = t.requires_grad();
  return record(op::bce_logits_backward, r, {gy, x, t}, [gy, x, t, ggy, gx, gt](const Tensor& g) {
    Grads second = bce_second(g, gy, x, gx, gt);
    return Grads{ggy ? bce_logits_backward(g, x, t) : Tensor(), second[0], second[1]};
  });
}

Tensor bce_logits_sum_backward(const Tensor& gy, const Tensor& x, const Tensor& t) {
  const int64_t rows = gy.numel(), cols = rows ? x.numel() / rows : 0;
  Tensor gx = empty(x.shape(), x.dtype());
  with_float(x.dtype(), "binary_cross_entropy_with_logits_sum_backward", [&](auto z) {
    using T = decltype(z);
    kernels::bce_logits_rows_grad<T>(in<T>(x), in<T>(t), in<T>(gy), out<T>(gx), cols);
  });
  const bool ggy = gy.requires_grad(), gx_ = x.requires_grad(), gt = t.requires_grad();
  return record(op::bce_logits_sum_backward, gx, {gy, x, t}, [gy, x, t, ggy, gx_, gt, rows, cols](const Tensor& g) {
    const Tensor gy_full = reshape(expand(reshape(gy, {rows, 1}), {rows, cols}), x.shape());
    Grads second = bce_second(g, gy_full, x, gx_, gt);
    const Tensor g_gy =
        ggy ? reshape(sum(reshape(bce_logits_backward(g, x, t), {rows, cols}), {1}), gy.shape()) : Tensor();
    return Grads{g_gy, second[0], second[1]};
  });
}
}  // namespace detail

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction r) {
  ELBO_CHECK_SHAPE(input.shape() == target.shape(), "mse_loss: input {} and target {} must have the same shape",
                   input.shape(), target.shape());
  return reduce(square(input - target), r);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction r) {
  ELBO_CHECK_SHAPE(input.shape() == target.shape(), "l1_loss: input {} and target {} must have the same shape",
                   input.shape(), target.shape());
  return reduce(abs(input - target), r);
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction r, double beta) {
  ELBO_CHECK_SHAPE(input.shape() == target.shape(), "smooth_l1_loss: input {} and target {} must have the same shape",
                   input.shape(), target.shape());
  ELBO_CHECK_VALUE(beta >= 0, "smooth_l1_loss: beta must be >= 0, got {}", beta);
  if (beta == 0) return l1_loss(input, target, r);
  const Tensor d = abs(input - target);
  return reduce(where(lt(d.detach(), full({}, beta, d.dtype())), square(d) * (0.5 / beta), d - 0.5 * beta), r);
}

Tensor kl_div(const Tensor& input, const Tensor& target, Reduction r, bool log_target) {
  ELBO_CHECK_SHAPE(input.shape() == target.shape(), "kl_div: input {} and target {} must have the same shape",
                   input.shape(), target.shape());
  if (log_target) return reduce(exp(target) * (target - input), r);
  // target log target as torch's xlogy: 0 where target is 0 (where() keeps the log's NaN out of the gradient)
  const Tensor zero = zeros({}, target.dtype()), pos = gt(target.detach(), zero);
  const Tensor tlogt = where(pos, target * log(where(pos, target, ones({}, target.dtype()))), zero);
  return reduce(tlogt - target * input, r);
}

namespace {
// log_probs [N, C, d...] -> [M, C] rows with the class last; target [N, d...] -> M class indices.
Tensor class_rows(const Tensor& x) {
  if (x.dim() == 2) return x;
  Dims perm{0};
  for (int64_t d = 2; d < x.dim(); ++d) perm.push_back(d);
  perm.push_back(1);
  return reshape(permute(x, perm), {-1, x.size(1)});
}
void check_targets(const char* op, const Tensor& input, const Tensor& target, int64_t ignore_index,
                   const Tensor& weight, Reduction r) {
  ELBO_CHECK_VALUE(r != Reduction::batchmean, "{}: reduction batchmean is kl_div's (use mean or sum)", op);
  ELBO_CHECK(target.defined() && target.dtype() == DType::i64, "{}: target must be an i64 tensor of class indices, "
             "got {} {}", op, target.defined() ? name(target.dtype()) : "undefined", target.defined() ? target.shape() : Shape{});
  bool ok = input.dim() >= 2 && target.dim() == input.dim() - 1 && target.size(0) == input.size(0);
  for (int64_t d = 2; ok && d < input.dim(); ++d) ok = target.size(d - 1) == input.size(d);
  ELBO_CHECK_SHAPE(ok, "{}: input {} (classes on dim 1) and target {} do not fit: target must be the input's shape "
                   "without dim 1", op, input.shape(), target.shape());
  const int64_t c = input.size(1);
  ELBO_CHECK_SHAPE(!weight.defined() || weight.shape() == Shape{c}, "{}: weight {} must be [{}], one per class", op,
                   weight.defined() ? weight.shape() : Shape{}, c);
  const int64_t* t = target.data<const int64_t>();
  for (int64_t i = 0; i < target.numel(); ++i)
    ELBO_CHECK_VALUE((t[i] >= 0 && t[i] < c) || t[i] == ignore_index,
                     "{}: target {} at index {} is not a class in [0, {}) nor ignore_index {}", op, t[i], i, c,
                     ignore_index);
}
// The targets with ignored ones replaced by class 0, as [M, 1], and the mask of kept ones as [M] in dtype.
std::pair<Tensor, Tensor> kept_targets(const Tensor& target, int64_t ignore_index, DType dtype) {
  Tensor safe = empty({target.numel(), 1}, DType::i64), keep = empty({target.numel()}, dtype);
  const int64_t* t = target.data<const int64_t>();
  with_float(dtype, "nll_loss", [&](auto z) {
    using T = decltype(z);
    for (int64_t i = 0; i < target.numel(); ++i) {
      const bool k = t[i] != ignore_index;
      safe.data<int64_t>()[i] = k ? t[i] : 0;
      keep.data<T>()[i] = k ? T(1) : T(0);
    }
  });
  return {safe, keep};
}
}  // namespace

// loss_i = -w[t_i] log_probs[i, t_i] for kept targets, 0 for ignored ones; mean = sum / sum of w[t_i] kept.
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const NllLossOptions& o) {
  check_targets("nll_loss", log_probs, target, o.ignore_index, o.weight, o.reduction);
  const Tensor lp = class_rows(log_probs);
  const auto [safe, keep] = kept_targets(target, o.ignore_index, lp.dtype());
  const Tensor w = o.weight.defined() ? index_select(o.weight.detach().to(lp.dtype()), 0, reshape(safe, {-1})) * keep : keep;
  const Tensor loss = -reshape(gather(lp, 1, safe), {-1}) * w;
  switch (o.reduction) {
    case Reduction::batchmean: break;  // refused by check_reduction
    case Reduction::none: return reshape(loss, target.shape());
    case Reduction::sum: return sum(loss);
    case Reduction::mean: return sum(loss) / sum(w);  // 0 / 0 = NaN when every target is ignored, as torch
  }
  return loss;
}

// (1 - s) nll_loss(log_softmax(x)) + s / C * smooth, smooth_i = -sum_c w_c log_softmax(x)[i, c] (0 where
// ignored), reduced as nll_loss reduces (the mean divides by the same summed target weights): torch 1.13's
// cross_entropy_loss_label_smoothing.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& o) {
  ELBO_CHECK_VALUE(o.label_smoothing >= 0 && o.label_smoothing <= 1,
                   "cross_entropy: label_smoothing must be in [0, 1], got {}", o.label_smoothing);
  check_targets("cross_entropy", logits, target, o.ignore_index, o.weight, o.reduction);
  const Tensor lp = log_softmax(logits, 1);
  const Tensor nll = nll_loss(lp, target, {o.weight, o.ignore_index, o.reduction});
  if (o.label_smoothing == 0) return nll;
  const Tensor rows = class_rows(lp);
  const auto [safe, keep] = kept_targets(target, o.ignore_index, rows.dtype());
  const Tensor w = o.weight.defined() ? o.weight.detach().to(rows.dtype()) : Tensor();
  const Tensor smooth = -sum(w.defined() ? rows * w : rows, {1}) * keep;  // [M]
  Tensor reduced;
  switch (o.reduction) {
    case Reduction::batchmean: break;  // refused by check_reduction
    case Reduction::none: reduced = reshape(smooth, target.shape()); break;
    case Reduction::sum: reduced = sum(smooth); break;
    case Reduction::mean:
      reduced = sum(smooth) / (w.defined() ? sum(index_select(w, 0, reshape(safe, {-1})) * keep) : sum(keep));
      break;
  }
  const double c = double(logits.size(1));
  return (1 - o.label_smoothing) * nll + reduced * (o.label_smoothing / c);
}

}  // namespace elbo
