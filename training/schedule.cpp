#include "training/schedule.h"

#include <cmath>

#include "autograd/error.h"

namespace elbo::training {

int Schedule::epochs() const {
  int n = 0;
  for (const Stage& s : stages) n += s.passes;
  return n;
}

int Schedule::stage_at(int epoch) const {
  ELBO_CHECK_VALUE(epoch >= 0, "schedule {}: epoch {} is negative", name, epoch);
  int first = 0;  // of stage i
  for (size_t i = 0; i < stages.size(); ++i) {
    if (epoch < first + stages[i].passes) return int(i);
    first += stages[i].passes;
  }
  throw ValueError(fmt::format("schedule {}: epoch {} is past its {} passes", name, epoch, epochs()));
}

double Schedule::lr_at(int epoch) const { return stages[size_t(stage_at(epoch))].lr; }

Schedule parse_schedule(std::string_view text) {
  int last = -1;
  if (text == "burda") {
    last = 7;
  } else if (text.starts_with("burda:") && text.size() == 7 && text[6] >= '0' && text[6] <= '7') {
    last = text[6] - '0';
  }
  if (last < 0)
    throw ValueError(fmt::format("--schedule: '{}' is not one of burda, burda:I (I in 0..7: Burda et al. 2016's first "
                                 "I + 1 stages)", text));
  Schedule s{std::string(text), {}};
  int passes = 1;
  for (int i = 0; i <= last; ++i, passes *= 3) s.stages.push_back({passes, 1e-3 * std::pow(10.0, -double(i) / 7.0)});
  return s;
}

}  // namespace elbo::training
