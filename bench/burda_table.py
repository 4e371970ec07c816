#!/usr/bin/python3
"""Burda, Grosse and Salakhutdinov 2016 ("Importance Weighted Autoencoders"), Table 1 on the full MNIST:
every row of the table trained and evaluated by elbo (`elbo-vae --arch burda`) and by its PyTorch twin
(bench/torch_burda.py), then one Markdown table beside the paper's figures and a plot of the test NLL
against k.

  bench/burda_table.py [--rows l1-vae-k1 l2-iwae-k5 ...] [--schedule burda] [--short-schedule burda:4]
                       [--torch-schedule burda:3] [--sides elbo torch] [--threads 1] [--table-only]
                       [--iw 5000] [--limit N] [--runs runs/burda]

Rows are l<layers>-<vae|iwae>-k<k> for 1 or 2 stochastic layers and k = 1, 5, 50 (k = 1 is the same objective
for both, so only the vae row is run). The k = 1 rows train the --schedule (default the full 3,280 passes), the
others --short-schedule; PyTorch trains --torch-schedule when given, else the row's schedule. Each run lives in
runs/burda/<side>-<row>-<schedule>/ beside its log; a run with a checkpoint continues (--resume), a finished one
(its log ends in the final JSON line) is only read. Every row's NLL is the k = 5000 importance-sampled estimate
on all 10,000 test digits; active units per stochastic layer by the paper's criterion (estimators.h).

Rows measured earlier whose runs are not under --runs (another machine or session) come from --recorded, the
table between the `burda table` markers of bench/RESULTS.md, so the table and the plots always show every row
measured; a run under --runs replaces its recorded row. Writes runs/burda/table.md (also printed) and one plot
per depth, docs/burda_nll_1layer.png and
docs/burda_nll_2layer.png (--plot's name with _<L>layer; drawn by build/bench/plot_lines). Needs
data/mnist-full (`elbo-data mnist-full`) and, for the PyTorch side, Debian's python3-torch (/usr/bin/python3).
"""
import argparse
import json
import math
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Table 1 of the paper (MNIST): the NLL of each row; its active units only where we could check the printed
# figure (16 + 5 for the two-layer VAE at k = 1), "" elsewhere
PAPER = {
    "l1-vae-k1": (86.76, ""), "l1-vae-k5": (86.47, ""), "l1-vae-k50": (86.35, ""),
    "l1-iwae-k5": (85.54, ""), "l1-iwae-k50": (84.78, ""),
    "l2-vae-k1": (85.33, "16+5"), "l2-vae-k5": (85.01, ""), "l2-vae-k50": (84.78, ""),
    "l2-iwae-k5": (83.89, ""), "l2-iwae-k50": (82.90, ""),
}
ALL_ROWS = list(PAPER)


def parse_row(row):
    layers, objective, k = row.split("-")
    return int(layers[1:]), objective, int(k[1:])


def last_json(log):
    """The final JSON object of a finished run's log, or None."""
    if not os.path.exists(log):
        return None
    lines = [l for l in open(log, encoding="utf-8", errors="replace").read().splitlines() if l.startswith("{")]
    if not lines:
        return None
    try:
        d = json.loads(lines[-1])
    except json.JSONDecodeError:
        return None
    return d if "test_loglik" in d else None


def command(side, row, schedule, a, out):
    layers, objective, k = parse_row(row)
    flags = ["--stochastic-layers", str(layers), "--schedule", schedule, "--iw", str(a.iw), "--threads",
             str(a.threads), "--out", out, "--quiet", "--seed", str(a.seed)]
    if a.limit:
        flags += ["--limit", str(a.limit)]
    flags += ["--iw-train", str(k)] if objective == "iwae" else ["--samples", str(k)]
    if side == "elbo":
        return [os.path.join(a.build, "tools", "elbo-vae"), "--arch", "burda", "--data", a.data] + flags
    return ["/usr/bin/python3", os.path.join(HERE, "torch_burda.py"), "--data", a.data] + flags


def run(side, row, schedule, a):
    name = f"{side}-{row}-{schedule.replace(':', '')}"
    out = os.path.join(a.runs, name)
    log = out + ".log"
    done = last_json(log)
    if done is not None or a.table_only:
        return name, done
    cmd = command(side, row, schedule, a, out)
    resume = os.path.exists(os.path.join(out, "checkpoint.safetensors" if side == "elbo" else "checkpoint.pt"))
    if resume:
        cmd.append("--resume")
    print(("resuming " if resume else "running ") + " ".join(cmd), file=sys.stderr, flush=True)
    with open(log, "a" if resume else "w", encoding="utf-8") as f:
        status = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
    if status != 0:
        sys.exit(f"burda_table: {name} failed with status {status}; see {log}")
    return name, last_json(log)


def units(d, layers):
    if d is None:
        return ""
    return "+".join(str(int(d[f"active_units_layer{i + 1}"])) for i in range(layers))


def label_of(row):
    layers, objective, k = parse_row(row)
    return f"{layers} layer{'s' if layers > 1 else ''}, {objective.upper()} k={k}"


def recorded(path):
    """The rows of the table between `<!-- burda table` and `<!-- end burda table -->` in path, as results
    (row, side, schedule, cells); none when the file or the markers are missing."""
    if not path or not os.path.exists(path):
        return []
    text = open(path, encoding="utf-8").read()
    start, end = text.find("<!-- burda table"), text.find("<!-- end burda table -->")
    if start < 0 or end < start:
        return []
    rows = {label_of(r): r for r in ALL_ROWS}
    out = []
    for line in text[start:end].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 10 or cells[0] not in rows:
            continue
        out.append((rows[cells[0]], cells[3], cells[4],
                    {"nll": float(cells[5]), "elbo": cells[6], "au": cells[7], "kl": cells[8], "time": cells[9]}))
    return out


def hours(out):
    """The training time of a run: the sum of its epochs' seconds (a resumed run's final line counts only its
    own part)."""
    path = os.path.join(out, "metrics.jsonl")
    if not os.path.exists(path):
        return ""
    total = sum(json.loads(l).get("seconds", 0) for l in open(path, encoding="utf-8") if l.strip())
    return f"{total / 3600:.2f} h"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", nargs="+", default=ALL_ROWS, choices=ALL_ROWS)
    ap.add_argument("--schedule", default="burda", help="the k = 1 rows' schedule")
    ap.add_argument("--short-schedule", default="burda:4", help="the other rows' schedule")
    ap.add_argument("--torch-schedule", default=None, help="PyTorch's schedule for every row (default: the row's)")
    ap.add_argument("--sides", nargs="+", default=["elbo", "torch"], choices=["elbo", "torch"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "mnist-full"))
    ap.add_argument("--runs", default=os.path.join(ROOT, "runs", "burda"))
    ap.add_argument("--plot", default=os.path.join(ROOT, "docs", "burda_nll.png"))
    ap.add_argument("--recorded", default=os.path.join(HERE, "RESULTS.md"),
                    help="a file holding the table of rows measured earlier (between the burda table markers)")
    ap.add_argument("--table-only", action="store_true", help="run nothing; tabulate the finished runs")
    ap.add_argument("--iw", type=int, default=5000, help="samples of the test log-likelihood (the table's 5000)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N train and test digits (a smoke run)")
    a = ap.parse_args()
    os.makedirs(a.runs, exist_ok=True)

    for row in a.rows:
        schedule = a.schedule if parse_row(row)[2] == 1 else a.short_schedule
        for side in a.sides:
            run(side, row, a.torch_schedule if side == "torch" and a.torch_schedule else schedule, a)

    # the table holds every finished run under --runs, this invocation's and earlier ones (other schedules)
    results = []  # (row, side, schedule, cells), cells: the table's measured columns and the NLL
    order = {"burda": 8}
    for name in sorted(os.listdir(a.runs)):
        parts = name.split("-")
        if len(parts) != 5 or parts[0] not in ("elbo", "torch") or not os.path.isdir(os.path.join(a.runs, name)):
            continue
        row, sched = "-".join(parts[1:4]), parts[4]
        d = last_json(os.path.join(a.runs, name) + ".log")
        if row in PAPER and d is not None:
            pretty = sched if sched == "burda" else sched.replace("burda", "burda:")
            layers = parse_row(row)[0]
            results.append((row, parts[0], pretty, {
                "nll": -d["test_loglik"], "elbo": f"{-d['test_elbo']:.2f}", "au": units(d, layers),
                "kl": " + ".join(f"{d[f'kl_layer{i + 1}']:.2f}" for i in range(layers)),
                "time": hours(os.path.join(a.runs, name))}))
    have = {(r[0], r[1], r[2]) for r in results}
    for rec in recorded(a.recorded):
        if (rec[0], rec[1], rec[2]) not in have:
            results.append(rec)
    results.sort(key=lambda r: (ALL_ROWS.index(r[0]), -order.get(r[2], int(r[2][-1]) if r[2][-1].isdigit() else 0), r[1]))

    lines = [f"| row | paper NLL | paper AU | side | schedule | NLL (k={a.iw}) | -ELBO (test) | active units | "
             "KL per layer | training time |", "| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for row, side, s, c in results:
        lines.append(f"| {label_of(row)} | {PAPER[row][0]:.2f} | {PAPER[row][1]} | {side} | {s} | {c['nll']:.2f} | "
                     f"{c['elbo']} | {c['au']} | {c['kl']} | {c['time']} |")
    table = "\n".join(lines)
    with open(os.path.join(a.runs, "table.md"), "w", encoding="utf-8") as f:
        f.write(table + "\n")
    print(table)

    # NLL against k for each depth: the paper's VAE and IWAE lines (dashed), and one line per side, schedule and
    # objective that was run (a lone point where only k = 1 was), drawn as the zoo draws its plots
    plot = os.path.join(a.build, "bench", "plot_lines")
    if not os.path.exists(plot):
        print(f"burda_table: no {plot} (build the bench targets) - no plot drawn", file=sys.stderr)
        return
    fmt = lambda v, f: ",".join(f.format(x) for x in v)
    for layers in (1, 2):
        key = lambda objective, k: f"l{layers}-{'vae' if k == 1 else objective}-k{k}"
        lines = []
        for objective in ("vae", "iwae"):
            ks = [1, 5, 50]
            lines.append((f"paper {objective.upper()}", True, ks, [PAPER[key(objective, k)][0] for k in ks]))
        for side, sched in sorted({(r[1], r[2]) for r in results if r[0].startswith(f"l{layers}-")}):
            for objective in ("vae", "iwae"):
                pts = [(k, c) for k in (1, 5, 50) for row, sd, sch, c in results
                       if row == key(objective, k) and sd == side and sch == sched]
                if pts and (objective == "vae" or any(k > 1 for k, _ in pts)):
                    lines.append((f"{side} {sched} {objective.upper()}", False, [k for k, _ in pts],
                                  [c["nll"] for _, c in pts]))
        if len(lines) > 8:  # keep the paper's, each side's longest schedule, schedules both sides ran, then others
            rank = lambda line: (0 if line[1] else 1 if line[0].split()[1] == longest.get(line[0].split()[0])
                                 else 2 if line[0].split()[1] in shared else 3)
            runs = [(sd, sch) for sd, sch in {(r[1], r[2]) for r in results if r[0].startswith(f"l{layers}-")}]
            schedule_len = lambda sch: 8 if sch == "burda" else int(sch[-1])
            longest = {sd: max((sch for s2, sch in runs if s2 == sd), key=schedule_len) for sd, _ in runs}
            shared = {sch for sd, sch in runs if all((o, sch) in runs for o in {x for x, _ in runs})}
            print(f"burda_table: {len(lines)} lines for {layers} layer(s); the plot shows 8", file=sys.stderr)
            lines = sorted(lines, key=rank)[:8]
        desc = [f"title\tBurda et al. 2016, Table 1, {layers} stochastic layer{'s' if layers > 1 else ''}: test NLL "
                "against k (MNIST)", "xlabel\tk, samples per example in training (log10 scale: 0, 0.7, 1.7)",
                "ylabel\ttest NLL, nats (k = 5000 estimate)",
                "caption\tdashed: the paper's Table 1; solid: elbo and PyTorch runs at the schedule named (runs/burda/table.md)"]
        for name, dashed, ks, ys in lines[:8]:
            desc.append("\t".join(["series", name, "1" if dashed else "0", fmt([math.log10(k) for k in ks], "{:.4f}"),
                                   fmt(ys, "{:.4f}")]))
        path = a.plot.replace(".png", f"_{layers}layer.png")
        subprocess.run([plot, path], input="\n".join(desc) + "\n", text=True, check=True)
        print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
