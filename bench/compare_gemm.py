#!/usr/bin/python3
"""The GEMM on the VAE's shapes beside OpenBLAS sgemm, both running one instruction set, as a Markdown table.

  bench/compare_gemm.py [--build build] --arch avx2|avx512 [--repetitions 5] [--min-time 0.2]

--arch forces elbo's kernels (ELBO_ARCH) and OpenBLAS's kernel family (OPENBLAS_CORETYPE: Haswell for
avx2, SkylakeX for avx512), so neither side runs wider registers than the other. Both run in the same
elbo_bench process, interleaved shape by shape; the table gives GFLOP/s of the medians and the ratio.
"""
import argparse
import json
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
CORES = {"avx2": "Haswell", "avx512": "SkylakeX"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--arch", required=True, choices=sorted(CORES))
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.2)
    a = ap.parse_args()
    env = dict(os.environ, ELBO_ARCH=a.arch, OPENBLAS_CORETYPE=CORES[a.arch])
    out = subprocess.run([os.path.join(a.build, "bench", "elbo_bench"), "--benchmark_filter=Sgemm",
                          f"--benchmark_repetitions={a.repetitions}", f"--benchmark_min_time={a.min_time}",
                          "--benchmark_report_aggregates_only=true", "--benchmark_format=json"],
                         check=True, capture_output=True, text=True, env=env).stdout
    report = json.loads(out)
    ctx = report["context"]
    med = {}
    for b in report["benchmarks"]:
        if b.get("aggregate_name") == "median":
            side, shape = b["run_name"].split("/", 1)
            med[(side, shape.replace("/real_time", ""))] = b["GFLOP/s"] / 1e9
    print(f"elbo kernels: {ctx.get('elbo_kernels', '?')}, OpenBLAS core: {ctx.get('openblas_core', '?')}, "
          f"{ctx.get('num_cpus', '?')} CPUs at {ctx.get('mhz_per_cpu', '?')} MHz, {a.repetitions} repetitions\n")
    print("| M x N x K, transposes | threads | elbo GFLOP/s | OpenBLAS GFLOP/s | elbo / OpenBLAS |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for (side, shape), ours in med.items():
        if side != "BM_Sgemm":
            continue
        f = dict(kv.split(":") for kv in shape.split("/"))
        name = f"{f['M']}x{f['N']}x{f['K']}" + (", A^T" if f["ta"] == "1" else "") + (", B^T" if f["tb"] == "1" else "")
        theirs = med.get(("BM_OpenblasSgemm", shape))
        ratio = f"{ours / theirs:.2f}" if theirs else "-"
        print(f"| {name} | {f['threads']} | {ours:.1f} | {theirs or 0:.1f} | {ratio} |")


if __name__ == "__main__":
    main()
