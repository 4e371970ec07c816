#!/usr/bin/python3
"""Data-parallel throughput, in one run: elbo's bench_ddp as 1 process x 1 thread, 1 process x 2 threads
and 2 ranks x 1 thread (mpirun), against PyTorch's DistributedDataParallel (gloo, 2 processes x 1 thread)
and PyTorch in one process, at one global batch; `--rounds` repetitions interleaved, medians reported.

  /usr/bin/python3 bench/compare_ddp.py --bench build/bench/bench_ddp --models mlp conv --batch 128 --rounds 3

The mpirun environment is the tests' (allow root, oversubscribe); --single-copy none turns off OpenMPI's
cross-memory single copy (needed where the container's ptrace policy refuses it).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys


def run(cmd, env):
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {out.stderr[-1500:]}")
    return json.loads([l for l in out.stdout.splitlines() if l.startswith("{")][-1])


def main():
    a = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--bench", default="build/bench/bench_ddp")
    a.add_argument("--models", nargs="+", default=["mlp", "conv"])
    a.add_argument("--batch", type=int, default=128)
    a.add_argument("--rounds", type=int, default=3)
    a.add_argument("--steps", type=int, default=200)
    a.add_argument("--single-copy", default="", help="OMPI_MCA_btl_vader_single_copy_mechanism (e.g. none)")
    o = a.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    if o.single_copy:
        env["OMPI_MCA_btl_vader_single_copy_mechanism"] = o.single_copy
    b = ["--batch", str(o.batch), "--steps", str(o.steps)]
    for model in o.models:
        configs = {
            "elbo 1 process x 1 thread": [o.bench, "--model", model, "--threads", "1"] + b,
            "elbo 1 process x 2 threads": [o.bench, "--model", model, "--threads", "2"] + b,
            "elbo 2 ranks x 1 thread (MPI)": ["mpirun", "--oversubscribe", "-np", "2", o.bench, "--model", model,
                                              "--threads", "1"] + b,
            "PyTorch 1 process x 1 thread": ["/usr/bin/python3", os.path.join(here, "torch_ddp.py"), "--model", model,
                                             "--procs", "1", "--batch", str(o.batch), "--steps", str(o.steps)],
            "PyTorch DDP 2 processes x 1 thread (gloo)": ["/usr/bin/python3", os.path.join(here, "torch_ddp.py"),
                                                          "--model", model, "--procs", "2", "--batch", str(o.batch),
                                                          "--steps", str(o.steps)],
        }
        res = {k: [] for k in configs}
        for r in range(o.rounds):
            for name, cmd in configs.items():
                res[name].append(run(cmd, env))
                print(json.dumps({"round": r, "config": name, **res[name][-1]}), file=sys.stderr, flush=True)
        med = {k: statistics.median(x["examples_per_sec"] for x in v) for k, v in res.items()}
        base, torch_ddp = med["elbo 1 process x 1 thread"], med["PyTorch DDP 2 processes x 1 thread (gloo)"]
        print(f"\n{model} VAE, global batch {o.batch}, {o.rounds} rounds (medians; examples/s)\n")
        print("| configuration | examples/s | vs elbo 1 x 1 | vs PyTorch DDP | all-reduce ms/step |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for k, v in med.items():
            ar = statistics.median(x.get("allreduce_ms_per_step", 0) for x in res[k])
            print(f"| {k} | {v:,.0f} | {v / base:.2f} | {v / torch_ddp:.2f} | {ar:.3f} |")


if __name__ == "__main__":
    main()
