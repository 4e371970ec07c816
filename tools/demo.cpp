// A first run of elbo: fit a one-hidden-layer MLP to a noisy curve with plain gradient descent and
// print the loss as it falls. Everything here is the public API (elbo/elbo.h).
#include <cstdio>
#include <elbo/elbo.h>

using namespace elbo;

int main() {
  Generator gen(0);
  const int64_t n = 256, hidden = 32;
  const Tensor x = rand({n, 1}, gen) * 4.0 - 2.0;
  const Tensor y = x * x * 0.5 - 1.0 + randn({n, 1}, gen) * 0.05;

  Tensor w1 = (randn({hidden, 1}, gen) * 0.8).requires_grad_();
  Tensor b1 = zeros({hidden}).requires_grad_();
  Tensor w2 = (randn({1, hidden}, gen) * 0.2).requires_grad_();
  Tensor b2 = zeros({1}).requires_grad_();
  const double lr = 0.05;

  for (int step = 0; step <= 2000; ++step) {
    const Tensor pred = linear(tanh(linear(x, w1, b1)), w2, b2);
    const Tensor loss = mse_loss(pred, y);
    loss.backward();
    {
      NoGradGuard no_grad;
      for (Tensor* p : {&w1, &b1, &w2, &b2}) {
        p->copy_(*p - lr * p->grad());
        p->set_grad(Tensor());
      }
    }
    if (step % 250 == 0) std::printf("step %4d  mse %.5f\n", step, loss.item());
  }
  return 0;
}
