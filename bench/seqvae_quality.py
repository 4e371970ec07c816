#!/usr/bin/python3
"""Quality of the sequence VAE: elbo-seqvae against the same model in PyTorch (bench/torch_seqvae.py),
and against its own decoder without the latent (--no-latent), over seeds; one thread each, the elbo and
PyTorch runs side by side on two cores.

  /usr/bin/python3 bench/seqvae_quality.py --bin build/tools/elbo-seqvae --data data/strokes \
      --epochs 10 --seeds 1 2 3 --iw 100 --out runs/seqvae-quality

Prints one JSON line per run and a table of mean +- sd: the test ELBO (log-likelihood for --no-latent)
per sequence and per point, the KL per point, elbo's IWAE log-likelihood, seconds.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import threading


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError("no JSON line in:\n" + text[-2000:])


def run(cmd, env=None):
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {p.stderr[-2000:]}")
    return last_json(p.stdout)


def main():
    a = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--bin", default="build/tools/elbo-seqvae")
    a.add_argument("--data", default="data/strokes")
    a.add_argument("--epochs", type=int, default=10)
    a.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    a.add_argument("--iw", type=int, default=100)
    a.add_argument("--out", default="runs/seqvae-quality")
    a.add_argument("--skip-torch", action="store_true")
    o = a.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    results = {"elbo": [], "elbo no-latent": [], "torch": []}
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")

    def elbo_stream():
        for s in o.seeds:
            r = run([o.bin, "--data", o.data, "--epochs", str(o.epochs), "--seed", str(s), "--threads", "1",
                     "--iw", str(o.iw), "--quiet", "--out", f"{o.out}/vae-seed{s}"])
            print(json.dumps(r), flush=True)
            results["elbo"].append(r)
        for s in o.seeds:
            r = run([o.bin, "--data", o.data, "--epochs", str(o.epochs), "--seed", str(s), "--threads", "1",
                     "--no-latent", "--quiet", "--out", f"{o.out}/ar-seed{s}"])
            print(json.dumps(r), flush=True)
            results["elbo no-latent"].append(r)

    def torch_stream():
        for s in o.seeds:
            r = run(["/usr/bin/python3", os.path.join(here, "torch_seqvae.py"), "train", "--data", o.data,
                     "--epochs", str(o.epochs), "--seed", str(s), "--threads", "1"], env)
            print(json.dumps(r), flush=True)
            results["torch"].append(r)

    streams = [threading.Thread(target=elbo_stream)]
    if not o.skip_torch:
        streams.append(threading.Thread(target=torch_stream))
    for t in streams:
        t.start()
    for t in streams:
        t.join()

    def stat(rs, key):
        v = [r[key] for r in rs if key in r]
        if not v:
            return "-"
        return f"{statistics.mean(v):.3f} ± {statistics.stdev(v):.3f}" if len(v) > 1 else f"{v[0]:.3f}"

    print(f"\n| model ({o.epochs} epochs, seeds {o.seeds}) | test bound / seq | per point | KL per point | "
          f"IWAE K={o.iw} / seq | seconds |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, rs in results.items():
        fig = "loglik" if "no-latent" in name else "elbo"
        print(f"| {name} | {stat(rs, f'test_{fig}')} | {stat(rs, f'test_{fig}_per_point')} | "
              f"{stat(rs, 'test_kl_per_point')} | {stat(rs, 'test_loglik')} | {stat(rs, 'seconds')} |")


if __name__ == "__main__":
    main()
