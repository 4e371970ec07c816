// The estimators over any model: the ELBO with the KL in closed form and by Monte Carlo, the IWAE bound,
// per-dimension figures, and a model whose posterior is a family the library has never seen.
#include <models/estimators.h>
#include <models/vae.h>

#include <cmath>

#include "test_util.h"

using namespace elbo;
using namespace elbo::models;
using elbo::testing::all_close;
using elbo::testing::uniform;

namespace {

// A user's own posterior family: z = loc + scale * t with t ~ Student-t with 5 degrees of freedom, drawn as
// eps / sqrt(chi^2_5 / 5) (both reparameterized: the chi-square from five squared normals). No KL to a
// Normal is registered, so every estimator must fall back to Monte Carlo.
class StudentT {
 public:
  StudentT(Tensor loc, Tensor scale) : loc_(std::move(loc)), scale_(std::move(scale)) {}
  const Shape& batch_shape() const { return loc_.shape(); }
  Shape event_shape() const { return {}; }
  Tensor rsample(Generator& gen, const Shape& s = {}) const {
    Shape full = s;
    full.insert(full.end(), loc_.shape().begin(), loc_.shape().end());
    Tensor chi2 = zeros(full, loc_.dtype());
    for (int k = 0; k < 5; ++k) chi2 = chi2 + square(randn(full, gen, loc_.dtype()));
    return loc_ + scale_ * randn(full, gen, loc_.dtype()) / sqrt(chi2 / 5.0);
  }
  Tensor sample(Generator& gen, const Shape& s = {}) const {
    NoGradGuard ng;
    return rsample(gen, s).detach();
  }
  // log t_5((x - loc) / scale) - log scale, with log t_v(u) = lgamma((v+1)/2) - lgamma(v/2) - log(v pi)/2
  //   - (v+1)/2 log(1 + u^2/v)
  Tensor log_prob(const Tensor& x) const {
    const double v = 5, c = std::lgamma(3.0) - std::lgamma(2.5) - 0.5 * std::log(v * M_PI);
    const Tensor u = (x - loc_) / scale_;
    return c - 0.5 * (v + 1) * log1p(square(u) / v) - log(scale_);
  }
  Tensor mean() const { return loc_; }
  Tensor variance() const { return square(scale_) * (5.0 / 3.0); }

 private:
  Tensor loc_, scale_;
};

// A linear-Gaussian model over 3 pixels with a 2-D latent: p(z) = N(0, I), p(x|z) = N(W z + b, 0.5^2),
// and an amortized q(z|x) = N(A x, diag(exp(s))) whose family a flag picks.
struct LinearGaussian : nn::Module, AmortizedModel {
  enum class Posterior { normal, student_t } family = Posterior::normal;
  Tensor w = register_parameter("w", tensor({0.5, -1, 1, 0.3, -0.2, 0.8}, {3, 2}, DType::f64));
  Tensor b = register_parameter("b", tensor({0.1, 0.2, -0.3}, {3}, DType::f64));
  Tensor a = register_parameter("a", tensor({0.3, 0.1, -0.2, -0.4, 0.2, 0.5}, {2, 3}, DType::f64));
  Tensor s = register_parameter("s", tensor({-0.5, -0.8}, {2}, DType::f64));
  dist::AnyDistribution prior() const override { return standard_normal(2, DType::f64); }
  dist::AnyDistribution likelihood(const Tensor& z) const override {
    return dist::Independent(dist::Normal(matmul(z, transpose(w, 0, 1)) + b, full({}, 0.5, DType::f64)), 1);
  }
  dist::AnyDistribution posterior(const Tensor& x) const override {
    const Tensor loc = matmul(x, transpose(a, 0, 1)), scale = expand(exp(s), loc.shape());
    if (family == Posterior::student_t) return dist::Independent(StudentT(loc, scale), 1);
    return dist::Independent(dist::Normal(loc, scale), 1);
  }
};

}  // namespace

TEST_CASE("ELBO: the closed-form KL and the Monte Carlo KL have the same expectation") {
  LinearGaussian m;
  const Tensor x = tensor({1, 0, -1, 0.5, 0.5, 2}, {2, 3}, DType::f64);
  Generator g1(1), g2(1);
  const ElboTerms analytic = models::elbo(m, x, g1, {.samples = 20000, .kl = KlEstimate::analytic});
  const ElboTerms mc = models::elbo(m, x, g2, {.samples = 20000, .kl = KlEstimate::monte_carlo});
  // the same draws of z, so the reconstruction terms agree exactly and only the KL estimate differs
  CHECK(all_close(analytic.log_px, mc.log_px, 0, 0));
  const auto ka = analytic.kl.to_vector<double>(), km = mc.kl.to_vector<double>();
  for (size_t i = 0; i < 2; ++i) CHECK(km[i] == doctest::Approx(ka[i]).epsilon(0.02));
  // automatic picks the closed form for (Independent<Normal>, Independent<Normal>)
  Generator g3(1);
  CHECK(all_close(models::elbo(m, x, g3, {.samples = 20000}).kl, analytic.kl, 0, 0));
  CHECK(all_close(analytic.elbo, analytic.log_px - analytic.kl, 1e-12, 1e-12));
}

TEST_CASE("ELBO and IWAE of a user-defined posterior family: Monte Carlo KL, and log p(x) bounds in order") {
  LinearGaussian m;
  m.family = LinearGaussian::Posterior::student_t;
  const Tensor x = tensor({1, 0, -1, 0.5, 0.5, 2}, {2, 3}, DType::f64);
  Generator gen(2);
  const dist::AnyDistribution q = m.posterior(x);
  CHECK(q.name() == "Independent<(anonymous namespace)::StudentT>");
  CHECK_FALSE(dist::has_kl(q, m.prior()));
  CHECK_ERROR_HAS(models::elbo(m, x, gen, {.kl = KlEstimate::analytic}),
                  "no closed form is registered for KL(Independent<(anonymous namespace)::StudentT> || Independent<Normal>)");
  CHECK_ERROR_HAS(kl_per_dim(q, m.prior()), "kl_per_dim: needs two factorized distributions");
  // log p(x) is exact for the linear-Gaussian model: x ~ N(b, W W^T + 0.25 I)
  NoGradGuard ng;
  const double elbo_t = mean(models::elbo(m, x, gen, {.samples = 20000}).elbo).item();
  const double iw1000 = mean(iwae(m, x, gen, 1000, 300)).item();
  const Tensor cov = matmul(m.w, transpose(m.w, 0, 1)) + 0.25 * tensor({1, 0, 0, 0, 1, 0, 0, 0, 1}, {3, 3}, DType::f64);
  // exact: a 3x3 Gaussian log density by Cholesky, written out for the two rows
  const auto c = cov.to_vector<double>();
  const double l00 = std::sqrt(c[0]), l10 = c[3] / l00, l20 = c[6] / l00;
  const double l11 = std::sqrt(c[4] - l10 * l10), l21 = (c[7] - l20 * l10) / l11;
  const double l22 = std::sqrt(c[8] - l20 * l20 - l21 * l21);
  double exact = 0;
  const auto xv = x.to_vector<double>(), bv = m.b.to_vector<double>();
  for (int r = 0; r < 2; ++r) {
    const double d0 = xv[size_t(3 * r)] - bv[0], d1 = xv[size_t(3 * r + 1)] - bv[1], d2 = xv[size_t(3 * r + 2)] - bv[2];
    const double y0 = d0 / l00, y1 = (d1 - l10 * y0) / l11, y2 = (d2 - l20 * y0 - l21 * y1) / l22;
    exact += (-0.5 * (y0 * y0 + y1 * y1 + y2 * y2) - std::log(l00 * l11 * l22) - 1.5 * std::log(2 * M_PI)) / 2;
  }
  INFO("ELBO ", elbo_t, ", IWAE-1000 ", iw1000, ", log p(x) ", exact);
  CHECK(elbo_t < iw1000);  // a bound in expectation only: one estimate may land a hair above log p(x)
  CHECK(std::abs(iw1000 - exact) < 0.05);
}

TEST_CASE("IWAE: K = 1 is the one-sample Monte Carlo ELBO, and chunking does not change the draws") {
  LinearGaussian m;
  const Tensor x = tensor({1, 0, -1, 0.5, 0.5, 2, 0, 0, 0}, {3, 3}, DType::f64);
  Generator g1(3), g2(3);
  CHECK(all_close(iwae(m, x, g1, 1), models::elbo(m, x, g2, {.kl = KlEstimate::monte_carlo}).elbo, 1e-12, 1e-12));
  Generator g3(4), g4(4);
  CHECK(all_close(iwae(m, x, g3, 10, 3), iwae(m, x, g4, 10, 10), 1e-12, 1e-12));
  CHECK_ERROR_HAS(iwae(m, x, g3, 5, 0), "iwae: chunk must be >= 1, got 0");
  // the IWAE bound's gradient reaches every parameter (pathwise through z, and through log q)
  Generator g5(5);
  (-sum(iwae(m, x, g5, 4))).backward();
  for (const auto& [name, p] : m.named_parameters()) CHECK_MESSAGE(p.grad().defined(), name);
}

TEST_CASE("ELBO gradients: gradcheck through the reparameterized sample, analytic and Monte Carlo KL") {
  const Tensor x = tensor({1, 0, -1, 0.5, 0.5, 2}, {2, 3}, DType::f64);
  for (KlEstimate how : {KlEstimate::analytic, KlEstimate::monte_carlo}) {
    auto f = [&](std::vector<Tensor>& in) {
      LinearGaussian m;  // its decoder; q is built from the gradcheck's inputs (encoder weights, log-scales)
      Generator gen(6);  // the same draws for every evaluation
      const Tensor loc = matmul(x, transpose(in[0], 0, 1));
      const dist::AnyDistribution q = dist::Independent(dist::Normal(loc, expand(exp(in[1]), loc.shape())), 1);
      return models::elbo(m, q, x, gen, {.samples = 3, .kl = how}).elbo;
    };
    Generator gen(7);
    CHECK(gradcheck(f, {uniform({2, 3}, gen, -0.5, 0.5), uniform({2}, gen, -1, 0)}));
  }
}

TEST_CASE("latent report: active units and the KL of each latent dim") {
  Generator gen(8);
  VaeOptions o;
  o.height = 2, o.width = 2, o.hidden = 8, o.latent = 3;
  VAE vae(o, gen);
  const Tensor x = bernoulli(rand({50, 4}, gen), gen);
  const LatentReport r = latent_report(vae, x, 0.0, 16);
  CHECK(r.active_units == 3);  // every dim's posterior mean varies a little with x
  REQUIRE(r.kl_per_dim.size() == 3);
  NoGradGuard ng;
  const Tensor per = kl_per_dim(vae.posterior(x), vae.prior());
  const auto expect = mean(per, {0}).to_vector<double>();
  for (size_t j = 0; j < 3; ++j) CHECK(r.kl_per_dim[j] == doctest::Approx(expect[j]).epsilon(1e-5));
  CHECK(latent_report(vae, x, 1e9).active_units == 0);
}
