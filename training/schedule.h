#pragma once
// Learning-rate schedules over passes through the training data (epochs), as stages of a number of
// passes at one learning rate. The trainer sets each epoch's rate from it, so a --resume at any epoch
// continues with the rate that epoch had.
//   burda     Burda et al. 2016, section 5: stage i = 0 ... 7 trains 3^i passes at 0.001 * 10^(-i/7)
//             (3,280 passes in all)
//   burda:I   its first stages only, i = 0 ... I (I in [0, 7]: 1, 4, 13, 40, 121, 364, 1093, 3280 passes)
#include <string>
#include <string_view>
#include <vector>

namespace elbo::training {

struct Schedule {
  struct Stage {
    int passes;
    double lr;
  };
  std::string name;  // as parsed, e.g. "burda:3"; empty: no schedule (the run's --lr for --epochs)
  std::vector<Stage> stages;
  bool defined() const { return !stages.empty(); }
  int epochs() const;               // the passes of all stages
  double lr_at(int epoch) const;    // the rate of 0-based epoch (an Error past the end)
  int stage_at(int epoch) const;    // its 0-based stage
};

// "burda" or "burda:I"; a ValueError names the choices for anything else.
Schedule parse_schedule(std::string_view text);

}  // namespace elbo::training
