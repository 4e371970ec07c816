#!/usr/bin/python3
"""Are elbo's latents useful downstream? A linear probe on the posterior means an MLP VAE exports with
`elbo-vae --encode`, beside the same probe on the raw pixels and on PCA with as many components.

  bench/latent_probe.py [--data data/mnist-full] [--epochs 10] [--latent 20] [--seed 1] [--threads 1]
                        [--steps 500] [--out runs/probe]

Trains the VAE (unless OUT/model/model.safetensors exists), encodes the training and test sets
(OUT/latents/{train,test}_loc.npy), then fits a multinomial logistic regression (softmax, L2 1e-4,
full-batch Adam, --steps steps, features standardized on the training set) on each feature set's
training rows and reports its test accuracy as a Markdown table. Needs numpy (Debian's python3-numpy)
and the IDX files with labels (`elbo-data mnist-full`).
"""
import argparse
import gzip
import json
import os
import subprocess

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def idx_file(data, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(data, name)):
            return os.path.join(data, name)
    raise SystemExit(f"latent_probe: no {stem}[.gz] in {data} (run `elbo-data mnist-full`)")


def probe(train_x, train_y, test_x, test_y, steps, seed):
    """Test accuracy of softmax regression fitted on the training rows."""
    mu, sd = train_x.mean(0), train_x.std(0) + 1e-6
    xs, xt = (train_x - mu) / sd, (test_x - mu) / sd
    xs = np.hstack([xs, np.ones((len(xs), 1))])
    xt = np.hstack([xt, np.ones((len(xt), 1))])
    k = int(train_y.max()) + 1
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.01, (xs.shape[1], k))
    onehot = np.eye(k)[train_y]
    m, v, lr, b1, b2 = np.zeros_like(w), np.zeros_like(w), 0.05, 0.9, 0.999
    for t in range(1, steps + 1):
        logits = xs @ w
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(1, keepdims=True)
        g = xs.T @ (p - onehot) / len(xs) + 1e-4 * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w -= lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + 1e-8)
    return float(((xt @ w).argmax(1) == test_y).mean())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "mnist-full"))
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "probe"))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--latent", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=500)
    a = ap.parse_args()
    vae = os.path.join(a.build, "tools", "elbo-vae")
    model_dir, latent_dir = os.path.join(a.out, "model"), os.path.join(a.out, "latents")
    common = ["--latent", str(a.latent), "--seed", str(a.seed), "--threads", str(a.threads), "--quiet"]
    model = os.path.join(model_dir, "model.safetensors")
    if not os.path.exists(model):
        subprocess.run([vae, "--data", a.data, "--epochs", str(a.epochs), "--out", model_dir] + common, check=True)
    out = subprocess.run([vae, "--load", model, "--encode", a.data, "--out", latent_dir] + common, check=True,
                         capture_output=True, text=True).stdout
    print("encoded:", json.loads(out.strip().splitlines()[-1]))
    z_train = np.load(os.path.join(latent_dir, "train_loc.npy"))
    z_test = np.load(os.path.join(latent_dir, "test_loc.npy"))
    y_train = np.load(os.path.join(latent_dir, "train_labels.npy"))
    y_test = np.load(os.path.join(latent_dir, "test_labels.npy"))
    x_train = read_idx(idx_file(a.data, "train-images-idx3-ubyte")).reshape(len(y_train), -1) / 255.0
    x_test = read_idx(idx_file(a.data, "t10k-images-idx3-ubyte")).reshape(len(y_test), -1) / 255.0
    assert (read_idx(idx_file(a.data, "train-labels-idx1-ubyte")) == y_train).all(), "labels out of order"
    # PCA with as many components as the latent has dimensions, fitted on the training pixels
    mean = x_train.mean(0)
    _, vecs = np.linalg.eigh(np.cov((x_train - mean).T))
    basis = vecs[:, ::-1][:, :a.latent]
    rows = [
        (f"VAE posterior means (elbo-vae --encode, {a.epochs} epochs)", a.latent,
         probe(z_train, y_train, z_test, y_test, a.steps, a.seed)),
        (f"PCA, {a.latent} components", a.latent,
         probe((x_train - mean) @ basis, y_train, (x_test - mean) @ basis, y_test, a.steps, a.seed)),
        ("raw pixels", x_train.shape[1], probe(x_train, y_train, x_test, y_test, a.steps, a.seed)),
    ]
    print(f"\n| features | dimensions | test accuracy (logistic regression, {a.steps} Adam steps) |")
    print("| --- | ---: | ---: |")
    for name, dims, acc in rows:
        print(f"| {name} | {dims} | {100 * acc:.2f}% |")


if __name__ == "__main__":
    main()
