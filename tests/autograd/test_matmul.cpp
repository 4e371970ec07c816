#include "test_util.h"

using namespace elbo;
using elbo::testing::all_close;
using elbo::testing::uniform;

TEST_CASE("matmul: values for 2-D, vectors and batches") {
  Tensor a = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, DType::f64);
  Tensor b = tensor({1, 0, 0, 1, 1, 1}, {3, 2}, DType::f64);
  CHECK(matmul(a, b).to_vector<double>() == std::vector<double>{4, 5, 10, 11});
  Tensor v = tensor({1, 1, 1}, {3}, DType::f64);
  CHECK(matmul(a, v).shape() == Shape{2});
  CHECK(matmul(a, v).to_vector<double>() == std::vector<double>{6, 15});
  CHECK(matmul(v, b).to_vector<double>() == std::vector<double>{2, 2});
  CHECK(matmul(v, v).dim() == 0);
  CHECK(matmul(v, v).item() == 3);
  Generator gen(1);
  Tensor x = uniform({4, 2, 3}, gen, -1, 1), y = uniform({3, 5}, gen, -1, 1);
  Tensor z = matmul(x, y);
  CHECK(z.shape() == Shape{4, 2, 5});
  CHECK(all_close(narrow(z, 0, 2, 1), matmul(narrow(x, 0, 2, 1), y), 1e-12));
  Tensor p = uniform({2, 1, 2, 3}, gen, -1, 1), q = uniform({3, 3, 4}, gen, -1, 1);
  CHECK(matmul(p, q).shape() == Shape{2, 3, 2, 4});
}

TEST_CASE("matmul gradchecks: 2-D, non-square, vectors, batched with broadcast batch dims") {
  Generator gen(2);
  auto mm = [](auto& in) { return matmul(in[0], in[1]); };
  CHECK(gradcheck(mm, {uniform({3, 4}, gen, -1, 1), uniform({4, 2}, gen, -1, 1)}));
  CHECK(gradcheck(mm, {uniform({1, 5}, gen, -1, 1), uniform({5, 1}, gen, -1, 1)}));
  CHECK(gradcheck(mm, {uniform({4}, gen, -1, 1), uniform({4, 3}, gen, -1, 1)}));
  CHECK(gradcheck(mm, {uniform({2, 4}, gen, -1, 1), uniform({4}, gen, -1, 1)}));
  CHECK(gradcheck(mm, {uniform({2, 2, 3}, gen, -1, 1), uniform({2, 3, 2}, gen, -1, 1)}));
  CHECK(gradcheck(mm, {uniform({2, 2, 3}, gen, -1, 1), uniform({3, 2}, gen, -1, 1)}));
  CHECK(gradcheck(mm, {uniform({2, 3}, gen, -1, 1), uniform({2, 3, 2}, gen, -1, 1)}));
  CHECK(gradcheck(mm, {uniform({2, 1, 2, 3}, gen, -1, 1), uniform({3, 3, 2}, gen, -1, 1)}));
}

TEST_CASE("linear = x W^T + b, with gradchecks") {
  Tensor x = tensor({1, 2, 3, 4}, {2, 2}, DType::f64);
  Tensor w = tensor({1, 0, 1, 1, 0, 2}, {3, 2}, DType::f64);
  Tensor b = tensor({10, 20, 30}, {3}, DType::f64);
  CHECK(linear(x, w, b).to_vector<double>() == std::vector<double>{11, 23, 34, 13, 27, 38});
  CHECK(linear(x, w).to_vector<double>() == std::vector<double>{1, 3, 4, 3, 7, 8});
  Generator gen(3);
  CHECK(gradcheck([](auto& in) { return linear(in[0], in[1], in[2]); },
                  {uniform({4, 3}, gen, -1, 1), uniform({2, 3}, gen, -1, 1), uniform({2}, gen, -1, 1)}));
  CHECK(gradcheck([](auto& in) { return linear(in[0], in[1]); }, {uniform({2, 2, 3}, gen, -1, 1), uniform({5, 3}, gen, -1, 1)}));
  // the VAE's shapes in f32 agree with f64
  Tensor xb = uniform({128, 784}, gen, 0, 1), wb = uniform({400, 784}, gen, -0.03, 0.03), bb = uniform({400}, gen, -0.03, 0.03);
  CHECK(all_close(linear(xb.to(DType::f32), wb.to(DType::f32), bb.to(DType::f32)).to(DType::f64), linear(xb, wb, bb), 1e-4, 1e-5));
}

TEST_CASE("matmul and linear errors name both shapes") {
  CHECK_ERROR_HAS(matmul(ones({2, 3}), ones({2, 2})), "matmul: inner dimensions differ: a[2, 3] @ b[2, 2]");
  CHECK_ERROR_HAS(matmul(ones({2, 2, 3}), ones({3, 3, 2})), "matmul: shapes [2] and [3] cannot be broadcast");
  CHECK_ERROR_HAS(matmul(scalar_tensor(1), ones({2})), "at least 1 dim");
  CHECK_ERROR_HAS(linear(ones({2, 3}), ones({4, 5})), "linear: input [2, 3] does not end in in_features = 5");
  CHECK_ERROR_HAS(linear(ones({2, 3}), ones({4, 3}), ones({3})), "linear: bias [3] does not match weight [4, 3]");
  CHECK_ERROR_HAS(linear(ones({2, 3}, DType::f64), ones({4, 3})), "linear: input is f64, weight f32");
}
