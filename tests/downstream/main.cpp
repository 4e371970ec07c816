// Compiles the public spellings (the README's "Using elbo from C++") against the installed package and checks a gradient.
#include <cmath>
#include <cstdio>
#include <string>
#include <elbo/elbo.h>

using namespace elbo;

// A user's module with a layer held as a plain member: the optimizer's first step must refuse it.
struct Forgetful : nn::Module {
  nn::Linear hidden{3, 3};
  nn::Linear* out = &register_module("out", nn::Linear(3, 1));
  Tensor forward(const Tensor& x) { return (*out)(relu(hidden(x))); }
};

int main() {
  Tensor t = tensor(std::vector<double>{1, 2, 3, 4}, Shape{2, 2}, DType::f64);
  Generator gen(42);
  Tensor r = randn({2, 2}, gen, DType::f64) + rand({2, 2}, gen, DType::f64) + zeros({2, 2}, DType::f64) +
             ones({2, 2}, DType::f64) + full({2, 2}, 0.5, DType::f64);
  t.requires_grad_(true);
  Tensor y = sum(exp(t) * r, Shape{1}, /*keepdim=*/false);
  Tensor loss = mean(logsumexp(log_softmax(matmul(t, t), 1), 1)) + sum(y);
  loss.backward();
  if (!t.grad().defined() || t.requires_grad() != true) return 1;
  { NoGradGuard guard; Tensor z = t * 2.0; if (z.requires_grad()) return 1; }
  std::vector<double> v = t.detach().to(DType::f32).to_vector<double>();
  bool ok = gradcheck([](auto& in) { return sum(tanh(in[0])); }, {t.detach()});

  // nn, as the README spells it
  nn::Sequential net(nn::Linear(4, 3), nn::ReLU(), nn::Linear(3, 2));
  nn::Conv2d conv(1, 2, 3, 1, 1);
  nn::ConvTranspose2d deconv(2, 1, 4, 2, 1);
  Tensor x = randn({5, 4}, gen);
  Tensor out = net.forward(x);
  if (net.named_parameters()[0].first != "0.weight" || conv.named_parameters().size() != 2) return 1;
  net.train();
  net.eval();
  optim::Adam opt(net.parameters(), {.lr = 1e-3});
  optim::SGD sgd(net.parameters(), {.lr = 0.1, .momentum = 0.9});
  opt.zero_grad();
  mean(square(out)).backward();
  opt.step();
  sgd.zero_grad();
  nn::save(net, "downstream.safetensors");
  nn::load(net, "downstream.safetensors");
  (void)deconv;

  // distributions, as the README spells them
  Tensor loc = zeros({3}), scale = ones({3});
  dist::Normal q(loc, scale);
  dist::Bernoulli b(zeros({3}));
  dist::Bernoulli bp = dist::Bernoulli::from_probs(full({3}, 0.5));
  dist::Categorical c(zeros({2, 4}));
  dist::Categorical cp = dist::Categorical::from_probs(full({2, 4}, 0.25));
  Tensor zs = q.sample(gen), zr = q.rsample(gen);
  Tensor lp = q.log_prob(zs) + b.log_prob(bp.sample(gen)) + q.entropy() + q.mean() + q.variance();
  Tensor kl = dist::kl_divergence(q, dist::Normal(loc, scale * 2.0)) + dist::kl_divergence(b, bp);
  Tensor kc = dist::kl_divergence(c, cp) + c.log_prob(c.sample(gen));
  if (lp.numel() != 3 || kl.numel() != 3 || kc.numel() != 2 || zr.numel() != 3) return 1;

  // the PyTorch-style pieces of the README ("Using elbo from C++"), as a user writes them
  Tensor labels = tensor(std::vector<int64_t>{3, 1, 4}, Shape{3});
  Tensor logits = randn({3, 5}, gen);
  Tensor acc = mean(eq(argmax(logits, 1), labels).to(DType::f32));
  Tensor next = (labels + 1) % 10, steps = arange(0, 10, 2);
  Tensor ce = cross_entropy(logits, labels, {.ignore_index = -100, .reduction = Reduction::mean, .label_smoothing = 0.1});
  Tensor nll = nll_loss(log_softmax(logits, 1), labels, {.ignore_index = -100, .reduction = Reduction::mean});
  std::vector<Tensor> halves = chunk(logits, 2, 1);
  Tensor added = index_add(zeros({5, 5}), 0, labels, logits);
  Tensor rows = stack(unbind(logits, 0), 0) + select(logits, 0, 1);
  Tensor x64 = randn({2, 4}, gen, DType::f64);
  nn::Linear lin(4, 3);
  lin.to(DType::f64);
  bool params_ok = gradcheck_params([&] { return lin(x64); }, lin.parameters());
  // higher order, as a user computing a gradient penalty and a Hessian would
  Tensor xg = x64.detach().requires_grad_();
  Tensor gx = autograd::grad({sum(softplus(lin(xg)))}, {xg}, {.create_graph = true})[0];
  sum(square(gx)).backward();
  Tensor hess = autograd::hessian([](const Tensor& z) { return sum(z * z * z); }, tensor({1, 2}, {2}, DType::f64));
  bool second_ok = lin.weight().grad().defined() && hess.to_vector<double>() == std::vector<double>{6, 0, 0, 12} &&
                   gradgradcheck([](auto& in) { return log_softmax(in[0], 1); }, {x64});
  Forgetful forgetful;
  optim::Adam forgetful_opt(forgetful.parameters(), {});
  sum(forgetful.forward(ones({2, 3}))).backward();
  bool caught = false;
  try {
    forgetful_opt.step();
  } catch (const Error& e) {
    caught = std::string(e.what()).find("held as a plain member") != std::string::npos;
  }
  if (!caught) return 1;
  if (next.to_vector<int64_t>() != std::vector<int64_t>{4, 2, 5} || steps.numel() != 5 || !params_ok || !second_ok ||
      halves.size() != 2 || added.shape() != Shape{5, 5} || rows.shape() != Shape{3, 5} || !std::isfinite(ce.item() + nll.item() + acc.item()))
    return 1;
  std::printf("downstream: loss %.4f, %zu values, gradcheck %s\n", loss.item(), v.size(), ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
