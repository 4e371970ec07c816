#pragma once
// Module checkpoints: nn::save writes a module's state_dict() as a safetensors file whose names are
// PyTorch's ("fc1.weight", "encoder.0.bias"), so torch.nn.Module.load_state_dict accepts it for the
// equivalent PyTorch module (after safetensors.torch.load_file), and a file saved from a PyTorch
// state_dict loads here. Loading is all-or-nothing: names, dtypes and shapes are checked first and every
// difference is listed in one elbo::Error; only then are the values copied in place.
#include <map>
#include <string>

#include "module.h"
#include "safetensors.h"

namespace elbo::nn {

void save(const Module& module, const std::string& path, const std::map<std::string, std::string>& metadata = {});
void load(Module& module, const std::string& path);
// Copies `tensors` into the module's state (strict: same names, dtypes and shapes). `source` names
// where they came from in errors (a file path).
void load_state(Module& module, const NamedTensors& tensors, const std::string& source);

}  // namespace elbo::nn
