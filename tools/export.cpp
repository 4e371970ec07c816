#include "tools/export.h"

#include <filesystem>
#include <iostream>
#include <map>

#include "autograd/ops.h"
#include "models/dataset.h"
#include "models/export.h"
#include "models/npy.h"
#include "models/plot.h"
#include "nn/safetensors.h"
#include "training/report.h"

namespace elbo::zoo {
namespace fs = std::filesystem;

std::pair<int64_t, int64_t> image_size(const std::string& data) {
  const std::vector<models::Part> parts = models::load_parts(data);
  return {parts.front().data.height, parts.front().data.width};
}

void export_model(const models::AmortizedModel& m, const ExportRequest& r) {
  fs::create_directories(r.out);
  const auto path = [&](const std::string& f) { return (fs::path(r.out) / f).string(); };
  std::map<std::string, double> figures;
  const auto check_size = [&](const models::Dataset& d) {
    ELBO_CHECK_SHAPE(d.height == r.height && d.width == r.width,
                     "{}: images of {} x {}, but the model was built for {} x {}", d.source, d.height, d.width,
                     r.height, r.width);
  };
  if (!r.encode.empty()) {
    nn::NamedTensors all;
    for (const models::Part& p : models::load_parts(r.encode)) {
      check_size(p.data);
      const std::string pre = p.name.empty() ? "" : p.name + "_";
      const models::Encoding e = models::encode(m, p.data.images);
      std::vector<std::pair<std::string, Tensor>> out{{"loc", e.loc}, {"scale", e.scale}, {"labels", p.data.labels}};
      for (const auto& [name, t] : out)
        if (t.defined()) {
          models::save_npy(path(pre + name + ".npy"), t);
          all.emplace_back(pre + name, t);
        }
      figures[pre + "encoded"] = double(p.data.size());
    }
    nn::save_tensors(path("encoded.safetensors"), all, {{"model", r.model}, {"data", r.encode}});
    figures["latent"] = double(m.prior().event_shape().empty() ? 1 : m.prior().event_shape()[0]);
  }
  if (!r.decode.empty()) {
    const Tensor z = models::load_npy_tensor(r.decode);
    const Shape& ev = m.prior().event_shape();
    const int64_t l = ev.empty() ? 1 : ev[0];
    if (z.dtype() == DType::i64 || z.dim() != 2 || z.size(0) == 0 || z.size(1) != l)
      throw IOError(fmt::format("{}: latents of shape {} and type {}: the model decodes float [N, {}] arrays",
                                r.decode, z.shape(), z.dtype(), l));
    const Tensor x = models::decode(m, z.to(DType::f32));
    models::save_npy(path("decoded.npy"), reshape(x, {x.size(0), r.height, r.width}));
    const int64_t shown = std::min<int64_t>(64, x.size(0));
    models::save_captioned_grid(path("decoded.png"), clamp(narrow(x, 0, 0, shown), 0.0, 1.0), r.height, r.width, 8,
                                fmt::format("means of p(x|z) for the first {} latents of {}", shown,
                                            fs::path(r.decode).filename().string()));
    figures["decoded"] = double(x.size(0));
  }
  if (!r.score.empty()) {
    for (const models::Part& p : models::load_parts(r.score)) {
      check_size(p.data);
      Generator gen(r.seed + 2);  // each part from the training run's evaluation stream
      const std::string pre = p.name.empty() ? "" : p.name + "_";
      Generator bin(r.seed ^ 0x7e57);  // binarized as training binarizes its test set
      const Tensor x = models::binarize(p.data.images, models::parse_binarize(r.binarize), bin);
      const models::Scores s = models::score(m, x, gen, r.iw);
      models::save_npy(path(pre + "elbo.npy"), s.elbo);
      figures[pre + "mean_elbo"] = mean(s.elbo).item();
      if (s.loglik.defined()) {
        models::save_npy(path(pre + "loglik.npy"), s.loglik);
        figures[pre + "mean_loglik"] = mean(s.loglik).item();
      }
    }
  }
  std::cout << training::json_object(figures, {{"model", r.model}}) << "\n";
}

}  // namespace elbo::zoo
