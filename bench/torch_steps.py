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


def mlp_decoder(latent=20, hidden=400):
    """The MLP decoder fc3 L->H, ReLU, fc4 H->784 (Bernoulli logits), as a module of its own."""
    from torch import nn
    import torch.nn.functional as F

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc3, self.fc4 = nn.Linear(latent, hidden), nn.Linear(hidden, 784)

        def forward(self, z):
            return self.fc4(F.relu(self.fc3(z)))

    return Decoder()


def neg_elbo(decoder, loc, logvar, x):
    """-ELBO per example of a diagonal q = N(loc, exp(logvar)) under N(0, I): one reparameterized sample, the
    closed-form KL (elbo's estimators take the closed form whenever one is registered)."""
    import torch
    import torch.nn.functional as F
    z = loc + torch.randn_like(loc) * torch.exp(0.5 * logvar)
    nll = F.binary_cross_entropy_with_logits(decoder(z), x, reduction="none").sum(1)
    return nll - 0.5 * (1 + logvar - loc * loc - logvar.exp()).sum(1)


def binary_input(batch):
    import torch
    return torch.rand(batch, 784).bernoulli()


def autoencoder():
    """elbo-ae: code z = fc2(relu(fc1(x))) and the VAE's decoder, trained on -log p(x | z) (mean over the batch)."""
    import torch
    from torch import nn
    import torch.nn.functional as F

    class Autoencoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(784, 400), nn.Linear(400, 20)
            self.decoder = mlp_decoder()

        def forward(self, x):
            return self.decoder(self.fc2(F.relu(self.fc1(x))))

    net = Autoencoder()

    def loss(x):
        return F.binary_cross_entropy_with_logits(net(x), x, reduction="sum") / x.shape[0]

    return net, loss, binary_input


class RowAdam:
    """Adam on the rows of per-example tables, each row with its own step count (elbo's optim::RowAdam)."""

    def __init__(self, tables, lr, betas=(0.9, 0.999), eps=1e-8):
        import torch
        self.tables, self.lr, self.betas, self.eps = tables, lr, betas, eps
        self.m = [torch.zeros_like(t) for t in tables]
        self.v = [torch.zeros_like(t) for t in tables]
        self.steps = torch.zeros(tables[0].shape[0], 1)

    def step(self, ids, grads):
        b1, b2 = self.betas
        self.steps[ids] += 1
        t = self.steps[ids]
        for table, m, v, g in zip(self.tables, self.m, self.v, grads):
            mr = m[ids].mul_(b1).add_(g, alpha=1 - b1)
            vr = v[ids].mul_(b2).addcmul_(g, g, value=1 - b2)
            m[ids], v[ids] = mr, vr
            denom = (vr / (1 - b2 ** t)).sqrt_().add_(self.eps)
            table[ids] -= self.lr * (mr / (1 - b1 ** t)) / denom


def vi_train(examples=8004, latent=20, local_steps=5, local_lr=0.1):
    """elbo-vi's visit of one batch (zoo::ViTask): local_steps - 1 ELBO gradients each followed by a RowAdam
    update of the batch's rows of the (loc, logvar) tables, then the joint step (the loss returned; after()
    updates the rows once more), on the rows (i * 61) % examples. The local passes' decoder gradients are
    cleared before the joint step, as elbo's ViTask clears them."""
    import torch
    decoder = mlp_decoder(latent)
    loc, logvar = torch.zeros(examples, latent), torch.zeros(examples, latent)
    local = RowAdam([loc, logvar], local_lr)
    state = {}

    def rows(x):
        if "ids" not in state or state["ids"].shape[0] != x.shape[0]:
            state["ids"] = (torch.arange(x.shape[0]) * 61) % examples
        ids = state["ids"]
        state["q"] = loc[ids].requires_grad_(), logvar[ids].requires_grad_()
        return ids, state["q"]

    def loss(x):
        for _ in range(local_steps - 1):
            ids, (lq, lv) = rows(x)
            neg_elbo(decoder, lq, lv, x).mean().backward()
            local.step(ids, [lq.grad, lv.grad])
        decoder.zero_grad()
        ids, (lq, lv) = rows(x)
        return neg_elbo(decoder, lq, lv, x).mean()

    def after():
        lq, lv = state["q"]
        local.step(state["ids"], [lq.grad, lv.grad])

    return decoder, loss, binary_input, after


def q_search(lr, steps=100, latent=20):
    """Per-example optimization of a diagonal q under a fixed decoder, `steps` Adam steps per call on
    -sum ELBO (elbo's models::optimize_q and, for the amortization-gap search, optimize_posterior, whose
    diagonal case is the same computation started from the encoder's output). The decoder's parameters
    keep requires_grad, as elbo's do (their gradients are computed and left unused)."""
    import torch
    decoder = mlp_decoder(latent)

    def search(x):
        loc = torch.zeros(x.shape[0], latent, requires_grad=True)
        logvar = torch.zeros(x.shape[0], latent, requires_grad=True)
        opt = torch.optim.Adam([loc, logvar], lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            neg_elbo(decoder, loc, logvar, x).sum().backward()
            opt.step()
        return loc

    return search


def legacy(builder):
    """The (net, loss, make_x) form of the first twins, which return (net, loss_fn(out..., x), input shape)."""
    import torch
    net, loss_fn, shape = builder()

    def loss(x):
        out = net(x)
        return loss_fn(out[0], x, *out[1:], *([None] * (3 - len(out))))

    return net, loss, lambda batch: torch.rand((batch,) + shape).bernoulli()


def twin(model):
    """(module of trainable parameters, loss(x), make_x(batch)[, after()]) for a training step: the first
    twins (mlp, conv, planar, iaf), autoencoder, vi-train, ssvae (torch_ssvae.py), vqvae (torch_vq.py), or a BM_ZooStep key
    (tests/zoo_configs.h) from torch_families.py (posterior families, flows) or torch_heads.py (priors,
    likelihoods)."""
    named = {"mlp": lambda: legacy(vae_mlp), "conv": lambda: legacy(vae_conv),
             "planar": lambda: legacy(lambda: vae_flow("planar", 4)), "iaf": lambda: legacy(lambda: vae_flow("iaf", 2)),
             "posterior=diagonal": lambda: legacy(vae_mlp), "arch=conv": lambda: legacy(vae_conv),
             "autoencoder": autoencoder, "vi-train": vi_train}
    if model in named:
        return named[model]()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    if model == "ssvae":
        import torch_ssvae
        return torch_ssvae.build()
    if model == "vqvae":
        return vqvae()
    family, _, _ = model.partition("=")
    if family in ("posterior", "flow"):
        import torch_families
        return torch_families.build(model)
    if family in ("prior", "likelihood"):
        import torch_heads
        return torch_heads.build(model)
    raise KeyError(f"no PyTorch twin for '{model}'")


def vqvae(k=128, d=16, h=64):
    """elbo_bench's BM_VqVaeStep: models::VqVae with the zoo's defaults and the EMA quantizer of torch_vq.py.
    Restarts have no twin, so elbo's step also pays for moving its unused codes, which this one does not."""
    import torch
    from torch import nn
    import torch.nn.functional as F
    from torch_vq import VectorQuantizer

    class VqVae(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Conv2d(1, h, 4, 2, 1), nn.ReLU(), nn.Conv2d(h, h, 4, 2, 1), nn.ReLU(),
                                         nn.Conv2d(h, d, 1))
            self.quantizer = VectorQuantizer(k, d)
            self.decoder = nn.Sequential(nn.Conv2d(d, h, 3, 1, 1), nn.ReLU(), nn.ConvTranspose2d(h, h, 4, 2, 1),
                                         nn.ReLU(), nn.ConvTranspose2d(h, 1, 4, 2, 1))

    net = VqVae()

    def loss(x):
        z_q, _, vq_loss, _, _ = net.quantizer(net.encoder(x.view(-1, 1, 28, 28)).permute(0, 2, 3, 1))
        logits = net.decoder(z_q.permute(0, 3, 1, 2)).reshape(len(x), -1)
        return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x) + 7 * 7 * d * vq_loss

    return net, loss, lambda batch: torch.rand(batch, 784).bernoulli()


SEARCHES = {"vi-search": 0.1, "gap-search": 0.01}  # the search's Adam rate (elbo-vi, elbo-vi --gap)


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


def adam_losses(net, loss, x, steps=3):
    """The loss before each of `steps` Adam steps: the twins' self-checks (finite, and falling)."""
    import torch
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        value = loss(x)
        value.backward()
        opt.step()
        losses.append(value.item())
    return losses


def median_time(call, repeats, per_call=1):
    """The median over `repeats` of call()'s seconds divided by per_call."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) / per_call)
    times.sort()
    return times[len(times) // 2]


def parameter_count(module):
    return sum(p.numel() for p in module.parameters())


def run_one(model, batch, steps, repeats, threads):
    """(median seconds per step or call, the twin's parameter count) of one configuration."""
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if model == "iwae":
        run = iwae_eval(batch)
        for _ in range(2):
            run()
        return median_time(run, repeats), 0
    if model in SEARCHES:  # one call is a 100-step search on the batch
        search, x = q_search(SEARCHES[model]), binary_input(batch)
        search(x)
        return median_time(lambda: search(x), repeats), 0
    net, loss, make_x, *rest = twin(model)
    after = rest[0] if rest else None
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = make_x(batch)

    def step():
        opt.zero_grad()
        loss(x).backward()
        opt.step()
        if after:
            after()

    t0 = time.perf_counter()
    step()
    first = time.perf_counter() - t0
    # about a second of warm-up and a third of a second per repetition (at most `steps` steps), so a slow
    # configuration (categorical:256 takes seconds a step) is timed in minutes, not hours
    for _ in range(max(1, min(10, int(1.0 / first)))):
        step()
    n = max(1, min(steps, int(0.3 / first)))

    def steps_n():
        for _ in range(n):
            step()

    return median_time(steps_n, repeats, n), parameter_count(net)


OPENBLAS_CORES = {"avx2": "Haswell", "avx512": "SkylakeX"}
FIRST_NAMES = {"mlp": "VaeMlpTrainStep", "conv": "ConvVaeTrainStep", "iwae": "IwaeEval", "planar": "VaePlanarTrainStep",
               "iaf": "VaeIafTrainStep", "autoencoder": "AutoencoderStep", "vi-train": "ViTrainStep",
               "vi-search": "ViSearch", "gap-search": "GapSearch", "ssvae": "SsvaeStep",
               "vqvae": "VqVaeStep"}


def bench_name(model):
    """elbo_bench's name of the step (without BM_ and the /batch/threads tail)."""
    return FIRST_NAMES.get(model, f"ZooStep/{model}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mlp", help="mlp | conv | iwae | planar | iaf | autoencoder | vi-train | "
                    "vi-search | gap-search | ssvae | vqvae | a BM_ZooStep key such as flow=sylvester:4 (tests/zoo_configs.h)")
    ap.add_argument("--batch", type=int, nargs="+", default=[128])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--isa", default="", choices=["", "avx2", "avx512"])
    ap.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)  # torch threads in a child
    a = ap.parse_args()
    if a.child:  # one configuration, OPENBLAS_NUM_THREADS already set by the parent
        sec, params = run_one(a.model, a.batch[0], a.steps, a.repeats, a.child)
        print(json.dumps({"sec": sec, "parameters": params}))
        return
    name = bench_name(a.model)
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
                child = json.loads(out.strip().splitlines()[-1])
                sec = child["sec"]
                if best is None or sec < best[0]:
                    best = (sec, f"torch {torch_threads} thread(s), OpenBLAS {blas_threads}"
                                 + (f", {a.isa}" if a.isa else ""), child["parameters"])
            sec, setting, params = best
            examples = 100 if a.model == "iwae" else batch
            print(json.dumps({"name": f"{name}/{batch}/{threads}", "ms_median": sec * 1e3,
                              "examples_per_sec": examples / sec, "setting": setting, "parameters": params}),
                  flush=True)


if __name__ == "__main__":
    main()
