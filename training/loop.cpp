#include "training/loop.h"

#include <chrono>
#include <cmath>

#include "models/dataset.h"
#include "parallel/data_parallel.h"
#include "training/report.h"
#include "training/trainer.h"

namespace elbo::training {
namespace {

// The seeds of a data-parallel job's streams (loop.h): splitmix64 of the seed and the indices.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

struct Epoch {
  Task& t;
  const BatchSource& data;
  optim::Optimizer& opt;
  const LoopOptions& o;
  std::span<Callback* const> callbacks;
  parallel::Communicator& comm;
  parallel::GradientReducer* reducer;

  // One epoch of minibatch steps; returns the mean training figure (-loss) over the global batches.
  // order_gen draws the minibatch order, gen the step's own randomness (the same generator in one process).
  double run(Generator& order_gen, Generator& gen, int epoch, int64_t& step) {
    const int rank = comm.rank(), ranks = comm.size();
    const int64_t n = data.size(), nb = (n + o.batch - 1) / o.batch;
    const std::vector<int64_t> order = models::permutation(n, order_gen);
    const std::vector<Tensor> params = o.clip > 0 ? t.module().parameters() : std::vector<Tensor>();
    Progress bar(fmt::format("epoch {}/{}", epoch + 1, o.epochs), n, o.quiet || rank != 0);
    double running = 0;
    std::vector<int64_t> ids;  // this rank's rows of the step, its capacity kept from step to step
    ids.reserve(size_t(std::min(n, o.batch)));
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t glo = b * o.batch, ghi = std::min(n, glo + o.batch), len = ghi - glo;
      const int64_t lo = glo + len * rank / ranks, hi = glo + len * (rank + 1) / ranks;  // this rank's share
      const Tensor x = hi == lo ? Tensor() : data.batch(order, lo, hi, gen);
      ids.assign(order.begin() + lo, order.begin() + hi);
      auto diverged = [&](const std::string& what) {  // the loss is global: every rank sees it alike
        return parallel::CollectiveError(fmt::format("training diverged at epoch {} step {}: {} (try a smaller --lr); "
                                                     "the last good checkpoint is {}", epoch + 1, step, what,
                                                     o.checkpoint));
      };
      ++step;
      opt.zero_grad();
      double l = 0;
      if (hi > lo) {
        Tensor loss;
        try {
          loss = t.loss(x, ids, gen, step);
        } catch (const ValueError& e) {  // a distribution's parameters left their support (a scale of 0, NaN)
          throw diverged(e.what());
        }
        l = loss.item();
        if (!reducer && !std::isfinite(l)) throw diverged(fmt::format("the loss is {}", l));
        // with ranks: each rank's mean weighted by its share, so the summed gradient is the global mean's;
        // the buckets' all-reduces start during the backward pass
        if (reducer) reducer->begin_backward();
        (reducer ? loss * (double(hi - lo) / double(len)) : loss).backward();
      }
      if (reducer) {
        double sum[1] = {l * double(hi - lo)};
        reducer->all_reduce(sum);
        l = sum[0] / double(len);
        if (!std::isfinite(l)) throw diverged(fmt::format("the loss is {}", l));
      }
      if (o.clip > 0) optim::clip_grad_norm_(params, o.clip);
      opt.step();
      t.after_step();
      for (Callback* c : callbacks) c->on_step({epoch, step, b, nb, l});
      running += l * double(len);
      bar.update(ghi, -running / double(ghi), t.figure());
    }
    bar.finish();
    return -running / double(n);
  }
};

}  // namespace

LoopResult train_loop(Task& t, const BatchSource& data, optim::Optimizer& opt, Generator& gen, const LoopOptions& o,
                      const std::function<double()>& test_figure, std::span<Callback* const> callbacks,
                      parallel::Communicator& comm, parallel::GradientReducer* reducer) {
  const bool ranks = comm.size() > 1;
  ELBO_CHECK(o.batch > 0, "train_loop: the batch must be positive, got {}", o.batch);
  Epoch pass{t, data, opt, o, callbacks, comm, reducer};
  LoopResult r;
  r.step = int64_t(o.start_epoch) * ((data.size() + o.batch - 1) / o.batch);
  for (int epoch = o.start_epoch; epoch < o.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    if (o.schedule.defined()) opt.set_lr(o.schedule.lr_at(epoch));
    double train = 0;
    if (ranks) {
      Generator order(mix(o.seed ^ mix(uint64_t(epoch)))), mine(mix(o.seed ^ mix(uint64_t(epoch) ^ mix(comm.rank() + 1))));
      train = pass.run(order, mine, epoch, r.step);
    } else {
      train = pass.run(gen, gen, epoch, r.step);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.seconds += secs;
    r.examples += data.size();
    if (comm.rank() != 0) continue;  // rank 0 alone evaluates and reports
    const double test = test_figure();
    r.train.push_back(train);
    r.test.push_back(test);
    for (Callback* c : callbacks) c->on_epoch({epoch, r.step, opt.lr(), train, test, secs, data.size()});
  }
  return r;
}

}  // namespace elbo::training
