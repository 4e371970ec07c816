#include "test_util.h"

using namespace elbo;

namespace {
// A deliberately wrong op: forward x^2, backward claims 3x.
Tensor wrong_square(const Tensor& x) {
  Tensor y = x.detach() * x.detach();
  return record(Op{"wrong_square"}, y, {x}, [x = x.detach()](const Tensor& gy) { return Grads{gy * (3.0 * x)}; });
}
}  // namespace

TEST_CASE("gradcheck catches a wrong backward and reports input, element, analytic and numeric") {
  Generator gen(1);
  const Tensor x = rand({2, 2}, gen, DType::f64) + 0.5;
  GradcheckOptions o;
  o.print = false;
  const std::string r = gradcheck_report([](auto& in) { return wrong_square(in[0]); }, {x}, o);
  CHECK(r.find("input 0 (shape [2, 2]) at element 0") != std::string::npos);
  CHECK(r.find("analytic") != std::string::npos);
  CHECK(r.find("numeric") != std::string::npos);
  CHECK(!gradcheck([](auto& in) { return wrong_square(in[0]); }, {x}, o));
  CHECK(gradcheck([](auto& in) { return square(in[0]); }, {x}));
}

TEST_CASE("gradcheck leaves the caller's tensors untouched and insists on f64") {
  Tensor x = ones({2}, DType::f64);
  CHECK(gradcheck([](auto& in) { return exp(in[0]); }, {x}));
  CHECK(!x.requires_grad());
  CHECK(!x.grad().defined());
  CHECK_ERROR_HAS(gradcheck([](auto& in) { return exp(in[0]); }, {ones({2})}), "gradcheck: input 0 is f32");
}

TEST_CASE("gradcheck passes i64 inputs through") {
  Generator gen(2);
  const Tensor x = rand({2, 3}, gen, DType::f64);
  CHECK(gradcheck([](auto& in) { return gather(in[0], 1, in[1]); }, {x, tensor({0, 2, 1, 1}, {2, 2}, DType::i64)}));
}

TEST_CASE("gradcheck fails an input the output ignores, and checks tensors the function reads itself") {
  Generator gen(11);
  const Tensor own = testing::uniform({2, 3}, gen, -1, 1).requires_grad_();  // "a module's weight"
  const Tensor x = testing::uniform({2, 3}, gen, -1, 1);
  // reads its own weight instead of the input: the input has no effect, and gradcheck says so
  const std::string r = gradcheck_report([&](auto&) { return tanh(own) * 2.0; }, {x}, {.print = false});
  CHECK(r.find("gradcheck: input 0 (shape [2, 3]) has no effect on the output") != std::string::npos);
  CHECK(gradcheck([&](auto&) { return tanh(own) * 2.0; }, {x}, {.print = false, .allow_unused = true}));
  // gradcheck_params perturbs the tensors the function reads, and leaves them as they were
  own.set_grad(full({2, 3}, 7.0, DType::f64));  // a gradient the caller had: kept
  const std::vector<double> before = own.to_vector<double>();
  CHECK(gradcheck_params([&] { return sum(tanh(own) * x, {1}); }, {own}));
  CHECK(own.to_vector<double>() == before);
  CHECK(own.grad().to_vector<double>() == std::vector<double>(6, 7.0));
  // a wrong backward is caught through gradcheck_params too
  const std::string bad = gradcheck_params_report(
      [&] { return sum(own * own.detach()); }, {own}, {.print = false});  // d/dw w^2 is 2w, this records w
  CHECK(bad.find("gradcheck: mismatch for input 0") != std::string::npos);
  CHECK_ERROR_HAS(gradcheck_params([&] { return sum(x); }, {x}), "gradcheck_params: tensor 0 must be an f64 leaf that requires grad");
}
