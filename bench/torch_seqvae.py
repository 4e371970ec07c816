#!/usr/bin/python3
"""The sequence VAE of elbo-seqvae written in PyTorch, for the quality and speed comparisons.

Same data (the strokes-*.bin files of `elbo-data strokes`), split, sizes and settings as elbo-seqvae's
defaults: a bidirectional LSTM encoder (128 per direction) over stroke-5 points gives q(z|x), z of 32;
the decoder LSTM (256) starts from tanh(W z + b) and reads the previous point and z; per step a mixture
of 20 bivariate Normals for (dx, dy) and a categorical over the pen's 3 states; teacher forcing; Adam
1e-3, batch 64, KL weight ramped over 1000 steps, free bits 0.2 nats per latent dim (on the batch mean),
gradients clipped to norm 1. Variable lengths go through pack_padded_sequence.

Run with Debian's python3-torch (/usr/bin/python3):
  torch_seqvae.py train --data data/strokes --epochs 10 --seed 1 [--no-latent] [--threads 1]
      one JSON line: test ELBO (or log-likelihood with --no-latent) per sequence and per point, KL, time
  torch_seqvae.py step --data data/strokes --batch 64 --threads 1 [--rounds 30]
      one JSON line: the median time of one training step (forward, backward, clipping, Adam) on the
      training split's first `batch` sequences, and examples per second
"""
import argparse
import json
import math
import os
import struct
import sys
import time


def read_strokes(path):
    """(scale, list of float arrays [L, 5] in stroke-5) from a strokes file (models/strokes.h)."""
    import numpy as np

    with open(path, "rb") as f:
        b = f.read()
    assert b[:8] == b"ELBOSTRK", path
    n, npoints = struct.unpack_from("<IQ", b, 12)
    (scale,) = struct.unpack_from("<d", b, 24)
    lengths = [struct.unpack_from("<II", b, 32 + 8 * i)[1] for i in range(n)]
    pts = np.frombuffer(b, dtype=np.dtype([("dx", "<i2"), ("dy", "<i2"), ("p", "u1")]), count=npoints,
                        offset=32 + 8 * n)
    seqs, at = [], 0
    for L in lengths:
        p = pts[at:at + L]
        s = np.zeros((L, 5), dtype=np.float32)
        s[:, 0], s[:, 1] = p["dx"] / scale, p["dy"] / scale
        s[:, 2] = p["p"] == 0
        s[:, 3] = p["p"] == 1
        s[-1, 2:] = (0, 0, 1)
        seqs.append(s)
        at += L
    return scale, seqs


def batch_of(seqs, ids):
    import numpy as np
    import torch

    lengths = [len(seqs[i]) for i in ids]
    x = np.zeros((len(ids), max(lengths), 5), dtype=np.float32)
    for r, i in enumerate(ids):
        x[r, :lengths[r]] = seqs[i]
    return torch.from_numpy(x), torch.tensor(lengths)


def build(latent=32, enc=128, dec=256, mixtures=20, use_latent=True):
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    class SeqVae(nn.Module):
        def __init__(self):
            super().__init__()
            self.use_latent, self.latent, self.m, self.dec = use_latent, latent, mixtures, dec
            if use_latent:
                self.encoder = nn.LSTM(5, enc, batch_first=True, bidirectional=True)
                self.head = nn.Linear(2 * enc, 2 * latent)
                self.init = nn.Linear(latent, 2 * dec)
            self.rnn = nn.LSTM(5 + (latent if use_latent else 0), dec, batch_first=True)
            self.out = nn.Linear(dec, 6 * mixtures + 3)

        def posterior(self, x, lengths):
            _, (hn, _) = self.encoder(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
            p = self.head(torch.cat([hn[0], hn[1]], 1))
            return p[:, :self.latent], p[:, self.latent:]

        def log_px(self, x, lengths, z):
            b, t, _ = x.shape
            start = torch.zeros(b, 1, 5)
            start[:, 0, 2] = 1
            inp = torch.cat([start, x[:, :-1]], 1)
            state = None
            if self.use_latent:
                inp = torch.cat([inp, z.unsqueeze(1).expand(b, t, self.latent)], 2)
                s = torch.tanh(self.init(z))
                state = (s[:, :self.dec].unsqueeze(0).contiguous(), s[:, self.dec:].unsqueeze(0).contiguous())
            packed = pack_padded_sequence(inp, lengths, batch_first=True, enforce_sorted=False)
            out, _ = self.rnn(packed, state)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=t)
            mask = torch.arange(t).unsqueeze(0) < lengths.unsqueeze(1)  # [B, T]
            h, target = out[mask], x[mask]  # the points that exist, [N, ...]
            seq = torch.arange(b).unsqueeze(1).expand(b, t)[mask]
            p = self.out(h)
            m, n = self.m, h.shape[0]
            log_pi = torch.log_softmax(p[:, :m], 1)
            mu = p[:, m:3 * m].reshape(n, m, 2)
            sigma = torch.exp(p[:, 3 * m:5 * m].reshape(n, m, 2))
            rho = torch.tanh(p[:, 5 * m:6 * m]) * (1 - 1e-5)
            u = (target[:, None, :2] - mu) / sigma
            om = 1 - rho ** 2
            zz = u[..., 0] ** 2 + u[..., 1] ** 2 - 2 * rho * u[..., 0] * u[..., 1]
            log_n = -zz / (2 * om) - torch.log(sigma[..., 0] * sigma[..., 1]) - 0.5 * torch.log(om) - math.log(2 * math.pi)
            lp = torch.logsumexp(log_pi + log_n, 1)
            lp = lp + (torch.log_softmax(p[:, 6 * m:], 1) * target[:, 2:]).sum(1)
            return torch.zeros(b).index_add(0, seq, lp)

    return SeqVae()


def loss_of(model, x, lengths, step, warmup=1000, free_bits=0.2):
    import torch

    if not model.use_latent:
        return -model.log_px(x, lengths, None).mean()
    mu, logvar = model.posterior(x, lengths)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    rec = model.log_px(x, lengths, z).mean()
    kl_dim = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)  # [B, L]
    kl = torch.clamp(kl_dim.mean(0), min=free_bits).sum() if free_bits > 0 else kl_dim.sum(1).mean()
    w = min(1.0, step / warmup) if warmup > 0 else 1.0
    return w * kl - rec


def score(model, x, lengths):
    """ELBO per sequence with one sample (or log p(x) without the latent), and the KL."""
    import torch

    if not model.use_latent:
        lp = model.log_px(x, lengths, None)
        return lp, torch.zeros_like(lp)
    mu, logvar = model.posterior(x, lengths)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1)
    return model.log_px(x, lengths, z) - kl, kl


def train(a):
    import numpy as np
    import torch

    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    _, tr = read_strokes(os.path.join(a.data, "strokes-train.bin"))
    _, te = read_strokes(os.path.join(a.data, "strokes-test.bin"))
    model = build(use_latent=not a.no_latent)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    step, t0 = 0, time.time()
    for epoch in range(a.epochs):
        order = rng.permutation(len(tr))
        for lo in range(0, len(tr), a.batch):
            x, lengths = batch_of(tr, order[lo:lo + a.batch])
            step += 1
            loss = loss_of(model, x, lengths, step)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.2f} ({time.time() - t0:.0f}s)", file=sys.stderr)
    seconds = time.time() - t0
    with torch.no_grad():
        total, kl_total = 0.0, 0.0
        for lo in range(0, len(te), 256):
            x, lengths = batch_of(te, list(range(lo, min(len(te), lo + 256))))
            s, k = score(model, x, lengths)
            total, kl_total = total + s.sum().item(), kl_total + k.sum().item()
    points = sum(len(s) for s in te) / len(te)
    fig = "loglik" if a.no_latent else "elbo"
    print(json.dumps({"model": "torch seqvae" + (" no-latent" if a.no_latent else ""), "seed": a.seed,
                      "epochs": a.epochs, f"test_{fig}": total / len(te), f"test_{fig}_per_point": total / len(te) / points,
                      "test_kl_per_point": kl_total / len(te) / points, "seconds": seconds,
                      "torch": torch.__version__, "threads": torch.get_num_threads()}))


def step_bench(a):
    import torch

    torch.manual_seed(1)
    _, tr = read_strokes(os.path.join(a.data, "strokes-train.bin"))
    model = build(use_latent=not a.no_latent)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, lengths = batch_of(tr, list(range(a.batch)))
    times = []
    for r in range(a.rounds + 3):
        t0 = time.perf_counter()
        loss = loss_of(model, x, lengths, 2000)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if r >= 3:
            times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    print(json.dumps({"name": f"SeqVaeTrainStep/{a.batch}/{a.threads}", "ms_median": med * 1e3,
                      "examples_per_sec": a.batch / med, "torch": torch.__version__, "threads": torch.get_num_threads()}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["train", "step"])
    p.add_argument("--data", default="data/strokes")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--no-latent", action="store_true")
    a = p.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    train(a) if a.mode == "train" else step_bench(a)


if __name__ == "__main__":
    main()
