// Plots say what they show: the text each plot drew (title, axis labels, ticks, legend, caption).
#include <models/plot.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "test_util.h"

using namespace elbo;
using namespace elbo::models;

namespace {
bool has(const std::vector<std::string>& drawn, const std::string& s) {
  return std::find(drawn.begin(), drawn.end(), s) != drawn.end();
}
bool is_png(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char sig[8] = {};
  f.read(sig, 8);
  return std::string(sig, 8) == "\x89PNG\r\n\x1a\n";
}
}  // namespace

TEST_CASE("plot_lines: title, axis labels, tick values, legend and caption") {
  const auto drawn = plot_lines("test_plot_lines.png", {"mlp VAE on mnist", "epoch", "nats per example", "final -109.5"},
                                {{"train ELBO", {-120, -112, -110}}, {"test ELBO", {-118, -113, -109.5}},
                                 {"IWAE", {-104, -104, -104}, {}, true}});
  for (const char* s : {"mlp VAE on mnist", "epoch", "nats per example", "final -109.5", "train ELBO", "test ELBO", "IWAE"})
    CHECK_MESSAGE(has(drawn, s), s);
  CHECK(has(drawn, "-110"));  // a tick value on the nats axis
  CHECK(has(drawn, "2"));     // and on the epochs axis
  CHECK(is_png("test_plot_lines.png"));
  CHECK_ERROR_HAS(plot_lines("x.png", {}, {{"a", {1, 2}, {1}}}), "plot_lines: series 'a' has 1 x and 2 y values");
  std::filesystem::remove("test_plot_lines.png");
}

TEST_CASE("plot_bars, plot_scatter and captioned grids") {
  const auto bars = plot_bars("test_plot_bars.png", {"KL per latent dimension", "latent dimension", "nats", "2 of 3 active"},
                              {3.0, 1.5, 0.01}, {"2", "0", "1"}, {true, true, false}, "active", "inactive");
  for (const char* s : {"KL per latent dimension", "2 of 3 active", "active", "inactive", "2", "0", "1"}) CHECK_MESSAGE(has(bars, s), s);
  const auto sc = plot_scatter("test_plot_scatter.png", {"means by label", "z1", "z2", "100 points"}, {0, 1, 2, 3},
                               {1, 0, 1, 0}, {0, 1, 1, 2}, {"zero", "one", "two"});
  for (const char* s : {"means by label", "z1", "z2", "zero", "one", "two"}) CHECK_MESSAGE(has(sc, s), s);
  CHECK_ERROR_HAS(plot_scatter("x.png", {}, {0}, {0}, {3}, {"a"}), "plot_scatter: group 3 of point 0 has no name");
  Generator gen(1);
  const auto grid = save_captioned_grid("test_plot_grid.png", rand({6, 16}, gen), 4, 4, 3, "6 samples");
  CHECK(has(grid, "6 samples"));
  const auto labelled = save_captioned_grid("test_plot_rows.png", rand({6, 16}, gen), 4, 4, 3, "by class", 2, {"y = 0", "y = 1"});
  for (const char* s : {"by class", "y = 0", "y = 1"}) CHECK_MESSAGE(has(labelled, s), s);
  CHECK(is_png("test_plot_rows.png"));
  std::filesystem::remove("test_plot_rows.png");
  CHECK_ERROR_HAS(save_captioned_grid("x.png", rand({6, 16}, gen), 4, 4, 3, "", 2, {"one"}),
                  "save_captioned_grid: 1 row labels for 2 rows");
  for (const char* f : {"test_plot_bars.png", "test_plot_scatter.png", "test_plot_grid.png"}) {
    CHECK(is_png(f));
    std::filesystem::remove(f);
  }
}

TEST_CASE("principal_components: the directions of largest variance") {
  // points along (1, 1) with a little spread along (1, -1): the first component carries the large spread
  std::vector<double> v;
  for (int i = -5; i <= 5; ++i) v.push_back(i + 0.1 * (i % 2)), v.push_back(i - 0.1 * (i % 2));
  const Tensor pc = principal_components(tensor(v, {11, 2}, DType::f64));
  CHECK(pc.shape() == Shape{11, 2});
  const auto p = pc.to_vector<double>();
  double var0 = 0, var1 = 0;
  for (size_t i = 0; i < 11; ++i) var0 += p[2 * i] * p[2 * i], var1 += p[2 * i + 1] * p[2 * i + 1];
  CHECK(var0 > 100 * var1);
  CHECK(var0 == doctest::Approx(2 * 110.0).epsilon(0.01));  // sum of (sqrt 2 * i)^2 over i = -5..5
}
