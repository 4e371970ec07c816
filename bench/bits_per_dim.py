#!/usr/bin/python3
"""Grayscale likelihoods side by side in bits per dimension of the 8-bit images: the MLP VAE (784-400-20)
trained with each p(x|z) head on the same data and seed. Heads that give probabilities of 8-bit values
(categorical-256, discretized-logistic) see the raw pixels; densities on [0, 1] (gaussian with a learned
std, continuous-bernoulli, flow) see uniformly dequantized pixels (--binarize dequantize), and their bits
add 8 to -log p / (D ln 2) (an upper bound on the 8-bit data's; README "The model zoo"). The figure is the
test ELBO's (an upper bound on the bits), and the IWAE bound's with --iw. Prints a Markdown table.

  bench/bits_per_dim.py [--data data/fashion-mnist] [--epochs 10] [--seed 1] [--iw 0]
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HEADS = [
    ("gaussian (learned std)", ["--likelihood", "gaussian", "--learned-std", "--binarize", "dequantize"]),
    ("continuous-bernoulli", ["--likelihood", "continuous-bernoulli", "--binarize", "dequantize"]),
    ("flow (4 couplings)", ["--likelihood", "flow", "--coupling-steps", "4", "--binarize", "dequantize"]),
    ("discretized-logistic", ["--likelihood", "discretized-logistic", "--binarize", "none"]),
    ("categorical-256", ["--likelihood", "categorical", "--levels", "256", "--binarize", "none"]),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "fashion-mnist"))
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "bits"))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--iw", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    vae = os.path.join(a.build, "tools", "elbo-vae")
    rows = []
    for name, flags in HEADS:
        out = os.path.join(a.out, name.split()[0])
        cmd = [vae, "--data", a.data, "--epochs", str(a.epochs), "--seed", str(a.seed), "--iw", str(a.iw),
               "--threads", str(a.threads), "--out", out, "--quiet"] + flags
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        print(json.dumps({"head": name, **r}), file=sys.stderr, flush=True)
        rows.append((name, flags, r))
    print(f"MLP VAE 784-400-20 on {os.path.basename(a.data)}, {a.epochs} epochs, batch 128, Adam 1e-3, seed {a.seed}; "
          f"bits per dimension of the 8-bit test images (lower is better)\n")
    print("| p(x\\|z) | pixels | test ELBO (nats) | bits/dim from the ELBO |" + (" bits/dim from IWAE |" if a.iw else "")
          + " train examples/s |")
    print("| --- | --- | ---: | ---: |" + (" ---: |" if a.iw else "") + " ---: |")
    for name, flags, r in rows:
        pixels = "dequantized" if "dequantize" in flags else "8-bit"
        iw = f" {r['test_loglik_bits_per_dim']:.3f} |" if a.iw else ""
        print(f"| {name} | {pixels} | {r['test_elbo']:.1f} | {r['test_bits_per_dim']:.3f} |{iw} {r['examples_per_sec']:,.0f} |")


if __name__ == "__main__":
    main()
