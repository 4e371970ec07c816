#!/usr/bin/python3
"""PyTorch twin of elbo's Burda et al. 2016 MNIST models (IWAE paper, Table 1), for side-by-side results.

Same data (the uncompressed MNIST IDX files, pixels / 255), models, initialization, objective, schedule
and evaluation as `elbo-vae --arch burda`:
  1 stochastic layer:  q 784-200-200-(50),               p 50-200-200-784
  2 stochastic layers: q 784-200-200-(100)-100-100-(50), p 50-100-100-(100)-200-200-784
tanh MLPs with Glorot-uniform weights and zero biases; each Gaussian layer is one Linear head giving
loc ++ log_scale (scale = exp, the head's weight drawn with the bound of a d-output layer); Bernoulli
logits whose bias starts at the logit of the clipped training-pixel mean. Modules q1, q2 (q(z1|x),
q(z2|z1)) and p0, p1 (p(x|z1), p(z1|z2)), each with net.{0,2} and head, as elbo's parameter names (the
state dict holds nn.Linear's [out, in] weights). Objective: the k-sample VAE ELBO (--samples k) or the
IWAE bound (--iw-train k), every term by Monte Carlo; the per-epoch test ELBO takes the one-layer KL in
closed form, as elbo's test figure does. Batch 20, Adam(beta1 0.99, eps 1e-4), the
schedule burda:I (stage i = 0..I trains 3^i passes at 1e-3 * 10^(-i/7)), dynamic binarization of each
training batch; the test set is binarized once (seeded from --seed) and reused.

Per epoch a line of OUT/metrics.jsonl and an atomic OUT/checkpoint.pt (--resume continues it exactly).
At the end: --iw K's importance-sampled test log-likelihood, active units and KL per stochastic layer;
the last line of stdout is one JSON object.

Run with Debian's python3-torch (/usr/bin/python3):
  bench/torch_burda.py --stochastic-layers 1 --schedule burda --iw 5000 --out runs/torch-vae1
  bench/torch_burda.py --stochastic-layers 2 --iw-train 5 --schedule burda:3 --out /tmp/tb [--resume]
  bench/torch_burda.py --stochastic-layers 2 --time-steps 200     # median ms per training step, JSON
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
from torch.distributions import Independent, Normal, kl_divergence

LOG_2PI = math.log(2 * math.pi)
ARCH = {1: "784-200-200-(50)", 2: "784-200-200-(100)-100-100-(50)"}


def read_idx(path):
    """A uint8 IDX file as a numpy array of its dims."""
    with open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[:4], "big")
    assert magic >> 8 == 0x08, f"{path}: not a uint8 IDX file (magic {magic:#x})"
    nd = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def load_images(path, limit):
    x = read_idx(path).reshape(-1, 784)
    if limit:
        x = x[:limit]
    return torch.from_numpy(x.astype(np.float32) / 255)


def glorot_(weight, fan_out):
    fan_in = weight.shape[1]
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        weight.uniform_(-bound, bound)


class Conditional(nn.Module):
    """in -> hidden... (Linear, tanh) -> Linear head; gaussian: the head gives loc ++ log_scale of `out`."""

    def __init__(self, n_in, hidden, out, gaussian):
        super().__init__()
        layers, width = [], n_in
        for h in hidden:
            lin = nn.Linear(width, h)
            glorot_(lin.weight, h)
            nn.init.zeros_(lin.bias)
            layers += [lin, nn.Tanh()]
            width = h
        self.net = nn.Sequential(*layers)
        self.gaussian = gaussian
        self.head = nn.Linear(width, 2 * out if gaussian else out)
        glorot_(self.head.weight, out)  # as if loc and log-scale were separate d-output layers
        nn.init.zeros_(self.head.bias)

    def forward(self, x):
        h = self.head(self.net(x))
        if not self.gaussian:
            return h  # Bernoulli logits
        loc, log_scale = h.chunk(2, dim=-1)
        return Independent(Normal(loc, log_scale.exp(), validate_args=False), 1, validate_args=False)


def std_normal_log_prob(z):
    return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)


def bernoulli_log_prob(logits, x):
    return -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)


class BurdaVae(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.layers = layers
        if layers == 1:
            self.q1 = Conditional(784, [200, 200], 50, True)
            self.p0 = Conditional(50, [200, 200], 784, False)
            self.sizes = [50]
        elif layers == 2:
            self.q1 = Conditional(784, [200, 200], 100, True)
            self.q2 = Conditional(100, [100, 100], 50, True)
            self.p1 = Conditional(50, [100, 100], 100, True)
            self.p0 = Conditional(100, [200, 200], 784, False)
            self.sizes = [100, 50]
        else:
            raise ValueError("--stochastic-layers must be 1 or 2")

    def log_w(self, x, k):
        """[k, N] log p(x, z) - log q(z | x) for k reparameterized samples z ~ q(z | x), x [N, 784]."""
        q1 = self.q1(x)
        z1 = q1.rsample((k,))
        lw = bernoulli_log_prob(self.p0(z1), x) - q1.log_prob(z1)
        if self.layers == 1:
            return lw + std_normal_log_prob(z1)
        q2 = self.q2(z1)
        z2 = q2.rsample()
        return lw + self.p1(z2).log_prob(z1) + std_normal_log_prob(z2) - q2.log_prob(z2)

    def elbo(self, x, k=1):
        """[N] the k-sample VAE ELBO as elbo's test figure: closed-form KL for one layer, Monte Carlo for two."""
        if self.layers == 2:
            return self.log_w(x, k).mean(0)
        q1 = self.q1(x)
        z = q1.rsample((k,))
        prior = Independent(Normal(torch.zeros_like(q1.mean), torch.ones_like(q1.mean), validate_args=False), 1,
                            validate_args=False)
        return bernoulli_log_prob(self.p0(z), x).mean(0) - kl_divergence(q1, prior)

    def iwae(self, x, k):
        return torch.logsumexp(self.log_w(x, k), 0) - math.log(k)


def loss_of(model, x, a):
    # every term by Monte Carlo, the one-layer KL too, as Burda et al.'s code and elbo-vae --arch burda train
    per = model.iwae(x, a.iw_train) if a.iw_train else model.log_w(x, a.samples).mean(0)
    return -per.mean()


def parse_schedule(s):
    """[lr per epoch] of burda[:I]."""
    if s == "burda":
        last = 7
    elif s.startswith("burda:") and s[6:].isdigit() and 0 <= int(s[6:]) <= 7:
        last = int(s[6:])
    else:
        raise SystemExit(f"--schedule: expected burda or burda:I with I in 0..7, got {s!r}")
    return [1e-3 * 10 ** (-i / 7) for i in range(last + 1) for _ in range(3 ** i)]


def model_label(a):
    kind = f"IWAE k={a.iw_train}" if a.iw_train else ("VAE" if a.samples == 1 else f"VAE k={a.samples}")
    return f"torch burda {kind} " + ARCH[a.stochastic_layers]


@torch.no_grad()
def test_elbo(model, xt):
    return torch.cat([model.elbo(x, 1) for x in xt.split(500)]).mean().item()


@torch.no_grad()
def test_loglik(model, xt, K, per=4, chunk=250):
    total = 0.0
    for x in xt.split(per):
        lw = torch.cat([model.log_w(x, min(chunk, K - s)) for s in range(0, K, chunk)], 0)
        total += (torch.logsumexp(lw, 0) - math.log(K)).sum().item()
    return total / len(xt)


@torch.no_grad()
def layer_report(model, xt):
    """Active units and one-sample KL per stochastic layer on the test set."""
    means, kls = [[] for _ in model.sizes], [[] for _ in model.sizes]
    for x in xt.split(500):
        q1 = model.q1(x)
        z1 = q1.sample()
        means[0].append(q1.mean)
        if model.layers == 1:
            kls[0].append(q1.log_prob(z1) - std_normal_log_prob(z1))
            continue
        q2 = model.q2(z1)
        z2 = q2.sample()
        means[1].append(q2.mean)
        kls[0].append(q1.log_prob(z1) - model.p1(z2).log_prob(z1))
        kls[1].append(q2.log_prob(z2) - std_normal_log_prob(z2))
    out, total = {}, 0
    for i in range(model.layers):
        au = int((torch.cat(means[i]).var(0, unbiased=False) > 0.01).sum().item())
        out[f"active_units_layer{i + 1}"] = au
        out[f"kl_layer{i + 1}"] = torch.cat(kls[i]).mean().item()
        total += au
    out["active_units"] = total
    return out


def init_output_bias(model, train):
    p = train.mean(0).clamp(0.001, 0.999)
    with torch.no_grad():
        model.p0.head.bias.copy_(torch.log(p) - torch.log1p(-p))


def make_optimizer(model, a):
    return torch.optim.Adam(model.parameters(), lr=1e-3, betas=(a.adam_beta1, 0.999), eps=a.adam_eps)


def time_steps(a):
    torch.manual_seed(a.seed)
    train = load_images(os.path.join(a.data, "train-images-idx3-ubyte"), a.limit)
    model = BurdaVae(a.stochastic_layers)
    init_output_bias(model, train)
    opt = make_optimizer(model, a)
    warm = 5
    batches = [torch.bernoulli(train[torch.randint(len(train), (a.batch,))]) for _ in range(warm + a.time_steps)]
    times, cpu = [], []
    for i, x in enumerate(batches):
        t0, c0 = time.perf_counter(), time.process_time()
        loss = loss_of(model, x, a)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= warm:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    med = statistics.median(times)
    # cpu_ms_per_step: the process's CPU time per step, robust to other jobs on the core (1 thread)
    print(json.dumps({"ms_per_step": med * 1e3, "cpu_ms_per_step": statistics.median(cpu) * 1e3,
                      "examples_per_sec": a.batch / med, "batch": a.batch,
                      "steps": a.time_steps, "model": model_label(a), "torch_version": torch.__version__,
                      "threads": torch.get_num_threads()}))


def config_of(a):
    # not the schedule: a run may be resumed into a longer one (the lr is a function of the epoch index)
    return {k: getattr(a, k) for k in ("stochastic_layers", "samples", "iw_train", "batch", "seed",
                                       "limit", "adam_beta1", "adam_eps")}


def train(a):
    torch.manual_seed(a.seed)
    train_x = load_images(os.path.join(a.data, "train-images-idx3-ubyte"), a.limit)
    test_g = load_images(os.path.join(a.data, "t10k-images-idx3-ubyte"), a.limit)
    xt = torch.bernoulli(test_g, generator=torch.Generator().manual_seed(a.seed))  # once, reused
    lrs = parse_schedule(a.schedule)
    model = BurdaVae(a.stochastic_layers)
    init_output_bias(model, train_x)
    opt = make_optimizer(model, a)
    start, seconds, last_elbo = 0, 0.0, None
    ckpt = metrics = None
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        ckpt, metrics = os.path.join(a.out, "checkpoint.pt"), os.path.join(a.out, "metrics.jsonl")
    if a.resume:
        if not ckpt or not os.path.exists(ckpt):
            raise SystemExit("--resume needs --out DIR holding a checkpoint.pt")
        state = torch.load(ckpt)
        if state["config"] != config_of(a):
            raise SystemExit(f"--resume: the checkpoint was trained with {state['config']}, not {config_of(a)}")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        start, seconds, last_elbo = state["epoch"], state["seconds"], state["test_elbo"]
        if os.path.exists(metrics):  # drop lines of epochs past the checkpoint (a kill between the two writes)
            with open(metrics) as f:
                keep = [l for l in f if l.strip() and json.loads(l)["epoch"] <= start]
            with open(metrics, "w") as f:
                f.writelines(keep)
    elif metrics:
        open(metrics, "w").close()
    n = len(train_x)
    for epoch in range(start, len(lrs)):
        for g in opt.param_groups:
            g["lr"] = lrs[epoch]
        t0, total = time.perf_counter(), 0.0
        for idx in torch.randperm(n).split(a.batch):
            x = torch.bernoulli(train_x[idx])
            loss = loss_of(model, x, a)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total -= loss.item() * len(idx)
        dt = time.perf_counter() - t0
        seconds += dt
        last_elbo = test_elbo(model, xt)
        line = {"epoch": epoch + 1, "lr": lrs[epoch], "train_elbo": total / n, "test_elbo": last_elbo,
                "seconds": dt, "examples_per_sec": n / dt}
        if metrics:
            with open(metrics, "a") as f:
                f.write(json.dumps(line) + "\n")
            tmp = ckpt + ".tmp"
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch + 1,
                        "rng": torch.get_rng_state(), "seconds": seconds, "test_elbo": last_elbo,
                        "config": config_of(a)}, tmp)
            os.replace(tmp, ckpt)
        if not a.quiet:
            print(f"epoch {epoch + 1}/{len(lrs)} lr {lrs[epoch]:.3g}: train {line['train_elbo']:.2f} "
                  f"test {last_elbo:.2f} ({dt:.1f}s, {n / dt:.0f}/s)", file=sys.stderr)
    if last_elbo is None:
        last_elbo = test_elbo(model, xt)
    out = {"model": model_label(a), "test_elbo": last_elbo}
    if a.iw:
        t0 = time.perf_counter()
        out["test_loglik"] = test_loglik(model, xt, a.iw)
        out["iw"] = a.iw
        out["iw_seconds"] = time.perf_counter() - t0
    out.update(layer_report(model, xt))
    out.update({"seconds": seconds, "examples_per_sec": n * len(lrs) / seconds if seconds else None,
                "epochs": len(lrs), "schedule": a.schedule, "seed": a.seed, "train_examples": n,
                "test_examples": len(xt), "torch_version": torch.__version__, "threads": torch.get_num_threads()})
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/mnist-full", help="directory of the uncompressed MNIST IDX files")
    p.add_argument("--stochastic-layers", type=int, default=1, choices=[1, 2])
    p.add_argument("--samples", type=int, default=1, help="VAE: the ELBO averaged over k samples")
    p.add_argument("--iw-train", type=int, default=0, help="IWAE: train on the k-sample importance-weighted bound")
    p.add_argument("--schedule", default="burda:0", help="burda (= burda:7) or burda:I, I in 0..7")
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--adam-beta1", type=float, default=0.99)
    p.add_argument("--adam-eps", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="", help="directory for metrics.jsonl and checkpoint.pt")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--iw", type=int, default=0, help="test log-likelihood estimate with K importance samples")
    p.add_argument("--limit", type=int, default=0, help="use only the first N train and test examples")
    p.add_argument("--time-steps", type=int, default=0, help="only time N training steps; print the median")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args()
    if a.samples < 1 or a.iw_train < 0 or (a.iw_train and a.samples != 1):
        raise SystemExit("--samples k >= 1 (VAE) or --iw-train k >= 1 (IWAE), not both")
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)  # as elbo's zoo runs do (training::Options::flush_denormal)
    time_steps(a) if a.time_steps else train(a)


if __name__ == "__main__":
    main()
