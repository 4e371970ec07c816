#!/usr/bin/env bash
# Sets up the machine, then runs the whole test suite through ctest in three builds:
#   release  build/       Release, -Werror: every suite (the 10,000-step memory soak runs only on demand:
#                         ctest --test-dir build -C soak -L soak)
#   asan     build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer (g++), built without
#                         MPI (-DELBO_MPI=OFF: the one-process build must build and pass too): every suite
#                         again, with the caches off (ELBO_NO_CACHE=1) so freed tensor storage and tape
#                         objects go back to the system where ASan can see misuse and LSan can see leaks;
#                         then the core suites (autograd, nn, alloc) with the caches on
#   fuzz     build-fuzz/  libFuzzer targets (clang-16, with ASan + UBSan): the label `fuzz`, each target for
#                         ELBO_FUZZ_SECONDS (default 60)
# ELBO_TEST_STAGES picks stages (default "release asan fuzz"); extra arguments go to every ctest call.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
stages=${ELBO_TEST_STAGES:-release asan fuzz}
jobs=$(nproc)
stage() { [[ " $stages " == *" $1 "* ]]; }
banner() { printf '\n=== %s (%ds so far)\n' "$1" "$SECONDS"; }

if stage release; then
  banner "release build and tests (build/)"
  tools/build.sh -DELBO_BUILD_TESTS=ON -DELBO_WERROR=ON
  ctest --test-dir build --output-on-failure --parallel "$jobs" "$@"
fi

if stage asan; then
  banner "sanitizer build and tests (build-asan/)"
  # -O1 -g1: quick to build, readable stack traces, fast enough to run every suite
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" \
        -DELBO_SANITIZE=address,undefined -DELBO_BUILD_TESTS=ON -DELBO_BUILD_BENCH=OFF -DELBO_MPI=OFF >/dev/null
  cmake --build build-asan --parallel "$jobs"
  # third-party caches kept until exit (fontconfig); quietly, so a run's last line stays its JSON
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
  ELBO_NO_CACHE=1 ASAN_OPTIONS=detect_leaks=1:check_initialization_order=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure --parallel "$jobs" "$@"
  # The core suites once more with the caches on, so the caches' own code runs under the sanitizers (the
  # tensor, tape and step caches: autograd, nn and the allocation tests; test_models, two minutes here, only once).
  ASAN_OPTIONS=detect_leaks=1:check_initialization_order=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure --parallel "$jobs" -R '^test_(autograd|nn|alloc)$' "$@"
fi

if stage fuzz; then
  banner "fuzz build and the label fuzz (build-fuzz/)"
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++-16 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" -DELBO_FUZZ=ON -DELBO_SANITIZE=address,undefined \
        -DELBO_BUILD_TESTS=OFF -DELBO_BUILD_BENCH=OFF -DELBO_MPI=OFF "-DELBO_FUZZ_SECONDS=${ELBO_FUZZ_SECONDS:-60}" \
        >/dev/null
  cmake --build build-fuzz --parallel "$jobs" --target elbo_fuzzers
  ctest --test-dir build-fuzz --output-on-failure --parallel "$jobs" -L fuzz "$@"
fi
