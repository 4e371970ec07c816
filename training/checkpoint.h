#pragma once
// A training run's checkpoint: everything --resume needs to continue bitwise, in one safetensors file
// written atomically (nn::save_tensors), every entry a typed tensor:
//   model.<name>   the model's state_dict (PyTorch's names)
//   optim.<name>   the optimizer's state_dict
//   task.<name>    what a task keeps besides its module (per-example posteriors and their optimizer)
//   rng.state      [4] i64: the generator's four xoshiro256** words, bit for bit
//   rng.normal     [2] f64: the cached second Box-Muller draw, and 1 if it is pending (0 otherwise)
//   epoch          [1] i64: epochs completed
// The metadata holds the model's description, for people reading the file.
#include <map>
#include <string>

#include "../nn/nn.h"

namespace elbo::training {

// The generator's state as the tensors above ("rng.state", "rng.normal"), and back; `file` names the
// source in errors (an IOError when an entry is missing or malformed).
nn::NamedTensors generator_state(const Generator& gen);
void load_generator_state(Generator& gen, const std::map<std::string, Tensor>& tensors, const std::string& file);

void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer& opt,
                     const Generator& gen, int64_t epoch, const nn::NamedTensors& task_state,
                     const std::string& description);

// Restores model, optimizer and generator from path and returns the epochs completed; the task's own
// tensors (without their "task." prefix) go to task_state. The model is checked against the file before
// anything is copied.
int64_t load_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer& opt, Generator& gen,
                        std::map<std::string, Tensor>& task_state);

}  // namespace elbo::training
