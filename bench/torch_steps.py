#!/usr/bin/python3
"""The PyTorch side of the speed comparison: times the same training steps elbo_bench times.

Run with Debian's python3-torch (/usr/bin/python3). Prints one JSON line per configuration:
{"name": "VaeMlpTrainStep/128/1", "ms_median": ..., "examples_per_sec": ..., "setting": ...}.
Models: mlp and conv (one training step: forward, backward, Adam), planar and iaf (the MLP VAE with
--flow planar:4 / iaf:2, as elbo builds it) and iwae (the MLP VAE's importance-
sampled evaluation, --iw K: K samples per example for 100 test-sized inputs, in chunks of 250 samples
as elbo's VAE::iwae; "batch" is K there).
Threads: for n threads each setting runs in its own process (OPENBLAS_NUM_THREADS must be set before
torch is imported): torch.set_num_threads(n) with OpenBLAS on 1 thread, and torch on 1 thread with
OpenBLAS on n threads; the faster is reported ("setting" names it). On this machine the second is
usually PyTorch's best two-core setting for the MLP, but its OpenBLAS threads spin and suffer most when
other processes load the cores.
--isa avx2|avx512 holds PyTorch to one instruction set, as ELBO_ARCH holds elbo: ATEN_CPU_CAPABILITY for
its own kernels, OPENBLAS_CORETYPE (Haswell, SkylakeX) for OpenBLAS's, and for avx2 ONEDNN_MAX_CPU_ISA=AVX2
for the oneDNN convolutions (which otherwise run AVX-512 whatever ATEN_CPU_CAPABILITY says). Without it
each picks its own: on an AVX-512 CPU, Debian's PyTorch 1.13 and OpenBLAS 0.3.21 pick AVX2 and Haswell,
oneDNN 2.6 AVX-512.
"""
import argparse
import json
import os
import subprocess
import sys
import time


def vae_mlp():
    import torch
    from torch import nn
    import torch.nn.functional as F

    class VAE(nn.Module):  # the architecture of PyTorch's examples/vae
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 400)
            self.fc21 = nn.Linear(400, 20)
            self.fc22 = nn.Linear(400, 20)
            self.fc3 = nn.Linear(20, 400)
            self.fc4 = nn.Linear(400, 784)

        def forward(self, x):
            h1 = F.relu(self.fc1(x))
            mu, logvar = self.fc21(h1), self.fc22(h1)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            return self.fc4(F.relu(self.fc3(z))), mu, logvar

    def loss_fn(logits, x, mu, logvar):
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return bce + kld

    return VAE(), loss_fn, (784,)


def vae_conv():
    import torch
    from torch import nn
    import torch.nn.functional as F

    class ConvVAE(nn.Module):
        def __init__(self, latent=20):
            super().__init__()
            self.enc = nn.Sequential(nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
                                     nn.Flatten(), nn.Linear(64 * 7 * 7, 2 * latent))
            self.dec = nn.Sequential(nn.Linear(latent, 64 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
                                     nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
                                     nn.ConvTranspose2d(32, 1, 4, 2, 1))
            self.latent = latent

        def forward(self, x):
            h = self.enc(x)
            mu, logvar = h[:, :self.latent], h[:, self.latent:]
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            return self.dec(z), mu, logvar

    def loss_fn(logits, x, mu, logvar):
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return bce + kld

    return ConvVAE(), loss_fn, (1, 28, 28)


def vae_flow(kind, steps):
    """The MLP VAE with a flow on q(z|x) as elbo's --flow planar:K / iaf:K builds it: heads (planar) or MADEs
    with the encoder's hidden features as context (iaf), Monte Carlo KL on the flow's own sample."""
    import math
    import torch
    from torch import nn
    import torch.nn.functional as F
    latent, hidden = 20, 400
    log2pi = math.log(2 * math.pi)

    class MaskedLinear(nn.Linear):
        def __init__(self, n_in, n_out, mask):
            super().__init__(n_in, n_out)
            self.register_buffer("mask", mask)

        def forward(self, x):
            return F.linear(x, self.weight * self.mask, self.bias)

    class MADE(nn.Module):  # nn::MADE: degrees 1..D (or reversed), hidden degrees 1 + j mod (D - 1)
        def __init__(self, d, h, context, reversed_):
            super().__init__()
            deg = torch.arange(d, 0, -1) if reversed_ else torch.arange(1, d + 1)
            hdeg = 1 + torch.arange(h) % (d - 1)
            self.inp = MaskedLinear(d, h, (hdeg[:, None] >= deg[None, :]).float())
            self.ctx = nn.Linear(context, h, bias=False)
            self.out = MaskedLinear(h, 2 * d, (deg.repeat(2)[:, None] > hdeg[None, :]).float())
            self.d = d

        def forward(self, z, c):
            o = self.out(F.relu(self.inp(z) + self.ctx(c)))
            return o[..., :self.d], o[..., self.d:]

    class FlowVAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc21, self.fc22 = nn.Linear(784, hidden), nn.Linear(hidden, latent), nn.Linear(hidden, latent)
            self.fc3, self.fc4 = nn.Linear(latent, hidden), nn.Linear(hidden, 784)
            if kind == "planar":
                self.flow = nn.ModuleList([nn.Linear(hidden, 2 * latent + 1) for _ in range(steps)])
            else:
                self.flow = nn.ModuleList([MADE(latent, 2 * hidden, hidden, k % 2 == 1) for k in range(steps)])

        def forward(self, x):
            h = F.relu(self.fc1(x))
            mu, logvar = self.fc21(h), self.fc22(h)
            eps = torch.randn_like(mu)
            z = mu + eps * torch.exp(0.5 * logvar)
            log_q = (-0.5 * eps * eps - 0.5 * logvar).sum(1) - 0.5 * log2pi * latent
            for step in self.flow:
                if kind == "planar":
                    p = step(h)
                    u, w, b = p[:, :latent], p[:, latent:2 * latent], p[:, 2 * latent]
                    wu = (w * u).sum(1, keepdim=True)
                    u_hat = u + (F.softplus(wu) - 1 - wu) * w / (w * w).sum(1, keepdim=True)
                    t = torch.tanh((w * z).sum(1) + b)
                    log_q = log_q - torch.log(torch.abs(1 + (1 - t * t) * (w * u_hat).sum(1)))
                    z = z + u_hat * t[:, None]
                else:
                    m, s = step(z, h)
                    gate = s + 2.0
                    sigma = torch.sigmoid(gate)
                    log_q = log_q - F.logsigmoid(gate).sum(1)
                    z = sigma * z + (1 - sigma) * m
            log_p = -0.5 * (z * z).sum(1) - 0.5 * log2pi * latent
            return self.fc4(F.relu(self.fc3(z))), log_q - log_p

    def loss_fn(logits, x, kl, _):
        return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") + kl.sum()

    return FlowVAE(), loss_fn, (784,)


def iwae_eval(k, chunk=250):
    """Returns a function computing the IWAE bound of 100 inputs with k samples each (no gradient)."""
    import math
    import torch
    import torch.nn.functional as F
    net, _, _ = vae_mlp()
    x = torch.rand(100, 784).bernoulli()
    log2pi = math.log(2 * math.pi)

    def run():
        with torch.no_grad():
            b, d = x.shape
            h1 = F.relu(net.fc1(x))
            mu, logvar = net.fc21(h1), net.fc22(h1)
            std, log_s, latent = torch.exp(0.5 * logvar), 0.5 * logvar, mu.shape[1]
            parts = []
            for start in range(0, k, chunk):
                n = min(chunk, k - start)
                eps = torch.randn(n, b, latent)
                z = (mu + eps * std).reshape(n * b, latent)
                logits = net.fc4(F.relu(net.fc3(z)))
                xr = x.expand(n, b, d).reshape(n * b, d)
                log_px = -F.binary_cross_entropy_with_logits(logits, xr, reduction="none").sum(1).reshape(n, b)
                log_pz = -0.5 * (z * z).reshape(n, b, latent).sum(2) - 0.5 * log2pi * latent
                log_qz = (-0.5 * eps * eps - log_s).sum(2) - 0.5 * log2pi * latent
                parts.append(log_px + log_pz - log_qz)
            return torch.logsumexp(torch.cat(parts, 0), 0) - math.log(k)

    return run


def run_one(model, batch, steps, repeats, threads):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if model == "iwae":
        run = iwae_eval(batch)
        for _ in range(2):
            run()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        times.sort()
        return times[len(times) // 2]
    net, loss_fn, shape = {"mlp": vae_mlp, "conv": vae_conv, "planar": lambda: vae_flow("planar", 4),
                           "iaf": lambda: vae_flow("iaf", 2)}[model]()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.rand((batch,) + shape).bernoulli()

    def step():
        opt.zero_grad()
        out = net(x)
        loss_fn(out[0], x, *out[1:], *([None] * (3 - len(out)))).backward()
        opt.step()

    for _ in range(10):
        step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - t0) / steps)
    times.sort()
    return times[len(times) // 2]


OPENBLAS_CORES = {"avx2": "Haswell", "avx512": "SkylakeX"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mlp", choices=["mlp", "conv", "iwae", "planar", "iaf"])
    ap.add_argument("--batch", type=int, nargs="+", default=[128])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--isa", default="", choices=["", "avx2", "avx512"])
    ap.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)  # torch threads in a child
    a = ap.parse_args()
    if a.child:  # one configuration, OPENBLAS_NUM_THREADS already set by the parent
        sec = run_one(a.model, a.batch[0], a.steps, a.repeats, a.child)
        print(json.dumps({"sec": sec}))
        return
    name = {"mlp": "VaeMlpTrainStep", "conv": "ConvVaeTrainStep", "iwae": "IwaeEval", "planar": "VaePlanarTrainStep",
            "iaf": "VaeIafTrainStep"}[a.model]
    for threads in a.threads:
        for batch in a.batch:
            settings = [(1, threads)] if threads == 1 else [(1, threads), (threads, 1)]  # (torch, OpenBLAS)
            best = None
            for torch_threads, blas_threads in settings:
                env = dict(os.environ, OPENBLAS_NUM_THREADS=str(blas_threads), OMP_NUM_THREADS=str(torch_threads))
                if a.isa:
                    env.update(ATEN_CPU_CAPABILITY=a.isa, OPENBLAS_CORETYPE=OPENBLAS_CORES[a.isa])
                    if a.isa == "avx2":
                        env.update(ONEDNN_MAX_CPU_ISA="AVX2")
                out = subprocess.run([sys.executable, __file__, "--child", str(torch_threads), "--model", a.model,
                                      "--batch", str(batch), "--steps", str(a.steps), "--repeats", str(a.repeats)],
                                     env=env, check=True, capture_output=True, text=True).stdout
                sec = json.loads(out.strip().splitlines()[-1])["sec"]
                if best is None or sec < best[0]:
                    best = (sec, f"torch {torch_threads} thread(s), OpenBLAS {blas_threads}"
                                 + (f", {a.isa}" if a.isa else ""))
            sec, setting = best
            examples = 100 if a.model == "iwae" else batch
            print(json.dumps({"name": f"{name}/{batch}/{threads}", "ms_median": sec * 1e3,
                              "examples_per_sec": examples / sec, "setting": setting}), flush=True)


if __name__ == "__main__":
    main()
