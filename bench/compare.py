#!/usr/bin/python3
"""Runs elbo's training-step benchmarks and the same steps in PyTorch, in one invocation, and prints the
ratio table (examples per second, medians over repetitions) as Markdown.

  bench/compare.py [--build build] [--model mlp conv iwae planar iaf] [--batch 32 128 512] [--threads 1 2] [--rounds R]
                   [--arch sse2|avx2|avx512]
  bench/compare.py --zoo [--configs KEY ...] [--threads 1 2] [--rounds R] [--arch avx2|avx512]

--arch avx2 or avx512 runs both sides on that instruction set (ELBO_ARCH for elbo; ATEN_CPU_CAPABILITY and
OPENBLAS_CORETYPE for PyTorch, see torch_steps.py --isa).

With --rounds R the two sides take turns R times, so each ratio pairs measurements minutes apart at
most; the table then shows the medians over rounds and the ratio's range (the load of a shared machine
drifts over a run, and one side measured in a quiet minute would otherwise skew the ratio).

Each row also gives the step's FMA-bound time (its floating-point operations, FLOPS_PER_EXAMPLE below, over
the FMA peak BM_FmaPeak measures for the instruction set and thread count in the same run) and each side's
share of it: 100% would be a step that does nothing but its products at the peak.

iwae is the --iw 5000 evaluation of the MLP VAE (BM_IwaeEval/5000/<threads>, 100 inputs per call).
For 2 threads the PyTorch column is its faster two-core setting (see torch_steps.py), named in the table.

--zoo prints the zoo's table instead: one training step of every elbo-vae configuration (BM_ZooStep, the
keys of tests/zoo_configs.h), the autoencoder, non-amortized VI's training visit (vi-train) and its 100-step
per-example searches (vi-search, gap-search: ms per search), elbo-vqvae's step (vqvae), elbo-ssvae's M2 step (ssvae: the batch with y
summed out plus 100 labelled rows), each beside its PyTorch twin (torch_steps.py, torch_families.py,
torch_heads.py, torch_ssvae.py) on 1 and 2 threads at batch 128, with elbo's heap
allocations per step and both sides' parameter counts (equal when the twin is the same model); then the
sequence VAE's step at batch 128 (torch_seqvae.py step, on data/strokes) and Burda et al.'s ten models at
their batch of 20 (compare_burda.py's rows, on data/mnist-full), each side once per round (with --arch,
elbo runs that instruction set there too; PyTorch picks its own for these rows).

Needs Debian's python3-torch for the PyTorch side (run with /usr/bin/python3).
"""
import argparse
import json
import statistics
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


# Floating-point operations per example (a multiply-add counts two), for the FMA-bound columns: the products
# of the layers, forward and backward (weight gradients of every layer, input gradients of all but the first).
#   mlp: 784-400-(20+20) encoder, 20-400-784 decoder. Forward multiply-adds 313,600 + 16,000 + 8,000 + 313,600
#        = 651,200; backward 651,200 (weights) + 337,600 (inputs) -> 1,640,000 multiply-adds.
#   conv: conv 1->32 and 32->64 (4x4, stride 2: 100,352 and 1,605,632), linear 3136->40 (125,440), linear
#        20->3136 (62,720), transposed convs 64->32 and 32->1 (1,605,632 and 100,352): forward 3,600,128;
#        backward 3,600,128 + 3,499,776 -> 10,700,032 multiply-adds.
#   iwae: per input, the encoder once (329,600) and the decoder for each of the 5000 samples (321,600), forward.
FLOPS_PER_EXAMPLE = {"mlp": 2 * 1_640_000, "conv": 2 * 10_700_032, "iwae": 2 * (329_600 + 5000 * 321_600)}


def fma_peak(build, threads, arch):
    """GFLOP/s of BM_FmaPeak (the kernels' instruction set's FMA peak) per thread count, medians of 5."""
    filt = "|".join(f"^BM_FmaPeak/threads:{t}(/real_time)?$" for t in threads)
    env = dict(os.environ, **({"ELBO_ARCH": arch} if arch else {}))
    out = subprocess.run([os.path.join(build, "bench", "elbo_bench"), f"--benchmark_filter={filt}",
                          "--benchmark_repetitions=5", "--benchmark_report_aggregates_only=true",
                          "--benchmark_format=json"], check=True, capture_output=True, text=True, env=env).stdout
    return {int(b["run_name"].split("threads:")[1].split("/")[0]): b["GFLOP/s"] / 1e9
            for b in json.loads(out)["benchmarks"] if b.get("aggregate_name") == "median"}


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


def cpu_name():
    """lscpu's model name, family and model, as every figure names its CPU."""
    info = {}
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    return f"{info.get('Model name', '?')} (family {info.get('CPU family', '?')}, model {info.get('Model', '?')})"


ZOO_STEPS = ["autoencoder", "vi-train", "vi-search", "gap-search", "ssvae", "vqvae"]


def zoo_keys(build):
    out = subprocess.run([os.path.join(build, "bench", "elbo_bench"), "--benchmark_list_tests=true",
                          "--benchmark_filter=^BM_ZooStep/"], check=True, capture_output=True, text=True).stdout
    keys = []
    for line in out.splitlines():
        key = line.split("/")[1]
        if key not in keys:
            keys.append(key)
    return keys


def elbo_zoo(build, models, threads, repetitions, arch):
    """{(model, threads): (ms per step, allocations per step, parameters)} and the kernels' name."""
    from torch_steps import bench_name
    names = {bench_name(m): m for m in models}
    # the names hold only letters, digits and = : - / (no regex syntax; the benchmark's regex refuses "\-")
    filt = "|".join(f"^BM_{n}/128/{t}(/real_time)?$" for n in names for t in threads)
    env = dict(os.environ, **({"ELBO_ARCH": arch} if arch else {}))
    out = subprocess.run([os.path.join(build, "bench", "elbo_bench"), f"--benchmark_filter={filt}",
                          f"--benchmark_repetitions={repetitions}", "--benchmark_report_aggregates_only=true",
                          "--benchmark_min_time=0.3", "--benchmark_format=json"], check=True, capture_output=True,
                         text=True, env=env).stdout
    report = json.loads(out)
    res = {}
    for b in report["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        name, batch, t = b["run_name"].replace("BM_", "").replace("/real_time", "").rsplit("/", 2)
        res[(names[name], int(t))] = (b["real_time"], b.get("allocs_per_step", 0), b.get("parameters", 0))
    return res, report["context"].get("elbo_kernels", "?")


def torch_zoo(model, threads, arch):
    cmd = [sys.executable, os.path.join(HERE, "torch_steps.py"), "--model", model, "--batch", "128",
           "--threads", *map(str, threads)] + (["--isa", arch] if arch in ("avx2", "avx512") else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return {int(j["name"].rsplit("/", 1)[1]): (j["ms_median"], j.get("parameters", 0), j.get("setting", ""))
            for j in map(json.loads, out.strip().splitlines())}


def zoo_table(a):
    sys.path.insert(0, HERE)
    models = [m for m in zoo_keys(a.build) + ZOO_STEPS if not a.configs or m in a.configs]
    rounds = []
    for _ in range(a.rounds):
        ours, kernels = elbo_zoo(a.build, models, a.threads, a.repetitions, a.arch)
        theirs = {}
        for m in models:
            try:
                theirs[m] = torch_zoo(m, a.threads, a.arch)
            except subprocess.CalledProcessError as e:  # a twin not written yet: its row says so
                theirs[m] = {}
                print(f"(no PyTorch twin for {m}: {e.stderr.strip().splitlines()[-1] if e.stderr else e})",
                      file=sys.stderr)
        rounds.append((ours, theirs))
    print(f"CPU: {cpu_name()}; elbo kernels {kernels}{'; PyTorch held to ' + a.arch if a.arch in ('avx2', 'avx512') else ''}")
    print("batch 128; ms per training step (vi-search, gap-search: per 100-step search of the batch), medians"
          + (f" over {a.rounds} rounds" if a.rounds > 1 else "") + "; ratio = PyTorch ms / elbo ms")
    print()
    cols = "".join(f" elbo ms ({t}T) | PyTorch ms ({t}T) | ratio ({t}T) |" for t in a.threads)
    print("| configuration |" + cols + " elbo allocs/step | parameters (elbo / PyTorch) |")
    print("| --- |" + " ---: | ---: | ---: |" * len(a.threads) + " ---: | --- |")
    for m in models:
        cells, allocs, params = [], "-", "-"
        for t in a.threads:
            es = [ours[(m, t)][0] for ours, _ in rounds if (m, t) in ours]
            ps = [theirs[m][t][0] for _, theirs in rounds if t in theirs.get(m, {})]
            e = statistics.median(es) if es else None
            p = statistics.median(ps) if ps else None
            ratio = [theirs[m][t][0] / ours[(m, t)][0] for ours, theirs in rounds
                     if (m, t) in ours and t in theirs.get(m, {})]
            cells.append(f" {e:.2f} |" if e else " - |")
            cells.append(f" {p:.2f} |" if p else " - |")
            cells.append(f" {statistics.median(ratio):.2f} |" if ratio else " - |")
            if (m, t) in rounds[-1][0]:
                allocs = f"{rounds[-1][0][(m, t)][1]:g}"
                ep = int(rounds[-1][0][(m, t)][2])
                tp = rounds[-1][1].get(m, {}).get(t, (0, 0))[1]
                params = f"{ep:,} / {tp:,}" if ep and tp else (f"{ep:,} / -" if ep else "-")
        print(f"| {m} |" + "".join(cells) + f" {allocs} | {params} |", flush=True)
    if not a.configs:
        extra_rows(a)


def extra_rows(a):
    """The sequence VAE and Burda et al.'s models, which need their data sets: one row each, or a line
    saying what is missing."""
    import compare_burda
    root = os.path.dirname(HERE)
    if a.arch:  # the elbo_bench runs below inherit it
        os.environ["ELBO_ARCH"] = a.arch
    strokes, mnist = os.path.join(root, "data", "strokes"), os.path.join(root, "data", "mnist-full")

    def seqvae(t):
        filt = f"^BM_SeqVaeTrainStep/128/{t}(/real_time)?$"
        out = subprocess.run([os.path.join(a.build, "bench", "elbo_bench"), f"--benchmark_filter={filt}",
                              "--benchmark_repetitions=3", "--benchmark_report_aggregates_only=true",
                              "--benchmark_format=json"], check=True, capture_output=True, text=True,
                             env=dict(os.environ, ELBO_STROKES=strokes)).stdout
        e = next(b["real_time"] for b in json.loads(out)["benchmarks"] if b.get("aggregate_name") == "median")
        out = subprocess.run([sys.executable, os.path.join(HERE, "torch_seqvae.py"), "step", "--data", strokes,
                              "--batch", "128", "--threads", str(t)], check=True, capture_output=True, text=True,
                             env=dict(os.environ, OMP_NUM_THREADS=str(t))).stdout
        return e, json.loads(out.strip().splitlines()[-1])["ms_median"]

    rows = []
    if os.path.isdir(strokes):
        rows.append(("seqvae (batch 128)", seqvae))
    else:
        print(f"(no {strokes}: elbo-data strokes makes it; the sequence VAE's row is left out)")
    if os.path.isdir(mnist):
        for row in compare_burda.ROWS:
            rows.append((f"burda {row} (batch 20)",
                         lambda t, row=row: (compare_burda.elbo_ms(a.build, row, t, mnist),
                                             compare_burda.torch_ms(row, t, mnist))))
    else:
        print(f"(no {mnist}: elbo-data mnist-full makes it; Burda et al.'s rows are left out)")
    for name, measure in rows:
        cells = []
        for t in a.threads:
            pairs = [measure(t) for _ in range(a.rounds)]
            e = statistics.median(x for x, _ in pairs)
            p = statistics.median(y for _, y in pairs)
            ratio = statistics.median(y / x for x, y in pairs)
            cells.append(f" {e:.2f} | {p:.2f} | {ratio:.2f} |")
        print(f"| {name} |" + "".join(cells) + " - | - |", flush=True)


def torch_side(model, batches, threads, arch):
    cmd = [sys.executable, os.path.join(HERE, "torch_steps.py"), "--model", model, "--batch", *map(str, batches),
           "--threads", *map(str, threads)] + (["--isa", arch] if arch in ("avx2", "avx512") else [])
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
    ap.add_argument("--zoo", action="store_true", help="the zoo's table (every configuration at batch 128)")
    ap.add_argument("--configs", nargs="+", default=[], help="--zoo: only these rows (keys or step names)")
    ap.add_argument("--arch", default="", help="force elbo's instruction set (ELBO_ARCH): sse2 | avx2 | avx512; "
                    "avx2 and avx512 hold PyTorch and OpenBLAS to the same one (torch_steps.py --isa)")
    a = ap.parse_args()
    if a.zoo:
        zoo_table(a)
        return
    ranged = a.rounds > 1
    peak = fma_peak(a.build, a.threads, a.arch)
    print("FMA peak (BM_FmaPeak, GFLOP/s): " + ", ".join(f"{t} thread(s) {g:.0f}" for t, g in sorted(peak.items())))
    print()
    print("| benchmark | batch | threads | elbo ex/s | PyTorch ex/s | ratio |" + (" ratio range |" if ranged else "")
          + " FMA-bound ms | elbo % of bound | PyTorch % of bound | PyTorch setting |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if ranged else "") + " ---: | ---: | ---: | --- |")
    for model in a.model:
        name = {"mlp": "VaeMlpTrainStep", "conv": "ConvVaeTrainStep", "iwae": "IwaeEval", "planar": "VaePlanarTrainStep",
                "iaf": "VaeIafTrainStep"}[model]
        fixed128 = [b for b in a.batch if b == 128] or [128]
        batches = {"mlp": a.batch, "conv": fixed128, "planar": fixed128, "iaf": fixed128, "iwae": [5000]}[model]
        rounds = [(elbo_side(a.build, name, batches, a.threads, a.repetitions, a.arch),
                   torch_side(model, batches, a.threads, a.arch)) for _ in range(a.rounds)]
        print(f"| elbo kernels: {rounds[0][0]['_kernels']} | | | | | |" + (" |" if ranged else "") + " | | | |",
              flush=True)
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
                flops, g = FLOPS_PER_EXAMPLE.get(model), peak.get(t)
                if flops and g:  # the step (or call) time at the FMA peak, and each side's share of it
                    per_step = 100 if model == "iwae" else b
                    bound = f"{flops * per_step / (g * 1e9) * 1e3:.3f} | {100 * e * flops / (g * 1e9):.0f}% | " \
                            f"{100 * p * flops / (g * 1e9):.0f}%"
                else:
                    bound = "- | - | -"
                print(f"| {name} | {b} | {t} | {e:,.0f} | {p:,.0f} | {ratio} |{span} {bound} | {setting} |", flush=True)


if __name__ == "__main__":
    main()
