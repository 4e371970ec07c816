#include "models/hierarchical.h"

#include <cmath>

#include "distributions/independent.h"
#include "distributions/normal.h"

namespace elbo::models {
namespace {

class GaussianHead final : public Likelihood {
 public:
  explicit GaussianHead(ScaleLink link) : link_(link) {}
  std::string name() const override { return link_ == ScaleLink::exp ? "gaussian" : "gaussian (softplus scale)"; }
  int64_t out_features(int64_t d) const override { return 2 * d; }
  dist::AnyDistribution distribution(const Tensor& out) const override {
    const int64_t d = out.size(out.dim() - 1) / 2;
    const Tensor raw = narrow(out, -1, d, d);
    return dist::Independent(dist::Normal(narrow(out, -1, 0, d), link_ == ScaleLink::exp ? exp(raw) : softplus(raw)),
                             1);
  }

 private:
  ScaleLink link_;
};

nn::Sequential tanh_mlp(int64_t in, const Sizes& hidden, Generator& gen) {
  nn::Sequential net;
  for (int64_t h : hidden) {
    ELBO_CHECK_VALUE(h >= 1, "MlpConditional: hidden sizes must be >= 1, got {}", fmt::join(hidden, ", "));
    nn::Linear& l = net.push_back(nn::Linear(in, h, gen));
    nn::init::xavier_uniform_(l.weight(), gen);
    nn::init::zeros_(l.bias());
    net.push_back(nn::Tanh());
    in = h;
  }
  return net;
}

}  // namespace

std::shared_ptr<const Likelihood> gaussian_head(ScaleLink link) { return std::make_shared<GaussianHead>(link); }

ScaleLink parse_scale_link(const std::string& name) {
  if (name == "exp") return ScaleLink::exp;
  if (name == "softplus") return ScaleLink::softplus;
  throw ValueError(fmt::format("scale link: expected exp or softplus, got '{}'", name));
}

MlpConditional::MlpConditional(int64_t in, const Sizes& hidden, int64_t out, std::shared_ptr<const Likelihood> head,
                               Generator& gen)
    : in_(in),
      out_(out),
      net_(register_module("net", tanh_mlp(in, hidden, gen))),
      head_(register_module("head", nn::Linear(hidden.empty() ? in : hidden.back(), head->out_features(out), gen))),
      dist_(std::move(head)) {
  ELBO_CHECK_VALUE(in >= 1 && out >= 1, "MlpConditional: in {} and out {} must be >= 1", in, out);
  const int64_t fan_in = hidden.empty() ? in : hidden.back();
  const double b = std::sqrt(6.0 / double(fan_in + out));  // Glorot for each `out`-wide part of the head
  nn::init::uniform_(head_.weight(), -b, b, gen);
  nn::init::zeros_(head_.bias());
}

dist::AnyDistribution MlpConditional::forward(const Tensor& x) const {
  ELBO_CHECK(x.dim() == 2 && x.size(1) == in_, "MlpConditional: expects input [N, {}], got {}", in_, x.shape());
  return dist_->distribution(head_.forward(net_.forward(x)));
}

std::string MlpConditional::extra_repr() const {
  return fmt::format("in={}, out={}, distribution={}", in_, out_, dist_->name());
}

HierarchicalVae& HierarchicalVae::add_layer(int64_t dim, std::unique_ptr<Conditional> up,
                                            std::unique_ptr<Conditional> down) {
  ELBO_CHECK_VALUE(dim >= 1, "HierarchicalVae::add_layer: layer {} has {} dims; it needs at least 1", layers() + 1, dim);
  ELBO_CHECK(up && down, "HierarchicalVae::add_layer: layer {} needs both q and p networks", layers() + 1);
  const size_t i = sizes_.size();
  up_.push_back(&register_module(fmt::format("q{}", i + 1), std::move(up)));
  down_.push_back(&register_module(fmt::format("p{}", i), std::move(down)));
  sizes_.push_back(dim);
  auto q = std::make_shared<std::vector<dist::Chain::Link>>(), p = std::make_shared<std::vector<dist::Chain::Link>>();
  for (size_t l = 1; l < sizes_.size(); ++l)
    q->push_back({sizes_[l], [net = up_[l]](const Tensor& z) { return net->forward(z); }});
  for (size_t l = sizes_.size() - 1; l >= 1; --l)  // p(z_l | z_{l+1}), 1-based: down_[l]
    p->push_back({sizes_[l - 1], [net = down_[l]](const Tensor& z) { return net->forward(z); }});
  q_links_ = std::move(q), p_links_ = std::move(p);
  const nn::NamedTensors params = named_parameters();
  if (!params.empty()) probe_ = params.front().second;
  top_ = dist::AnyDistribution();
  return *this;
}

dist::AnyDistribution HierarchicalVae::prior() const {
  ELBO_CHECK(!sizes_.empty(), "HierarchicalVae: no stochastic layer (add_layer)");
  const DType dt = probe_.defined() ? probe_.dtype() : DType::f32;
  if (!top_.defined() || top_dtype_ != dt) top_ = standard_normal(sizes_.back(), dt), top_dtype_ = dt;
  if (sizes_.size() == 1) return top_;  // one layer: a plain VAE's N(0, I) (closed-form KL to q)
  return dist::Chain::sharing(top_, p_links_, /*reversed=*/true);
}

dist::AnyDistribution HierarchicalVae::posterior(const Tensor& x) const {
  ELBO_CHECK(!sizes_.empty(), "HierarchicalVae: no stochastic layer (add_layer)");
  if (sizes_.size() == 1) return up_[0]->forward(x);
  return dist::Chain::sharing(up_[0]->forward(x), q_links_);
}

dist::AnyDistribution HierarchicalVae::likelihood(const Tensor& z) const {
  ELBO_CHECK(!sizes_.empty(), "HierarchicalVae: no stochastic layer (add_layer)");
  int64_t total = 0;
  for (int64_t s : sizes_) total += s;
  ELBO_CHECK(z.dim() == 2 && z.size(1) == total,
             "HierarchicalVae::likelihood: expects z [N, {}] (the layers {} side by side), got {}", total,
             fmt::join(sizes_, " + "), z.shape());
  return down_[0]->forward(sizes_.size() == 1 ? z : narrow(z, 1, 0, sizes_[0]));
}

std::string HierarchicalVae::describe() const {
  if (!description_.empty()) return description_;
  return fmt::format("hierarchical VAE, {} stochastic layer{} ({})", layers(), layers() == 1 ? "" : "s",
                     fmt::join(sizes_, ", "));
}

std::unique_ptr<HierarchicalVae> make_burda(int64_t layers, int64_t pixels, Generator& gen, ScaleLink scale) {
  ELBO_CHECK_VALUE(layers == 1 || layers == 2,
                   "--stochastic-layers: Burda et al.'s architecture has 1 or 2 stochastic layers, got {}", layers);
  auto m = std::make_unique<HierarchicalVae>();
  const int64_t z1 = layers == 1 ? 50 : 100;
  m->add_layer(z1, std::make_unique<MlpConditional>(pixels, Sizes{200, 200}, z1, gaussian_head(scale), gen),
               std::make_unique<MlpConditional>(z1, Sizes{200, 200}, pixels, make_likelihood(), gen));
  if (layers == 2)
    m->add_layer(50, std::make_unique<MlpConditional>(100, Sizes{100, 100}, 50, gaussian_head(scale), gen),
                 std::make_unique<MlpConditional>(50, Sizes{100, 100}, 100, gaussian_head(scale), gen));
  const char* link = scale == ScaleLink::exp ? "" : ", softplus scale";
  m->set_description(layers == 1 ? fmt::format("burda VAE {}-200-200-(50){}, bernoulli likelihood", pixels, link)
                                 : fmt::format("burda VAE {}-200-200-(100)-100-100-(50){}, bernoulli likelihood",
                                               pixels, link));
  return m;
}

void init_output_bias(HierarchicalVae& m, const Tensor& mean) {
  for (auto& [name, p] : m.named_parameters())
    if (name == "p0.head.bias") {
      ELBO_CHECK(mean.numel() == p.numel(), "init_output_bias: {} pixel means for an output bias of {}", mean.numel(),
                 p.numel());
      NoGradGuard ng;
      const Tensor c = clamp(reshape(mean, p.shape()).to(p.dtype()), 0.001, 0.999);
      p.copy_(log(c) - log1p(-c));
      return;
    }
  throw Error("init_output_bias: the model has no p0.head.bias (not an MlpConditional likelihood)");
}

}  // namespace elbo::models
