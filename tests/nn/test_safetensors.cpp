#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "test_util.h"

using namespace elbo;
using elbo::testing::error_of;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}
void spit(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}
// A file with the given JSON header and data bytes.
std::string make_file(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}
std::string load_error(const std::string& bytes) {
  const std::string path = "test_st_hostile.safetensors";
  spit(path, bytes);
  std::string msg;
  try {
    nn::load_tensors(path);
  } catch (const IOError& e) {
    msg = e.what();
  }
  std::remove(path.c_str());
  return msg;
}

}  // namespace

TEST_CASE("safetensors round trip: dtypes, 0-d and empty tensors, metadata, odd names") {
  Generator gen(1);
  nn::NamedTensors in{{"w", randn({3, 4}, gen)},
                      {"d", randn({2, 2, 2}, gen, DType::f64)},
                      {"idx", tensor({-1, 0, 1LL << 40}, {3}, DType::i64)},
                      {"scalar", scalar_tensor(2.5)},
                      {"empty", zeros({0, 3})},
                      {"we\"ird\\ \xc3\xa9 name", ones({1})}};
  const std::string path = "test_st_roundtrip.safetensors";
  nn::save_tensors(path, in, {{"epoch", "3"}, {"note", "line\nbreak"}});
  const nn::TensorFile out = nn::load_tensors(path);
  REQUIRE(out.tensors.size() == in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    CHECK(out.tensors[i].first == in[i].first);
    CHECK(out.tensors[i].second.dtype() == in[i].second.dtype());
    CHECK(out.tensors[i].second.shape() == in[i].second.shape());
    CHECK(out.tensors[i].second.to_vector<double>() == in[i].second.to_vector<double>());
  }
  CHECK(out.metadata == std::map<std::string, std::string>{{"epoch", "3"}, {"note", "line\nbreak"}});
  const std::string bytes = slurp(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(n % 8 == 0);  // data section 8-byte aligned
  CHECK(bytes.substr(8, 30) == "{\"__metadata__\":{\"epoch\":\"3\",\"");
  std::remove(path.c_str());
}

TEST_CASE("a file written by PyTorch (data laid out in reverse order) loads") {
  const nn::TensorFile f = nn::load_tensors(std::string(ELBO_NN_FIXTURES) + "/torch_mlp.safetensors");
  CHECK(f.metadata.at("source") == "make_fixtures.py");
  CHECK(f.tensors[0].first == "0.weight");
  CHECK(f.tensors[0].second.shape() == Shape{3, 4});
  CHECK(f.tensors[0].second.dtype() == DType::f64);
}

TEST_CASE("saving is atomic: it replaces the old file whole and leaves no temporary behind") {
  const std::string path = "test_st_atomic.safetensors";
  nn::save_tensors(path, {{"a", ones({2})}});
  nn::save_tensors(path, {{"b", zeros({3})}});
  const nn::TensorFile f = nn::load_tensors(path);
  CHECK(f.tensors.size() == 1);
  CHECK(f.tensors[0].first == "b");
  for (auto& e : std::filesystem::directory_iterator("."))
    CHECK(e.path().filename().string().find(".test_st_atomic.safetensors.tmp") == std::string::npos);
  std::remove(path.c_str());
  CHECK_ERROR_HAS(nn::save_tensors("no_such_dir/x.safetensors", {{"a", ones({1})}}),
                  "no_such_dir/x.safetensors: cannot create a temporary file in no_such_dir");
  CHECK_ERROR_HAS(nn::save_tensors(path, {{"a", ones({1})}, {"a", ones({1})}}), "tensor name 'a' appears twice");
  CHECK_ERROR_HAS(nn::save_tensors(path, {{"__metadata__", ones({1})}}), "bad tensor name '__metadata__'");
}

TEST_CASE("hostile files: each defect is an IOError naming the file and byte offset") {
  const std::string f32x2(8, '\0');
  CHECK(load_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", f32x2)) == "");
  CHECK(load_error("abc").find("byte 0: file is 3 bytes, too short") != std::string::npos);
  std::string huge(8, '\xff');
  CHECK(load_error(huge + "{}").find("byte 0: header length 18446744073709551615 runs past the end") !=
        std::string::npos);
  CHECK(load_error(make_file("[1,2]", "")).find("byte 8: the header is not a JSON object") != std::string::npos);
  CHECK(load_error(make_file(R"({"a":{"dtype":"F32",)", "")).find("bad JSON header") != std::string::npos);
  CHECK(load_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} x)", f32x2))
            .find("byte 63: bad JSON header: unexpected text after the JSON value") != std::string::npos);
  CHECK(load_error(make_file(R"({"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}})", f32x2))
            .find("tensor 'a': unsupported dtype \"F16\" (elbo reads F32, F64 and I64)") != std::string::npos);
  CHECK(load_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", f32x2))
            .find("data_offsets [0, 16] out of range (data section holds 8 bytes)") != std::string::npos);
  CHECK(load_error(make_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", f32x2))
            .find("tensor 'a': 8 bytes for shape [3] of F32 (needs 12)") != std::string::npos);
  CHECK(load_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                             R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                             f32x2))
            .find("overlaps the previous tensor") != std::string::npos);
  CHECK(load_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", f32x2))
            .find("byte 62: gap of 4 bytes before tensor 'a'") != std::string::npos);
  CHECK(load_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f32x2))
            .find("4 bytes after the last tensor") != std::string::npos);
  CHECK(load_error(make_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", f32x2))
            .find("is larger than the file") != std::string::npos);
  CHECK(load_error(make_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", f32x2))
            .find("shape holds a dim that is not a size") != std::string::npos);
  CHECK(load_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", f32x2))
            .find("data_offsets [8, 0] out of range") != std::string::npos);
  CHECK(load_error(make_file(R"({"a":{"dtype":"F32","shape":[2]}})", f32x2)).find("tensor 'a': no \"data_offsets\"") !=
        std::string::npos);
  CHECK(load_error(make_file(R"({"a":1,"a":2})", "")).find("duplicate key \"a\"") != std::string::npos);
  CHECK(load_error(make_file(R"({"__metadata__":{"k":1}})", "")).find("__metadata__ \"k\" is not a string") !=
        std::string::npos);
  CHECK(load_error(make_file("{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}", ""))
            .find("nested too deeply") != std::string::npos);
  CHECK(load_error(make_file(R"({"a\ud800":1})", "")).find("unpaired surrogate") != std::string::npos);
  CHECK(error_of([] { nn::load_tensors("does_not_exist.safetensors"); }).find("does_not_exist.safetensors: cannot open") !=
        std::string::npos);
}

TEST_CASE("every truncation and thousands of corruptions of a valid file fail cleanly or load") {
  Generator gen(2);
  const std::string path = "test_st_fuzz_src.safetensors";
  nn::save_tensors(path, {{"w", randn({3, 2}, gen)}, {"i", tensor({1, 2}, {2}, DType::i64)}}, {{"k", "v"}});
  const std::string good = slurp(path);
  std::remove(path.c_str());
  for (size_t len = 0; len < good.size(); ++len) {
    INFO("prefix length ", len);
    CHECK(load_error(good.substr(0, len)) != "");
  }
  int loaded = 0, rejected = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bad = good;
    const int flips = 1 + int(gen.below(3));
    for (int k = 0; k < flips; ++k) bad[gen.below(bad.size())] = char(gen.below(256));
    const std::string tmp = "test_st_fuzz.safetensors";
    spit(tmp, bad);
    try {
      const nn::TensorFile f = nn::load_tensors(tmp);
      ++loaded;  // a flip inside the data or in harmless header text
      for (auto& [_, t] : f.tensors) (void)t.to_vector<double>();
    } catch (const Error&) {
      ++rejected;
    }
    std::remove(tmp.c_str());
  }
  CHECK(loaded + rejected == 3000);
  CHECK(rejected > 100);
}
