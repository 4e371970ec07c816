#include <training/report.h>

#include <filesystem>
#include <fstream>
#include <limits>

#include "test_util.h"

using namespace elbo;

TEST_CASE("json_object: strings escaped, numbers at full precision, null for non-finite") {
  CHECK(training::json_object({{"a", 0.1}, {"b", std::numeric_limits<double>::infinity()}}, {{"s", "x\"y\\z\n"}}) ==
        "{\"s\": \"x\\\"y\\\\z\\u000a\", \"a\": 0.1, \"b\": null}");
}

TEST_CASE("metrics.jsonl: a fresh run starts anew, a resumed one keeps its checkpoint's epochs") {
  const std::string path = "test_report_metrics.jsonl";
  {
    training::Metrics m(path, 0);
    for (int e = 1; e <= 3; ++e) m.write({{"epoch", e}});
  }
  training::Metrics resumed(path, 2);  // the checkpoint holds two epochs; the third line goes
  resumed.write({{"epoch", 3.5}});
  std::ifstream in(path);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(all == "{\"epoch\": 1}\n{\"epoch\": 2}\n{\"epoch\": 3.5}\n");
  std::filesystem::remove(path);
}
