#include <models/idx.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "test_util.h"

using namespace elbo;
using namespace elbo::models;
namespace fs = std::filesystem;

namespace {
fs::path scratch(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / "elbo_test_idx";
  fs::create_directories(d);
  return d / name;
}
void write_bytes(const fs::path& p, const std::vector<uint8_t>& b) {
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}
void write_gz(const fs::path& p, const std::vector<uint8_t>& b) {
  gzFile f = gzopen(p.c_str(), "wb");
  gzwrite(f, b.data(), unsigned(b.size()));
  gzclose(f);
}
std::vector<uint8_t> good_file() {  // 2 images of 2x3
  std::vector<uint8_t> b{0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3};
  for (int i = 0; i < 12; ++i) b.push_back(uint8_t(i * 20));
  return b;
}
}  // namespace

TEST_CASE("IDX: plain and gzipped files read alike; write_idx round-trips") {
  write_bytes(scratch("plain"), good_file());
  write_gz(scratch("gz.gz"), good_file());
  for (const char* f : {"plain", "gz.gz"}) {
    const IdxArray a = read_idx(scratch(f).string());
    CHECK(a.shape == Shape{2, 2, 3});
    CHECK(a.data.size() == 12);
    CHECK(a.data[11] == 220);
  }
  write_idx(scratch("rt").string(), {3}, {7, 8, 9});
  const IdxArray r = read_idx(scratch("rt").string());
  CHECK(r.shape == Shape{3});
  CHECK(r.data == std::vector<uint8_t>{7, 8, 9});
}

TEST_CASE("IDX: every defect is an IOError naming the file and the byte offset") {
  auto bad = [](std::vector<uint8_t> b, const char* name) {
    write_bytes(scratch(name), b);
    return scratch(name).string();
  };
  std::vector<uint8_t> g = good_file();
  CHECK_ERROR_HAS(read_idx(scratch("missing").string()), "cannot open");
  CHECK_ERROR_HAS(read_idx(bad({0, 0}, "short")), "truncated at byte offset 2");
  CHECK_ERROR_HAS(read_idx(bad({1, 2, 8, 1, 0, 0, 0, 1, 5}, "magic")), "not an IDX file at byte offset 0");
  CHECK_ERROR_HAS(read_idx(bad({0, 0, 0x0d, 1, 0, 0, 0, 1, 5}, "float")), "element type 0x0d at byte offset 2");
  CHECK_ERROR_HAS(read_idx(bad({0, 0, 8, 0}, "nodims")), "claims 0 dimensions at byte offset 3");
  CHECK_ERROR_HAS(read_idx(bad({0, 0, 8, 1, 0, 0, 0}, "halfdim")), "truncated at byte offset 7: expected 1 more bytes of the IDX dimensions");
  CHECK_ERROR_HAS(read_idx(bad({0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "huge")),
                  "not a plausible size");
  CHECK_ERROR_HAS(read_idx(bad({0, 0, 8, 1, 0, 0, 0, 0}, "zero")), "dimension 0 at byte offset 4 is 0");
  std::vector<uint8_t> cut(g.begin(), g.end() - 5);
  CHECK_ERROR_HAS(read_idx(bad(cut, "cut")), "truncated at byte offset 23: expected 5 more bytes of pixel/label data");
  // a gzip stream cut in the middle
  write_gz(scratch("full.gz"), g);
  std::ifstream in(scratch("full.gz"), std::ios::binary);
  std::vector<uint8_t> z((std::istreambuf_iterator<char>(in)), {});
  z.resize(z.size() - 12);
  const std::string msg = elbo::testing::error_of([&] { read_idx(bad(z, "cutgz.gz")); });
  CHECK(msg.find("cutgz.gz") != std::string::npos);
  CHECK(msg.find("byte offset") != std::string::npos);
}
