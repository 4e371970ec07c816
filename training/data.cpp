#include "training/data.h"

#include <cstdlib>
#include <filesystem>

#include "parallel/data_parallel.h"
#include "training/trainer.h"

namespace elbo::training {
namespace fs = std::filesystem;

Tensor ImageBatches::batch(std::span<const int64_t> order, int64_t lo, int64_t hi, Generator& gen) const {
  return models::binarize(models::rows(images_, order, lo, hi), b_, gen);
}

Tensor MappedBatches::batch(std::span<const int64_t> order, int64_t lo, int64_t hi, Generator& gen) const {
  return models::binarize(images_->rows(order, lo, hi), b_, gen);
}

ImageData::ImageData(models::Dataset train_set, models::Dataset test_set, models::Binarize b, uint64_t seed)
    : train(std::move(train_set)), test(std::move(test_set)), binarize(b) {
  if (train.mapped) batches_ = std::make_unique<MappedBatches>(train.mapped, b);
  else batches_ = std::make_unique<ImageBatches>(train.images, b);
  Generator g(seed ^ 0x7e57);  // the test set's binarization is fixed for the run
  test_x = models::binarize(test.images, binarize, g);
}

ImageData::ImageData(models::Dataset train_set, models::Dataset test_set, models::Binarize b, uint64_t seed,
                     std::unique_ptr<BatchSource> batches)
    : ImageData(std::move(train_set), std::move(test_set), b, seed) {
  ELBO_CHECK(batches && batches->size() == train.size(), "ImageData: the batch source has {} rows, the training set {}",
             batches ? batches->size() : 0, train.size());
  batches_ = std::move(batches);
}

double ImageData::test_figure(Task& t, Generator& gen) const {
  NoGradGuard ng;
  const int64_t n = test_x.size(0), batch = 500;
  double total = 0;
  for (int64_t b = 0; b < n; b += batch)
    total += sum(t.score_test(narrow(test_x, 0, b, std::min(batch, n - b)), b, gen)).item();
  return total / double(n);
}

std::string ImageData::describe() const {
  return fmt::format("{} train, {} test examples, {} binarization", train.size(), test.size(), binarize_label());
}

std::string ImageData::binarize_label() const { return models::to_string(binarize); }

uint64_t ImageData::fingerprint(uint64_t h) const {
  h = parallel::fingerprint(fmt::format("{} {}", train.size(), test.size()), h);
  const Tensor x = train.mapped ? mean_image(train) : train.images;  // a file's mean image: one pass, no copy
  return parallel::fingerprint(std::string_view(static_cast<const char*>(x.raw()), size_t(x.numel()) * 4), h);
}

std::shared_ptr<const RunData> load_images(const Options& o) {
  ELBO_CHECK(!fs::exists(fs::path(o.data) / "strokes-train.bin"),
             "{} holds stroke sequences; this model trains on images (elbo-seqvae trains on strokes)", o.data);
  const int64_t limit = o.limit > 0 ? o.limit : INT64_MAX;
  const models::Binarize b = models::parse_binarize(o.binarize);
  if (models::is_npy_data(o.data)) {
    const char* env = std::getenv("ELBO_DATA_MEMORY_MB");
    const int64_t mb = env && *env ? std::strtoll(env, nullptr, 10) : 2048;
    ELBO_CHECK(mb >= 0, "ELBO_DATA_MEMORY_MB={}: not a size in MiB", env);
    models::Split s = models::load_npy(o.data, mb * (int64_t(1) << 20));
    return std::make_shared<ImageData>(models::head(s.train, limit), models::head(s.test, limit), b, o.seed);
  }
  return std::make_shared<ImageData>(models::head(models::load_split(o.data, "train"), limit),
                                     models::head(models::load_split(o.data, "t10k"), limit), b, o.seed);
}

}  // namespace elbo::training
