#pragma once
// The run's TensorBoard event file read back by Python's protobuf package (tests/training/check_tfevents.py:
// CRCs, messages, no repeated step, the test figure per epoch equal to metrics.jsonl's).
#include <cstdlib>
#include <string>

inline bool tfevents_ok(const std::string& run_dir, int epochs) {
  const std::string cmd = std::string("/usr/bin/python3 ") + ELBO_TESTS_DIR + "/training/check_tfevents.py " + run_dir +
                          " --epochs " + std::to_string(epochs);
  return std::system(cmd.c_str()) == 0;
}
