#include <sstream>

#include "test_util.h"

using namespace elbo;
using elbo::testing::all_close;

namespace {

// A user module as a reader would write one: children registered by name, typed pointers kept.
class Net : public nn::Module {
 public:
  explicit Net(Generator& gen) {
    scale_ = register_parameter("scale", ones({2}));
    encoder_ = &register_module("encoder", nn::Sequential(nn::Linear(4, 3, gen), nn::ReLU(), nn::Linear(3, 2, gen)));
    head_ = &register_module("head", nn::Linear(2, 1, false, gen));
    register_buffer("count", zeros({1}, DType::i64));
  }
  Tensor forward(const Tensor& x) const { return head_->forward(encoder_->forward(x) * scale_); }
  nn::Sequential* encoder_ = nullptr;
  nn::Linear* head_ = nullptr;
  Tensor scale_;
};

std::vector<std::string> names(const nn::NamedTensors& v) {
  std::vector<std::string> out;
  for (auto& [n, _] : v) out.push_back(n);
  return out;
}

}  // namespace

TEST_CASE("named_parameters: registration order, depth first, PyTorch's dotted names") {
  Generator gen(1);
  Net net(gen);
  CHECK(names(net.named_parameters()) ==
        std::vector<std::string>{"scale", "encoder.0.weight", "encoder.0.bias", "encoder.2.weight", "encoder.2.bias",
                                 "head.weight"});
  CHECK(names(net.named_buffers()) == std::vector<std::string>{"count"});
  CHECK(names(net.state_dict()) ==
        std::vector<std::string>{"scale", "count", "encoder.0.weight", "encoder.0.bias", "encoder.2.weight",
                                 "encoder.2.bias", "head.weight"});
  CHECK(net.parameters().size() == 6);
  CHECK(net.num_parameters() == 2 + 12 + 3 + 6 + 2 + 2);
  for (auto& p : net.parameters()) CHECK(p.requires_grad());
  std::vector<std::string> mods;
  for (auto& [n, m] : net.named_modules()) mods.push_back(n + ":" + m->type_name());
  CHECK(mods == std::vector<std::string>{":Net", "encoder:Sequential", "encoder.0:Linear", "encoder.1:ReLU",
                                         "encoder.2:Linear", "head:Linear"});
}

TEST_CASE("parameters are shared handles: the layer, the registry and an optimizer see one tensor") {
  Generator gen(2);
  nn::Linear lin(3, 2, gen);
  CHECK(lin.named_parameters()[0].second.same(lin.weight()));
  CHECK(lin.parameters()[1].same(lin.bias()));
}

TEST_CASE("moving a module keeps its children and the typed pointers to them valid") {
  Generator gen(3);
  Net a(gen);
  const Tensor x = ones({1, 4});
  const double before = a.forward(x).item();
  Net b(std::move(a));
  CHECK(b.forward(x).item() == before);
  std::vector<Net> many;
  many.push_back(std::move(b));
  many.emplace_back(gen);
  CHECK(many[0].forward(x).item() == before);
  static_assert(!std::is_copy_constructible_v<Net> && !std::is_copy_constructible_v<nn::Linear>);
  static_assert(std::is_move_constructible_v<nn::Sequential>);
}

TEST_CASE("train/eval propagate to every descendant") {
  Generator gen(4);
  Net net(gen);
  CHECK(net.is_training());
  net.eval();
  for (auto& [_, m] : net.named_modules()) CHECK_FALSE(m->is_training());
  net.train();
  for (auto& [_, m] : net.named_modules()) CHECK(m->is_training());
}

TEST_CASE("zero_grad clears every gradient") {
  Generator gen(5);
  Net net(gen);
  sum(net.forward(ones({2, 4}))).backward();
  for (auto& p : net.parameters()) CHECK(p.grad().defined());
  net.zero_grad();
  for (auto& p : net.parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("to(f64) converts in place: held handles see the new dtype and values") {
  Generator gen(6);
  Net net(gen);
  const Tensor w = net.encoder_->named_parameters()[0].second;
  const std::vector<double> before = w.to_vector<double>();
  net.to(DType::f64);
  CHECK(w.dtype() == DType::f64);
  CHECK(w.to_vector<double>() == before);  // f32 -> f64 is exact
  CHECK(net.named_buffers()[0].second.dtype() == DType::i64);  // integer buffers stay
  CHECK(net.forward(ones({1, 4}, DType::f64)).dtype() == DType::f64);
  CHECK_ERROR_HAS(net.to(DType::i64), "Net.to: parameters must be f32 or f64, not i64");
}

TEST_CASE("registration errors name the module and the name") {
  struct Bad : nn::Module {
    explicit Bad(int which) {
      register_parameter("w", zeros({1}));
      if (which == 0) register_parameter("w", zeros({1}));
      if (which == 1) register_module("a.b", nn::ReLU());
      if (which == 2) register_buffer("", zeros({1}));
      if (which == 3) register_parameter("i", zeros({1}, DType::i64));
    }
  };
  CHECK_ERROR_HAS(Bad(0), "Bad: register_parameter: name 'w' is already registered");
  CHECK_ERROR_HAS(Bad(1), "Bad: register_module: name 'a.b' must be non-empty and contain no '.'");
  CHECK_ERROR_HAS(Bad(2), "register_buffer: name ''");
  CHECK_ERROR_HAS(Bad(3), "register_parameter 'i': needs a defined f32/f64 tensor");
}

TEST_CASE("repr shows the tree, settings, shapes and parameter counts") {
  Generator gen(7);
  Net net(gen);
  const std::string s = net.repr();
  CHECK(s.find("Net(\n  scale: f32 [2]\n  (encoder): Sequential(\n") == 0);
  CHECK(s.find("    (0): Linear(in_features=4, out_features=3, bias=true)  # weight[3, 4], bias[3] = 15 params") !=
        std::string::npos);
  CHECK(s.find("    (1): ReLU()") != std::string::npos);
  CHECK(s.find("  (head): Linear(in_features=2, out_features=1, bias=false)  # weight[1, 2] = 2 params") !=
        std::string::npos);
  CHECK(s.find(")  # 27 params") != std::string::npos);
  std::ostringstream os;
  os << net;
  CHECK(os.str() == s);
  nn::Conv2d c(1, 32, 4, 2, 1, true, gen);
  CHECK(c.repr() ==
        "Conv2d(1, 32, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=true)  # weight[32, 1, 4, 4], "
        "bias[32] = 544 params");
}

namespace {
struct Part : nn::Module {
  virtual Tensor forward(const Tensor& x) const = 0;
};
struct Head final : Part {
  nn::Linear& fc1 = register_module("fc1", nn::Linear(4, 3));
  Tensor forward(const Tensor& x) const override { return fc1.forward(x); }
};
struct Whole : nn::Module {
  Part& head = register_inline(std::unique_ptr<Part>(new Head));
  Part& tail = register_module("tail", std::unique_ptr<Part>(new Head));
  nn::Linear& fc2 = register_module("fc2", nn::Linear(3, 2));
};
}  // namespace

TEST_CASE("register_inline keeps a part's names flat; register_module takes a part held by its base class") {
  Whole w;
  std::vector<std::string> names;
  for (auto& [n, t] : w.named_parameters()) names.push_back(n);
  CHECK(names == std::vector<std::string>{"fc1.weight", "fc1.bias", "tail.fc1.weight", "tail.fc1.bias", "fc2.weight",
                                          "fc2.bias"});
  CHECK(w.head.forward(ones({2, 4})).shape() == Shape{2, 3});
  CHECK(w.repr().find("(inline): Head") != std::string::npos);
  // a later registration may not reuse a name an inline part holds, nor an inline part one of the owner's
  struct Clash : nn::Module {
    Clash() {
      register_inline(std::unique_ptr<Part>(new Head));
      register_module("fc1", nn::Linear(1, 1));
    }
  };
  CHECK_ERROR_HAS(Clash(), "register_module: name 'fc1' is already registered");
  struct Clash2 : nn::Module {
    Clash2() {
      register_module("fc1", nn::Linear(1, 1));
      register_inline(std::unique_ptr<Part>(new Head));
    }
  };
  CHECK_ERROR_HAS(Clash2(), "register_inline: name 'fc1' is already registered");
}

TEST_CASE("every layer is callable as forward; state_dict and load_state_dict are methods") {
  Generator gen(3);
  nn::Sequential net(nn::Linear(4, 3, gen), nn::ReLU(), nn::Linear(3, 2, gen));
  const Tensor x = randn({5, 4}, gen);
  CHECK(testing::all_close(net(x), net.forward(x), 0, 0));
  nn::Conv2d conv(1, 2, 3, 1, 1);
  CHECK(conv(zeros({1, 1, 4, 4})).shape() == Shape{1, 2, 4, 4});
  CHECK(nn::Tanh()(zeros({2})).shape() == Shape{2});
  nn::Sequential other(nn::Linear(4, 3, gen), nn::ReLU(), nn::Linear(3, 2, gen));
  other.load_state_dict(net.state_dict());
  CHECK(testing::all_close(other(x), net(x), 0, 0));
  nn::NamedTensors bad = net.state_dict();
  bad.pop_back();
  CHECK_ERROR_HAS(other.load_state_dict(bad), "state_dict");
}

namespace {
// The mistake a new user makes: a layer held as a plain member, never registered.
struct Forgetful : nn::Module {
  nn::Linear fc1{4, 3};  // invisible to parameters()
  nn::Linear* fc2 = &register_module("fc2", nn::Linear(3, 2));
  Tensor forward(const Tensor& x) { return fc2->forward(relu(fc1.forward(x))); }
};
// The same member registered inline: its names stay flat ("weight", "bias") and it trains.
struct Remembers : nn::Module {
  Remembers() { fc1 = &register_inline(std::make_unique<nn::Linear>(4, 3)); }
  nn::Linear* fc1;
};
}  // namespace

TEST_CASE("a module held as a plain member is detected at the optimizer's first step, with a clear error") {
  Forgetful net;
  CHECK(net.parameters().size() == 2);  // only fc2's
  optim::Adam opt(net.parameters(), {.lr = 1e-2});
  sum(net.forward(ones({5, 4}))).backward();
  CHECK_ERROR_HAS(opt.step(), "Adam.step: 2 parameter(s) of a Linear(in_features=4, out_features=3, bias=true) "
                              "received gradients, but no optimizer holds them");
  CHECK_ERROR_HAS(opt.step(), "a module held as a plain member");
  // SGD checks too
  optim::SGD sgd(net.parameters(), {.lr = 1e-2});
  CHECK_ERROR_HAS(sgd.step(), "SGD.step: 2 parameter(s)");

  // Legitimate setups pass: an optimizer over everything, two optimizers each over its own module (a
  // GAN), a frozen unregistered module, and the registered (inline) member.
  optim::SGD all([&] {
    std::vector<Tensor> p = net.parameters(), q = net.fc1.parameters();
    p.insert(p.end(), q.begin(), q.end());
    return p;
  }(), {.lr = 1e-2});
  all.step();
  nn::Linear critic(2, 1);
  nn::Linear generator(3, 2);
  optim::Adam gopt(generator.parameters(), {}), copt(critic.parameters(), {});
  sum(critic.forward(generator.forward(ones({1, 3})))).backward();
  gopt.step();  // the critic got gradients too, but it has its own optimizer
  copt.step();
  nn::Linear frozen(3, 3);
  for (Tensor p : frozen.parameters()) p.requires_grad_(false);
  Tensor x = ones({1, 3}).requires_grad_();
  optim::Adam xopt({x}, {});
  sum(frozen.forward(x)).backward();
  xopt.step();
  Remembers r;
  CHECK(r.parameters().size() == 2);
  optim::Adam ropt(r.parameters(), {});
  sum(r.fc1->forward(ones({1, 4}))).backward();
  ropt.step();
  CHECK(ropt.steps() == 1);
}
