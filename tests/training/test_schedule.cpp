// Learning-rate schedules: Burda et al. 2016's stages, pass counts and rates, and bad names.
#include <training/schedule.h>

#include <cmath>

#include "test_util.h"

using namespace elbo;
using elbo::training::parse_schedule;

TEST_CASE("schedule burda: 3^i passes at 1e-3 * 10^(-i/7), 3,280 passes in all") {
  const training::Schedule s = parse_schedule("burda");
  REQUIRE(s.stages.size() == 8);
  CHECK(s.epochs() == 3280);
  int first = 0;
  for (int i = 0; i < 8; ++i) {
    CHECK(s.stages[size_t(i)].passes == int(std::pow(3, i)));
    const double lr = 1e-3 * std::pow(10.0, -i / 7.0);
    CHECK(s.stages[size_t(i)].lr == doctest::Approx(lr).epsilon(1e-12));
    // the first and last epoch of the stage have its rate; the one after has the next
    CHECK(s.lr_at(first) == s.stages[size_t(i)].lr);
    CHECK(s.stage_at(first + s.stages[size_t(i)].passes - 1) == i);
    first += s.stages[size_t(i)].passes;
  }
  CHECK(s.lr_at(0) == doctest::Approx(1e-3));
  CHECK(s.lr_at(3279) == doctest::Approx(1e-4));
  CHECK(s.lr_at(1) == doctest::Approx(7.196856730011521e-4));
  CHECK_ERROR_HAS(s.lr_at(3280), "schedule burda: epoch 3280 is past its 3280 passes");
}

TEST_CASE("schedule burda:I: the first I + 1 stages") {
  const int passes[8] = {1, 4, 13, 40, 121, 364, 1093, 3280};
  for (int i = 0; i < 8; ++i) {
    const training::Schedule s = parse_schedule(fmt::format("burda:{}", i));
    CHECK(s.epochs() == passes[i]);
    CHECK(s.name == fmt::format("burda:{}", i));
  }
  CHECK(parse_schedule("burda:3").lr_at(39) == doctest::Approx(1e-3 * std::pow(10.0, -3 / 7.0)));
}

TEST_CASE("schedule: names that do not parse") {
  for (const char* bad : {"", "burda:8", "burda:", "burda:-1", "burda:12", "Burda", "burda:1x", "linear"})
    CHECK_ERROR_HAS(parse_schedule(bad), "is not one of burda, burda:I (I in 0..7");
}
