// GELU, SiLU, LayerNorm, BatchNorm and Embedding against torch.nn (fixtures/layer_fixtures.h), with
// PyTorch's names, running statistics, train/eval, gradchecks.
#include "fixtures/layer_fixtures.h"
#include "test_util.h"

using namespace elbo;
using elbo::testing::all_close;

namespace {
namespace lf = elbo::layer_fixtures;
Tensor fx(const lf::Array& a) { return tensor(a.values, a.shape, DType::f64); }
bool matches(const Tensor& t, const lf::Array& ref) { return t.shape() == Shape(ref.shape) && all_close(t, fx(ref), 1e-10, 1e-10); }
}  // namespace

TEST_CASE("GELU (exact and tanh) and SiLU match torch, values and gradients") {
  struct Case {
    std::function<Tensor(const Tensor&)> f;
    const lf::Array &y, &g;
  };
  const Case cases[] = {{[](const Tensor& x) { return nn::GELU()(x); }, lf::gelu, lf::gelu_grad},
                        {[](const Tensor& x) { return nn::GELU(true)(x); }, lf::gelu_tanh, lf::gelu_tanh_grad},
                        {[](const Tensor& x) { return nn::SiLU()(x); }, lf::silu, lf::silu_grad}};
  for (const Case& c : cases) {
    Tensor x = fx(lf::act_x).requires_grad_();
    const Tensor y = c.f(x);
    CHECK(matches(y, c.y));
    sum(y).backward();
    CHECK(matches(x.grad(), c.g));
  }
  Generator gen(1);
  CHECK(gradcheck([](auto& in) { return gelu(in[0]); }, {testing::uniform({3, 2}, gen, -3, 3)}));
  CHECK(gradcheck([](auto& in) { return gelu(in[0], true); }, {testing::uniform({3, 2}, gen, -3, 3)}));
  CHECK(gradcheck([](auto& in) { return silu(in[0]); }, {testing::uniform({3, 2}, gen, -3, 3)}));
}

TEST_CASE("LayerNorm matches torch over the last one and two dims: output and every gradient") {
  const Tensor r = fx(lf::ln_r);
  struct Case {
    Shape shape;
    const lf::Array &w, &b, &y, &gx, &gw, &gb;
  };
  const Case cases[] = {{{4}, lf::ln1_weight, lf::ln1_bias, lf::ln1_y, lf::ln1_gx, lf::ln1_gw, lf::ln1_gb},
                        {{3, 4}, lf::ln2_weight, lf::ln2_bias, lf::ln2_y, lf::ln2_gx, lf::ln2_gw, lf::ln2_gb}};
  for (const Case& c : cases) {
    nn::LayerNorm ln(c.shape);
    ln.to(DType::f64);
    ln.load_state_dict({{"weight", fx(c.w)}, {"bias", fx(c.b)}});
    Tensor x = fx(lf::ln_x).requires_grad_();
    const Tensor y = ln(x);
    CHECK(matches(y, c.y));
    sum(y * r).backward();
    CHECK(matches(x.grad(), c.gx));
    CHECK(matches(ln.named_parameters()[0].second.grad(), c.gw));
    CHECK(matches(ln.named_parameters()[1].second.grad(), c.gb));
    CHECK(gradcheck_params([&] { return sum(ln(fx(lf::ln_x)) * r); }, ln.parameters()));
  }
  Generator gen(2);
  CHECK(gradcheck([](auto& in) { return layer_norm(in[0], {3}, in[1], in[2]); },
                  {testing::uniform({2, 3}, gen, -2, 2), testing::uniform({3}, gen, 0.5, 1.5), testing::uniform({3}, gen, -1, 1)}));
  CHECK_ERROR_HAS(nn::LayerNorm({5})(zeros({2, 4})), "layer_norm: input [2, 4] does not end in normalized_shape [5]");
}

TEST_CASE("BatchNorm1d and BatchNorm2d match torch: training step, running statistics, eval, names") {
  struct Case {
    bool two_d;
    const lf::Array &w, &b, &x, &r, &y, &gx, &gw, &gb, &rm, &rv, &ey;
  };
  const Case cases[] = {
      {false, lf::bn1d_weight, lf::bn1d_bias, lf::bn1d_x, lf::bn1d_r, lf::bn1d_y, lf::bn1d_gx, lf::bn1d_gw, lf::bn1d_gb,
       lf::bn1d_running_mean, lf::bn1d_running_var, lf::bn1d_eval_y},
      {true, lf::bn2d_weight, lf::bn2d_bias, lf::bn2d_x, lf::bn2d_r, lf::bn2d_y, lf::bn2d_gx, lf::bn2d_gw, lf::bn2d_gb,
       lf::bn2d_running_mean, lf::bn2d_running_var, lf::bn2d_eval_y}};
  for (const Case& c : cases) {
    std::unique_ptr<nn::BatchNorm> bn;
    if (c.two_d) bn = std::make_unique<nn::BatchNorm2d>(3);
    else bn = std::make_unique<nn::BatchNorm1d>(3);
    std::vector<std::string> names;
    for (auto& [n, t] : bn->state_dict()) names.push_back(n);
    CHECK(names == std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"});
    bn->to(DType::f64);
    nn::NamedTensors state = bn->state_dict();
    state[0].second = fx(c.w), state[1].second = fx(c.b);
    bn->load_state_dict(state);
    Tensor x = fx(c.x).requires_grad_();
    const Tensor y = (*bn)(x);
    CHECK(matches(y, c.y));
    sum(y * fx(c.r)).backward();
    CHECK(matches(x.grad(), c.gx));
    CHECK(matches(bn->named_parameters()[0].second.grad(), c.gw));
    CHECK(matches(bn->named_parameters()[1].second.grad(), c.gb));
    CHECK(matches(bn->running_mean(), c.rm));
    CHECK(matches(bn->running_var(), c.rv));
    CHECK(bn->state_dict()[4].second.to_vector<int64_t>() == std::vector<int64_t>{1});
    bn->eval();
    CHECK(matches((*bn)(fx(c.x)), c.ey));
  }
  CHECK_ERROR_HAS(nn::BatchNorm2d(3)(zeros({2, 3})), "BatchNorm2d: input [2, 3] must be [N, 3, H, W]");
  CHECK_ERROR_HAS(nn::BatchNorm1d(3)(zeros({1, 3})), "batch_norm: training needs more than one value per channel");
}

TEST_CASE("Embedding: rows of its weight, gradients added into the rows used") {
  Generator gen(3);
  nn::Embedding emb(5, 2, gen);
  CHECK(emb.named_parameters()[0].first == "weight");
  const Tensor idx = tensor(std::vector<int64_t>{4, 0, 4}, Shape{3});
  const Tensor y = emb(reshape(idx, {1, 3}));
  CHECK(y.shape() == Shape{1, 3, 2});
  CHECK(all_close(select(select(y, 0, 0), 0, 0), select(emb.weight(), 0, 4), 0, 0));
  sum(y).backward();
  CHECK(emb.weight().grad().to_vector<double>() == std::vector<double>{1, 1, 0, 0, 0, 0, 0, 0, 2, 2});
  CHECK_ERROR_HAS(emb(tensor(std::vector<int64_t>{5}, Shape{1})), "Embedding: index 5 is out of range [0, 5)");
  CHECK_ERROR_HAS(emb(zeros({2})), "embedding: indices must be an i64 tensor");
}
