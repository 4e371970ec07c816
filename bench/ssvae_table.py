#!/usr/bin/python3
"""Kingma, Rezende, Mohamed and Welling 2014 ("Semi-supervised Learning with Deep Generative Models"),
Table 1 on MNIST: the test classification error of M2 and of M1 + M2 from N = 100, 600, 1000 and 3000
labels, over several seeds, trained by elbo (`elbo-ssvae`) and, for M2, by its PyTorch twin
(bench/torch_ssvae.py) the same way; then one Markdown table beside the paper's figures.

  bench/ssvae_table.py [--labels 100 600 1000 3000] [--models m2 m1m2] [--seeds 1 2 3] [--torch-seeds 1]
                       [--epochs 100] [--alpha 1] [--m1-epochs 200] [--threads 1] [--table-only]

Each run lives in runs/ssvae/<side>-<model>-n<N>-a<alpha>-s<seed>/ beside its log; a run with a
checkpoint continues (--resume), a finished one (its log ends in the final JSON line) is only read, so
the command can be stopped and started again at any time. M1 + M2 trains one M1 first
(`elbo-vae --latent 50 --hidden 500`, --m1-epochs, seed 1; runs/ssvae/m1/) and each M1 + M2 run reads
its model.safetensors. Every run trains --epochs passes over the 60,000 training digits at --alpha (per
example; the paper's alpha = 0.1 N is --alpha 0.1) and reports the classifier's error on the 10,000 test
digits after the last; the table gives the mean and standard deviation over the seeds that finished.

Writes runs/ssvae/table.md (also printed). Needs data/mnist-full (`elbo-data mnist-full`) and, for the
PyTorch side, Debian's python3-torch (/usr/bin/python3).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Table 1 of the paper (MNIST test error, %, mean and spread over its runs)
PAPER = {("m2", 100): (11.97, 1.71), ("m2", 600): (4.94, 0.13), ("m2", 1000): (3.60, 0.56), ("m2", 3000): (3.92, 0.63),
         ("m1m2", 100): (3.33, 0.14), ("m1m2", 600): (2.59, 0.05), ("m1m2", 1000): (2.40, 0.02),
         ("m1m2", 3000): (2.18, 0.04)}
NAMES = {"m2": "M2", "m1m2": "M1 + M2"}


def last_json(log, key):
    """The final JSON object of a finished run's log (one holding key), or None."""
    if not os.path.exists(log):
        return None
    for line in reversed(open(log, encoding="utf-8", errors="replace").read().splitlines()):
        if line.startswith("{"):
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                return None
            return d if key in d else None
    return None


def launch(cmd, out, checkpoint):
    log = out + ".log"
    resume = os.path.exists(os.path.join(out, checkpoint))
    if resume:
        cmd = cmd + ["--resume"]
    print(("resuming " if resume else "running ") + " ".join(cmd), file=sys.stderr, flush=True)
    with open(log, "a" if resume else "w", encoding="utf-8") as f:
        status = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
    if status != 0:
        sys.exit(f"ssvae_table: {os.path.basename(out)} failed with status {status}; see {log}")


def m1(a):
    """The M1 VAE the M1 + M2 rows read (trained once)."""
    out = os.path.join(a.runs, "m1")
    if last_json(out + ".log", "test_elbo") is None and not a.table_only:
        cmd = [os.path.join(a.build, "tools", "elbo-vae"), "--data", a.data, "--latent", "50", "--hidden", "500",
               "--epochs", str(a.m1_epochs), "--threads", str(a.threads), "--seed", "1", "--quiet", "--out", out]
        if a.limit:
            cmd += ["--limit", str(a.limit)]
        launch(cmd, out, "checkpoint.safetensors")
    return os.path.join(out, "model.safetensors")


def alpha_name(alpha):
    return f"{alpha:g}".replace(".", "p")


def run(side, model, n, seed, a):
    out = os.path.join(a.runs, f"{side}-{model}-n{n}-a{alpha_name(a.alpha)}-s{seed}")
    done = last_json(out + ".log", "test_error")
    if done is not None or a.table_only:
        return done, out
    flags = ["--labels", str(n), "--epochs", str(a.epochs), "--alpha", str(a.alpha), "--seed", str(seed),
             "--threads", str(a.threads), "--out", out, "--quiet"]
    if a.limit:
        flags += ["--limit", str(a.limit)]
    if side == "elbo":
        cmd = [os.path.join(a.build, "tools", "elbo-ssvae"), "--data", a.data] + flags
        if model == "m1m2":
            cmd += ["--m1", m1(a)]
        launch(cmd, out, "checkpoint.safetensors")
    else:
        launch(["/usr/bin/python3", os.path.join(HERE, "torch_ssvae.py"), "--data", a.data] + flags, out,
               "checkpoint.pt")
    return last_json(out + ".log", "test_error"), out


def epoch_seconds(out):
    """The median seconds of a run's epochs (robust to the pauses and restarts of a long run)."""
    path = os.path.join(out, "metrics.jsonl")
    if not os.path.exists(path):
        return None
    s = [json.loads(l)["seconds"] for l in open(path, encoding="utf-8") if l.strip() and "seconds" in l]
    return statistics.median(s) if s else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--labels", nargs="+", type=int, default=[100, 600, 1000, 3000])
    ap.add_argument("--models", nargs="+", default=["m2", "m1m2"], choices=["m2", "m1m2"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--torch-seeds", nargs="*", type=int, default=[1], help="seeds of the PyTorch M2 runs")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--m1-epochs", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "mnist-full"))
    ap.add_argument("--runs", default=os.path.join(ROOT, "runs", "ssvae"))
    ap.add_argument("--table-only", action="store_true", help="run nothing; tabulate the finished runs")
    ap.add_argument("--limit", type=int, default=0, help="only the first N train and test digits (a smoke run)")
    a = ap.parse_args()
    if a.epochs < 1 or a.alpha < 0 or a.m1_epochs < 1:
        ap.error("--epochs and --m1-epochs at least 1, --alpha at least 0")
    os.makedirs(a.runs, exist_ok=True)

    # seed by seed, elbo's rows before PyTorch's (which take about three times as long), so that a partial
    # table already holds every row
    results = {}  # (side, model, n) -> [(seed, final line, out)]
    for seed in a.seeds:
        for side in ("elbo", "torch"):
            for n in a.labels:
                for model in a.models:
                    if side == "torch" and (model != "m2" or seed not in a.torch_seeds):
                        continue
                    done, out = run(side, model, n, seed, a)
                    if done is not None:
                        results.setdefault((side, model, n), []).append((seed, done, out))

    lines = [f"| labels | model | paper error (%) | side | seeds | test error (%) | per seed | test ELBO | "
             "s per epoch |", "| ---: | --- | ---: | --- | ---: | ---: | --- | ---: | ---: |"]
    for n in a.labels:
        for model in a.models:
            for side in ("elbo", "torch"):
                runs = results.get((side, model, n))
                if not runs:
                    continue
                errors = [100 * d["test_error"] for _, d, _ in runs]
                spread = f" ± {statistics.stdev(errors):.2f}" if len(errors) > 1 else ""
                elbos = [d["test_elbo"] for _, d, _ in runs]
                secs = [s for s in (epoch_seconds(o) for _, _, o in runs) if s is not None]
                paper = PAPER[(model, n)] if (model, n) in PAPER else None
                lines.append(f"| {n} | {NAMES[model]} | " + (f"{paper[0]:.2f} ± {paper[1]:.2f}" if paper else "") +
                             f" | {side} | {len(runs)} | {statistics.mean(errors):.2f}{spread} | " +
                             ", ".join(f"{e:.2f}" for e in errors) + f" | {statistics.mean(elbos):.2f} | " +
                             (f"{statistics.median(secs):.1f}" if secs else "") + " |")
    table = "\n".join(lines)
    with open(os.path.join(a.runs, "table.md"), "w", encoding="utf-8") as f:
        f.write(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
