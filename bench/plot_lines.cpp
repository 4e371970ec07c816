// plot_lines: draws a line plot with elbo's plotting (models/plot.h) from a description on standard input,
// for the bench scripts (bench/burda_table.py), so their figures look like the zoo's. Usage:
//   plot_lines OUT.png < description
// The description is tab-separated lines: `title\tTEXT`, `xlabel\tTEXT`, `ylabel\tTEXT`, `caption\tTEXT`,
// and up to six `series\tNAME\tDASHED(0|1)\tX1,X2,...\tY1,Y2,...`.
#include <elbo/elbo.h>

#include <iostream>
#include <sstream>
#include <string>
#include <vector>

using namespace elbo;

namespace {
std::vector<std::string> fields(const std::string& line) {
  std::vector<std::string> f;
  std::istringstream s(line);
  for (std::string part; std::getline(s, part, '\t');) f.push_back(part);
  return f;
}
std::vector<double> numbers(const std::string& text, int line) {
  std::vector<double> v;
  std::istringstream s(text);
  for (std::string part; std::getline(s, part, ',');) {
    size_t used = 0;
    try {
      v.push_back(std::stod(part, &used));
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != part.size() || part.empty())
      throw ValueError(fmt::format("plot_lines: line {}: '{}' is not a number", line, part));
  }
  return v;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: plot_lines OUT.png < description (see the source's header)\n";
    return 2;
  }
  try {
    models::PlotText text;
    std::vector<models::Series> series;
    std::string line;
    for (int n = 1; std::getline(std::cin, line); ++n) {
      const std::vector<std::string> f = fields(line);
      if (f.empty()) continue;
      if (f[0] == "series" && f.size() == 5) {
        series.push_back({f[1], numbers(f[4], n), numbers(f[3], n), f[2] == "1"});
        if (series.back().x.size() != series.back().y.size())
          throw ValueError(fmt::format("plot_lines: line {}: {} x values, {} y values", n, series.back().x.size(),
                                       series.back().y.size()));
      } else if (f.size() == 2 && (f[0] == "title" || f[0] == "xlabel" || f[0] == "ylabel" || f[0] == "caption")) {
        (f[0] == "title" ? text.title : f[0] == "xlabel" ? text.xlabel : f[0] == "ylabel" ? text.ylabel : text.caption) = f[1];
      } else {
        throw ValueError(fmt::format("plot_lines: line {}: not title, xlabel, ylabel, caption or series: '{}'", n, line));
      }
    }
    models::plot_lines(argv[1], text, series);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
