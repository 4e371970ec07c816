// Compiles DESIGN.md's public spellings against the installed package and checks a gradient.
#include <cmath>
#include <cstdio>
#include <elbo/elbo.h>

using namespace elbo;

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
  std::printf("downstream: loss %.4f, %zu values, gradcheck %s\n", loss.item(), v.size(), ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
