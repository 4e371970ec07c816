#include "tools/vqvae_task.h"

#include <algorithm>
#include <cmath>

#include "models/plot.h"

namespace elbo::zoo {

VqVaeTask::VqVaeTask(models::VqVae& m) : m_(m), epoch_counts_(size_t(m.options().codes), 0) {}

Tensor VqVaeTask::loss(const Tensor& x, const std::vector<int64_t>&, Generator&, int64_t) {
  const models::VqVaeOutput o = m_.forward(x);
  const auto counts = o.q.counts.span<const int64_t>();
  for (size_t k = 0; k < counts.size(); ++k) epoch_counts_[k] += counts[k];
  const double elements = double(m_.grid_height() * m_.grid_width() * m_.options().code_dim);
  return -mean(o.log_likelihood) + elements * o.q.loss;
}

Tensor VqVaeTask::score(const Tensor& x, Generator&) { return m_.elbo(x); }

void VqVaeTask::epoch_figures(std::map<std::string, double>& row) {
  row["perplexity"] = perplexity(epoch_counts_);
  row["codes_used"] = double(std::count_if(epoch_counts_.begin(), epoch_counts_.end(), [](int64_t c) { return c > 0; }));
  std::fill(epoch_counts_.begin(), epoch_counts_.end(), 0);
}

void VqVaeTask::summaries(training::Session& s, training::SummaryWriter& tb, int64_t step) {
  NoGradGuard ng;
  const training::ImageData& d = s.images();
  const Tensor x = narrow(d.test_x, 0, 0, std::min<int64_t>(500, d.test_x.size(0)));
  tb.add_histogram("codes/test", m_.codes(x).to(DType::f32), step);
  tb.add_histogram("latent/z_e", m_.encode(x), step);
}

std::vector<int64_t> code_usage(const models::VqVae& m, const Tensor& x) {
  std::vector<int64_t> usage(size_t(m.options().codes), 0);
  for (int64_t b = 0; b < x.size(0); b += 500) {
    const Tensor codes = m.codes(narrow(x, 0, b, std::min<int64_t>(500, x.size(0) - b)));
    for (int64_t c : codes.span<const int64_t>()) ++usage[size_t(c)];
  }
  return usage;
}

double perplexity(const std::vector<int64_t>& usage) {
  double total = 0, entropy = 0;
  for (int64_t c : usage) total += double(c);
  if (total == 0) return 0;
  for (int64_t c : usage)
    if (c > 0) entropy -= double(c) / total * std::log(double(c) / total);
  return std::exp(entropy);
}

void VqVaeTask::finish(training::Session& s, Generator& gen, std::map<std::string, double>& figures) {
  NoGradGuard ng;
  const training::ImageData& d = s.images();
  double ll = 0;
  for (int64_t b = 0; b < d.test_x.size(0); b += 500) {
    const Tensor x = narrow(d.test_x, 0, b, std::min<int64_t>(500, d.test_x.size(0) - b));
    ll += sum(m_.likelihood(m_.decode_codes(m_.codes(x))).log_prob(x)).item();
  }
  figures["test_recon_loglik"] = ll / double(d.test_x.size(0));
  const std::vector<int64_t> usage = code_usage(m_, d.test_x);
  const int64_t used = std::count_if(usage.begin(), usage.end(), [](int64_t c) { return c > 0; });
  figures["test_perplexity"] = perplexity(usage);
  figures["test_codes_used"] = double(used);

  // codebook usage, most used first: how evenly the test set spreads over the codes
  std::vector<size_t> order(usage.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return usage[a] > usage[b]; });
  const double total = double(d.test_x.size(0) * m_.grid_height() * m_.grid_width());
  std::vector<double> share;
  std::vector<std::string> labels;
  std::vector<bool> above;
  const double even = 100.0 / double(usage.size());
  for (size_t i : order) {
    share.push_back(100.0 * double(usage[i]) / total);
    labels.push_back(std::to_string(i));
    above.push_back(share.back() > even);
  }
  models::plot_bars(s.path("codebook_usage.png"),
                    {fmt::format("Codebook usage on the {} test images ({} of {} codes used, perplexity {:.1f})",
                                 d.test_x.size(0), used, usage.size(), figures["test_perplexity"]),
                     "code (sorted by use)", "share of the test set's code positions, %",
                     fmt::format("{}x{} codes per image; an even use would give each code {:.2f}%", m_.grid_height(),
                                 m_.grid_width(), even)},
                    share, labels, above, fmt::format("above the even share"), "at or below it");

  // before a prior is learned over the codes: a uniform draw of every position, decoded
  const int64_t n = 64, positions = n * m_.grid_height() * m_.grid_width();
  std::vector<int64_t> random_codes(static_cast<size_t>(positions));
  for (auto& c : random_codes) c = int64_t(gen.below(uint64_t(m_.options().codes)));
  const Tensor codes = tensor(random_codes, {n, m_.grid_height(), m_.grid_width()});
  training::save_image_reports(s, m_.images(m_.decode_codes(codes)), [&](const Tensor& x) { return m_.reconstruct(x); });
}

}  // namespace elbo::zoo
