#!/usr/bin/python3
"""Runs elbo's training-step benchmarks and the same steps in PyTorch, in one invocation, and prints the
ratio table (examples per second, medians over repetitions) as Markdown.

  bench/compare.py [--build build] [--model mlp conv iwae planar iaf] [--batch 32 128 512] [--threads 1 2] [--rounds R]
                   [--arch sse2|avx2|avx512]

With --rounds R the two sides take turns R times, so each ratio pairs measurements minutes apart at
most; the table then shows the medians over rounds and the ratio's range (the load of a shared machine
drifts over a run, and one side measured in a quiet minute would otherwise skew the ratio).

iwae is the --iw 5000 evaluation of the MLP VAE (BM_IwaeEval/5000/<threads>, 100 inputs per call).
For 2 threads the PyTorch column is its faster two-core setting (see torch_steps.py), named in the table.

Needs Debian's python3-torch for the PyTorch side (run with /usr/bin/python3).
"""
import argparse
import json
import statistics
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def elbo_side(build, name, batches, threads, repetitions, arch):
    # UseRealTime() appends "/real_time" to the names
    filt = "|".join(f"^BM_{name}/{b}/{t}(/real_time)?$" for b in batches for t in threads)
    env = dict(os.environ, **({"ELBO_ARCH": arch} if arch else {}))
    out = subprocess.run([os.path.join(build, "bench", "elbo_bench"), f"--benchmark_filter={filt}",
                          f"--benchmark_repetitions={repetitions}", "--benchmark_report_aggregates_only=true",
                          "--benchmark_format=json"], check=True, capture_output=True, text=True, env=env).stdout
    report = json.loads(out)
    res = {"_kernels": report["context"].get("elbo_kernels", "?")}
    for b in report["benchmarks"]:
        if b.get("aggregate_name") == "median":
            key = b["run_name"].replace("BM_", "").replace("/real_time", "")
            res[key] = b["items_per_second"]
    return res


def torch_side(model, batches, threads):
    cmd = [sys.executable, os.path.join(HERE, "torch_steps.py"), "--model", model, "--batch", *map(str, batches),
           "--threads", *map(str, threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return {j["name"]: (j["examples_per_sec"], j.get("setting", "")) for j in map(json.loads, out.strip().splitlines())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--model", nargs="+", default=["mlp", "conv", "iwae"])
    ap.add_argument("--batch", type=int, nargs="+", default=[32, 128, 512])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--arch", default="", help="force elbo's instruction set (ELBO_ARCH): sse2 | avx2 | avx512")
    a = ap.parse_args()
    ranged = a.rounds > 1
    print("| benchmark | batch | threads | elbo ex/s | PyTorch ex/s | ratio |" + (" ratio range |" if ranged else "")
          + " PyTorch setting |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if ranged else "") + " --- |")
    for model in a.model:
        name = {"mlp": "VaeMlpTrainStep", "conv": "ConvVaeTrainStep", "iwae": "IwaeEval", "planar": "VaePlanarTrainStep",
                "iaf": "VaeIafTrainStep"}[model]
        fixed128 = [b for b in a.batch if b == 128] or [128]
        batches = {"mlp": a.batch, "conv": fixed128, "planar": fixed128, "iaf": fixed128, "iwae": [5000]}[model]
        rounds = [(elbo_side(a.build, name, batches, a.threads, a.repetitions, a.arch),
                   torch_side(model, batches, a.threads)) for _ in range(a.rounds)]
        print(f"| elbo kernels: {rounds[0][0]['_kernels']} | | | | | |" + (" |" if ranged else "") + " |", flush=True)
        for b in batches:
            for t in a.threads:
                key = f"{name}/{b}/{t}"
                es = [ours[key] for ours, _ in rounds if ours.get(key)]
                ps = [theirs[key][0] for _, theirs in rounds if theirs.get(key)]
                rs = [ours[key] / theirs[key][0] for ours, theirs in rounds if ours.get(key) and theirs.get(key)]
                setting = rounds[-1][1].get(key, (None, ""))[1]
                e = statistics.median(es) if es else 0
                p = statistics.median(ps) if ps else 0
                ratio = f"{statistics.median(rs):.2f}" if rs else "-"
                span = f" {min(rs):.2f}-{max(rs):.2f} |" if ranged and rs else (" - |" if ranged else "")
                print(f"| {name} | {b} | {t} | {e:,.0f} | {p:,.0f} | {ratio} |{span} {setting} |", flush=True)

if __name__ == "__main__":
    main()
