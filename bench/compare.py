#!/usr/bin/python3
"""Runs elbo's training-step benchmarks and the same steps in PyTorch, in one invocation, and prints the
ratio table (examples per second, medians over repetitions) as Markdown.

  bench/compare.py [--build build] [--model mlp conv iwae] [--batch 32 128 512] [--threads 1 2]

iwae is the --iw 5000 evaluation of the MLP VAE (BM_IwaeEval/5000/<threads>, 100 inputs per call).
For 2 threads the PyTorch column is its faster two-core setting (see torch_steps.py), named in the table.

Needs Debian's python3-torch for the PyTorch side (run with /usr/bin/python3).
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def elbo_side(build, name, batches, threads, repetitions):
    # UseRealTime() appends "/real_time" to the names
    filt = "|".join(f"^BM_{name}/{b}/{t}(/real_time)?$" for b in batches for t in threads)
    out = subprocess.run([os.path.join(build, "bench", "elbo_bench"), f"--benchmark_filter={filt}",
                          f"--benchmark_repetitions={repetitions}", "--benchmark_report_aggregates_only=true",
                          "--benchmark_format=json"], check=True, capture_output=True, text=True).stdout
    res = {}
    for b in json.loads(out)["benchmarks"]:
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
    a = ap.parse_args()
    print("| benchmark | batch | threads | elbo ex/s | PyTorch ex/s | ratio | PyTorch setting |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for model in a.model:
        name = {"mlp": "VaeMlpTrainStep", "conv": "ConvVaeTrainStep", "iwae": "IwaeEval"}[model]
        batches = {"mlp": a.batch, "conv": [b for b in a.batch if b == 128] or [128], "iwae": [5000]}[model]
        ours = elbo_side(a.build, name, batches, a.threads, a.repetitions)
        theirs = torch_side(model, batches, a.threads)
        for b in batches:
            for t in a.threads:
                key = f"{name}/{b}/{t}"
                e, (p, setting) = ours.get(key), theirs.get(key, (None, ""))
                ratio = f"{e / p:.2f}" if e and p else "-"
                print(f"| {name} | {b} | {t} | {e or 0:,.0f} | {p or 0:,.0f} | {ratio} | {setting} |", flush=True)


if __name__ == "__main__":
    main()
