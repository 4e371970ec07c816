// The one-process side of the communicator layer (every path runs without mpirun): the local
// communicator, the gradient reducer over it, fingerprints, and Pending's deadline. Runs under mpirun are
// in ddp_check.cpp and tests/tools/test_mpi.cpp.
#include <cstdlib>
#include <elbo/elbo.h>

#include "test_util.h"

using namespace elbo;
using namespace elbo::parallel;

TEST_CASE("the local communicator: one rank, collectives leave the data as it is") {
  const auto c = make_local();
  CHECK(c->rank() == 0);
  CHECK(c->size() == 1);
  CHECK(c->name() == "local");
  std::vector<float> f{1, 2, 3};
  std::vector<double> d{4, 5};
  c->all_reduce(std::span<float>(f), Reduce::sum);
  c->all_reduce(std::span<double>(d), Reduce::mean);
  CHECK(f == std::vector<float>{1, 2, 3});
  CHECK(d == std::vector<double>{4, 5});
  CHECK(broadcast_string(*c, "hello") == "hello");
  CHECK(broadcast_value(*c, 42) == 42);
  c->barrier();
  CHECK_ERROR_HAS(c->broadcast({}, 1), "broadcast: root 1 outside a one-process job");
  if (!launched_by_mpi()) {
    CHECK(make_world()->size() == 1);  // not started by mpirun: one process, whatever the build
    CHECK(world_rank() == 0);
    CHECK(world_size() == 1);
  }
}

TEST_CASE("the gradient reducer over one rank keeps gradients, defined or not, and the extras") {
  const auto c = make_local();
  Generator g(1);
  nn::Linear a(3, 4, true, g), b(4, 2, true, g);
  std::vector<Tensor> params = a.parameters();
  for (const Tensor& p : b.parameters()) params.push_back(p);
  sum(square(a(ones({2, 3})))).backward();  // b gets no gradient
  const auto before = a.weight().grad().to_vector<double>();
  GradientReducer r(*c, params, 32);  // tiny buckets: one parameter each
  CHECK(r.buckets() == 4);
  double extra[2] = {1.5, -2};
  r.all_reduce(extra);
  CHECK(a.weight().grad().to_vector<double>() == before);
  CHECK(!b.weight().grad().defined());
  CHECK(extra[0] == 1.5);
  CHECK(extra[1] == -2);
  CHECK(r.calls() == 1);
  CHECK(r.seconds() >= 0);
  broadcast_module(*c, a);  // no-ops on one rank
  optim::Adam opt(params, {.lr = 1e-3});
  broadcast_optimizer(*c, opt);
  check_same(*c, 7, "anything");
}

TEST_CASE("fingerprints tell bytes apart") {
  CHECK(fingerprint("abc") == fingerprint("abc"));
  CHECK(fingerprint("abc") != fingerprint("abd"));
  CHECK(fingerprint("c", fingerprint("ab")) == fingerprint("abc"));
}

namespace {
struct Slow : Pending::Impl {
  int* polls;
  int finish_after;
  bool finished = false;
  bool* done_flag;
  bool test() override { return ++*polls >= finish_after; }
  void finish() override { *done_flag = true; }
  std::string what() const override { return "test collective"; }
};
}  // namespace

TEST_CASE("Pending polls to completion, and gives up with a TimeoutError after ELBO_MPI_TIMEOUT") {
  int polls = 0;
  bool done = false;
  {
    auto s = std::make_unique<Slow>();
    s->polls = &polls, s->finish_after = 5, s->done_flag = &done;
    Pending p(std::move(s));
    CHECK(!p.done());
    p.wait();
    CHECK(p.done());
  }
  CHECK(polls == 5);
  CHECK(done);
  const double before = timeout().count();
  set_timeout(0.2);
  auto never = std::make_unique<Slow>();
  int n = 0;
  bool d = false;
  never->polls = &n, never->finish_after = 1 << 30, never->done_flag = &d;
  Pending p(std::move(never));
  CHECK_ERROR_HAS(p.wait(), "test collective did not finish within 0 s (ELBO_MPI_TIMEOUT): another rank stopped "
                            "answering or died");
  CHECK(p.done());
  CHECK(!d);
  CHECK(n > 1);
  set_timeout(before);
  CHECK_ERROR_HAS(set_timeout(0), "set_timeout: 0 s must be positive");
}
