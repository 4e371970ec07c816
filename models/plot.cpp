// The plots of plot.h on a small cairo canvas: frame, nice ticks, text, legend, caption.
#include "models/plot.h"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>

#include "autograd/ops.h"

namespace elbo::models {
namespace {

constexpr double kColours[][3] = {{0.12, 0.47, 0.71}, {0.84, 0.15, 0.16}, {0.17, 0.63, 0.17}, {0.58, 0.40, 0.74},
                                  {1.00, 0.50, 0.05}, {0.55, 0.34, 0.29}, {0.89, 0.47, 0.76}, {0.50, 0.50, 0.50},
                                  {0.74, 0.74, 0.13}, {0.09, 0.75, 0.81}};
const double* colour(size_t i) { return kColours[i % 10]; }

// Tick values covering [lo, hi] at a 1-2-5 step, about n of them (whole numbers only when integer).
std::vector<double> ticks(double lo, double hi, bool integer = false, int n = 6) {
  const double raw = (hi - lo) / n, mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
  if (integer) step = std::max(1.0, std::round(step));
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) t.push_back(std::abs(v) < 1e-12 * step ? 0 : v);
  return t;
}
std::string tick_label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

class Canvas {
 public:
  Canvas(int w, int h) : w_(w), h_(h), surface_(cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h)),
                         cr_(cairo_create(surface_)) {
    cairo_set_source_rgb(cr_, 1, 1, 1);
    cairo_paint(cr_);
    cairo_select_font_face(cr_, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  }
  ~Canvas() {
    cairo_destroy(cr_);
    cairo_surface_destroy(surface_);
  }
  Canvas(const Canvas&) = delete;
  Canvas& operator=(const Canvas&) = delete;

  cairo_t* cr() { return cr_; }
  int width() const { return w_; }
  int height() const { return h_; }
  // Text at (x, y) aligned by ax in {0 left, 0.5 centre, 1 right} and ay likewise (0 top, 1 baseline-ish).
  // A line that would not fit the canvas is set smaller until it does.
  void text(const std::string& s, double x, double y, double size, double ax = 0, double ay = 0, double angle = 0) {
    if (s.empty()) return;
    cairo_save(cr_);
    cairo_set_source_rgb(cr_, 0.1, 0.1, 0.1);
    cairo_set_font_size(cr_, size);
    cairo_text_extents_t e;
    cairo_text_extents(cr_, s.c_str(), &e);
    if (angle == 0 && e.x_advance > w_ - 16) {
      size *= (w_ - 16) / e.x_advance;
      cairo_set_font_size(cr_, size);
      cairo_text_extents(cr_, s.c_str(), &e);
    }
    cairo_translate(cr_, x, y);
    cairo_rotate(cr_, angle);
    cairo_move_to(cr_, -e.x_advance * ax, size * (1 - ay) - size * 0.2);
    cairo_show_text(cr_, s.c_str());
    cairo_restore(cr_);
    drawn_.push_back(s);
  }
  void rgb(const double* c) { cairo_set_source_rgb(cr_, c[0], c[1], c[2]); }
  std::vector<std::string> save(const std::string& path) {
    const std::string tmp = path + ".tmp";
    if (cairo_surface_write_to_png(surface_, tmp.c_str()) != CAIRO_STATUS_SUCCESS) {
      std::remove(tmp.c_str());
      throw IOError(fmt::format("{}: cannot write PNG", path));
    }
    std::filesystem::rename(tmp, path);
    return drawn_;
  }

 private:
  int w_, h_;
  cairo_surface_t* surface_;
  cairo_t* cr_;
  std::vector<std::string> drawn_;
};

// The frame of a chart: title, caption, axis labels, the plot area and its ticks. Data coordinates map to
// the area through px() and py().
struct Axes {
  Canvas& c;
  static constexpr double left = 80, right = 24, top = 50, bottom = 80;  // margins around the area, px
  double x0, x1, y0, y1;
  double px(double x) const { return left + (x - x0) / (x1 - x0) * (c.width() - left - right); }
  double py(double y) const { return c.height() - bottom - (y - y0) / (y1 - y0) * (c.height() - top - bottom); }

  Axes(Canvas& canvas, const PlotText& t, double xlo, double xhi, double ylo, double yhi, bool x_ticks = true,
       bool x_integer = false)
      : c(canvas), x0(xlo), x1(xhi), y0(ylo), y1(yhi) {
    if (!(x1 > x0)) x0 -= 1, x1 += 1;
    if (!(y1 > y0)) y0 -= 1, y1 += 1;
    const double my = 0.05 * (y1 - y0);
    y0 -= my, y1 += my;
    c.text(t.title, c.width() / 2.0, 14, 16, 0.5);
    c.text(t.caption, c.width() / 2.0, c.height() - 24, 13, 0.5);
    c.text(t.xlabel, left + (c.width() - left - right) / 2.0, c.height() - bottom + 30, 13, 0.5);
    c.text(t.ylabel, 18, top + (c.height() - top - bottom) / 2.0, 13, 0.5, 0.5, -M_PI / 2);
    cairo_t* cr = c.cr();
    cairo_set_line_width(cr, 1);
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    for (double v : ticks(y0, y1)) {
      cairo_move_to(cr, left, py(v));
      cairo_line_to(cr, c.width() - right, py(v));
    }
    cairo_stroke(cr);
    for (double v : ticks(y0, y1)) c.text(tick_label(v), left - 6, py(v), 11, 1, 0.5);
    if (x_ticks)
      for (double v : ticks(x0, x1, x_integer)) c.text(tick_label(v), px(v), c.height() - bottom + 6, 11, 0.5);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, left, top, c.width() - left - right, c.height() - top - bottom);
    cairo_stroke(cr);
  }
  // Legend entries in the corner of the area that covers the fewest of the plotted points (px, py, in
  // canvas coordinates; lines are passed as points along them), ties going to top right, bottom right,
  // top left, bottom left: a colour swatch and the name.
  // Returns how many of the points it covers.
  size_t legend(const std::vector<std::pair<std::string, const double*>>& entries, const std::vector<double>& pts_x = {},
                const std::vector<double>& pts_y = {}) {
    cairo_t* cr = c.cr();
    cairo_set_font_size(cr, 12);
    double wmax = 0;
    for (const auto& [name, col] : entries) {
      cairo_text_extents_t e;
      cairo_text_extents(cr, name.c_str(), &e);
      wmax = std::max(wmax, e.x_advance);
    }
    const double h = 18.0 * double(entries.size()) + 6, w = wmax + 44;
    const double right_x = c.width() - right - wmax - 44, left_x = left + 14;
    const double top_y = top + 8, bottom_y = c.height() - bottom - 8 - h + 4;
    const std::pair<double, double> corners[] = {{right_x, top_y}, {right_x, bottom_y}, {left_x, top_y}, {left_x, bottom_y}};
    double bx = right_x, by = top_y;
    size_t fewest = SIZE_MAX;
    for (const auto& [cx, cy] : corners) {
      size_t covered = 0;
      for (size_t i = 0; i < pts_x.size(); ++i)
        covered += pts_x[i] >= cx - 10 && pts_x[i] <= cx + w + 4 && pts_y[i] >= cy - 8 && pts_y[i] <= cy + h + 4;
      if (covered < fewest) fewest = covered, bx = cx, by = cy;
    }
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_rectangle(cr, bx - 6, by - 4, wmax + 44, 18.0 * double(entries.size()) + 6);
    cairo_fill(cr);
    for (size_t i = 0; i < entries.size(); ++i) {
      c.rgb(entries[i].second);
      cairo_rectangle(cr, bx, by + 18.0 * double(i) + 3, 22, 8);
      cairo_fill(cr);
      c.text(entries[i].first, bx + 28, by + 18.0 * double(i) + 7, 12, 0, 0.5);
    }
    return fewest == SIZE_MAX ? 0 : fewest;
  }
};

void finite_range(const std::vector<double>& v, double& lo, double& hi) {
  for (double a : v)
    if (std::isfinite(a)) lo = std::min(lo, a), hi = std::max(hi, a);
}

}  // namespace

std::vector<std::string> plot_lines(const std::string& path, const PlotText& text, const std::vector<Series>& series,
                                    int width, int height) {
  double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo, ylo = xlo, yhi = -xlo;
  auto xs = [](const Series& s) {
    if (!s.x.empty()) return s.x;
    std::vector<double> x(s.y.size());
    for (size_t i = 0; i < x.size(); ++i) x[i] = double(i + 1);
    return x;
  };
  for (const Series& s : series) {
    ELBO_CHECK_SHAPE(s.x.empty() || s.x.size() == s.y.size(), "plot_lines: series '{}' has {} x and {} y values",
                     s.name, s.x.size(), s.y.size());
    finite_range(xs(s), xlo, xhi), finite_range(s.y, ylo, yhi);
  }
  if (!std::isfinite(xlo)) xlo = 0, xhi = 1, ylo = 0, yhi = 1;
  bool integer = true;
  for (const Series& s : series)
    for (double v : xs(s)) integer = integer && v == std::round(v);
  // The series drawn on a canvas whose y axis ends at y_top; returns how many plotted points the legend
  // covers.
  const auto draw = [&](Canvas& c, double y_top) {
    Axes a(c, text, xlo, xhi, ylo, y_top, true, integer);
    cairo_t* cr = c.cr();
    std::vector<std::pair<std::string, const double*>> entries;
    std::vector<double> pts_x, pts_y;
    for (size_t k = 0; k < series.size(); ++k) {
      const std::vector<double> x = xs(series[k]);
      c.rgb(colour(k));
      cairo_set_line_width(cr, 2);
      const double dash[] = {6, 4};
      cairo_set_dash(cr, dash, series[k].dashed ? 2 : 0, 0);
      bool pen = false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!std::isfinite(series[k].y[i])) {
          pen = false;
          continue;
        }
        const double cx = a.px(x[i]), cy = a.py(series[k].y[i]);
        if (pen) {  // the legend keeps off the line too: points every 4 px along it
          const double dx = cx - pts_x.back(), dy = cy - pts_y.back(), x0 = pts_x.back(), y0 = pts_y.back();
          const int n = int(std::hypot(dx, dy) / 4);
          for (int j = 1; j < n; ++j) pts_x.push_back(x0 + dx * j / n), pts_y.push_back(y0 + dy * j / n);
          cairo_line_to(cr, cx, cy);
        } else {
          cairo_move_to(cr, cx, cy);
        }
        pen = true;
        pts_x.push_back(cx), pts_y.push_back(cy);
      }
      cairo_stroke(cr);
      cairo_set_dash(cr, dash, 0, 0);
      for (size_t i = 0; i < x.size(); ++i)
        if (std::isfinite(series[k].y[i])) {
          cairo_arc(cr, a.px(x[i]), a.py(series[k].y[i]), 3, 0, 2 * M_PI);
          cairo_fill(cr);
        }
      entries.emplace_back(series[k].name, colour(k));
    }
    return a.legend(entries, pts_x, pts_y);
  };
  auto c = std::make_unique<Canvas>(width, height);
  if (draw(*c, yhi) > 0 && std::isfinite(yhi) && yhi > ylo) {
    // no corner is free: raise the top of the y axis until a band above the data holds the legend
    const double band = 18.0 * double(series.size()) + 6 + 24, area = double(height) - Axes::top - Axes::bottom;
    if (band < 0.8 * area) {
      c = std::make_unique<Canvas>(width, height);
      draw(*c, yhi + (yhi - ylo) * band / (area - band));
    }
  }
  return c->save(path);
}

std::vector<std::string> plot_bars(const std::string& path, const PlotText& text, const std::vector<double>& values,
                                   const std::vector<std::string>& labels, const std::vector<bool>& highlight,
                                   const std::string& highlight_name, const std::string& base_name, int width,
                                   int height) {
  ELBO_CHECK_SHAPE(labels.size() == values.size() && highlight.size() == values.size(),
                   "plot_bars: {} values, {} labels and {} highlight flags", values.size(), labels.size(),
                   highlight.size());
  double lo = 0, hi = 0;
  finite_range(values, lo, hi);
  Canvas c(width, height);
  Axes a(c, text, 0, double(std::max<size_t>(values.size(), 1)), lo, hi, false);
  const double accent[] = {0.84, 0.15, 0.16}, base[] = {0.6, 0.6, 0.6};
  const double bw = (a.px(1) - a.px(0)) * 0.8;
  const size_t every = std::max<size_t>(1, values.size() / 25);  // at most about 25 labels under the bars
  for (size_t i = 0; i < values.size(); ++i) {
    c.rgb(highlight[i] ? accent : base);
    const double x = a.px(double(i) + 0.5) - bw / 2, y = a.py(std::max(0.0, values[i]));
    cairo_rectangle(c.cr(), x, y, bw, std::abs(a.py(values[i]) - a.py(0)));
    cairo_fill(c.cr());
    if (i % every == 0) c.text(labels[i], a.px(double(i) + 0.5), c.height() - a.bottom + 6, 10, 0.5);
  }
  a.legend({{highlight_name, accent}, {base_name, base}});
  return c.save(path);
}

std::vector<std::string> plot_scatter(const std::string& path, const PlotText& text, const std::vector<double>& x,
                                      const std::vector<double>& y, const std::vector<int64_t>& group,
                                      const std::vector<std::string>& group_names, int width, int height) {
  ELBO_CHECK_SHAPE(x.size() == y.size() && y.size() == group.size(), "plot_scatter: {} x, {} y and {} groups",
                   x.size(), y.size(), group.size());
  double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo, ylo = xlo, yhi = -xlo;
  finite_range(x, xlo, xhi), finite_range(y, ylo, yhi);
  if (!std::isfinite(xlo)) xlo = 0, xhi = 1, ylo = 0, yhi = 1;
  Canvas c(width, height);
  Axes a(c, text, xlo, xhi, ylo, yhi);
  for (size_t i = 0; i < x.size(); ++i) {
    ELBO_CHECK_VALUE(group[i] >= 0 && size_t(group[i]) < group_names.size(),
                     "plot_scatter: group {} of point {} has no name ({} names)", group[i], i, group_names.size());
    const double* col = colour(size_t(group[i]));
    cairo_set_source_rgba(c.cr(), col[0], col[1], col[2], 0.6);
    cairo_arc(c.cr(), a.px(x[i]), a.py(y[i]), 2.5, 0, 2 * M_PI);
    cairo_fill(c.cr());
  }
  std::vector<std::pair<std::string, const double*>> entries;
  for (size_t g = 0; g < group_names.size(); ++g) entries.emplace_back(group_names[g], colour(g));
  a.legend(entries);
  return c.save(path);
}

std::vector<std::string> save_captioned_grid(const std::string& path, const Tensor& images, int64_t h, int64_t w,
                                             int64_t nrow, const std::string& caption, int scale,
                                             const std::vector<std::string>& row_labels) {
  ELBO_CHECK_SHAPE(images.numel() % (h * w) == 0 && images.numel() > 0,
                   "save_captioned_grid: images {} are not a stack of {}x{} images", images.shape(), h, w);
  const int64_t n = images.numel() / (h * w), pad = 2;
  nrow = std::max<int64_t>(1, std::min(nrow, n));
  const int64_t rows = (n + nrow - 1) / nrow;
  ELBO_CHECK_VALUE(row_labels.empty() || int64_t(row_labels.size()) == rows,
                   "save_captioned_grid: {} row labels for {} rows", row_labels.size(), rows);
  const int left = row_labels.empty() ? 0 : 56;  // the labels' margin
  const int gw = int((nrow * (w + pad) + pad) * scale), gh = int((rows * (h + pad) + pad) * scale);
  Canvas c(std::max(left + gw, 360), gh + 30);
  cairo_set_source_rgb(c.cr(), 0.16, 0.16, 0.16);
  cairo_rectangle(c.cr(), left, 0, gw, gh);
  cairo_fill(c.cr());
  const std::vector<float> v = images.to_vector<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        const double p = std::clamp(double(v[size_t((i * h + y) * w + x)]), 0.0, 1.0);
        cairo_set_source_rgb(c.cr(), p, p, p);
        cairo_rectangle(c.cr(), double(left + (pad + (i % nrow) * (w + pad) + x) * scale),
                        double((pad + (i / nrow) * (h + pad) + y) * scale), scale, scale);
        cairo_fill(c.cr());
      }
  for (size_t r = 0; r < row_labels.size(); ++r)  // right-aligned beside its row, centred on it
    c.text(row_labels[r], left - 6, (double(pad) + (double(r) + 0.5) * double(h + pad)) * scale, 13, 1, 0.5);
  c.text(caption, c.width() / 2.0, gh + 8, 12, 0.5);
  return c.save(path);
}

std::vector<std::string> save_stroke_grid(const std::string& path, const std::vector<std::vector<float>>& drawings,
                                          int64_t ncol, const std::string& caption, int cell) {
  ELBO_CHECK(!drawings.empty() && ncol > 0 && cell >= 16, "save_stroke_grid: {} drawings, ncol {}, cell {}",
             drawings.size(), ncol, cell);
  const int64_t n = int64_t(drawings.size()), cols = std::min(ncol, n), rows = (n + cols - 1) / cols;
  const int gw = int(cols * cell), gh = int(rows * cell);
  Canvas c(std::max(gw, 360), gh + 30);
  cairo_set_source_rgb(c.cr(), 1, 1, 1);
  cairo_paint(c.cr());
  for (int64_t i = 0; i < n; ++i) {
    const std::vector<float>& d = drawings[size_t(i)];
    ELBO_CHECK(d.size() % 3 == 0, "save_stroke_grid: drawing {} has {} values, not 3 per point", i, d.size());
    const double x0 = double((i % cols) * cell), y0 = double((i / cols) * cell);
    cairo_set_source_rgb(c.cr(), 0.85, 0.85, 0.85);  // the cell's frame
    cairo_set_line_width(c.cr(), 1);
    cairo_rectangle(c.cr(), x0 + 0.5, y0 + 0.5, cell - 1, cell - 1);
    cairo_stroke(c.cr());
    if (d.empty()) continue;
    std::vector<double> px, py;  // absolute positions
    double x = 0, y = 0;
    for (size_t k = 0; k < d.size(); k += 3) x += d[k], y += d[k + 1], px.push_back(x), py.push_back(y);
    const auto [xl, xh] = std::minmax_element(px.begin(), px.end());
    const auto [yl, yh] = std::minmax_element(py.begin(), py.end());
    const double span = std::max({*xh - *xl, *yh - *yl, 1e-9}), margin = 0.1 * cell;
    const double k = (cell - 2 * margin) / span;
    const double cx = (*xl + *xh) / 2, cy = (*yl + *yh) / 2;
    const auto at = [&](size_t j, double& ox, double& oy) {
      ox = x0 + cell / 2.0 + (px[j] - cx) * k;
      oy = y0 + cell / 2.0 - (py[j] - cy) * k;  // y up in the data, down in the image
    };
    cairo_set_source_rgb(c.cr(), 0.1, 0.1, 0.1);
    cairo_set_line_width(c.cr(), std::max(1.5, cell / 40.0));
    cairo_set_line_cap(c.cr(), CAIRO_LINE_CAP_ROUND);
    cairo_set_line_join(c.cr(), CAIRO_LINE_JOIN_ROUND);
    bool down = false;
    for (size_t j = 0; j < px.size(); ++j) {
      double ox, oy;
      at(j, ox, oy);
      if (!down) cairo_move_to(c.cr(), ox, oy), cairo_line_to(c.cr(), ox, oy);  // a lone point draws a dot
      else cairo_line_to(c.cr(), ox, oy);
      down = d[3 * j + 2] == 0;
    }
    cairo_stroke(c.cr());
  }
  c.text(caption, c.width() / 2.0, gh + 8, 12, 0.5);
  return c.save(path);
}

Tensor principal_components(const Tensor& x0) {
  ELBO_CHECK_SHAPE(x0.dim() == 2 && x0.size(1) >= 2, "principal_components: x {} must be [N, D] with D >= 2",
                   x0.shape());
  NoGradGuard ng;
  const Tensor x = x0.detach().to(DType::f64), centred = x - mean(x, {0}, true);
  Tensor cov = matmul(transpose(centred, 0, 1), centred);  // [D, D]
  std::vector<Tensor> dirs;
  for (int k = 0; k < 2; ++k) {  // power iteration, deflating the first component for the second
    Tensor v = reshape(arange(1, double(x.size(1)) + 1, 1, DType::f64), {-1, 1});  // any start off the axes
    for (int it = 0; it < 200; ++it) {
      v = matmul(cov, v);
      v = v / sqrt(sum(square(v)) + 1e-300);
    }
    dirs.push_back(v);
    cov = cov - matmul(v, transpose(v, 0, 1)) * sum(v * matmul(cov, v));
  }
  return matmul(centred, cat(dirs, 1));
}

}  // namespace elbo::models
