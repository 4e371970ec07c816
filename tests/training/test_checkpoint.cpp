#include <training/checkpoint.h>

#include <filesystem>

#include "test_util.h"

using namespace elbo;
using elbo::testing::all_close;

TEST_CASE("generator state as tensors: bit for bit, pending Box-Muller draw included") {
  Generator a(123);
  a.normal();  // leaves the second Box-Muller draw cached
  for (int i = 0; i < 5; ++i) a.next_u64();
  std::map<std::string, Tensor> saved;
  for (auto& [n, t] : training::generator_state(a)) saved.emplace(n, t);
  CHECK(saved.at("rng.state").dtype() == DType::i64);
  Generator b(7);
  training::load_generator_state(b, saved, "f");
  for (int i = 0; i < 10; ++i) CHECK(a.normal() == b.normal());
  for (int i = 0; i < 10; ++i) CHECK(a.next_u64() == b.next_u64());
  saved.erase("rng.normal");
  CHECK_ERROR_HAS(training::load_generator_state(b, saved, "f"), "f: the checkpoint has no generator state");
  saved["rng.normal"] = zeros({3}, DType::f64);
  CHECK_ERROR_HAS(training::load_generator_state(b, saved, "f"), "expected i64 [4] and f64 [2]");
}

TEST_CASE("checkpoints restore model, optimizer, generator and epoch; a bad one changes nothing") {
  const std::string path = "test_checkpoint.safetensors";
  Generator gen(1);
  nn::Linear net(3, 2, gen);
  optim::Adam opt(net.parameters(), {.lr = 0.01});
  sum(net.forward(ones({4, 3}))).backward();
  opt.step();
  training::save_checkpoint(path, net, opt, gen, 7, {{"local.x", full({2}, 5.0)}}, "a linear layer");
  const double expect = gen.uniform();

  Generator gen2(99);
  nn::Linear net2(3, 2, gen2);
  optim::Adam opt2(net2.parameters(), {.lr = 0.01});
  std::map<std::string, Tensor> task;
  CHECK(training::load_checkpoint(path, net2, opt2, gen2, task) == 7);
  CHECK(gen2.uniform() == expect);
  CHECK(all_close(net2.weight(), net.weight(), 0, 0));
  CHECK(all_close(task.at("local.x"), full({2}, 5.0), 0, 0));
  CHECK(nn::load_tensors(path).metadata.at("model") == "a linear layer");

  // a checkpoint of a different model: an error naming the file, the weights untouched
  nn::Linear other(4, 2, gen2);
  optim::Adam opt3(other.parameters(), {.lr = 0.01});
  const Tensor before = other.weight().clone();
  CHECK_ERROR_HAS(training::load_checkpoint(path, other, opt3, gen2, task), path);
  CHECK(all_close(other.weight(), before, 0, 0));
  // the format of earlier elbo versions (generator state as text) is named as such
  nn::save_tensors(path, {{"model.weight", zeros({2, 3})}}, {{"epoch", "3"}, {"rng", "1 2 3 4 0 0"}});
  CHECK_ERROR_HAS(training::load_checkpoint(path, net2, opt2, gen2, task), "a checkpoint of an earlier elbo");
  nn::save_tensors(path, {{"model.weight", zeros({2, 3})}});
  CHECK_ERROR_HAS(training::load_checkpoint(path, net2, opt2, gen2, task), "the checkpoint has no epoch count");
  std::filesystem::remove(path);
}
