#include "test_util.h"

using namespace elbo;
using elbo::testing::uniform;

TEST_CASE("reshape, flatten, unsqueeze, squeeze share storage and are differentiable") {
  Tensor x = arange(6).to(DType::f64);
  Tensor y = reshape(x, {2, -1});
  CHECK(y.shape() == Shape{2, 3});
  CHECK(y.raw() == x.raw());
  CHECK(flatten(reshape(x, {1, 2, 3}), 1).shape() == Shape{1, 6});
  CHECK(unsqueeze(x, 0).shape() == Shape{1, 6});
  CHECK(unsqueeze(x, -1).shape() == Shape{6, 1});
  CHECK(squeeze(unsqueeze(x, 1), 1).shape() == Shape{6});
  Generator gen(1);
  CHECK(gradcheck([](auto& in) { return reshape(in[0], {3, 2}) * tensor({1, 2, 3, 4, 5, 6}, {3, 2}, DType::f64); },
                  {uniform({2, 3}, gen, -1, 1)}));
  CHECK_ERROR_HAS(reshape(x, {4, 2}), "reshape: shape [4, 2] (8 elements) does not fit a tensor of shape [6]");
  CHECK_ERROR_HAS(reshape(x, {-1, -1}), "only one dim may be -1");
  CHECK_ERROR_HAS(reshape(x, {4, -1}), "cannot infer -1");
}

TEST_CASE("transpose and permute: values and gradchecks") {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, DType::f64);
  CHECK(transpose(x, 0, 1).to_vector<double>() == std::vector<double>{1, 4, 2, 5, 3, 6});
  Tensor y = reshape(arange(24).to(DType::f64), {2, 3, 4});
  Tensor p = permute(y, {2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p.to_vector<double>()[1] == 4);  // p[0][0][1] = y[0][1][0]
  Generator gen(2);
  CHECK(gradcheck([](auto& in) { return permute(in[0], {1, 2, 0}); }, {uniform({2, 3, 4}, gen, -1, 1)}));
  CHECK(gradcheck([](auto& in) { return transpose(in[0], -1, 0); }, {uniform({2, 3}, gen, -1, 1)}));
  CHECK_ERROR_HAS(permute(y, {0, 0, 1}), "is not a permutation");
  CHECK_ERROR_HAS(transpose(x, 0, 2), "transpose: dim 2 out of range");
}

TEST_CASE("cat, stack and narrow") {
  Tensor a = tensor({1, 2, 3, 4}, {2, 2}, DType::f64), b = tensor({5, 6}, {2, 1}, DType::f64);
  CHECK(cat({a, b}, 1).to_vector<double>() == std::vector<double>{1, 2, 5, 3, 4, 6});
  CHECK(cat({a, transpose(b, 0, 1)}, 0).shape() == Shape{3, 2});
  CHECK(stack({a, a}, 0).shape() == Shape{2, 2, 2});
  CHECK(narrow(a, 1, 1, 1).to_vector<double>() == std::vector<double>{2, 4});
  CHECK(narrow(a, 0, -1, 1).to_vector<double>() == std::vector<double>{3, 4});
  Generator gen(3);
  CHECK(gradcheck([](auto& in) { return cat({in[0], in[1], in[0]}, 1); }, {uniform({2, 2}, gen, -1, 1), uniform({2, 3}, gen, -1, 1)}));
  CHECK(gradcheck([](auto& in) { return stack({in[0], in[1]}, 1); }, {uniform({2, 2}, gen, -1, 1), uniform({2, 2}, gen, -1, 1)}));
  CHECK(gradcheck([](auto& in) { return narrow(in[0], 1, 1, 2); }, {uniform({2, 4}, gen, -1, 1)}));
  CHECK(gradcheck([](auto& in) { return narrow(in[0], 0, 0, 1); }, {uniform({2, 4}, gen, -1, 1)}));
  CHECK_ERROR_HAS(cat({a, b}, 0), "cat: shapes [[2, 2], [2, 1]] differ outside dim 0");
  CHECK_ERROR_HAS(cat({}, 0), "cat: no tensors");
  CHECK_ERROR_HAS(narrow(a, 1, 1, 2), "narrow: [1, 3) is outside dim 1 of size 2");
}

TEST_CASE("gather and index_select: values, repeated indices, gradchecks, errors") {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, DType::f64);
  Tensor idx = tensor({2, 0, 1, 1}, {2, 2}, DType::i64);
  CHECK(gather(x, 1, idx).to_vector<double>() == std::vector<double>{3, 1, 5, 5});
  Tensor rows = tensor({1, 1, 0}, {3}, DType::i64);
  CHECK(index_select(x, 0, rows).to_vector<double>() == std::vector<double>{4, 5, 6, 4, 5, 6, 1, 2, 3});
  CHECK(index_select(x, 1, tensor({2}, {1}, DType::i64)).to_vector<double>() == std::vector<double>{3, 6});
  Generator gen(4);
  CHECK(gradcheck([idx](auto& in) { return gather(in[0], 1, idx); }, {uniform({2, 3}, gen, -1, 1)}));
  CHECK(gradcheck([idx](auto& in) { return gather(in[0], 0, tensor({1, 0, 1, 1}, {2, 2}, DType::i64)); }, {uniform({2, 3}, gen, -1, 1)}));
  CHECK(gradcheck([rows](auto& in) { return index_select(in[0], 0, rows); }, {uniform({2, 3}, gen, -1, 1)}));
  CHECK(gradcheck([](auto& in) { return index_select(in[0], 1, tensor({0, 2, 0}, {3}, DType::i64)); }, {uniform({2, 3}, gen, -1, 1)}));
  CHECK_ERROR_HAS(gather(x, 1, tensor({3}, {1, 1}, DType::i64)), "gather: index 3 is out of range for dim 1 of size 3");
  CHECK_ERROR_HAS(gather(x, 1, tensor({0}, {1, 1})), "gather: index must be an i64 tensor");
  CHECK_ERROR_HAS(gather(x, 1, tensor({0}, {1}, DType::i64)), "must have the same number of dims");
  CHECK_ERROR_HAS(index_select(x, 0, tensor({5}, {1}, DType::i64)), "index_select: index 5 is out of range for dim 0 of size 2");
  CHECK(one_hot(tensor({2, 0}, {2}, DType::i64), 3).to_vector<double>() == std::vector<double>{0, 0, 1, 1, 0, 0});
  CHECK_ERROR_HAS(one_hot(tensor({3}, {1}, DType::i64), 3), "one_hot: class 3 is out of range [0, 3)");
}

TEST_CASE("expand copies along broadcast dims and sums back") {
  Tensor x = tensor({1, 2}, {2, 1}, DType::f64);
  CHECK(expand(x, {2, 3}).to_vector<double>() == std::vector<double>{1, 1, 1, 2, 2, 2});
  Generator gen(5);
  CHECK(gradcheck([](auto& in) { return expand(in[0], {2, 3, 2}); }, {uniform({3, 1}, gen, -1, 1)}));
  CHECK_ERROR_HAS(expand(ones({2}), {3}), "expand");
}

TEST_CASE("shape ops on a zero-dimensional tensor: an error or the scalar itself, never a crash") {
  const Tensor s = scalar_tensor(2.0, DType::f64);
  CHECK_ERROR_HAS(cat({s, s}, 0), "cat: tensor 0 is zero-dimensional");
  CHECK_ERROR_HAS(narrow(s, 0, 0, 1), "narrow: the tensor is zero-dimensional");
  CHECK_ERROR_HAS(index_select(s, 0, arange(1)), "index_select: the input is zero-dimensional");
  CHECK(squeeze(s, 0).shape() == Shape{});
  CHECK(transpose(s, 0, 0).item() == 2.0);
  CHECK_ERROR_HAS(transpose(s, 0, 1), "transpose: dim 1 out of range");
  CHECK(unsqueeze(s, 0).shape() == Shape{1});
  CHECK(flatten(s).shape() == Shape{1});
  CHECK(permute(s, {}).item() == 2.0);
  CHECK(gather(s, 0, full({}, 0.0, DType::i64)).item() == 2.0);
}
