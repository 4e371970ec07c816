#pragma once
// TensorBoard event files, as torch.utils.tensorboard.SummaryWriter writes them, so `tensorboard --logdir
// runs` shows a run's curves, images and histograms. Written by hand in the wire format (no protobuf
// dependency), one record per event: uint64 length, uint32 masked CRC-32C of the length, the Event
// protocol buffer, uint32 masked CRC-32C of the event (masked = rotate right 15 + 0xa282ead8). The messages
// (tensorflow/core/util/event.proto and summary.proto): Event {1 wall_time double, 2 step int64,
// 3 file_version string, 5 summary}; Summary {1 repeated Value}; Value {1 tag, 2 simple_value float,
// 4 image, 5 histo}; Image {1 height, 2 width, 3 colorspace, 4 encoded PNG}; HistogramProto {1 min, 2 max,
// 3 num, 4 sum, 5 sum_squares, 6 bucket_limit packed, 7 bucket packed}. tests/training/check_tfevents.py
// reads the file back with Python's protobuf package.
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "../autograd/tensor.h"

namespace elbo::training {

// CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), as the record format uses.
uint32_t crc32c(const void* data, size_t n);

class SummaryWriter {
 public:
  // Writes DIR/events.out.tfevents.<seconds>.elbo. With resume_step >= 0 it continues the newest event
  // file in DIR instead, first dropping every event after resume_step (those a killed run wrote after its
  // last checkpoint), so no step appears twice.
  explicit SummaryWriter(const std::string& dir, int64_t resume_step = -1);
  void add_scalar(const std::string& tag, double value, int64_t step);
  void add_histogram(const std::string& tag, const Tensor& values, int64_t step, int buckets = 30);
  // png: the bytes of a PNG file (e.g. one the run wrote)
  void add_image(const std::string& tag, const std::string& png, int64_t height, int64_t width, int64_t channels,
                 int64_t step);
  void flush() { out_.flush(); }
  const std::string& path() const { return path_; }

 private:
  void write_event(int64_t step, const std::string& summary);
  std::string path_;
  std::ofstream out_;
};

// The step of each record in an event file, in order (for tests and resume); an IOError names the file and
// byte offset of a malformed or truncated record.
std::vector<int64_t> event_steps(const std::string& path);

}  // namespace elbo::training
