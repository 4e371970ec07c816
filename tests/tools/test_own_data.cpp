// The zoo on a user's own data (issue 30): NumPy arrays as --data, end to end through the binaries. The
// same images as IDX files and as .npy train bitwise alike; [N, D] arrays train the MLP models, [N, H, W]
// the conv VAE too; a value the likelihoods cannot read is one line naming the file and the byte offset.
#include <models/idx.h>
#include <models/npy.h>

#include <cstdlib>
#include <filesystem>

#include "test_util.h"
#include "zoo_harness.h"

using namespace elbo;
namespace fs = std::filesystem;

namespace {

using elbo::testing::zoo::Result;
using elbo::testing::zoo::slurp;

Result run(const std::string& args) {
  return elbo::testing::zoo::run_shell(std::string(ELBO_TOOLS_DIR) + "/" + args, "test_own_data_stderr.txt");
}

const std::string kSmall = " --epochs 2 --batch 32 --hidden 32 --latent 2 --quiet --threads 1";

// The bars of zoo_harness.h as IDX files, and the same pixels as DIR/train.npy and DIR/test.npy.
std::pair<std::string, std::string> bars_both_ways() {
  const std::string idx = elbo::testing::zoo::bars_data("test_own_idx", 96, 40), npy = "test_own_npy";
  fs::create_directories(npy);
  for (auto [split, name] : {std::pair<const char*, const char*>{"train", "train.npy"}, {"t10k", "test.npy"}}) {
    const models::IdxArray a = models::read_idx(idx + "/" + split + "-images-idx3-ubyte");
    models::write_npy(npy + "/" + name, a.shape, models::NpyType::uint8, a.data.data());
  }
  return {idx, npy};
}

}  // namespace

TEST_CASE("own data: the same images as .npy train bitwise as their IDX files do; ae and vi read them too") {
  const auto [idx, npy] = bars_both_ways();
  fs::remove_all("test_own_vae_idx"), fs::remove_all("test_own_vae_npy");
  const Result a = run("elbo-vae --data " + idx + " --out test_own_vae_idx" + kSmall);
  const Result b = run("elbo-vae --data " + npy + " --out test_own_vae_npy" + kSmall);
  INFO(a.err, b.err);
  REQUIRE(a.status == 0);
  REQUIRE(b.status == 0);
  CHECK(slurp("test_own_vae_idx/model.safetensors") == slurp("test_own_vae_npy/model.safetensors"));
  CHECK(slurp("test_own_vae_npy/README.md").find("Data: `test_own_npy` (96 train, 40 test examples, dynamic "
                                                 "binarization)") != std::string::npos);
  // a training set over ELBO_DATA_MEMORY_MB stays in its file, read batch by batch: the same model
  setenv("ELBO_DATA_MEMORY_MB", "0", 1);
  fs::remove_all("test_own_vae_mapped");
  const Result m = run("elbo-vae --data " + npy + " --out test_own_vae_mapped" + kSmall);
  unsetenv("ELBO_DATA_MEMORY_MB");
  INFO(m.err);
  REQUIRE(m.status == 0);
  CHECK(slurp("test_own_vae_mapped/model.safetensors") == slurp("test_own_vae_npy/model.safetensors"));
  for (const char* bin : {"elbo-ae", "elbo-vi"}) {
    const Result r = run(std::string(bin) + " --data " + npy + " --out test_own_" + bin + kSmall);
    INFO(bin, r.err);
    CHECK(r.status == 0);
    CHECK(r.last_line().find("\"data\": \"test_own_npy\"") != std::string::npos);
  }
  const Result conv = run("elbo-vae --arch conv --data " + npy + " --out test_own_conv" + kSmall);
  INFO(conv.err);
  CHECK(conv.status == 0);
}

TEST_CASE("own data: one float file of [N, D] vectors trains the MLP VAE on a fixed test split") {
  const std::string file = "test_own_vectors.npy";
  const int64_t n = 60, d = 50;
  std::vector<double> v(size_t(n * d));
  Generator gen(3);
  for (int64_t k = 0; k < n; ++k)
    for (int64_t j = 0; j < d; ++j) v[size_t(k * d + j)] = (j < d / 2) == (k % 2 == 0) ? 0.9 : 0.1 * gen.uniform();
  models::write_npy(file, {n, d}, models::NpyType::float64, v.data());
  fs::remove_all("test_own_vectors");
  const Result r = run("elbo-vae --data " + file + " --out test_own_vectors" + kSmall + " --binarize none "
                       "--likelihood continuous-bernoulli");
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.last_line().find("\"model\": \"mlp VAE 50-32-2, continuous-bernoulli likelihood\"") != std::string::npos);
  CHECK(slurp("test_own_vectors/README.md").find("(54 train, 6 test examples, none binarization)") != std::string::npos);
  CHECK(fs::exists("test_own_vectors/samples.png"));
  // a value outside [0, 1]: one line naming the file and where the value is
  v[size_t(3 * d + 7)] = 2.0;
  models::write_npy(file, {n, d}, models::NpyType::float64, v.data());
  const Result bad = run("elbo-vae --data " + file + " --out test_own_vectors_bad" + kSmall);
  CHECK(bad.status == 1);
  CHECK(std::count(bad.err.begin(), bad.err.end(), '\n') == 1);
  CHECK(bad.err.find("test_own_vectors.npy: value 2 at byte offset 1384 (element 157) is outside [0, 1]") !=
        std::string::npos);
  CHECK(!fs::exists("test_own_vectors_bad/model.safetensors"));
}

TEST_CASE("a trained model as a tool: --encode, --decode and --score write .npy files in data order, bitwise stable") {
  const auto [idx, npy] = bars_both_ways();
  const std::string model = "test_own_vae_npy/model.safetensors";
  if (!fs::exists(model)) REQUIRE(run("elbo-vae --data " + npy + " --out test_own_vae_npy" + kSmall).status == 0);
  const std::string flags = " --hidden 32 --latent 2 --quiet --threads 1 --load " + model;
  fs::remove_all("test_own_enc"), fs::remove_all("test_own_enc2");
  const Result e = run("elbo-vae --encode " + npy + " --out test_own_enc" + flags);
  INFO(e.err);
  REQUIRE(e.status == 0);
  CHECK(e.last_line().find("\"train_encoded\": 96") != std::string::npos);
  CHECK(e.last_line().find("\"test_encoded\": 40") != std::string::npos);
  const models::NpyFile loc("test_own_enc/train_loc.npy"), scale("test_own_enc/test_scale.npy");
  CHECK(loc.shape() == Shape{96, 2});
  CHECK(loc.type() == models::NpyType::float32);
  CHECK(scale.shape() == Shape{40, 2});
  CHECK(fs::exists("test_own_enc/encoded.safetensors"));
  CHECK(!fs::exists("test_own_enc/train_labels.npy"));  // the bars have no labels
  // the same command, the same bytes; the IDX files of the same images, the same latents
  REQUIRE(run("elbo-vae --encode " + idx + " --out test_own_enc2" + flags).status == 0);
  CHECK(slurp("test_own_enc/train_loc.npy") == slurp("test_own_enc2/train_loc.npy"));
  CHECK(slurp("test_own_enc/test_scale.npy") == slurp("test_own_enc2/test_scale.npy"));

  // --decode: given latents to the decoder's means
  const float z[] = {0, 0, 1, -1, -2, 0.5f};
  models::write_npy("test_own_z.npy", {3, 2}, models::NpyType::float32, z);
  const Result d = run("elbo-vae --data " + npy + " --decode test_own_z.npy --out test_own_enc" + flags);
  INFO(d.err);
  REQUIRE(d.status == 0);
  const models::NpyFile x("test_own_enc/decoded.npy");
  CHECK(x.shape() == Shape{3, 28, 28});
  CHECK(slurp("test_own_enc/decoded.png").substr(1, 3) == "PNG");
  models::write_npy("test_own_z.npy", {2, 3}, models::NpyType::float32, z);
  const Result wrong = run("elbo-vae --data " + npy + " --decode test_own_z.npy --out test_own_enc" + flags);
  CHECK(wrong.status == 1);
  CHECK(wrong.err.find("test_own_z.npy: latents of shape [2, 3] and type f32: the model decodes float [N, 2] arrays") !=
        std::string::npos);

  // --score: the test part's mean ELBO is the test figure an --eval-only run reports
  const Result sc = run("elbo-vae --score " + npy + " --iw 5 --out test_own_enc" + flags);
  INFO(sc.err);
  REQUIRE(sc.status == 0);
  CHECK(models::NpyFile("test_own_enc/test_elbo.npy").shape() == Shape{40});
  CHECK(models::NpyFile("test_own_enc/train_loglik.npy").shape() == Shape{96});
  const Result ev = run("elbo-vae --data " + npy + " --eval-only --out test_own_eval" + flags);
  REQUIRE(ev.status == 0);
  const auto number = [](const std::string& line, const std::string& key) {
    const size_t at = line.find("\"" + key + "\": ");
    REQUIRE(at != std::string::npos);
    return std::stod(line.substr(at + key.size() + 4));
  };
  CHECK(number(sc.last_line(), "test_mean_elbo") == doctest::Approx(number(ev.last_line(), "test_elbo")).epsilon(1e-6));

  // flags that do not go together
  const Result noload = run("elbo-vae --encode " + npy + " --out test_own_enc --quiet");
  CHECK(noload.status == 2);
  CHECK(noload.err.find("give --load M") != std::string::npos);
}

TEST_CASE("--encode with the conv VAE and a flow posterior: the point of every q(z|x); no scale for a flow") {
  const auto [idx, npy] = bars_both_ways();
  for (const std::string arch : {"--arch conv", "--flow planar:2"}) {
    INFO(arch);
    const std::string dir = arch[2] == 'a' ? "test_own_enc_conv" : "test_own_enc_flow";
    fs::remove_all(dir);
    const std::string flags = " " + arch + " --hidden 32 --latent 2 --quiet --threads 1";
    REQUIRE(run("elbo-vae --data " + npy + " --out " + dir + "/model --epochs 1 --batch 32" + flags).status == 0);
    const Result e = run("elbo-vae --encode " + npy + " --out " + dir + " --load " + dir + "/model/model.safetensors" +
                         flags);
    INFO(e.err);
    REQUIRE(e.status == 0);
    CHECK(models::NpyFile(dir + "/test_loc.npy").shape() == Shape{40, 2});
    // a flow posterior has no closed-form moments: its point is written, no scale
    CHECK(fs::exists(dir + "/test_scale.npy") == (arch[2] == 'a'));
  }
}
