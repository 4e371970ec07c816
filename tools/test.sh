#!/usr/bin/env bash
# Sets up the machine, builds, and runs the whole test suite through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh -DELBO_BUILD_TESTS=ON -DELBO_WERROR=ON
ctest --test-dir build --output-on-failure --parallel "$(nproc)" "$@"
