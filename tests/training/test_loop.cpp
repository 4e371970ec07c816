// The training loop on its own (training/loop.h), with a toy task and no zoo model, file or data format:
// the steps and epochs its callbacks are told of, the schedule's rates, a resumed start, clipping, the
// loss going down, and a diverging loss stopped with an error that names the checkpoint; then training::run
// on the same toy task with its own RunData: what the run's callbacks write, a caller's callback, --resume.
#include <training/loop.h>
#include <training/trainer.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "test_util.h"

using namespace elbo;
using namespace elbo::training;

namespace {

// Rows (x, y) with y = 3x + 1 on [-1, 1].
class LineData : public BatchSource {
 public:
  explicit LineData(int64_t n) {
    Generator g(5);
    const Tensor x = testing::uniform({n, 1}, g, -1, 1);
    xy_ = cat({x, 3.0 * x + 1.0}, 1).to(DType::f32);
  }
  int64_t size() const override { return xy_.size(0); }
  Tensor batch(std::span<const int64_t> order, int64_t lo, int64_t hi, Generator&) const override {
    return models::rows(xy_, order, lo, hi);
  }
  const Tensor& all() const { return xy_; }

 private:
  Tensor xy_;
};

// Least squares for y = w x + b: the loss is the batch's mean squared error.
class LineTask : public Task {
 public:
  explicit LineTask(double scale = 1) : scale_(scale) {}
  nn::Module& module() override { return fit_; }
  std::string describe() const override { return "line"; }
  const char* figure() const override { return "neg_mse"; }
  Tensor loss(const Tensor& xy, const std::vector<int64_t>& ids, Generator&, int64_t) override {
    CHECK(xy.size(0) == int64_t(ids.size()));
    return scale_ * mse_loss(fit_(narrow(xy, 1, 0, 1)), narrow(xy, 1, 1, 1));
  }
  void after_step() override { ++after_steps; }
  Tensor score(const Tensor& xy, Generator&) override {
    return -sum(square(fit_(narrow(xy, 1, 0, 1)) - narrow(xy, 1, 1, 1)), {1});
  }
  void finish(Session&, Generator&, std::map<std::string, double>&) override {}
  int64_t after_steps = 0;

 private:
  struct Fit : nn::Module {
    Fit() : lin(&register_module("lin", nn::Linear(1, 1, gen))) {}
    Tensor operator()(const Tensor& x) const { return lin->forward(x); }
    Generator gen{3};
    nn::Linear* lin;
  } fit_;
  double scale_;
};

// Writes down what the loop tells it.
struct Recorder : Callback {
  std::vector<StepEnd> steps;
  std::vector<EpochEnd> epochs;
  void on_step(const StepEnd& e) override { steps.push_back(e); }
  void on_epoch(const EpochEnd& e) override { epochs.push_back(e); }
};

}  // namespace

TEST_CASE("train_loop: each step and epoch told to the callbacks, in order, and the loss goes down") {
  LineData data(100);
  LineTask task;
  optim::Adam opt(task.module().parameters(), {.lr = 0.2});
  Generator gen(1);
  Recorder rec;
  Callback* callbacks[] = {&rec};
  const auto comm = parallel::make_local();
  int tests = 0;
  const auto test = [&] {
    ++tests;
    Generator g(2);
    return evaluate(task, data.all(), 50, g);
  };
  const LoopResult r = train_loop(task, data, opt, gen, {.epochs = 6, .batch = 32, .quiet = true}, test, callbacks,
                                  *comm);
  // 100 rows in batches of 32: 4 steps an epoch, the last of 4 rows
  REQUIRE(rec.steps.size() == 24);
  CHECK(task.after_steps == 24);
  for (size_t i = 0; i < rec.steps.size(); ++i) {
    CHECK(rec.steps[i].step == int64_t(i) + 1);
    CHECK(rec.steps[i].epoch == int(i / 4));
    CHECK(rec.steps[i].batch == int64_t(i % 4));
    CHECK(rec.steps[i].batches == 4);
    CHECK(std::isfinite(rec.steps[i].loss));
  }
  REQUIRE(rec.epochs.size() == 6);
  CHECK(tests == 6);
  for (size_t e = 0; e < 6; ++e) {
    CHECK(rec.epochs[e].epoch == int(e));
    CHECK(rec.epochs[e].step == 4 * int64_t(e + 1));
    CHECK(rec.epochs[e].examples == 100);
    CHECK(rec.epochs[e].test == r.test[e]);
    CHECK(rec.epochs[e].train == r.train[e]);
  }
  // the epoch's training figure is minus the rows' mean loss: the steps' losses weighted by their rows
  const double first = -(32 * (rec.steps[0].loss + rec.steps[1].loss + rec.steps[2].loss) + 4 * rec.steps[3].loss) / 100;
  CHECK(r.train[0] == doctest::Approx(first).epsilon(1e-12));
  CHECK(r.step == 24);
  CHECK(r.examples == 600);
  CHECK(r.test.back() > r.test.front());  // closer to the line
  CHECK(r.test.back() > -0.5);
}

TEST_CASE("train_loop: a schedule sets each epoch's rate; a resumed run starts at its epoch and step") {
  LineData data(40);
  LineTask task;
  optim::Adam opt(task.module().parameters(), {.lr = 1});
  Generator gen(1);
  Recorder rec;
  Callback* callbacks[] = {&rec};
  const auto comm = parallel::make_local();
  Schedule s;
  s.name = "two stages";
  s.stages = {{2, 0.01}, {3, 0.001}};
  const LoopOptions o{.start_epoch = 1, .epochs = s.epochs(), .batch = 20, .schedule = s, .quiet = true};
  const LoopResult r = train_loop(task, data, opt, gen, o, [] { return 0.0; }, callbacks, *comm);
  REQUIRE(rec.epochs.size() == 4);  // epochs 1..4 of 0..4
  const double lrs[] = {0.01, 0.001, 0.001, 0.001};
  for (size_t i = 0; i < 4; ++i) {
    CHECK(rec.epochs[i].epoch == int(i) + 1);
    CHECK(rec.epochs[i].lr == lrs[i]);
  }
  CHECK(rec.steps.front().step == 3);  // one epoch of 2 steps already done
  CHECK(r.step == 10);
}

TEST_CASE("train_loop: a diverging loss stops with an error naming the step and the last good checkpoint") {
  LineData data(40);
  LineTask task(INFINITY);
  optim::SGD opt(task.module().parameters(), {.lr = 0.1});
  Generator gen(1);
  const auto comm = parallel::make_local();
  const LoopOptions o{.epochs = 2, .batch = 20, .quiet = true, .checkpoint = "runs/x/checkpoint.safetensors"};
  CHECK_ERROR_HAS(train_loop(task, data, opt, gen, o, [] { return 0.0; }, {}, *comm),
                  "training diverged at epoch 1 step 1: the loss is inf (try a smaller --lr); the last good checkpoint "
                  "is runs/x/checkpoint.safetensors");
  CHECK(task.after_steps == 0);
}

TEST_CASE("train_loop: clipping bounds the step a huge gradient makes") {
  LineData data(20);
  LineTask task(1e6);
  optim::SGD opt(task.module().parameters(), {.lr = 1});
  const Tensor before = task.module().parameters()[0].detach().clone();
  Generator gen(1);
  const auto comm = parallel::make_local();
  train_loop(task, data, opt, gen, {.epochs = 1, .batch = 20, .clip = 0.5, .quiet = true}, [] { return 0.0; }, {},
             *comm);
  const double dw = abs(task.module().parameters()[0].detach() - before).item();
  CHECK(dw <= 0.5 + 1e-9);  // one SGD step of lr 1 on a gradient of norm <= 0.5
  CHECK(dw > 0);
}

TEST_CASE("train_loop: a batch that is not positive is an error naming it") {
  LineData data(10);
  LineTask task;
  optim::SGD opt(task.module().parameters(), {.lr = 0.1});
  Generator gen(1);
  const auto comm = parallel::make_local();
  for (int64_t batch : {0, -3})
    CHECK_ERROR_HAS(train_loop(task, data, opt, gen, {.epochs = 1, .batch = batch, .quiet = true}, [] { return 0.0; },
                               {}, *comm),
                    fmt::format("train_loop: the batch must be positive, got {}", batch));
}

namespace {

// The toy line as a run's data: 64 training rows, 32 test rows of the same line.
class LineRunData : public RunData {
 public:
  LineRunData() : train_(64), test_(32) {}
  const BatchSource& train_batches() const override { return train_; }
  int64_t test_size() const override { return test_.size(); }
  double test_figure(Task& t, Generator& gen) const override { return evaluate(t, test_.all(), 10, gen); }
  std::string describe() const override { return "64 train, 32 test rows of y = 3x + 1"; }
  std::string figures_per() const override { return "test row"; }
  uint64_t fingerprint(uint64_t h) const override { return h; }

 private:
  LineData train_, test_;
};

// What run() tells a caller's callback at the end.
struct EndRecorder : Recorder {
  int ends = 0;
  std::map<std::string, double> figures;
  std::vector<double> train;
  int first_epoch = -1;
  int64_t step = -1;
  void on_end(const RunEnd& e) override {
    ++ends, figures = e.figures, train.assign(e.train.begin(), e.train.end()), first_epoch = e.first_epoch;
    step = e.step;
  }
};

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

int64_t lines(const std::filesystem::path& p) {
  const std::string s = slurp(p);
  return int64_t(std::count(s.begin(), s.end(), '\n'));
}

}  // namespace

TEST_CASE("run: a toy task on its own data writes the metrics, the checkpoint, the log, the curve and the README") {
  namespace fs = std::filesystem;
  const fs::path out = fs::temp_directory_path() / fmt::format("elbo_test_run_{}", ::getpid());
  fs::remove_all(out);
  const Session::Loader line = [](const Options&) { return std::make_shared<LineRunData>(); };
  Options o{.data = "toy/line", .epochs = 3, .batch = 16, .lr = 0.05, .out = out.string(), .quiet = true};
  o.command = "toy --epochs 3";
  {
    Session s(o, line);
    CHECK(s.train_size() == 64);
    CHECK(s.test_size() == 32);
    CHECK(s.data_name == "line");
    CHECK_ERROR_HAS(s.images(), "this model trains on images; --data toy/line holds 64 train, 32 test rows");
    LineTask task;
    EndRecorder rec;
    Callback* extra[] = {&rec};
    const std::map<std::string, double> figures = run(s, task, extra);
    CHECK(rec.epochs.size() == 3);  // the caller's callback sees the epochs, then the end
    CHECK(rec.steps.size() == 12);
    REQUIRE(rec.ends == 1);
    CHECK(rec.figures == figures);
    CHECK(figures.at("epochs") == 3);
    CHECK(figures.at("test_neg_mse") == rec.epochs.back().test);
    CHECK(rec.train.size() == 3);
    CHECK(rec.first_epoch == 0);
    CHECK(rec.step == 12);
  }
  CHECK(lines(out / "metrics.jsonl") == 3);
  CHECK(fs::exists(out / "checkpoint.safetensors"));
  CHECK(fs::exists(out / "model.safetensors"));
  CHECK(fs::exists(out / "training_curve.png"));
  bool log = false;
  for (const auto& e : fs::directory_iterator(out)) log |= e.path().filename().string().rfind("events.out.", 0) == 0;
  CHECK(log);
  const std::string readme = slurp(out / "README.md");
  CHECK(readme.find("# line on line") == 0);
  CHECK(readme.find("```sh\ntoy --epochs 3\n```") != std::string::npos);
  CHECK(readme.find("Data: `toy/line` (64 train, 32 test rows of y = 3x + 1). Figures per test row, in nats.") !=
        std::string::npos);
  CHECK(readme.find("| test_neg_mse |") != std::string::npos);
  CHECK(readme.find("![training_curve](training_curve.png)") != std::string::npos);

  // --resume to 5 epochs: the run goes on from its checkpoint's epoch 3
  o.epochs = 5, o.resume = true;
  {
    Session s(o, line);
    LineTask task;
    EndRecorder rec;
    Callback* extra[] = {&rec};
    run(s, task, extra);
    CHECK(rec.epochs.size() == 2);
    CHECK(rec.epochs.front().epoch == 3);
    CHECK(rec.first_epoch == 3);
    CHECK(rec.train.size() == 2);
    CHECK(rec.step == 20);
  }
  CHECK(lines(out / "metrics.jsonl") == 5);
  fs::remove_all(out);
}

TEST_CASE("Session: a loader that returns no data is an error naming --data") {
  const Options o{.data = "nowhere", .out = (std::filesystem::temp_directory_path() / "elbo_test_noload").string()};
  CHECK_ERROR_HAS(Session(o, [](const Options&) { return std::shared_ptr<const RunData>(); }),
                  "Session: the loader of --data nowhere returned no data");
}
