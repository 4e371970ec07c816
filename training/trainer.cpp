#include "training/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "autograd/kernels/kernels.h"
#include "autograd/threads.h"
#include "models/image.h"
#include "models/plot.h"
#include "training/checkpoint.h"
#include "training/report.h"

namespace elbo::training {
namespace fs = std::filesystem;

Session::Session(const Options& o) : opt(o) {
  if (o.threads > 0) set_num_threads(o.threads);
  const int64_t limit = o.limit > 0 ? o.limit : INT64_MAX;
  binarize = models::parse_binarize(o.binarize);
  if (fs::exists(fs::path(o.data) / "strokes-train.bin")) {
    sequences = true;
    train_seq = models::head(models::load_strokes(o.data, "train"), limit);
    test_seq = models::head(models::load_strokes(o.data, "test"), limit);
  } else {
    train = models::head(models::load_split(o.data, "train"), limit);
    test = models::head(models::load_split(o.data, "t10k"), limit);
    Generator g(o.seed ^ 0x7e57);  // the test set's binarization is fixed for the run
    test_x = models::binarize(test.images, binarize, g);
  }
  data_name = fs::path(o.data).filename().string();
  if (data_name.empty()) data_name = fs::path(o.data).parent_path().filename().string();
  fs::create_directories(o.out);
}

std::string Session::checkpoint_path() const { return path("checkpoint.safetensors"); }
std::string Session::path(const std::string& file) const { return (fs::path(opt.out) / file).string(); }

Tensor Task::score_rows(const std::vector<int64_t>&, Generator&) {
  throw Error(fmt::format("{} scores tensors of examples, not sequence data (this --data holds strokes)", describe()));
}

double evaluate_test(Session& s, Task& t, Generator& gen) {
  if (!s.sequences) return evaluate(t, s.test_x, 500, gen);
  NoGradGuard ng;
  const int64_t n = s.test_size(), batch = 256;
  double total = 0;
  std::vector<int64_t> ids;
  for (int64_t b = 0; b < n; b += batch) {
    ids.clear();
    for (int64_t i = b; i < std::min(n, b + batch); ++i) ids.push_back(i);
    total += sum(t.score_rows(ids, gen)).item();
  }
  return total / double(n);
}

double evaluate(Task& t, const Tensor& x, int64_t batch, Generator& gen) {
  NoGradGuard ng;
  const int64_t n = x.size(0);
  double total = 0;
  for (int64_t b = 0; b < n; b += batch) total += sum(t.score(narrow(x, 0, b, std::min(batch, n - b)), gen)).item();
  return total / double(n);
}

namespace {

// One epoch of minibatch steps; returns the mean training figure (-loss).
double train_epoch(Session& s, Task& t, optim::Optimizer& opt, Generator& gen, int epoch, int epochs, int64_t& step,
                   SummaryWriter* tb) {
  const Options& o = s.opt;
  const int64_t n = s.train_size(), nb = (n + o.batch - 1) / o.batch;
  const std::vector<int64_t> order = models::permutation(n, gen);
  const std::vector<Tensor> params = o.clip > 0 ? t.module().parameters() : std::vector<Tensor>();
  Progress bar(fmt::format("epoch {}/{}", epoch + 1, epochs), n, o.quiet);
  double running = 0;
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t lo = b * o.batch, hi = std::min(n, lo + o.batch);
    const Tensor x =
        s.sequences ? Tensor() : models::binarize(models::rows(s.train.images, order, lo, hi), s.binarize, gen);
    const std::vector<int64_t> ids(order.begin() + lo, order.begin() + hi);
    auto diverged = [&](const std::string& what) {
      return Error(fmt::format("training diverged at epoch {} step {}: {} (try a smaller --lr); the last good "
                               "checkpoint is {}", epoch + 1, step, what, s.checkpoint_path()));
    };
    Tensor loss;
    try {
      loss = t.loss(x, ids, gen, ++step);
    } catch (const ValueError& e) {  // a distribution's parameters left their support (a scale of 0, NaN)
      throw diverged(e.what());
    }
    const double l = loss.item();
    if (!std::isfinite(l)) throw diverged(fmt::format("the loss is {}", l));
    if (tb) tb->add_scalar("train/loss", l, step);
    opt.zero_grad();
    loss.backward();
    if (o.clip > 0) optim::clip_grad_norm_(params, o.clip);
    opt.step();
    t.after_step();
    running += l * double(hi - lo);
    bar.update(hi, -running / double(hi), t.figure());
  }
  bar.finish();
  return -running / double(n);
}

// training_curve.png: train and test figure per epoch, the IWAE log-likelihood when --iw measured it.
void plot_training_curve(const Session& s, Task& t, const std::vector<double>& train, const std::vector<double>& test,
                         int first_epoch, const std::map<std::string, double>& figures) {
  const std::string fig = t.figure(), name = fig == "elbo" ? "ELBO" : fig == "recon_loglik" ? "reconstruction log-lik" : fig;
  std::vector<double> epochs;
  for (size_t i = 0; i < train.size(); ++i) epochs.push_back(double(first_epoch + 1) + double(i));
  std::vector<models::Series> series{{"train " + name, train, epochs}, {"test " + name, test, epochs}};
  std::string caption = fmt::format("final test {} {:.2f} nats per example", name, test.back());
  if (figures.count("test_loglik")) {
    const double ll = figures.at("test_loglik");
    series.push_back({fmt::format("test log p(x), IWAE K={}", s.opt.iw), std::vector<double>(epochs.size(), ll), epochs, true});
    caption += fmt::format("; test log p(x) >= {:.2f} (IWAE K={})", ll, s.opt.iw);
  }
  models::plot_lines(s.path("training_curve.png"),
                     {fmt::format("{} on {}", t.describe(), s.data_name), "epoch", "nats per example", caption}, series);
}

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

// OUT/README.md: what was trained on what, the command, the final figures, the timing and the images.
void write_run_readme(const Session& s, Task& t, const std::map<std::string, double>& figures,
                      const std::map<std::string, std::string>& labels) {
  std::string md = fmt::format("# {} on {}\n\n", t.describe(), s.data_name);
  if (!s.opt.command.empty()) md += fmt::format("```sh\n{}\n```\n\n", s.opt.command);
  if (s.sequences)
    md += fmt::format("Data: `{}` ({} train, {} test sequences). Figures per test sequence (and per point where "
                      "named), in nats.\n\n", s.opt.data, s.train_size(), s.test_size());
  else
    md += fmt::format("Data: `{}` ({} train, {} test examples, {} binarization). Figures per test example, in nats.\n\n",
                      s.opt.data, s.train.size(), s.test.size(), labels.at("binarize"));
  md += "| figure | value |\n| --- | ---: |\n";
  for (const auto& [name, v] : figures)
    if (name.rfind("kl_dim_", 0) != 0) md += fmt::format("| {} | {:.4g} |\n", name, v);
  md += "\nPer-epoch figures: `metrics.jsonl`; TensorBoard: `tensorboard --logdir " + s.opt.out + "`.\n\n";
  for (const char* png : {"training_curve.png", "samples.png", "reconstructions.png", "interpolations.png",
                          "latent_manifold.png", "kl_per_dim.png", "latent_scatter.png"})
    if (fs::exists(s.path(png))) md += fmt::format("![{}]({})\n\n", std::string(png).substr(0, std::string(png).size() - 4), png);
  std::ofstream f(s.path("README.md"), std::ios::trunc);
  f << md;
  if (!f) throw IOError(fmt::format("{}: cannot write the run summary", s.path("README.md")));
}

}  // namespace

std::map<std::string, double> run(Session& s, Task& t) {
  const Options& o = s.opt;
  Generator gen(o.seed + 1);
  optim::Adam opt(t.module().parameters(), {.lr = o.lr});
  if (!o.load.empty()) nn::load(t.module(), o.load);
  int start_epoch = 0;
  const int64_t steps_per_epoch = (s.train_size() + o.batch - 1) / o.batch;
  if (o.resume) {
    if (!fs::exists(s.checkpoint_path()))
      throw IOError(fmt::format("--resume: no checkpoint at {}", s.checkpoint_path()));
    std::map<std::string, Tensor> task_state;
    start_epoch = int(load_checkpoint(s.checkpoint_path(), t.module(), opt, gen, task_state));
    t.load_state(task_state, s.checkpoint_path());
  }
  // the instruction set the kernels run (ELBO_ARCH forces one) and the threads: every run says where it ran
  const std::string kernels(kernels::arch_name());
  const std::map<std::string, std::string> labels{
      {"model", t.describe()}, {"data", s.data_name}, {"binarize", s.sequences ? "none" : o.binarize}, {"kernels", kernels}};
  if (!o.quiet)
    std::cerr << fmt::format("{} on {} ({}; kernels {}, {} threads)\n", t.describe(), s.data_name,
                             s.sequences ? fmt::format("{} sequences", s.train_size())
                                         : fmt::format("{} binarization", o.binarize),
                             kernels, num_threads());
  Metrics metrics(s.path("metrics.jsonl"), o.eval_only ? INT64_MAX : start_epoch);
  std::unique_ptr<SummaryWriter> tb;
  if (!o.eval_only) {
    if (!o.resume)  // a fresh run into an old --out starts its log anew, as metrics.jsonl
      for (const auto& e : fs::directory_iterator(o.out))
        if (e.path().filename().string().rfind("events.out.tfevents.", 0) == 0) fs::remove(e.path());
    tb = std::make_unique<SummaryWriter>(o.out, o.resume ? int64_t(start_epoch) * steps_per_epoch : -1);
  }
  std::vector<double> train_curve, test_curve;
  int64_t step = int64_t(start_epoch) * steps_per_epoch;
  double examples = 0, train_seconds = 0;
  const int epochs = o.eval_only ? start_epoch : o.epochs;
  for (int epoch = start_epoch; epoch < epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    const double train_figure = train_epoch(s, t, opt, gen, epoch, epochs, step, tb.get());
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    train_seconds += secs;
    examples += double(s.train_size());
    Generator eval_gen(o.seed + 2);
    const double test = evaluate_test(s, t, eval_gen);
    train_curve.push_back(train_figure);
    test_curve.push_back(test);
    metrics.write({{"epoch", epoch + 1},
                   {fmt::format("train_{}", t.figure()), train_figure},
                   {fmt::format("test_{}", t.figure()), test},
                   {"seconds", secs},
                   {"examples_per_sec", double(s.train_size()) / secs}},
                  labels);
    if (tb) {
      tb->add_scalar(fmt::format("train/{}", t.figure()), train_figure, step);
      tb->add_scalar(fmt::format("test/{}", t.figure()), test, step);
      tb->add_scalar("time/examples_per_sec", double(s.train_size()) / secs, step);
      tb->add_scalar("time/epoch_seconds", secs, step);
      t.summaries(s, *tb, step);
      tb->flush();
    }
    if (!o.quiet)
      std::cerr << fmt::format("epoch {}: train {} {:.2f}, test {} {:.2f} nats ({:.1f}s, {:.0f} ex/s)\n", epoch + 1,
                               t.figure(), train_figure, t.figure(), test, secs, double(s.train_size()) / secs);
    save_checkpoint(s.checkpoint_path(), t.module(), opt, gen, epoch + 1, t.state(), t.describe());
  }
  if (!o.eval_only) nn::save(t.module(), o.save.empty() ? s.path("model.safetensors") : o.save);
  Generator eval_gen(o.seed + 2);
  std::map<std::string, double> figures;
  figures[fmt::format("test_{}", t.figure())] = evaluate_test(s, t, eval_gen);
  figures["seconds"] = train_seconds;
  figures["examples_per_sec"] = train_seconds > 0 ? examples / train_seconds : 0;
  figures["epochs"] = epochs;
  t.finish(s, eval_gen, figures);
  if (!train_curve.empty()) plot_training_curve(s, t, train_curve, test_curve, start_epoch, figures);
  if (tb) {
    for (const auto& [name, v] : figures)
      if (name.rfind("kl_dim_", 0) != 0) tb->add_scalar("final/" + name, v, step);
    for (const char* png : {"samples.png", "reconstructions.png", "interpolations.png", "latent_manifold.png",
                            "training_curve.png", "kl_per_dim.png", "latent_scatter.png"})
      if (fs::exists(s.path(png))) add_png(*tb, s.path(png), std::string(png).substr(0, std::string(png).size() - 4), step);
  }
  write_run_readme(s, t, figures, labels);
  std::cout << json_object(figures, labels) << "\n";
  return figures;
}

}  // namespace elbo::training
