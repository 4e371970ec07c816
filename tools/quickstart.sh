#!/usr/bin/env bash
# Sets up the machine, builds Release, and runs the main job (for now: the demo fit).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh
build/tools/elbo-demo
