#!/usr/bin/python3
"""A PyTorch twin of elbo-ssvae: Kingma et al. 2014's M2, written from the model's definition.

The same model as models::SemiSupervisedVae with its defaults: the zoo's MLP VAE given the class
(vae.fc1 Linear(784 + 10, 500) on [x, one_hot(y)], vae.fc21 / vae.fc22 Linear(500, 50) loc and
log-variance, vae.fc3 Linear(50 + 10, 500) on [z, one_hot(y)], vae.fc4 Linear(500, 784) Bernoulli
logits, ReLU), a classifier Sequential(Linear(784, 500), Softplus, Linear(500, 10)), p(y) uniform,
p(z) = N(0, I), the KL of z in closed form; torch's default initialization (as elbo's nn::Linear).
The objective per training example is elbo's (tools/tasks.h, SsvaeObjective): each step the batch's
unlabelled rows with y summed out over the 10 classes as one batch of 10 B rows, plus a labelled batch
drawn with replacement from the N labelled examples: (1 / B) sum -U + (N_l / N) mean -L + alpha mean
-log q(y|x). The labelled examples are drawn balanced across classes (N / 10 each) by torch's seed, not
elbo's generator, and are left out of the unlabelled rows.

  /usr/bin/python3 bench/torch_ssvae.py --labels 100 --epochs 100 --out runs/ssvae/torch-m2-n100-s1
prints one JSON line (test_error, test_elbo, seconds, ...) and writes OUT/metrics.jsonl and
OUT/checkpoint.pt per epoch (--resume continues from it);
torch_steps.py --model ssvae times one step (build()).
  /usr/bin/python3 bench/torch_ssvae.py --check runs/ssvae/m2-n100-s1/model.safetensors
loads an elbo-ssvae model (the same parameter names and shapes) and prints its test error and test ELBO
with y summed out, as this twin computes them: close to elbo's final line, up to the test set's own
binarization (torch's generator here) and the one-sample ELBO's noise.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_burda import load_images, read_idx  # noqa: E402
from torch_vae_quality import load_safetensors  # noqa: E402


class M2(nn.Module):
    def __init__(self, d=784, classes=10, latent=50, hidden=500, classifier_hidden=500):
        super().__init__()
        self.classes = classes
        self.vae = nn.Module()
        self.vae.fc1 = nn.Linear(d + classes, hidden)
        self.vae.fc21 = nn.Linear(hidden, latent)
        self.vae.fc22 = nn.Linear(hidden, latent)
        self.vae.fc3 = nn.Linear(latent + classes, hidden)
        self.vae.fc4 = nn.Linear(hidden, d)
        self.classifier = nn.Sequential(nn.Linear(d, classifier_hidden), nn.Softplus(),
                                        nn.Linear(classifier_hidden, classes))

    def elbo_given(self, x, y):
        """One-sample ELBO of log p(x | y) per row, [B]."""
        v, yh = self.vae, F.one_hot(y, self.classes).to(x.dtype)
        h = F.relu(v.fc1(torch.cat([x, yh], 1)))
        mu, logvar = v.fc21(h), v.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        logits = v.fc4(F.relu(v.fc3(torch.cat([z, yh], 1))))
        log_px = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
        return log_px - kl

    def log_q(self, x):
        return F.log_softmax(self.classifier(x), 1)

    def labelled(self, x, y):
        return self.elbo_given(x, y) - math.log(self.classes)

    def enumerated(self, x):
        """y summed out: sum_y q(y|x) (ELBO(x, y) + log p(y)) + H(q(y|x)), the C classes as C B rows."""
        c, b = self.classes, x.shape[0]
        per_class = self.elbo_given(x.repeat(c, 1), torch.arange(c).repeat_interleave(b)).reshape(c, b).t()
        log_q = self.log_q(x)
        q = log_q.exp()
        return (q * (per_class - math.log(c))).sum(1) - (q * log_q).sum(1)


def step_loss(model, xu, xl, yl, n, n_labelled, alpha, batch=None):
    """batch: the loop's batch size B, of which xu are the unlabelled rows (elbo divides their sum by B)."""
    loss = (n_labelled / n) * (-model.labelled(xl, yl)).mean() - alpha * model.log_q(xl).gather(1, yl[:, None]).mean()
    if len(xu):
        loss = loss - model.enumerated(xu).sum() / (batch or len(xu))
    return loss


def build():
    """torch_steps.py's twin (net, loss(x), make_x(batch)) of elbo_bench's BM_SsvaeStep: B unlabelled rows
    and 100 labelled rows drawn from 100 labelled examples, binarized afresh, of N = B + 100 examples."""
    model = M2()
    pool, pool_y = torch.rand(100, 784), torch.arange(100) % 10

    def loss(x):
        pick = torch.randint(0, 100, (100,))
        return step_loss(model, x, torch.bernoulli(pool[pick]), pool_y[pick], len(x) + 100, 100, 1.0)

    return model, loss, lambda batch: torch.rand(batch, 784).bernoulli()


def balanced(labels, n, classes, gen):
    picked = []
    for c in range(classes):
        rows = (labels == c).nonzero().flatten()
        share = n // classes + (1 if c < n % classes else 0)
        picked.append(rows[torch.randperm(len(rows), generator=gen)[:share]])
    return torch.cat(picked).sort().values


def evaluate(model, xt, yt):
    with torch.no_grad():
        err = sum((model.classifier(xt[i:i + 1000]).argmax(1) != yt[i:i + 1000]).sum().item()
                  for i in range(0, len(xt), 1000)) / len(xt)
        elbo = sum(model.enumerated(xt[i:i + 500]).sum().item() for i in range(0, len(xt), 500)) / len(xt)
    return err, elbo


def load_test(a):
    test_g = load_images(os.path.join(a.data, "t10k-images-idx3-ubyte"), a.limit)
    test_y = torch.from_numpy(read_idx(os.path.join(a.data, "t10k-labels-idx1-ubyte")).astype(np.int64))[:len(test_g)]
    return torch.bernoulli(test_g, generator=torch.Generator().manual_seed(a.seed)), test_y  # binarized once


def check(a):
    state = load_safetensors(a.check)
    model = M2(latent=state["vae.fc21.weight"].shape[0], hidden=state["vae.fc1.weight"].shape[0],
               classifier_hidden=state["classifier.0.weight"].shape[0])
    model.load_state_dict({k: v for k, v in state.items() if k in model.state_dict()})
    xt, yt = load_test(a)
    err, elbo = evaluate(model, xt, yt)
    print(json.dumps({"model": a.check, "test_error": err, "test_elbo": elbo}))


def train(a):
    torch.manual_seed(a.seed)
    train_x = load_images(os.path.join(a.data, "train-images-idx3-ubyte"), a.limit)
    train_y = torch.from_numpy(read_idx(os.path.join(a.data, "train-labels-idx1-ubyte")).astype(np.int64))[:len(train_x)]
    xt, test_y = load_test(a)
    labelled = balanced(train_y, a.labels, 10, torch.Generator().manual_seed(a.seed + 1))
    is_labelled = torch.zeros(len(train_x), dtype=torch.bool)
    is_labelled[labelled] = True
    model = M2(latent=a.latent, hidden=a.hidden, classifier_hidden=a.classifier_hidden)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    metrics, ckpt, start = None, None, 0
    n, seconds = len(train_x), 0.0
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        metrics, ckpt = os.path.join(a.out, "metrics.jsonl"), os.path.join(a.out, "checkpoint.pt")
        if a.resume and os.path.exists(ckpt):  # the state after the last whole epoch, the generator's too
            state = torch.load(ckpt)
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optim"])
            torch.set_rng_state(state["rng"])
            start, seconds = state["epoch"], state["seconds"]
            lines = open(metrics).read().splitlines()[:start] if os.path.exists(metrics) else []
            open(metrics, "w").write("".join(l + "\n" for l in lines))
        else:
            open(metrics, "w").close()
    for epoch in range(start, a.epochs):
        t0, total = time.perf_counter(), 0.0
        for idx in torch.randperm(n).split(a.batch):
            xu = torch.bernoulli(train_x[idx[~is_labelled[idx]]])
            pick = labelled[torch.randint(0, len(labelled), (a.labelled_batch,))]
            loss = step_loss(model, xu, torch.bernoulli(train_x[pick]), train_y[pick], n, len(labelled), a.alpha,
                             len(idx))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total -= loss.item() * len(idx)
        dt = time.perf_counter() - t0
        seconds += dt
        err, elbo = evaluate(model, xt, test_y)
        line = {"epoch": epoch + 1, "train_elbo": total / n, "test_elbo": elbo, "test_error": err, "seconds": dt,
                "examples_per_sec": n / dt}
        if metrics:
            with open(metrics, "a") as f:
                f.write(json.dumps(line) + "\n")
            torch.save({"model": model.state_dict(), "optim": opt.state_dict(), "rng": torch.get_rng_state(),
                        "epoch": epoch + 1, "seconds": seconds}, ckpt + ".tmp")
            os.replace(ckpt + ".tmp", ckpt)
        if not a.quiet:
            print(f"epoch {epoch + 1}: train {line['train_elbo']:.2f} test {elbo:.2f} error {err:.4f} ({dt:.1f}s)",
                  file=sys.stderr)
    err, elbo = evaluate(model, xt, test_y)
    print(json.dumps({"model": "torch M2", "labelled": a.labels, "test_error": err, "test_elbo": elbo,
                      "seconds": seconds, "epochs": a.epochs, "seed": a.seed, "threads": torch.get_num_threads(),
                      "torch_version": torch.__version__}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/mnist-full", help="directory of the uncompressed MNIST IDX files")
    p.add_argument("--labels", type=int, default=100)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--labelled-batch", type=int, default=100)
    p.add_argument("--alpha", type=float, default=1.0)  # elbo-ssvae's default
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--latent", type=int, default=50)
    p.add_argument("--hidden", type=int, default=500)
    p.add_argument("--classifier-hidden", type=int, default=500)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--out", default="")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--resume", action="store_true", help="continue OUT's run from its checkpoint.pt (written each epoch)")
    p.add_argument("--check", default="", help="score this elbo-ssvae model.safetensors instead of training")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)  # as elbo's zoo runs do (training::Options::flush_denormal)
    check(a) if a.check else train(a)


if __name__ == "__main__":
    main()
