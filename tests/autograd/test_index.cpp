// Indexing and splitting: values against small worked examples (torch's semantics), gradchecks in f64.
#include <cmath>

#include "test_util.h"

using namespace elbo;
using elbo::testing::uniform;

namespace {
std::vector<double> v(const Tensor& t) { return t.to_vector<double>(); }
const Tensor m23 = tensor({0, 1, 2, 3, 4, 5}, {2, 3}, DType::f64);
}  // namespace

TEST_CASE("select, split, chunk, unbind: shapes and values as torch") {
  CHECK(v(select(m23, 1, 2)) == std::vector<double>{2, 5});
  CHECK(select(m23, 0, -1).shape() == Shape{3});
  CHECK(v(select(m23, 0, -1)) == std::vector<double>{3, 4, 5});
  const auto parts = split(m23, 2, 1);
  REQUIRE(parts.size() == 2);
  CHECK(parts[0].shape() == Shape{2, 2});
  CHECK(v(parts[1]) == std::vector<double>{2, 5});
  const auto ch = chunk(arange(5, DType::f64), 3);  // torch: sizes 2, 2, 1
  REQUIRE(ch.size() == 3);
  CHECK(ch[2].numel() == 1);
  const auto rows = unbind(m23, 0);
  REQUIRE(rows.size() == 2);
  CHECK(v(rows[1]) == std::vector<double>{3, 4, 5});
  CHECK_ERROR_HAS(select(m23, 1, 3), "select: index 3 is out of range for dim 1 of size 3 (shape [2, 3])");
  CHECK_ERROR_HAS(split(m23, 0, 1), "split: split_size must be positive, got 0 (shape [2, 3])");
  CHECK_ERROR_HAS(unbind(full({}, 1.0), 0), "unbind: the tensor is zero-dimensional");
}

TEST_CASE("flip, repeat, repeat_interleave, masked_fill: values as torch") {
  CHECK(v(flip(m23, {1})) == std::vector<double>{2, 1, 0, 5, 4, 3});
  CHECK(v(flip(m23, {0, 1})) == std::vector<double>{5, 4, 3, 2, 1, 0});
  const Tensor r = repeat(tensor({1, 2}, {2}, DType::f64), {2, 3});  // torch: [[1,2,1,2,1,2],[1,2,1,2,1,2]]
  CHECK(r.shape() == Shape{2, 6});
  CHECK(v(r) == std::vector<double>{1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2});
  CHECK(repeat(m23, {2, 1}).shape() == Shape{4, 3});
  CHECK(v(repeat_interleave(tensor({1, 2}, {2}, DType::f64), 3, 0)) == std::vector<double>{1, 1, 1, 2, 2, 2});
  CHECK(v(repeat_interleave(m23, 2, 1)) == std::vector<double>{0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5});
  CHECK(v(masked_fill(m23, tensor({1, 0, 1}, {3}), -1)) == std::vector<double>{-1, 1, -1, -1, 4, -1});
  CHECK_ERROR_HAS(repeat(m23, {2}), "repeat: 1 repeats for a tensor of 2 dims");
  CHECK_ERROR_HAS(masked_fill(m23, ones({3, 3}), 0), "masked_fill: shapes [2, 3] and [3, 3] cannot be broadcast");
}

TEST_CASE("index_add and scatter_add: repeated indices accumulate, as torch") {
  const Tensor x = zeros({3, 2}, DType::f64);
  const Tensor src = tensor({1, 2, 3, 4, 5, 6}, {3, 2}, DType::f64);
  const Tensor idx = tensor(std::vector<double>{0, 2, 0}, {3}, DType::i64);
  CHECK(v(index_add(x, 0, idx, src)) == std::vector<double>{6, 8, 0, 0, 3, 4});
  // torch.zeros(2, 3).scatter_add(1, tensor([[0, 1, 0], [2, 2, 1]]), tensor([[1., 2, 3], [4, 5, 6]]))
  const Tensor sidx = tensor(std::vector<double>{0, 1, 0, 2, 2, 1}, {2, 3}, DType::i64);
  const Tensor s = scatter_add(zeros({2, 3}, DType::f64), 1, sidx, m23 + 1.0);
  CHECK(v(s) == std::vector<double>{4, 2, 0, 0, 6, 9});
  CHECK_ERROR_HAS(index_add(x, 0, tensor(std::vector<double>{3}, {1}, DType::i64), narrow(src, 0, 0, 1)),
                  "index_add: index 3 is out of range for dim 0 of size 3");
  CHECK_ERROR_HAS(index_add(x, 0, idx, zeros({2, 2}, DType::f64)), "index_add: source [2, 2] must be the input [3, 2]");
  CHECK_ERROR_HAS(scatter_add(x, 1, sidx, zeros({1, 1}, DType::f64)), "scatter_add: index [2, 3] must fit the source [1, 1]");
}

TEST_CASE("indexing gradchecks") {
  Generator gen(3);
  const Tensor x = uniform({3, 4}, gen, -1, 1);
  CHECK(gradcheck([](auto& in) { return select(in[0], 1, 2); }, {x}, {.allow_unused = false}));
  CHECK(gradcheck([](auto& in) { return split(in[0], 3, 1)[1] * 2.0 + sum(split(in[0], 3, 1)[0]); }, {x}));
  CHECK(gradcheck([](auto& in) { return stack(unbind(in[0], 0), 1); }, {x}));
  CHECK(gradcheck([](auto& in) { return flip(in[0], {0, 1}) * in[0]; }, {x}));
  CHECK(gradcheck([](auto& in) { return repeat(in[0], {2, 1, 2}); }, {x}));
  CHECK(gradcheck([](auto& in) { return repeat_interleave(in[0], 2, 1); }, {x}));
  CHECK(gradcheck([](auto& in) { return masked_fill(in[0], tensor({1, 0, 0, 1}, {4}), 3.0); }, {x}));
  const Tensor idx = tensor(std::vector<double>{2, 0, 2}, {3}, DType::i64);
  CHECK(gradcheck([idx](auto& in) { return index_add(in[0], 0, idx, in[1]); }, {x, uniform({3, 4}, gen, -1, 1)}));
  const Tensor sidx = tensor(std::vector<double>{0, 3, 3, 1, 2, 0}, {3, 2}, DType::i64);
  CHECK(gradcheck([sidx](auto& in) { return scatter_add(in[0], 1, sidx, in[1]); }, {x, uniform({3, 3}, gen, -1, 1)},
                  {.allow_unused = false}));
}
