#pragma once
// What a run trains and is tested on (a Session holds one): the training set as the loop draws its
// batches, the test set's mean figure for a task, and the words that describe both in the run's reports.
// ImageData holds the IDX images the image models train on (training's default); the zoo's stroke
// sequences are another RunData (tools/tasks.h), and a user's own data can be a third.
#include <cstdint>
#include <memory>
#include <string>

#include "../models/dataset.h"
#include "loop.h"

namespace elbo::training {

class Task;
struct Options;

class RunData {
 public:
  virtual ~RunData() = default;
  virtual const BatchSource& train_batches() const = 0;  // the training set, as the loop draws it
  virtual int64_t test_size() const = 0;
  // The mean over the test set of t.score, no gradient (gen: the evaluation's randomness).
  virtual double test_figure(Task& t, Generator& gen) const = 0;
  // For the console and OUT/README.md: "60000 train, 10000 test examples, dynamic binarization", and
  // what one figure is per ("test example").
  virtual std::string describe() const = 0;
  virtual std::string figures_per() const = 0;
  virtual std::string binarize_label() const { return "none"; }  // metrics.jsonl's "binarize"
  // A digest of the data, for a data-parallel job's ranks to compare (parallel::fingerprint).
  virtual uint64_t fingerprint(uint64_t h) const = 0;
};

// Rows of an image tensor, binarized as the run says, for the loop.
class ImageBatches : public BatchSource {
 public:
  ImageBatches(Tensor images, models::Binarize b) : images_(std::move(images)), b_(b) {}
  int64_t size() const override { return images_.size(0); }
  Tensor batch(std::span<const int64_t> order, int64_t lo, int64_t hi, Generator& gen) const override;

 private:
  Tensor images_;
  models::Binarize b_;
};

// Rows of images left in their .npy file (models::MappedImages), read and binarized batch by batch: the
// same batches ImageBatches makes of the same rows in memory.
class MappedBatches : public BatchSource {
 public:
  MappedBatches(std::shared_ptr<const models::MappedImages> images, models::Binarize b)
      : images_(std::move(images)), b_(b) {}
  int64_t size() const override { return images_->size(); }
  Tensor batch(std::span<const int64_t> order, int64_t lo, int64_t hi, Generator& gen) const override;

 private:
  std::shared_ptr<const models::MappedImages> images_;
  models::Binarize b_;
};

// MNIST-style images: the training set binarized afresh for each batch (as --binarize says), the test set
// binarized once with a seed of its own, so every epoch's test figure scores the same inputs.
class ImageData : public RunData {
 public:
  ImageData(models::Dataset train, models::Dataset test, models::Binarize b, uint64_t seed);
  // The same with the loop's batches from `batches` (over the rows of train; e.g. a fresh draw of each
  // example's features per batch) instead of the images binarized as b says.
  ImageData(models::Dataset train, models::Dataset test, models::Binarize b, uint64_t seed,
            std::unique_ptr<BatchSource> batches);
  const BatchSource& train_batches() const override { return *batches_; }
  int64_t test_size() const override { return test.size(); }
  double test_figure(Task& t, Generator& gen) const override;  // in batches of 500
  std::string describe() const override;
  std::string figures_per() const override { return "test example"; }
  std::string binarize_label() const override;
  uint64_t fingerprint(uint64_t h) const override;

  models::Dataset train, test;
  models::Binarize binarize;
  Tensor test_x;  // the test set as scored

 private:
  std::unique_ptr<BatchSource> batches_;  // ImageBatches, or MappedBatches for a training set left in its file
};

// The images of o.data, each split cut to o.limit examples when it is positive: NumPy arrays (a .npy
// file, or a directory with train.npy: models::load_npy) or else MNIST's IDX files (the train and t10k
// splits, plain or gzipped). A directory of stroke sequences is refused with an error that says so. A
// NumPy training set larger than ELBO_DATA_MEMORY_MB (default 2048) as floats stays in its file and is
// read batch by batch (MappedBatches).
std::shared_ptr<const RunData> load_images(const Options& o);

}  // namespace elbo::training
