#include "training/trainer.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "autograd/kernels/kernels.h"
#include "autograd/threads.h"
#include "models/plot.h"
#include "parallel/data_parallel.h"
#include "training/checkpoint.h"
#include "training/loop.h"
#include "training/report.h"
#include "training/schedule.h"

namespace elbo::training {
namespace fs = std::filesystem;

Session::Session(const Options& o, const Loader& load) : opt(o), comm(parallel::make_world()) {
  if (o.threads > 0) set_num_threads(o.threads);
  set_flush_denormal(o.flush_denormal);
  if (o.batch % comm->size() != 0)
    throw parallel::CollectiveError(fmt::format(
        "--batch {} is not divisible by the {} ranks of this job (--batch is the global batch)", o.batch, comm->size()));
  data = load(o);
  ELBO_CHECK(data != nullptr, "Session: the loader of --data {} returned no data", o.data);
  data_name = fs::path(o.data).filename().string();
  if (data_name.empty()) data_name = fs::path(o.data).parent_path().filename().string();
  if (comm->size() > 1)  // every rank must run the same command on the same data
    parallel::check_same(*comm, data->fingerprint(parallel::fingerprint(o.command)), "the command line or the data");
  if (root()) fs::create_directories(o.out);
}

const ImageData& Session::images() const {
  const auto* d = dynamic_cast<const ImageData*>(data.get());
  ELBO_CHECK(d != nullptr, "this model trains on images; --data {} holds {}", opt.data, data->describe());
  return *d;
}

std::string Session::checkpoint_path() const { return path("checkpoint.safetensors"); }
std::string Session::path(const std::string& file) const { return (fs::path(opt.out) / file).string(); }

double evaluate_test(const Session& s, Task& t, Generator& gen) { return s.data->test_figure(t, gen); }

double evaluate(Task& t, const Tensor& x, int64_t batch, Generator& gen) {
  NoGradGuard ng;
  const int64_t n = x.size(0);
  double total = 0;
  for (int64_t b = 0; b < n; b += batch) total += sum(t.score(narrow(x, 0, b, std::min(batch, n - b)), gen)).item();
  return total / double(n);
}

namespace {

// A PNG the run wrote, as an image summary (size and channels from its IHDR chunk).
void add_png(SummaryWriter& tb, const std::string& path, const std::string& tag, int64_t step) {
  std::ifstream in(path, std::ios::binary);
  const std::string png((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (png.size() < 26) throw IOError(fmt::format("{}: not a PNG file", path));
  auto be32 = [&](size_t at) {
    return int64_t(uint8_t(png[at])) << 24 | int64_t(uint8_t(png[at + 1])) << 16 | int64_t(uint8_t(png[at + 2])) << 8 |
           int64_t(uint8_t(png[at + 3]));
  };
  const int colour = uint8_t(png[25]);
  tb.add_image(tag, png, be32(20), be32(16), colour == 0 ? 1 : colour == 4 ? 2 : colour == 6 ? 4 : 3, step);
}

// The images a run may leave in OUT, in the order the README shows them.
constexpr const char* kImages[] = {"training_curve.png", "samples.png",        "reconstructions.png",
                                   "interpolations.png", "latent_manifold.png", "kl_per_dim.png",
                                   "latent_scatter.png"};
std::string stem(const char* png) { return std::string(png).substr(0, std::string(png).size() - 4); }
bool per_dim(const std::string& figure) { return figure.rfind("kl_dim_", 0) == 0; }  // not in summaries

// The run's callbacks on the loop (loop.h), each one file or stream of its output.

// TensorBoard: the loss of every step, or the mean of every `stride` steps when an epoch has more than 200
// (a schedule of thousands of passes of small batches would otherwise log millions of points); the figures
// of each epoch and the task's summaries; at the end the final figures and the images.
class TensorBoardLog : public Callback {
 public:
  TensorBoardLog(SummaryWriter& tb, Session& s, Task& t) : tb_(tb), s_(s), t_(t) {}
  void on_step(const StepEnd& e) override {
    const int64_t stride = std::max<int64_t>(1, e.batches / 100);
    window_ += e.loss;
    if (++in_window_ == stride || e.batch + 1 == e.batches) {
      tb_.add_scalar("train/loss", window_ / double(in_window_), e.step);
      window_ = 0, in_window_ = 0;
    }
  }
  void on_epoch(const EpochEnd& e) override {
    tb_.add_scalar(fmt::format("train/{}", t_.figure()), e.train, e.step);
    tb_.add_scalar(fmt::format("test/{}", t_.figure()), e.test, e.step);
    tb_.add_scalar("time/examples_per_sec", double(e.examples) / e.seconds, e.step);
    tb_.add_scalar("time/epoch_seconds", e.seconds, e.step);
    t_.summaries(s_, tb_, e.step);
    tb_.flush();
  }
  void on_end(const RunEnd& e) override {
    for (const auto& [name, v] : e.figures)
      if (!per_dim(name)) tb_.add_scalar("final/" + name, v, e.step);
    // samples first, as the runs before this order did
    for (const char* png : {"samples.png", "reconstructions.png", "analogies.png", "interpolations.png",
                            "latent_manifold.png", "training_curve.png", "kl_per_dim.png", "latent_scatter.png"})
      if (fs::exists(s_.path(png))) add_png(tb_, s_.path(png), stem(png), e.step);
  }

 private:
  SummaryWriter& tb_;
  Session& s_;
  Task& t_;
  double window_ = 0;
  int64_t in_window_ = 0;
};

// OUT/metrics.jsonl (one line per epoch) and the epoch's line on standard error.
class MetricsLog : public Callback {
 public:
  MetricsLog(Metrics& m, Task& t, const std::map<std::string, std::string>& labels, bool quiet,
             parallel::GradientReducer* reducer, int ranks, int64_t steps_per_epoch)
      : m_(m), t_(t), labels_(labels), quiet_(quiet), reducer_(reducer), ranks_(ranks), steps_(steps_per_epoch),
        reduce0_(reducer ? reducer->seconds() : 0) {}
  void on_epoch(const EpochEnd& e) override {
    const double per_sec = double(e.examples) / e.seconds;
    std::map<std::string, double> row{{"epoch", e.epoch + 1},
                                      {"lr", e.lr},
                                      {fmt::format("train_{}", t_.figure()), e.train},
                                      {fmt::format("test_{}", t_.figure()), e.test},
                                      {"seconds", e.seconds},
                                      {"examples_per_sec", per_sec}};
    if (reducer_) {
      row["ranks"] = ranks_;
      row["allreduce_ms_per_step"] = 1e3 * (reducer_->seconds() - reduce0_) / double(steps_);
      reduce0_ = reducer_->seconds();
    }
    std::map<std::string, double> extra;
    t_.epoch_figures(extra);
    std::string more;
    for (const auto& [name, v] : extra) row[name] = v, more += fmt::format(", {} {:.4g}", name, v);
    m_.write(row, labels_);
    if (!quiet_)
      std::cerr << fmt::format("epoch {}: train {} {:.2f}, test {} {:.2f} nats{} ({:.1f}s, {:.0f} ex/s)\n", e.epoch + 1,
                               t_.figure(), e.train, t_.figure(), e.test, more, e.seconds, per_sec);
  }

 private:
  Metrics& m_;
  Task& t_;
  const std::map<std::string, std::string>& labels_;
  bool quiet_;
  parallel::GradientReducer* reducer_;
  int ranks_;
  int64_t steps_;
  double reduce0_;
};

// OUT/checkpoint.safetensors after every epoch (atomic: checkpoint.h), for a bitwise --resume.
class Checkpointer : public Callback {
 public:
  Checkpointer(Session& s, Task& t, optim::Optimizer& opt, Generator& gen) : s_(s), t_(t), opt_(opt), gen_(gen) {}
  void on_epoch(const EpochEnd& e) override {
    save_checkpoint(s_.checkpoint_path(), t_.module(), opt_, gen_, e.epoch + 1, t_.state(), t_.describe());
  }

 private:
  Session& s_;
  Task& t_;
  optim::Optimizer& opt_;
  Generator& gen_;
};


// OUT/training_curve.png at the end: train and test figure per epoch, the IWAE log-likelihood when --iw
// measured it.
class TrainingCurve : public Callback {
 public:
  TrainingCurve(const Session& s, Task& t) : s_(s), t_(t) {}
  void on_end(const RunEnd& e) override {
    if (e.train.empty()) return;
    const std::string fig = t_.figure();
    const std::string name = fig == "elbo" ? "ELBO" : fig == "recon_loglik" ? "reconstruction log-lik" : fig;
    std::vector<double> epochs;
    for (size_t i = 0; i < e.train.size(); ++i) epochs.push_back(double(e.first_epoch + 1) + double(i));
    const std::vector<double> train(e.train.begin(), e.train.end()), test(e.test.begin(), e.test.end());
    std::vector<models::Series> series{{"train " + name, train, epochs}, {"test " + name, test, epochs}};
    std::string caption = fmt::format("final test {} {:.2f} nats per example", name, test.back());
    if (e.figures.count("test_loglik")) {
      const double ll = e.figures.at("test_loglik");
      series.push_back(
          {fmt::format("test log p(x), IWAE K={}", s_.opt.iw), std::vector<double>(epochs.size(), ll), epochs, true});
      caption += fmt::format("; test log p(x) >= {:.2f} (IWAE K={})", ll, s_.opt.iw);
    }
    models::plot_lines(s_.path("training_curve.png"),
                       {fmt::format("{} on {}", t_.describe(), s_.data_name), "epoch", "nats per example", caption},
                       series);
  }

 private:
  const Session& s_;
  Task& t_;
};

// OUT/README.md at the end: what was trained on what, the command, the final figures, the timing and the
// images.
class RunReadme : public Callback {
 public:
  RunReadme(const Session& s, Task& t) : s_(s), t_(t) {}
  void on_end(const RunEnd& e) override {
    std::string md = fmt::format("# {} on {}\n\n", t_.describe(), s_.data_name);
    if (!s_.opt.command.empty()) md += fmt::format("```sh\n{}\n```\n\n", s_.opt.command);
    md += fmt::format("Data: `{}` ({}). Figures per {}, in nats.\n\n", s_.opt.data, s_.data->describe(),
                      s_.data->figures_per());
    md += "| figure | value |\n| --- | ---: |\n";
    for (const auto& [name, v] : e.figures)
      if (!per_dim(name)) md += fmt::format("| {} | {:.4g} |\n", name, v);
    md += "\nPer-epoch figures: `metrics.jsonl`; TensorBoard: `tensorboard --logdir " + s_.opt.out + "`.\n\n";
    for (const char* png : kImages)
      if (fs::exists(s_.path(png))) md += fmt::format("![{}]({})\n\n", stem(png), png);
    std::ofstream f(s_.path("README.md"), std::ios::trunc);
    f << md;
    if (!f) throw IOError(fmt::format("{}: cannot write the run summary", s_.path("README.md")));
  }

 private:
  const Session& s_;
  Task& t_;
};

}  // namespace

std::map<std::string, double> run(Session& s, Task& t, std::span<Callback* const> extra) {
  const Options& o = s.opt;
  parallel::Communicator& comm = *s.comm;
  const bool root = s.root(), ranks = comm.size() > 1;
  if (ranks && !t.data_parallel())
    throw parallel::CollectiveError(fmt::format(
        "{} keeps per-example state in one process and does not run data-parallel: start it without mpirun",
        t.describe()));
  Generator gen(o.seed + 1);
  const Schedule schedule = o.schedule.empty() ? Schedule{} : parse_schedule(o.schedule);
  optim::Adam opt(t.module().parameters(), {.lr = o.lr, .betas = {o.adam_beta1, o.adam_beta2}, .eps = o.adam_eps});
  if (!o.load.empty()) nn::load(t.module(), o.load);
  int start_epoch = 0;
  const int64_t steps_per_epoch = (s.train_size() + o.batch - 1) / o.batch;
  if (o.resume && root) {
    if (!fs::exists(s.checkpoint_path()))
      throw IOError(fmt::format("--resume: no checkpoint at {}", s.checkpoint_path()));
    std::map<std::string, Tensor> task_state;
    start_epoch = int(load_checkpoint(s.checkpoint_path(), t.module(), opt, gen, task_state));
    t.load_state(task_state, s.checkpoint_path());
  }
  std::unique_ptr<parallel::GradientReducer> reducer;
  if (ranks) {  // rank 0's model (and optimizer state on --resume) on every rank
    start_epoch = parallel::broadcast_value(comm, start_epoch);
    parallel::broadcast_module(comm, t.module());
    if (o.resume) parallel::broadcast_optimizer(comm, opt);
    reducer = std::make_unique<parallel::GradientReducer>(comm, t.module().parameters());
  }
  // the instruction set the kernels run (ELBO_ARCH forces one) and the threads: every run says where it ran
  const std::string kernels(kernels::arch_name());
  const std::map<std::string, std::string> labels{
      {"model", t.describe()}, {"data", s.data_name}, {"binarize", s.data->binarize_label()}, {"kernels", kernels}};
  if (!o.quiet && root)
    std::cerr << fmt::format("{} on {} ({}; kernels {}, {} threads{})\n", t.describe(), s.data_name,
                             s.data->describe(), kernels, num_threads(),
                             ranks ? fmt::format(" per rank, {} ranks on {}", comm.size(), comm.name()) : "");
  std::unique_ptr<Metrics> metrics;
  if (root) metrics = std::make_unique<Metrics>(s.path("metrics.jsonl"), o.eval_only ? INT64_MAX : start_epoch);
  std::unique_ptr<SummaryWriter> tb;
  if (!o.eval_only && root) {
    if (!o.resume)  // a fresh run into an old --out starts its log anew, as metrics.jsonl
      for (const auto& e : fs::directory_iterator(o.out))
        if (e.path().filename().string().rfind("events.out.tfevents.", 0) == 0) fs::remove(e.path());
    tb = std::make_unique<SummaryWriter>(o.out, o.resume ? int64_t(start_epoch) * steps_per_epoch : -1);
  }
  // the loop, and what each step, epoch and the end write: the training curve (before the TensorBoard
  // images take it in), TensorBoard, metrics.jsonl and the console, the checkpoint, the run's README
  std::vector<std::unique_ptr<Callback>> owned;
  if (root) owned.push_back(std::make_unique<TrainingCurve>(s, t));
  if (tb) owned.push_back(std::make_unique<TensorBoardLog>(*tb, s, t));
  if (metrics)
    owned.push_back(std::make_unique<MetricsLog>(*metrics, t, labels, o.quiet, reducer.get(), comm.size(), steps_per_epoch));
  if (root) owned.push_back(std::make_unique<Checkpointer>(s, t, opt, gen));
  if (root) owned.push_back(std::make_unique<RunReadme>(s, t));
  std::vector<Callback*> callbacks;
  for (const auto& c : owned) callbacks.push_back(c.get());
  callbacks.insert(callbacks.end(), extra.begin(), extra.end());
  const LoopOptions lo{.start_epoch = start_epoch,
                       .epochs = o.eval_only ? start_epoch : schedule.defined() ? schedule.epochs() : o.epochs,
                       .batch = o.batch,
                       .clip = o.clip,
                       .schedule = schedule,
                       .seed = o.seed,
                       .quiet = o.quiet,
                       .checkpoint = s.checkpoint_path()};
  const auto test_figure = [&] {
    Generator eval_gen(o.seed + 2);
    return evaluate_test(s, t, eval_gen);
  };
  const LoopResult r = train_loop(t, s.data->train_batches(), opt, gen, lo, test_figure, callbacks, comm, reducer.get());
  std::map<std::string, double> figures;
  if (!root) return figures;  // the other ranks are done
  if (!o.eval_only) nn::save(t.module(), o.save.empty() ? s.path("model.safetensors") : o.save);
  Generator eval_gen(o.seed + 2);
  figures[fmt::format("test_{}", t.figure())] = evaluate_test(s, t, eval_gen);
  figures["seconds"] = r.seconds;
  figures["examples_per_sec"] = r.seconds > 0 ? double(r.examples) / r.seconds : 0;
  figures["epochs"] = lo.epochs;
  if (reducer) {
    figures["ranks"] = comm.size();
    figures["allreduce_ms_per_step"] = reducer->calls() ? 1e3 * reducer->seconds() / double(reducer->calls()) : 0;
  }
  t.finish(s, eval_gen, figures);
  const RunEnd end{figures, r.train, r.test, start_epoch, r.step};
  for (Callback* c : callbacks) c->on_end(end);
  std::cout << json_object(figures, labels) << "\n";
  return figures;
}

}  // namespace elbo::training
