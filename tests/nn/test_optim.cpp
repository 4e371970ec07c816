#include <cmath>
#include <functional>
#include <numbers>

#include "test_util.h"

using namespace elbo;
using elbo::testing::all_close;
using elbo::testing::fixture_tensor;

namespace {

nn::TensorFile fixture() { return nn::load_tensors(std::string(ELBO_NN_FIXTURES) + "/optim.safetensors"); }

using MakeOpt = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;

// Replays torch's five steps and compares the parameter after each.
void replay(const std::string& name, const MakeOpt& make) {
  INFO(name);
  const nn::TensorFile f = fixture();
  Tensor p = fixture_tensor(f, "p0").clone().detach().requires_grad_(true);
  auto opt = make({p});
  for (int t = 0; t < 5; ++t) {
    p.set_grad(fixture_tensor(f, fmt::format("grad.{}", t)));
    opt->step();
    CHECK(all_close(p, fixture_tensor(f, fmt::format("{}.{}", name, t)), 1e-12, 1e-14));
  }
}

}  // namespace

TEST_CASE("SGD, Adam and AdamW take torch 1.13's steps (f64, five steps each)") {
  replay("sgd", [](auto p) { return std::make_unique<optim::SGD>(p, optim::SGDOptions{.lr = 0.1}); });
  replay("sgd_momentum", [](auto p) {
    return std::make_unique<optim::SGD>(p, optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .dampening = 0.1,
                                                              .weight_decay = 0.01});
  });
  replay("sgd_nesterov", [](auto p) {
    return std::make_unique<optim::SGD>(p, optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01,
                                                              .nesterov = true});
  });
  replay("adam", [](auto p) { return std::make_unique<optim::Adam>(p, optim::AdamOptions{.lr = 0.01}); });
  replay("adam_wd_amsgrad", [](auto p) {
    return std::make_unique<optim::Adam>(
        p, optim::AdamOptions{.lr = 0.01, .betas = {0.8, 0.9}, .eps = 1e-6, .weight_decay = 0.1, .amsgrad = true});
  });
  replay("adamw", [](auto p) { return std::make_unique<optim::AdamW>(p, optim::AdamWOptions{.lr = 0.01}); });
  replay("adamw_amsgrad", [](auto p) {
    return std::make_unique<optim::AdamW>(p, optim::AdamWOptions{.lr = 0.01, .weight_decay = 0.1, .amsgrad = true});
  });
}

TEST_CASE("f32 parameters take the same Adam steps to f32 precision") {
  const nn::TensorFile f = fixture();
  Tensor p = fixture_tensor(f, "p0").to(DType::f32).detach().requires_grad_(true);
  optim::Adam opt({p}, {.lr = 0.01});
  for (int t = 0; t < 5; ++t) {
    p.set_grad(fixture_tensor(f, fmt::format("grad.{}", t)).to(DType::f32));
    opt.step();
  }
  CHECK(all_close(p.to(DType::f64), fixture_tensor(f, "adam.4"), 1e-5, 1e-6));
}

TEST_CASE("parameters without a gradient are skipped; zero_grad clears") {
  Tensor a = ones({2}).requires_grad_(true), b = ones({3}).requires_grad_(true);
  optim::SGD opt({a, b}, {.lr = 0.5});
  a.set_grad(ones({2}));
  opt.step();
  CHECK(a.to_vector<double>() == std::vector<double>{0.5, 0.5});
  CHECK(b.to_vector<double>() == std::vector<double>{1, 1, 1});
  opt.zero_grad();
  CHECK_FALSE(a.grad().defined());
  CHECK(opt.steps() == 1);
}

TEST_CASE("optimizer state saved mid-run and loaded into a fresh optimizer continues identically") {
  const nn::TensorFile f = fixture();
  for (bool amsgrad : {false, true}) {
    Tensor p = fixture_tensor(f, "p0").clone().detach().requires_grad_(true);
    Tensor q = fixture_tensor(f, "p0").clone().detach().requires_grad_(true);
    optim::Adam a({p}, {.lr = 0.01, .amsgrad = amsgrad});
    for (int t = 0; t < 2; ++t) {
      p.set_grad(fixture_tensor(f, fmt::format("grad.{}", t)));
      a.step();
    }
    const std::string path = "test_optim_state.safetensors";
    nn::save_tensors(path, a.state_dict());
    q.copy_(p);
    optim::Adam b({q}, {.lr = 0.5, .amsgrad = amsgrad});
    b.load_state_dict(nn::load_tensors(path).tensors);
    CHECK(b.lr() == 0.01);
    CHECK(b.steps() == 2);
    for (int t = 2; t < 5; ++t) {
      p.set_grad(fixture_tensor(f, fmt::format("grad.{}", t)));
      q.set_grad(fixture_tensor(f, fmt::format("grad.{}", t)));
      a.step();
      b.step();
    }
    CHECK(p.to_vector<double>() == q.to_vector<double>());
    std::remove(path.c_str());
  }
  Tensor m = ones({2, 3}).requires_grad_(true);
  optim::SGD sgd({m}, {.lr = 0.1, .momentum = 0.9});
  m.set_grad(ones({2, 3}));
  sgd.step();
  auto state = sgd.state_dict();
  CHECK(state.size() == 3);
  CHECK(state[2].first == "momentum_buffer.0");
  optim::SGD other({ones({3, 2}).requires_grad_(true)}, {.lr = 0.1, .momentum = 0.9});
  CHECK_ERROR_HAS(other.load_state_dict(state),
                  "SGD.load_state_dict: 'momentum_buffer.0' has shape [2, 3], parameter 0 has [3, 2]");
  optim::Adam adam({m}, {});
  CHECK_ERROR_HAS(adam.load_state_dict(state), "Adam.load_state_dict: unexpected entry 'momentum_buffer.0'");
  CHECK_ERROR_HAS(adam.load_state_dict({}), "Adam.load_state_dict: the state lacks one-element 'step' and 'lr'");
}

TEST_CASE("learning-rate schedules") {
  Tensor p = ones({1}).requires_grad_(true);
  optim::SGD opt({p}, {.lr = 1.0});
  optim::StepLR step(opt, 2, 0.5);
  std::vector<double> lrs;
  for (int i = 0; i < 5; ++i) step.step(), lrs.push_back(opt.lr());
  CHECK(lrs == std::vector<double>{1, 0.5, 0.5, 0.25, 0.25});
  optim::SGD opt2({p}, {.lr = 1.0});
  optim::CosineAnnealingLR cos(opt2, 4, 0.1);
  cos.step();
  CHECK(opt2.lr() == doctest::Approx(0.1 + 0.9 * (1 + std::cos(std::numbers::pi / 4)) / 2));
  for (int i = 0; i < 3; ++i) cos.step();
  CHECK(opt2.lr() == doctest::Approx(0.1));
  opt2.set_lr(0.3);
  CHECK(opt2.lr() == 0.3);
}

TEST_CASE("clip_grad_norm_ scales to the global norm, as torch") {
  Tensor a = ones({2}).requires_grad_(true), b = ones({1}).requires_grad_(true);
  a.set_grad(tensor({3, 0}, {2}));
  b.set_grad(tensor({4}, {1}));
  CHECK(optim::clip_grad_norm_({a, b}, 10) == doctest::Approx(5));
  CHECK(a.grad().to_vector<double>() == std::vector<double>{3, 0});  // under the limit: untouched
  CHECK(optim::clip_grad_norm_({a, b}, 1) == doctest::Approx(5));
  CHECK(a.grad().to_vector<double>()[0] == doctest::Approx(3 / (5 + 1e-6)));
  CHECK(b.grad().to_vector<double>()[0] == doctest::Approx(4 / (5 + 1e-6)));
  CHECK_ERROR_HAS(optim::clip_grad_norm_({a}, 0), "clip_grad_norm_: max_norm must be positive, got 0");
}

TEST_CASE("optimizer errors") {
  CHECK_ERROR_HAS(optim::SGD({}, {}), "SGD: got an empty parameter list");
  Tensor p = ones({2}).requires_grad_(true);
  CHECK_ERROR_HAS(optim::SGD({p, p}, {}), "SGD: parameter 1 appears twice (also at 0)");
  CHECK_ERROR_HAS(optim::Adam({p * 2.0}, {}), "Adam: parameter 0 [2] is not a leaf");
  CHECK_ERROR_HAS(optim::SGD({p}, {.nesterov = true}), "SGD: nesterov needs momentum > 0 and dampening = 0");
  CHECK_ERROR_HAS(optim::Adam({p}, {.betas = {0.9, 1.0}}), "Adam: betas (0.9, 1) must be in [0, 1)");
  CHECK_ERROR_HAS(optim::AdamW({p}, {.lr = -1}), "AdamW: lr -1, eps 1e-08 and weight_decay 0.01 must be >= 0");
}

TEST_CASE("five Adam steps on Sequential(Linear, ReLU, Linear) in f32 land where PyTorch's do") {
  const nn::TensorFile f = nn::load_tensors(std::string(ELBO_NN_FIXTURES) + "/torch_mlp_adam.safetensors");
  nn::Sequential net(nn::Linear(4, 8), nn::ReLU(), nn::Linear(8, 2));
  nn::NamedTensors init;
  for (auto& [n, _] : net.state_dict()) init.emplace_back(n, fixture_tensor(f, "init." + n));
  nn::load_state(net, init, "torch_mlp_adam.safetensors");
  optim::Adam opt(net.parameters(), {.lr = 0.01});
  for (int s = 0; s < 5; ++s) {
    opt.zero_grad();
    mse_loss(net.forward(fixture_tensor(f, "x")), fixture_tensor(f, "target")).backward();
    opt.step();
  }
  for (auto& [n, p] : net.state_dict()) {
    INFO(n);
    CHECK(all_close(p, fixture_tensor(f, "final." + n), 1e-5, 1e-6));  // float32 rounding over five steps
  }
  // the trained state saves under torch's names, so load_state_dict(strict=True) accepts it there
  const std::string path = "test_optim_trained.safetensors";
  nn::save(net, path);
  std::vector<std::string> names;
  for (auto& [n, _] : nn::load_tensors(path).tensors) names.push_back(n);
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  std::remove(path.c_str());
}

TEST_CASE("RowAdam: only the named rows move, each with its own step count, as Adam on that row alone") {
  const Tensor p0 = tensor({1, 2, 3, 4, 5, 6}, {3, 2}, DType::f64), q0 = tensor({0.5, -0.5, 1.5}, {3}, DType::f64);
  Tensor p = p0.clone().detach().requires_grad_(true), q = q0.clone().detach().requires_grad_(true);
  optim::RowAdam opt({p, q}, {.lr = 0.1});
  // row 1 is visited three times, row 2 once, row 0 never
  const std::vector<std::vector<int64_t>> visits{{1}, {1, 2}, {1}};
  for (const auto& rows : visits) {
    opt.zero_grad();
    (sum(square(p) * 0.5) + sum(q * 2.0)).backward();  // gradients on every row; step uses the named ones
    opt.step(rows);
  }
  CHECK(opt.row_steps(0) == 0);
  CHECK(opt.row_steps(1) == 3);
  CHECK(opt.row_steps(2) == 1);
  CHECK(narrow(p, 0, 0, 1).to_vector<double>() == std::vector<double>{1, 2});  // untouched
  // the same as Adam on row 1 alone for three steps, and on row 2 for one
  for (auto [row, steps] : {std::pair{int64_t(1), 3}, std::pair{int64_t(2), 1}}) {
    Tensor r = narrow(p0, 0, row, 1).clone().detach().requires_grad_(true);
    Tensor s = narrow(q0, 0, row, 1).clone().detach().requires_grad_(true);
    optim::Adam ref({r, s}, {.lr = 0.1});
    for (int t = 0; t < steps; ++t) {
      ref.zero_grad();
      (sum(square(r) * 0.5) + sum(s * 2.0)).backward();
      ref.step();
    }
    CHECK(all_close(narrow(p, 0, row, 1), r, 1e-14, 1e-14));
    CHECK(all_close(narrow(q, 0, row, 1), s, 1e-14, 1e-14));
  }
  // state round-trips, row steps included; bad input is an error that changes nothing
  Tensor p2 = p.detach().clone().requires_grad_(true), q2 = q.detach().clone().requires_grad_(true);
  optim::RowAdam opt2({p2, q2}, {.lr = 0.1});
  opt2.load_state_dict(opt.state_dict());
  CHECK(opt2.row_steps(1) == 3);
  CHECK_ERROR_HAS(opt.step({0, 0}), "RowAdam.step: a row appears twice");
  CHECK_ERROR_HAS(opt.step({3}), "RowAdam.step: row 3 is outside [0, 3)");
  nn::NamedTensors bad = opt.state_dict();
  for (auto& [n, t] : bad)
    if (n == "row_step") t = tensor({1, -1, 0}, {3}, DType::i64);
  CHECK_ERROR_HAS(opt2.load_state_dict(bad), "row_step -1 of row 1 is negative");
  CHECK(opt2.row_steps(1) == 3);
  CHECK_ERROR_HAS(optim::RowAdam({zeros({3, 2}).requires_grad_(), zeros({4}).requires_grad_()}, {}),
                  "RowAdam: parameter 1 has shape [4], but every parameter must have the same rows as parameter 0 [3, 2]");
}
