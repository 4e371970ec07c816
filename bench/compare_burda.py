#!/usr/bin/python3
"""The training step of Burda et al. 2016's models at their batch of 20, elbo against its PyTorch twin in one
run: elbo's BM_BurdaTrainStep/<layers>/<k>/<iwae>/<threads> (bench/bench_models.cpp) and torch_burda.py
--time-steps, taking turns --rounds times so each ratio pairs measurements minutes apart at most. Prints a
Markdown table of the medians over rounds: ms per step on each side and PyTorch's time over elbo's (the
ratio's range over rounds in brackets), and the projected wall time of the full 3,280-pass schedule
(60,000 digits, 3,000 steps a pass) at elbo's and at PyTorch's step.

  bench/compare_burda.py [--build build] [--rows l1-vae-k1 l2-iwae-k5 ...] [--threads 1 2] [--rounds 3]

Needs Debian's python3-torch (/usr/bin/python3) and data/mnist-full for the PyTorch side's digits.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ROWS = ["l1-vae-k1", "l1-vae-k5", "l1-iwae-k5", "l1-vae-k50", "l1-iwae-k50",
        "l2-vae-k1", "l2-vae-k5", "l2-iwae-k5", "l2-vae-k50", "l2-iwae-k50"]
STEPS_FULL = 3280 * 3000  # the full schedule's optimizer steps at batch 20


def parse_row(row):
    layers, objective, k = row.split("-")
    return int(layers[1:]), objective, int(k[1:])


def elbo_ms(build, row, threads, data=os.path.join(ROOT, "data", "mnist-full")):
    layers, objective, k = parse_row(row)
    name = f"BM_BurdaTrainStep/{layers}/{k}/{int(objective == 'iwae')}/{threads}/real_time"
    out = subprocess.run([os.path.join(build, "bench", "elbo_bench"), f"--benchmark_filter=^{name}$",
                          "--benchmark_min_time=1", "--benchmark_repetitions=3",
                          "--benchmark_report_aggregates_only=true", "--benchmark_format=json"],
                         check=True, capture_output=True, text=True, env=dict(os.environ, ELBO_MNIST_FULL=data)).stdout
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") == "median":
            return b["real_time"] if b["time_unit"] == "ms" else b["real_time"] / 1e6
    sys.exit(f"compare_burda: no median for {name}")


def torch_ms(row, threads, data):
    layers, objective, k = parse_row(row)
    flags = ["--iw-train", str(k)] if objective == "iwae" else ["--samples", str(k)]
    out = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "torch_burda.py"), "--data", data,
                          "--stochastic-layers", str(layers), "--threads", str(threads), "--time-steps",
                          "200" if k < 50 else "40"] + flags, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["ms_per_step"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "mnist-full"))
    ap.add_argument("--rows", nargs="+", default=ROWS, choices=ROWS)
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    cpu = next((l.split(":", 1)[1].strip() for l in lscpu.splitlines() if l.startswith("Model name")), "?")
    print(f"CPU: {cpu} (lscpu); load average before: {os.getloadavg()[0]:.2f}\n")
    print("| model | threads | elbo ms/step | PyTorch ms/step | PyTorch / elbo | full schedule, elbo | full schedule, "
          "PyTorch |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in a.rows:
        for t in a.threads:
            e, p = [], []
            for _ in range(a.rounds):
                e.append(elbo_ms(a.build, row, t, a.data))
                p.append(torch_ms(row, t, a.data))
            ratios = [pi / ei for pi, ei in zip(p, e)]
            me, mp = statistics.median(e), statistics.median(p)
            print(f"| {row} | {t} | {me:.3f} | {mp:.3f} | {statistics.median(ratios):.2f} ({min(ratios):.2f}-"
                  f"{max(ratios):.2f}) | {STEPS_FULL * me / 3.6e6:.1f} h | {STEPS_FULL * mp / 3.6e6:.1f} h |",
                  flush=True)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
