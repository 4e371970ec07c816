#pragma once
// Plots with words, drawn with cairo (Debian's libcairo2, text through FreeType and fontconfig in DejaVu
// Sans): every plot has a title, labelled axes with tick values, a legend and a caption line. Cairo is
// chosen over PLplot or hand-drawn glyphs because it is a small, well-kept C library that renders
// antialiased lines and real fonts straight to PNG, with no plotting dialect of its own to learn.
// Each function writes a PNG (atomically: temporary file + rename) and returns every string it drew, so
// tests can check that a plot says what it should.
#include <string>
#include <vector>

#include "../autograd/tensor.h"

namespace elbo::models {

struct PlotText {
  std::string title, xlabel, ylabel, caption;
};

struct Series {
  std::string name;
  std::vector<double> y;     // one value per x
  std::vector<double> x{};   // empty: x = 1, 2, ...
  bool dashed = false;
};

// Lines (up to 6 series, distinct colours) with markers at the points.
std::vector<std::string> plot_lines(const std::string& path, const PlotText& text, const std::vector<Series>& series,
                                    int width = 800, int height = 500);

// One bar per value, labelled by `labels` under the axis; bars where highlight[i] is true are drawn in the
// accent colour, named in the legend by highlight_name (the others by base_name).
std::vector<std::string> plot_bars(const std::string& path, const PlotText& text, const std::vector<double>& values,
                                   const std::vector<std::string>& labels, const std::vector<bool>& highlight,
                                   const std::string& highlight_name, const std::string& base_name, int width = 800,
                                   int height = 500);

// Points (x[i], y[i]) coloured by group[i] in [0, group_names.size()), with a legend of the group names.
std::vector<std::string> plot_scatter(const std::string& path, const PlotText& text, const std::vector<double>& x,
                                      const std::vector<double>& y, const std::vector<int64_t>& group,
                                      const std::vector<std::string>& group_names, int width = 700, int height = 600);

// An image grid as save_image_grid lays it out (images [N, H * W] in [0, 1], nrow per row), scaled up
// `scale` times, with a one-line caption under it and, when given (one per row), a label left of each row.
std::vector<std::string> save_captioned_grid(const std::string& path, const Tensor& images, int64_t height,
                                             int64_t width, int64_t nrow, const std::string& caption, int scale = 2,
                                             const std::vector<std::string>& row_labels = {});

// Drawings of pen strokes in a grid of square cells, ncol per row, with a one-line caption under it. Each
// drawing is stroke-3 points (dx, dy, pen lifted after this point; 3 floats a point, y up as in the font
// data), scaled to fit its cell with its aspect kept; the pen's path runs dark, each stroke a segment
// chain, a lone point a dot. An empty drawing leaves its cell blank.
std::vector<std::string> save_stroke_grid(const std::string& path, const std::vector<std::vector<float>>& drawings,
                                          int64_t ncol, const std::string& caption, int cell = 96);

// The first two principal components of the rows of x [N, D] (D >= 2): [N, 2], each column centred.
Tensor principal_components(const Tensor& x);

}  // namespace elbo::models
