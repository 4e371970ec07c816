#!/usr/bin/python3
"""PyTorch twins of elbo's VAE families, for the one-training-step speed comparison (tests/zoo_configs.h keys).

Every twin is the MLP VAE of elbo-vae with one flag changed: 784-400-20, a Bernoulli likelihood on binarized
x, prior N(0, I), one reparameterized sample per example, and models::loss with the default Objective{}:
mean over the batch of KL - log p(x|z). Each twin is written from elbo's C++, not from the papers:

  posterior=diagonal    Independent(Normal(loc, exp(logvar / 2)), 1); analytic KL (Normal || Normal, kl.cpp)
  posterior=full        MultivariateNormal(loc, L): L = diag(exp(logvar / 2)) + strictly lower triangle of
                        0.01 * fc23 (models/networks.cpp); analytic KL to the diagonal prior without a
                        solve (kl.cpp: MultivariateNormal || Independent<Normal>)
  posterior=lowrank:4   LowRankMultivariateNormal(loc, W = 0.01 * fc23 as [L, 4], exp(logvar))
                        (distributions/multivariate_normal.cpp); analytic KL to the diagonal prior from
                        |W_i|^2 + d_i and the log-det by the matrix determinant lemma (the R x R capacitance
                        Cholesky the constructor makes; kl.cpp)
  flow=<kind>:4         the diagonal q pushed through 4 steps of models/flows.cpp's PosteriorFlow, each
                        conditioned on the encoder's hidden features h = relu(fc1(x)); no closed-form KL, so
                        Monte Carlo on the step's one sample: log q_K(z_K) - log p(z_K), with log q_K from
                        the base density and the steps' log-dets (distributions/transformed.cpp)
      planar            head h -> (u, w, b), PlanarTransform (distributions/transforms.cpp)
      radial            head h -> (z0, alpha, beta), RadialTransform
      householder       head h -> v, HouseholderTransform (log-det 0)
      iaf               MADE(20, hidden 800, context 400), orders alternating; AffineAutoregressiveTransform
                        (nn/made.cpp, distributions/autoregressive.cpp)
      sylvester         head h -> (Q raw, diag R, R, diag R~, R~, b); Q = Bjorck orthogonalize(Q raw), 30 steps
      tsylvester        head h -> (diag R, R, diag R~, R~, b); Q = identity / reversal, alternating

Names and shapes are elbo's (models/networks.h, flows.h): fc1, fc21 (loc), fc22 (log-variance), fc23 (full,
lowrank), fc3, fc4, flow.<k>.{weight,bias} or flow.<k>.{input,context,output}.*. Initialization is elbo's:
every Linear as torch.nn.Linear (elbo's nn::Linear is the same kaiming_uniform(a = sqrt 5) rule), fc23 zero.
All float32. Usage:

  from torch_families import build
  net, loss, make_x = build("flow=sylvester:4")    # Adam over net.parameters(); loss(make_x(128)).backward()

  /usr/bin/python3 bench/torch_families.py [--elbo DIR]   # self-check; DIR/<key>/model.safetensors (key
                                                         # with '=' and ':' as '_') compared by name and shape
"""
import json
import math
import struct
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from torch_steps import adam_losses

PIXELS, HIDDEN, LATENT = 784, 400, 20
EXTRA_SCALE = 0.01  # networks.cpp kExtraScale: fc23's outputs enter L (or W) times 0.01
LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))
FLOW_STEPS = 4

KEYS = ("posterior=diagonal", "posterior=full", "posterior=lowrank:4", "flow=planar:4", "flow=radial:4",
        "flow=householder:4", "flow=iaf:4", "flow=sylvester:4", "flow=tsylvester:4")


# ---- the posteriors without a flow: a draw z and the analytic KL to N(0, I), each [B] ----

def normal_log_prob(value, loc, scale):  # distributions/normal.cpp, the same grouping
    return -(value - loc).square() / (2.0 * scale.square()) - torch.log(scale) - LOG_SQRT_2PI


def full_kl_to_standard(loc, tril):
    """KL(N(loc, L L^T) || N(0, I)), kl.cpp's MultivariateNormal || Independent<Normal> with q's scale 1:
    sum log s - sum log diag L + (|L / s|_F^2 + |(mu - loc) / s|^2 - D) / 2."""
    half_log_det = torch.log(torch.diagonal(tril, dim1=-2, dim2=-1)).sum(-1)
    return -half_log_det + 0.5 * (tril.square().sum((-2, -1)) + loc.square().sum(-1) - loc.shape[-1])


def lowrank_kl_to_standard(loc, w, d, rank):
    """KL(N(loc, W W^T + diag d) || N(0, I)), kl.cpp's LowRankMultivariateNormal || Independent<Normal>: the
    trace from |W_i|^2 + d_i, log det(W W^T + diag d) = 2 sum log diag C + sum log d with
    C = cholesky(I + W^T D^-1 W) [R, R] (the capacitance elbo's constructor factors)."""
    cap = torch.eye(rank, dtype=loc.dtype) + (w / d.unsqueeze(-1)).transpose(-1, -2) @ w
    log_det = 2.0 * torch.log(torch.diagonal(torch.linalg.cholesky(cap), dim1=-2, dim2=-1)).sum(-1) + torch.log(d).sum(-1)
    trace = (w.square().sum(-1) + d).sum(-1)
    return -0.5 * log_det + 0.5 * (trace + loc.square().sum(-1) - loc.shape[-1])


def diagonal_posterior(loc, logvar):
    scale = torch.exp(0.5 * logvar)
    z = loc + torch.randn_like(loc) * scale
    var_ratio = scale.square()  # kl.cpp Normal || Normal with q = N(0, 1)
    kl = (0.5 * (var_ratio + loc.square() - 1.0 - torch.log(var_ratio))).sum(-1)
    return z, kl


def lower_triangle_map(l):
    """networks.cpp: entry (i, j < i) of the flattened L x L matrix reads element 1 + k of [0, extra...]."""
    m = torch.zeros(l * l, dtype=torch.long)
    k = 1
    for i in range(l):
        for j in range(i):
            m[i * l + j] = k
            k += 1
    return m


def full_posterior(loc, logvar, extra, tril_map):
    b, l = loc.shape
    padded = torch.cat([loc.new_zeros(b, 1), extra * EXTRA_SCALE], 1)
    tril = padded.index_select(1, tril_map).reshape(b, l, l) + torch.diag_embed(torch.exp(0.5 * logvar))
    z = loc + (tril @ torch.randn_like(loc).unsqueeze(-1)).squeeze(-1)
    return z, full_kl_to_standard(loc, tril)


def lowrank_posterior(loc, logvar, extra, rank):
    b, l = loc.shape
    w, d = (extra * EXTRA_SCALE).reshape(b, l, rank), torch.exp(logvar)
    eps_w, eps_d = loc.new_empty(b, rank).normal_(), torch.randn_like(loc)
    z = loc + (w @ eps_w.unsqueeze(-1)).squeeze(-1) + torch.sqrt(d) * eps_d
    return z, lowrank_kl_to_standard(loc, w, d, rank)


# ---- the flows' steps: (blocks of the step's head, z) -> (y, log |det J|) ----
# Each head's output layout is declared once (flows.cpp kFlows): the block sizes for latent l, in order.

def planar(blocks, z, q=None):
    u, w, b = blocks
    wu = (w * u).sum(-1)
    u_hat = u + ((F.softplus(wu) - 1.0 - wu) / (w * w).sum(-1)).unsqueeze(-1) * w
    t = torch.tanh((w * z).sum(-1) + b[:, 0])
    return z + u_hat * t.unsqueeze(-1), torch.log(torch.abs(1.0 + (1.0 - t.square()) * (w * u_hat).sum(-1)))


def radial(blocks, z, q=None):
    x0, alpha_raw, beta_raw = blocks
    alpha = F.softplus(alpha_raw[:, 0])
    beta = F.softplus(beta_raw[:, 0]) - alpha  # beta >= -alpha keeps the map invertible
    diff = z - x0
    r = torch.sqrt((diff * diff).sum(-1))
    h = 1.0 / (alpha + r)
    beta_h = beta * h
    log_det = (z.shape[-1] - 1.0) * torch.log1p(beta_h) + torch.log1p(beta_h - beta * r * h.square())
    return z + beta_h.unsqueeze(-1) * diff, log_det


def householder(blocks, z, q=None):
    (v,) = blocks
    y = z - (2.0 * (v * z).sum(-1) / (v * v).sum(-1)).unsqueeze(-1) * v
    return y, z.new_zeros(z.shape[0])  # a reflection: volume preserving


def orthogonalize(raw, steps=30):
    """transforms.cpp: Bjorck and Bowie, Q <- Q (I + (I - Q^T Q) / 2) from raw / |raw|_F, 30 steps."""
    eye = torch.diag_embed(raw.new_ones(raw.shape[-1]))
    q = raw / torch.sqrt(raw.square().sum((-2, -1))).unsqueeze(-1).unsqueeze(-1)
    for _ in range(steps):
        q = q @ (eye + 0.5 * (eye - q.transpose(-1, -2) @ q))
    return q


def upper(raw, diag):  # flows.cpp: the strictly upper part of raw [B, l*l] + tanh on the diagonal
    l = diag.shape[-1]
    return torch.triu(raw.reshape(raw.shape[0], l, l), 1) + torch.diag_embed(torch.tanh(diag))


def sylvester_transform(x, q, r, r_tilde, b):
    r, r_tilde = torch.triu(r), torch.triu(r_tilde)  # SylvesterTransform reads only the upper triangles
    pre = ((r_tilde @ q.transpose(-1, -2)) @ x.unsqueeze(-1)).squeeze(-1) + b  # R~ Q^T x + b
    h = torch.tanh(pre)
    y = x + ((q @ r) @ h.unsqueeze(-1)).squeeze(-1)
    diag = torch.diagonal(r, dim1=-2, dim2=-1) * torch.diagonal(r_tilde, dim1=-2, dim2=-1)
    return y, torch.log(torch.abs(1.0 + diag * (1.0 - h.square()))).sum(-1)


def sylvester(blocks, z, q=None):
    q_raw, r_diag, r, rt_diag, rt, b = blocks
    l = z.shape[-1]
    return sylvester_transform(z, orthogonalize(q_raw.reshape(-1, l, l)), upper(r, r_diag), upper(rt, rt_diag), b)


def tsylvester(blocks, z, q):
    r_diag, r, rt_diag, rt, b = blocks
    return sylvester_transform(z, q, upper(r, r_diag), upper(rt, rt_diag), b)


# Note that R and R~ take l*l head outputs each although only the l(l-1)/2 above the diagonal are read
# (flows.cpp's layout): the rest of those head rows get zero gradients, but the twin keeps the shapes.
FLOWS = {
    "planar": (lambda l: (l, l, 1), planar),  # u, w, b
    "radial": (lambda l: (l, 1, 1), radial),  # z0, alpha, beta
    "householder": (lambda l: (l,), householder),  # v
    "sylvester": (lambda l: (l * l, l, l * l, l, l * l, l), sylvester),
    "tsylvester": (lambda l: (l, l * l, l, l * l, l), tsylvester),
}


class MaskedLinear(nn.Linear):  # nn::MaskedLinear: Linear's init, y = x (W * M)^T + b, mask a buffer
    def __init__(self, n_in, n_out, mask):
        super().__init__(n_in, n_out)
        self.register_buffer("mask", mask)

    def forward(self, x):
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    """nn::MADE: degrees k(i) = 1..D (or D..1), hidden m(j) = 1 + j mod (D - 1); keep x_i -> h_j where
    m(j) >= k(i) and h_j -> out_i where k(i) > m(j); the context enters every hidden unit (no bias)."""

    def __init__(self, d, hidden, context, reversed_):
        super().__init__()
        deg = torch.arange(d, 0, -1) if reversed_ else torch.arange(1, d + 1)
        hdeg = 1 + torch.arange(hidden) % (d - 1)
        self.input = MaskedLinear(d, hidden, (hdeg[:, None] >= deg[None, :]).float())
        self.context = nn.Linear(context, hidden, bias=False)
        self.output = MaskedLinear(hidden, 2 * d, (deg.repeat(2)[:, None] > hdeg[None, :]).float())
        self.d = d

    def forward(self, z, c):
        o = self.output(F.relu(self.input(z) + self.context(c)))
        return o[..., :self.d], o[..., self.d:]  # m, s


def iaf(made, z, h):  # autoregressive.cpp: Kingma et al.'s gated update, sigmoid bias 2
    m, s = made(z, h)
    gate = s + 2.0
    sigma = torch.sigmoid(gate)
    return sigma * z + (1.0 - sigma) * m, F.logsigmoid(gate).sum(-1)


# ---- the model ----

class Vae(nn.Module):
    """elbo's models::VAE for the MLP: encoder fc1, fc21, fc22 (+ fc23), decoder fc3, fc4 (+ flow)."""

    def __init__(self, posterior="diagonal", rank=0, flow=None, steps=FLOW_STEPS):
        super().__init__()
        l = LATENT
        extra = {"diagonal": 0, "full": l * (l - 1) // 2, "lowrank": l * rank}[posterior]
        self.fc1 = nn.Linear(PIXELS, HIDDEN)
        self.fc21 = nn.Linear(HIDDEN, l)
        self.fc22 = nn.Linear(HIDDEN, l)
        self.fc23 = nn.Linear(HIDDEN, extra) if extra else None
        if extra:  # the covariance head starts at zero, so q(z|x) starts as the diagonal posterior
            nn.init.zeros_(self.fc23.weight), nn.init.zeros_(self.fc23.bias)
        self.fc3 = nn.Linear(l, HIDDEN)
        self.fc4 = nn.Linear(HIDDEN, PIXELS)
        self.posterior, self.rank, self.kind = posterior, rank, flow
        if posterior == "full":
            self.register_buffer("tril_map", lower_triangle_map(l), persistent=False)
        if flow == "iaf":
            self.flow = nn.ModuleList([MADE(l, 2 * HIDDEN, HIDDEN, k % 2 == 1) for k in range(steps)])
        elif flow is not None:
            self.sizes = FLOWS[flow][0](l)
            self.flow = nn.ModuleList([nn.Linear(HIDDEN, sum(self.sizes)) for _ in range(steps)])
        if flow == "tsylvester":  # fixed Q: plain tensors in elbo too (not in its checkpoint)
            eye = torch.eye(l)
            self.register_buffer("identity", eye, persistent=False)
            self.register_buffer("reversal", torch.flip(eye, [1]), persistent=False)

    def draw(self, h, loc, logvar, extra):
        """z ~ q(z | x) and its KL term [B]: analytic, or Monte Carlo through a flow."""
        if self.kind is None:
            if self.posterior == "diagonal":
                return diagonal_posterior(loc, logvar)
            if self.posterior == "full":
                return full_posterior(loc, logvar, extra, self.tril_map)
            return lowrank_posterior(loc, logvar, extra, self.rank)
        scale = torch.exp(0.5 * logvar)
        z0 = loc + torch.randn_like(loc) * scale
        # log q_0(z_0) as elbo's Normal::log_prob of the drawn z_0 (not from eps: the same ops as elbo)
        log_q = normal_log_prob(z0, loc, scale).sum(-1)
        z = z0
        for k, step in enumerate(self.flow):
            if self.kind == "iaf":
                z, log_det = iaf(step, z, h)
            else:
                blocks = torch.split(step(h), self.sizes, 1)
                q = (self.identity if k % 2 == 0 else self.reversal) if self.kind == "tsylvester" else None
                z, log_det = FLOWS[self.kind][1](blocks, z, q)
            log_q = log_q - log_det
        log_p = (-0.5 * z.square() - LOG_SQRT_2PI).sum(-1)  # N(0, I)
        return z, log_q - log_p

    def loss(self, x):
        """models::loss, Objective{}: mean_B KL - mean_B log p(x | z)."""
        h = F.relu(self.fc1(x))
        extra = self.fc23(h) if self.fc23 is not None else None
        z, kl = self.draw(h, self.fc21(h), self.fc22(h), extra)
        logits = self.fc4(F.relu(self.fc3(z)))
        # Independent(Bernoulli(logits), 1).log_prob is one fused bce-with-logits sum in elbo
        rec = -F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
        return kl.mean() - rec


def build(key: str) -> tuple[nn.Module, Callable[[Tensor], Tensor], Callable[[int], Tensor]]:
    """(net, loss, make_x) for one of KEYS; a KeyError for any other key."""
    if key not in KEYS:
        raise KeyError(f"torch_families: no twin for '{key}' (have {', '.join(KEYS)})")
    flag, value = key.split("=")
    if flag == "posterior":
        kind, _, rank = value.partition(":")
        net = Vae(kind, int(rank or 0))
    else:
        kind, _, steps = value.partition(":")
        net = Vae(flow=kind, steps=int(steps))
    return net, net.loss, lambda batch: torch.rand(batch, PIXELS).bernoulli()


# ---- self-check ----

def safetensors_shapes(path):
    """{name: shape} from a .safetensors header: 8-byte little-endian length, then JSON."""
    with open(path, "rb") as f:
        header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
    return {k: v["shape"] for k, v in header.items() if k != "__metadata__"}


def main():
    import argparse
    import os
    ap = argparse.ArgumentParser(description="build each twin, list its parameters, run 3 Adam steps")
    ap.add_argument("--elbo", default="", help="directory of elbo-vae outputs: DIR/<key, '=' and ':' as '_'>/model.safetensors")
    ap.add_argument("--batch", type=int, default=128)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    failures = 0
    for key in KEYS:
        net, loss, make_x = build(key)
        params = dict(net.named_parameters())
        print(f"{key}: {sum(p.numel() for p in params.values())} parameters")
        for name, p in params.items():
            print(f"  {name} {list(p.shape)}")
        if a.elbo:
            path = os.path.join(a.elbo, key.replace("=", "_").replace(":", "_"), "model.safetensors")
            ours = {n: list(t.shape) for n, t in net.state_dict().items()}  # parameters and persistent buffers
            theirs = safetensors_shapes(path)
            diff = [n for n in sorted(set(ours) | set(theirs)) if ours.get(n) != theirs.get(n)]
            for n in diff:
                print(f"  MISMATCH {n}: twin {ours.get(n)}, elbo {theirs.get(n)}")
            print(f"  vs elbo {path}: {'same names and shapes' if not diff else f'{len(diff)} differ'}")
            failures += bool(diff)
        losses = adam_losses(net, loss, make_x(a.batch))
        ok = all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
        failures += not ok
        print(f"  loss {' '.join(f'{v:.3f}' for v in losses)} {'ok' if ok else 'FAIL'}")
    raise SystemExit(1 if failures else 0)


if __name__ == "__main__":
    main()
