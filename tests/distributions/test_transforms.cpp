// Transforms and TransformedDistribution: torch's elementwise bijections against fixtures, every flow's
// log |det J| against the log |det| of its dense Jacobian (autograd::jacobian, f64, a test-only LU),
// inverses, gradchecks of every parameter, and scoring a flow's own samples.
#include <cmath>
#include <memory>

#include "fixtures/transform_fixtures.h"
#include "dist_test_util.h"

using namespace elbo;
using namespace elbo::testing;
using namespace elbo::dist;

namespace {
namespace tf = elbo::transform_fixtures;
Tensor tx(const tf::Array& a) { return tensor(a.values, a.shape, DType::f64); }
bool matches(const Tensor& t, const tf::Array& ref) {
  return t.shape() == Shape(ref.shape) && all_close(t, tx(ref), 1e-10, 1e-10);
}

// log |det A| of a square f64 matrix by LU with partial pivoting (tests only).
double log_abs_det(const Tensor& a) {
  const int64_t n = a.size(0);
  std::vector<double> m = a.to_vector<double>();
  double s = 0;
  for (int64_t c = 0; c < n; ++c) {
    int64_t p = c;
    for (int64_t r = c + 1; r < n; ++r)
      if (std::abs(m[size_t(r * n + c)]) > std::abs(m[size_t(p * n + c)])) p = r;
    if (p != c)
      for (int64_t k = 0; k < n; ++k) std::swap(m[size_t(c * n + k)], m[size_t(p * n + k)]);
    const double piv = m[size_t(c * n + c)];
    s += std::log(std::abs(piv));
    for (int64_t r = c + 1; r < n; ++r) {
      const double f = m[size_t(r * n + c)] / piv;
      for (int64_t k = c; k < n; ++k) m[size_t(r * n + k)] -= f * m[size_t(c * n + k)];
    }
  }
  return s;
}

// For each row of x [N, D]: |log_det from the transform - log |det| of the autograd Jacobian|, the max.
double log_det_error(const Transform& t, const Tensor& x) {
  const Tensor ld = t.forward_with_log_det(x).log_det;
  double worst = 0;
  for (int64_t i = 0; i < x.size(0); ++i) {
    const Tensor xi = select(x, 0, i);
    const Tensor j = autograd::jacobian([&](const Tensor& z) { return select(t.forward(unsqueeze(z, 0)), 0, 0); }, xi);
    worst = std::max(worst, std::abs(select(ld, 0, i).item() - log_abs_det(j)));
  }
  return worst;
}
}  // namespace

TEST_CASE("affine, exp, sigmoid and tanh transforms match torch: forward, log |det J|, inverse") {
  const Tensor x = tx(tf::x);
  const AffineTransform affine(tx(tf::affine_loc), tx(tf::affine_scale)), affine1(tx(tf::affine_loc), tx(tf::affine_scale), 1);
  const ExpTransform e;
  const SigmoidTransform s;
  const TanhTransform t;
  struct Case {
    const Transform& tr;
    const tf::Array &y, &ld, &inv;
  };
  for (const Case& c : {Case{affine, tf::affine_y, tf::affine_log_det, tf::affine_inverse},
                        Case{affine1, tf::affine1_y, tf::affine1_log_det, tf::affine1_inverse},
                        Case{e, tf::exp_y, tf::exp_log_det, tf::exp_inverse},
                        Case{s, tf::sigmoid_y, tf::sigmoid_log_det, tf::sigmoid_inverse},
                        Case{t, tf::tanh_y, tf::tanh_log_det, tf::tanh_inverse}}) {
    INFO(c.tr.name(), " event_dim ", c.tr.event_dim());
    const Tensor y = c.tr.forward(x);
    CHECK(matches(y, c.y));
    CHECK(matches(c.tr.log_abs_det_jacobian(x, y), c.ld));
    CHECK(matches(c.tr.inverse(y), c.inv));
    CHECK(c.tr.has_inverse());
  }
}

TEST_CASE("TransformedDistribution matches torch: exp(affine(Normal)) and a transform that widens the event") {
  const AnyDistribution base = Independent<Normal>(Normal(tx(tf::base_loc), tx(tf::base_scale)), 1);
  const TransformedDistribution td(base, {std::make_shared<AffineTransform>(tx(tf::affine_loc), abs(tx(tf::affine_scale))),
                                          std::make_shared<ExpTransform>()});
  CHECK(td.batch_shape() == Shape{2});
  CHECK(td.event_shape() == Shape{3});
  CHECK(matches(td.log_prob(tx(tf::td_value)), tf::td_log_prob));
  const TransformedDistribution td1(Normal(tx(tf::base_loc), tx(tf::base_scale)),
                                    {std::make_shared<AffineTransform>(tx(tf::affine_loc), tx(tf::affine_scale), 1)});
  CHECK(td1.batch_shape() == Shape{2});
  CHECK(td1.event_shape() == Shape{3});
  CHECK(matches(td1.log_prob(tx(tf::x)), tf::td1_log_prob));
}

TEST_CASE("planar, radial and householder flows: log |det J| equals the dense Jacobian's; householder inverts") {
  Generator gen(4);
  const int64_t d = 4;
  const Tensor x = uniform({5, d}, gen, -2, 2);
  const PlanarTransform planar(uniform({d}, gen, -2, 2), uniform({d}, gen, -2, 2), uniform({}, gen, -1, 1));
  // u chosen against w so that w.u < -1: the reparameterization must restore invertibility
  const Tensor w = uniform({d}, gen, 0.5, 1);
  const PlanarTransform planar_fixed(-3.0 * w, w, zeros({}, DType::f64));
  CHECK(sum(planar_fixed.u_hat() * w).item() > -1);
  const RadialTransform radial(uniform({d}, gen, -1, 1), uniform({}, gen, -1, 1), uniform({}, gen, -2, 2));
  const HouseholderTransform house(uniform({d}, gen, -1, 1));
  for (const Transform* t : std::initializer_list<const Transform*>{&planar, &planar_fixed, &radial, &house}) {
    INFO(t->name());
    CHECK(log_det_error(*t, x) < 1e-10);
  }
  CHECK(all_close(house.inverse(house.forward(x)), x, 1e-12, 1e-12));
  CHECK_FALSE(planar.has_inverse());
  CHECK_ERROR_HAS(planar.inverse(x), "PlanarTransform: has no closed-form inverse");
}

TEST_CASE("flow parameters gradcheck through y and log |det J|, batched like an encoder's outputs") {
  Generator gen(6);
  const Tensor x = uniform({3, 2, 3}, gen, -1, 1);  // [S, B, D] samples against [B, D] parameters
  auto both = [](const Transform::Result& r) { return cat({flatten(r.y, 0, -1), flatten(r.log_det, 0, -1)}, 0); };
  CHECK(gradcheck([&](auto& in) { return both(PlanarTransform(in[0], in[1], in[2]).forward_with_log_det(in[3])); },
                  {uniform({2, 3}, gen, -1, 1), uniform({2, 3}, gen, -1, 1), uniform({2}, gen, -1, 1), x}));
  CHECK(gradcheck([&](auto& in) { return both(RadialTransform(in[0], in[1], in[2]).forward_with_log_det(in[3])); },
                  {uniform({2, 3}, gen, -1, 1), uniform({2}, gen, -1, 1), uniform({2}, gen, -1, 1), x}));
  CHECK(gradcheck([&](auto& in) { return both(HouseholderTransform(in[0]).forward_with_log_det(in[1])); },
                  {uniform({2, 3}, gen, -1, 1), x}, {.allow_unused = false}));
}

TEST_CASE("a flow scores its own samples without an inverse; other values need one") {
  Generator gen(8);
  const Tensor loc = uniform({2, 3}, gen, -1, 1), scale = uniform({2, 3}, gen, 0.5, 1.5);
  const AnyDistribution base = Independent<Normal>(Normal(loc, scale), 1);
  const auto planar = std::make_shared<PlanarTransform>(uniform({2, 3}, gen, -1, 1), uniform({2, 3}, gen, -1, 1),
                                                        uniform({2}, gen, -1, 1));
  const TransformedDistribution q(base, {planar, std::make_shared<HouseholderTransform>(uniform({3}, gen, -1, 1))});
  Generator g1(5), g2(5);
  const auto draw = q.rsample_with_log_prob(g1, {4});
  CHECK(draw.value.shape() == Shape{4, 2, 3});
  CHECK(draw.log_prob.shape() == Shape{4, 2});
  // the same draw again: log_prob recognizes the tensor and returns the pushed-through density
  const Tensor z = q.rsample(g2, {4});
  CHECK(all_close(z, draw.value, 0, 0));
  CHECK(all_close(q.log_prob(z), draw.log_prob, 0, 0));
  // and that density is log base(x0) - sum log |det|, x0 the base draw
  Generator g3(5);
  const Tensor x0 = base.rsample(g3, {4});
  const auto r1 = planar->forward_with_log_det(x0);
  CHECK(all_close(draw.log_prob, base.log_prob(x0) - r1.log_det, 1e-12, 1e-12));  // householder adds 0
  // a value the flow did not draw needs inverses the planar step lacks
  CHECK_ERROR_HAS(q.log_prob(z.detach().clone()), "TransformedDistribution.log_prob: PlanarTransform has no closed-form inverse");
  // the reparameterized draw carries gradients to the flow's and the base's parameters
  const Tensor u = uniform({3}, gen, -1, 1).requires_grad_(), l = loc.clone().requires_grad_();
  const TransformedDistribution q2(Independent<Normal>(Normal(l, scale), 1),
                                   {std::make_shared<PlanarTransform>(u, ones({3}, DType::f64), zeros({}, DType::f64))});
  const auto d2 = q2.rsample_with_log_prob(gen, {2});
  sum(d2.value + unsqueeze(d2.log_prob, -1)).backward();
  CHECK(u.grad().defined());
  CHECK(l.grad().defined());
  // AnyDistribution wraps it; the estimators' pattern (rsample, then log_prob of that tensor) hits the cache
  const AnyDistribution any(q);
  const Tensor za = any.rsample(gen, {3});
  CHECK(any.log_prob(za).shape() == Shape{3, 2});
  CHECK_FALSE(any.has_moments());
}

TEST_CASE("transform errors name the transform and the shapes") {
  CHECK_ERROR_HAS(PlanarTransform(ones({3}), ones({2}), zeros({})), "PlanarTransform: u [3] and w [2] differ");
  CHECK_ERROR_HAS(PlanarTransform(ones({3}), ones({3}), zeros({})).forward(ones({2, 2})), "PlanarTransform: x [2, 2] is not [..., 3]");
  CHECK_ERROR_HAS(RadialTransform(ones({}), zeros({}), zeros({})), "RadialTransform: x0 must be [..., D]");
  CHECK_ERROR_HAS(TransformedDistribution(Normal(zeros({}), ones({})), {std::make_shared<HouseholderTransform>(ones({2}))}),
                  "TransformedDistribution: a transform acts on 1 event dims, the base Normal (batch [], event []) has 0 dims");
}

TEST_CASE("MADE is autoregressive in its order: d(m, s)_i / d x_j = 0 unless j comes before i") {
  Generator gen(12);
  for (bool reversed : {false, true}) {
    INFO("reversed ", reversed);
    nn::MADE made(4, 10, 3, reversed, gen);
    made.to(DType::f64);
    const Tensor ctx = uniform({3}, gen, -1, 1), x = uniform({4}, gen, -1, 1);
    for (int which = 0; which < 2; ++which) {
      const Tensor j = autograd::jacobian([&](const Tensor& z) {
        const nn::MADE::Output o = made.forward(z, ctx);
        return which == 0 ? o.m : o.s;
      }, x);
      const std::vector<double> v = j.to_vector<double>();
      int64_t nonzero_allowed = 0;
      for (int64_t i = 0; i < 4; ++i)
        for (int64_t k = 0; k < 4; ++k) {
          const bool before = reversed ? k > i : k < i;  // input k precedes output i in the order
          if (!before) CHECK(v[size_t(i * 4 + k)] == 0);
          else nonzero_allowed += v[size_t(i * 4 + k)] != 0;
        }
      CHECK(nonzero_allowed > 3);  // the allowed connections exist (not an all-zero network)
    }
  }
  CHECK_ERROR_HAS(nn::MaskedLinear(3, 2, ones({3, 2})), "MaskedLinear: mask must be [out_features, in_features] = [2, 3]");
  CHECK_ERROR_HAS(nn::MaskedLinear(2, 2, full({2, 2}, 0.5)), "mask must hold only 0 and 1");
  CHECK_ERROR_HAS(nn::MADE(3, 4, 2, false, gen).forward(ones({3})), "MADE: context [] is not [..., 2]");
}

TEST_CASE("the affine autoregressive transform (IAF/MAF): log |det J| equals the dense Jacobian's, D-pass inverse") {
  Generator gen(13);
  nn::MADE made(4, 12, 0, true, gen);
  made.to(DType::f64);
  auto net = [&](const Tensor& z, const Tensor&) {
    const nn::MADE::Output o = made.forward(z);
    return std::pair<Tensor, Tensor>{o.m, o.s};
  };
  const auto iaf = std::make_shared<AffineAutoregressiveTransform>(net, 4);
  const Tensor x = uniform({3, 4}, gen, -2, 2);
  CHECK(log_det_error(*iaf, x) < 1e-10);
  CHECK(all_close(iaf->inverse(iaf->forward(x)), x, 1e-10, 1e-10));
  // MAF: the inverse direction as a transform; its log-det is minus the forward one at the output
  const InverseTransform maf(iaf);
  const Tensor y = iaf->forward(x);
  CHECK(all_close(maf.forward(y), x, 1e-10, 1e-10));
  CHECK(all_close(maf.log_abs_det_jacobian(y, maf.forward(y)), -iaf->forward_with_log_det(x).log_det, 1e-10, 1e-10));
  CHECK(log_det_error(maf, y) < 1e-9);
  // a flow over a Normal whose last step is MAF scores data through the inverse
  const TransformedDistribution td(Independent<Normal>(Normal(zeros({4}, DType::f64), ones({4}, DType::f64)), 1),
                                   {std::make_shared<InverseTransform>(iaf)});
  const Tensor lp = td.log_prob(x);
  const Tensor x0 = iaf->forward(x);  // maf^-1 = iaf
  CHECK(all_close(lp, Independent<Normal>(Normal(zeros({4}, DType::f64), ones({4}, DType::f64)), 1).log_prob(x0) +
                          iaf->forward_with_log_det(x).log_det, 1e-10, 1e-10));
  CHECK(gradcheck([&](auto& in) { return iaf->forward_with_log_det(in[0]).log_det; }, {x}));
}

TEST_CASE("Sylvester flows (orthogonal and triangular Q) and affine coupling: log-det, orthogonality, inverse") {
  Generator gen(17);
  const int64_t d = 4, m = 3;
  const Tensor q = orthogonalize(uniform({d, m}, gen, -1, 1));
  CHECK(all_close(matmul(transpose(q, 0, 1), q), diag_embed(ones({m}, DType::f64)), 1e-10, 1e-10));
  auto upper = [&](int64_t n) { return triu(uniform({n, n}, gen, -1, 1), 1) + diag_embed(tanh(uniform({n}, gen, -2, 2))); };
  const SylvesterTransform orthogonal(q, upper(m), upper(m), uniform({m}, gen, -1, 1));
  const Tensor reversal = flip(diag_embed(ones({d}, DType::f64)), {1});  // T-SNF: a permutation for Q
  const SylvesterTransform triangular(reversal, upper(d), upper(d), uniform({d}, gen, -1, 1));
  const Tensor x = uniform({5, d}, gen, -2, 2);
  CHECK(log_det_error(orthogonal, x) < 1e-10);
  CHECK(log_det_error(triangular, x) < 1e-10);
  CHECK(gradcheck([&](auto& in) {
    return SylvesterTransform(orthogonalize(in[0]), in[1], in[2], in[3]).forward_with_log_det(in[4]).log_det;
  }, {uniform({d, m}, gen, -1, 1), upper(m), upper(m), uniform({m}, gen, -1, 1), uniform({2, d}, gen, -1, 1)},
     {.allow_unused = true}));

  nn::Linear net_layer(2, 4, gen);
  net_layer.to(DType::f64);
  auto net = [&](const Tensor& xa) {
    const Tensor o = net_layer(xa);
    return std::pair<Tensor, Tensor>{tanh(narrow(o, -1, 0, 2)), narrow(o, -1, 2, 2)};
  };
  const AffineCouplingTransform coupling(net, 4, 2);
  CHECK(log_det_error(coupling, x) < 1e-10);
  CHECK(all_close(coupling.inverse(coupling.forward(x)), x, 1e-12, 1e-12));
  CHECK(all_close(narrow(coupling.forward(x), 1, 0, 2), narrow(x, 1, 0, 2), 0, 0));  // the first half passes through
  CHECK_ERROR_HAS(AffineCouplingTransform(net, 4, 4), "AffineCouplingTransform: split 4 must be in [1, 4)");
  CHECK_ERROR_HAS(orthogonalize(ones({2, 3})), "orthogonalize: needs [..., D, M] with D >= M");
}

TEST_CASE("the conditioner networks' parameters gradcheck through IAF, MAF and coupling log-densities") {
  Generator gen(19);
  nn::MADE made(3, 8, 2, false, gen);
  made.to(DType::f64);
  const Tensor ctx = uniform({2, 2}, gen, -1, 1), x = uniform({2, 3}, gen, -1, 1);
  auto net = [&](const Tensor& z, const Tensor& c) {
    const nn::MADE::Output o = made.forward(z, c);
    return std::pair<Tensor, Tensor>{o.m, o.s};
  };
  const auto iaf = std::make_shared<AffineAutoregressiveTransform>(net, 3, ctx);
  const Independent<Normal> base(Normal(zeros({3}, DType::f64), ones({3}, DType::f64)), 1);
  CHECK(gradcheck_params([&] {
    const auto r = iaf->forward_with_log_det(x);
    return cat({flatten(r.y, 0, -1), r.log_det}, 0);
  }, made.parameters()));
  const TransformedDistribution maf(base, {std::make_shared<InverseTransform>(iaf)});
  CHECK(gradcheck_params([&] { return maf.log_prob(x); }, made.parameters()));
  nn::Linear layer(1 + 2, 4, gen);
  layer.to(DType::f64);
  auto st = [&](const Tensor& xa) {
    const Tensor o = layer(cat({xa, ctx}, -1));
    return std::pair<Tensor, Tensor>{tanh(narrow(o, -1, 0, 2)), narrow(o, -1, 2, 2)};
  };
  const TransformedDistribution coupled(base, {std::make_shared<AffineCouplingTransform>(st, 3, 1)});
  CHECK(gradcheck_params([&] { return coupled.log_prob(x); }, layer.parameters()));
}

TEST_CASE("more transform errors: no inverse to invert, shapes that do not fit, settings out of range") {
  const auto planar = std::make_shared<PlanarTransform>(ones({2}), ones({2}), zeros({}));
  CHECK_ERROR_HAS(InverseTransform(planar), "InverseTransform: PlanarTransform has no closed-form inverse");
  CHECK_ERROR_HAS(InverseTransform(nullptr), "InverseTransform: the transform is null");
  auto net = [](const Tensor& z, const Tensor&) { return std::pair<Tensor, Tensor>{z, z}; };
  CHECK_ERROR_HAS(AffineAutoregressiveTransform(net, 0), "AffineAutoregressiveTransform: features must be >= 1");
  CHECK_ERROR_HAS(AffineAutoregressiveTransform(net, 3).forward(ones({2})), "AffineAutoregressiveTransform: x [2] is not [..., 3]");
  auto bad = [](const Tensor& z, const Tensor&) { return std::pair<Tensor, Tensor>{z, sum(z, {-1})}; };
  CHECK_ERROR_HAS(AffineAutoregressiveTransform(bad, 2).forward(ones({2})), "the network returned m [2] and s [] for x [2]");
  CHECK_ERROR_HAS(SylvesterTransform(ones({3, 2}), ones({2, 2}), ones({3, 3}), ones({2})), "SylvesterTransform: R [2, 2] and R~ [3, 3]");
  CHECK_ERROR_HAS(SylvesterTransform(ones({3, 2}), ones({2, 2}), ones({2, 2}), ones({2})).forward(ones({4})),
                  "SylvesterTransform: x [4] is not [..., 3]");
  CHECK_ERROR_HAS(UnitIntervalTransform(0.5), "UnitIntervalTransform: alpha must be in [0, 0.5)");
  const UnitIntervalTransform unit;
  const Tensor x = tensor({0.0, 0.3, 1.0}, {3}, DType::f64);
  CHECK(all_close(unit.forward(unit.inverse(x)), x, 1e-12, 1e-12));  // finite at the ends of [0, 1]
  const FlipTransform flip_t;
  CHECK(flip_t.log_abs_det_jacobian(ones({2, 3}), ones({2, 3})).shape() == Shape{2});
  CHECK(all_close(flip_t.inverse(flip_t.forward(x)), x, 0, 0));
  CHECK_ERROR_HAS(flip_t.log_abs_det_jacobian(ones({}), ones({})), "FlipTransform: x [] has no event dim");
  CHECK_ERROR_HAS(HouseholderTransform(ones({2})).log_abs_det_jacobian(ones({}), Tensor()),
                  "HouseholderTransform: x [] has no event dim");
  // the coupling's conditioner with a context: an empty one is refused, a wrong output shape named
  CHECK_ERROR_HAS(AffineCouplingTransform(AffineCouplingTransform::ContextNet(), ones({2, 1}), 4, 2),
                  "AffineCouplingTransform: the network is empty");
  const AffineCouplingTransform::ContextNet short_st = [](const Tensor& xa, const Tensor&) {
    return std::pair<Tensor, Tensor>{narrow(xa, -1, 0, 1), narrow(xa, -1, 0, 1)};
  };
  CHECK_ERROR_HAS(AffineCouplingTransform(short_st, ones({2, 1}), 4, 2).forward(ones({2, 4})),
                  "the network returned s [2, 1] and t [2, 1], expected [2, 2]");
  CHECK_ERROR_HAS(TransformedDistribution(Normal(zeros({2}), ones({2})), {nullptr}), "TransformedDistribution: transform 0 is null");
  CHECK_ERROR_HAS(TransformedDistribution(AnyDistribution(), {}), "TransformedDistribution: the base distribution is undefined");
}
