#!/usr/bin/python3
"""PyTorch reference for the MLP VAE's quality figures (run with Debian's python3-torch, /usr/bin/python3).

PyTorch's examples/vae architecture (784-400-20, Bernoulli logits, analytic KL), trained on the same
IDX files elbo reads, with dynamic binarization, batch 128, Adam 1e-3. Reports the test ELBO per example
in nats over the whole test set (a fresh binarization of each test batch, as in training) and, with
--iw K, the importance-sampled log-likelihood estimate. Prints one JSON line.

  bench/torch_vae_quality.py --data data/mnist --epochs 30 --seed 1 --iw 1000
"""
import argparse
import gzip
import json
import math
import os
import struct
import time

import torch
from torch import nn
import torch.nn.functional as F


def read_idx(path):
    for p in (path + ".gz", path):
        if os.path.exists(p):
            raw = (gzip.open if p.endswith(".gz") else open)(p, "rb").read()
            nd = raw[3]
            dims = struct.unpack(">" + "I" * nd, raw[4:4 + 4 * nd])
            return torch.frombuffer(bytearray(raw[4 + 4 * nd:]), dtype=torch.uint8).reshape(dims)
    raise FileNotFoundError(path)


class VAE(nn.Module):
    def __init__(self, hidden=400, latent=20):
        super().__init__()
        self.fc1 = nn.Linear(784, hidden)
        self.fc21 = nn.Linear(hidden, latent)
        self.fc22 = nn.Linear(hidden, latent)
        self.fc3 = nn.Linear(latent, hidden)
        self.fc4 = nn.Linear(hidden, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def decode(self, z):
        return self.fc4(F.relu(self.fc3(z)))


def elbo(model, x):  # per-example ELBO, one reparameterized sample
    mu, logvar = model.encode(x)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    rec = -F.binary_cross_entropy_with_logits(model.decode(z), x, reduction="none").sum(1)
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), 1)
    return rec - kld


def iwae(model, x, k, chunk=500):  # log (1/K) sum_k p(x, z_k) / q(z_k | x)
    mu, logvar = model.encode(x)
    std = torch.exp(0.5 * logvar)
    logws = []
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        eps = torch.randn((n,) + mu.shape)
        z = mu + eps * std
        logits = model.decode(z)
        log_px = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)
        log_pz = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_qz = (-0.5 * eps.pow(2) - torch.log(std) - 0.5 * math.log(2 * math.pi)).sum(-1)
        logws.append(log_px + log_pz - log_qz)
    return torch.logsumexp(torch.cat(logws, 0), 0) - math.log(k)


def load_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    kinds = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}
    state = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(raw[8 + n + b:8 + n + end]), dtype=kinds[e["dtype"]])
        state[name] = t.reshape(e["shape"]).float()
    return state


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/mnist")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--iw", type=int, default=0)
    ap.add_argument("--save", default="", help="write the trained state_dict as safetensors here")
    ap.add_argument("--load", default="", help="start from this safetensors state_dict (e.g. one elbo wrote)")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    train = read_idx(os.path.join(a.data, "train-images-idx3-ubyte")).reshape(-1, 784).float() / 255
    test = read_idx(os.path.join(a.data, "t10k-images-idx3-ubyte")).reshape(-1, 784).float() / 255
    model = VAE()
    if a.load:
        model.load_state_dict(load_safetensors(a.load), strict=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    t0 = time.time()
    for _ in range(a.epochs):
        for idx in torch.randperm(len(train)).split(a.batch):
            x = torch.bernoulli(train[idx])
            loss = -elbo(model, x).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    seconds = time.time() - t0
    with torch.no_grad():
        xt = torch.bernoulli(test)
        test_elbo = torch.cat([elbo(model, x) for x in xt.split(500)]).mean().item()
        out = {"test_elbo": test_elbo, "seconds": seconds, "epochs": a.epochs, "seed": a.seed}
        if a.iw:
            out["test_loglik"] = torch.cat([iwae(model, x, a.iw) for x in xt.split(100)]).mean().item()
    if a.save:
        header, blobs, offset = {}, [], 0
        for name, t in model.state_dict().items():
            b = t.contiguous().numpy().tobytes()
            header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
            blobs.append(b)
            offset += len(b)
        h = json.dumps(header).encode()
        with open(a.save, "wb") as f:
            f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
