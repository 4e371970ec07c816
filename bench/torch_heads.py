#!/usr/bin/python3
"""PyTorch twins of elbo's learned-prior and likelihood-head VAEs, for the training-step comparison.

Each twin is the model `elbo-vae` builds with one flag (the keys of tests/zoo_configs.h): the MLP VAE
784-400-20 of models/networks.cpp (fc1, fc21 loc, fc22 log-variance, fc3, fc4; q(z|x) =
N(loc, exp(logvar / 2))), trained by models::loss with the default Objective: one reparameterized z per
example, loss = mean_B KL - mean_B log p(x|z). Parameter names and shapes are those of elbo's
model.safetensors (MADE masks are buffers there and here). Linear layers keep PyTorch's default init,
which is elbo's nn::Linear (kaiming_uniform(a=sqrt(5)) weight, U(+-1/sqrt(fan_in)) bias).

  prior=mog:10       models/flows.cpp LearnedPrior: MixtureSameFamily(Categorical(prior.logits),
                     Independent(Normal(prior.loc, exp(prior.log_scale)), 1)); logits and log_scale start
                     at 0, loc as N(0, I) draws. No closed-form KL: Monte Carlo, log q(z) - log p(z).
  prior=flow:4       LearnedPrior: a MAF, N(0, I) pushed through 4 InverseTransform(AffineAutoregressive-
                     Transform(MADE(20, hidden 80, no context))) steps, orders alternating (nn/made.cpp,
                     distributions/autoregressive.cpp). Monte Carlo KL.
  likelihood=gaussian               models/likelihood.cpp GaussianHead: Normal(fc4, 0.1). Analytic KL.
  likelihood=continuous-bernoulli   LogitsHead<ContinuousBernoulli>: -bce(l, x) + log C(l), with
                     distributions/continuous_bernoulli.cpp's log C (a series in l for |l| < 1 in f32).
                     Analytic KL.
  likelihood=categorical:256        CategoricalHead: fc4 emits 784 x 256 logits, each pixel's 256 side
                     by side; IntensityCategorical scores level min(255, floor(256 x)). Analytic KL.
  likelihood=discretized-logistic   DiscretizedLogisticHead: fc4 = loc ++ log-scale (clamped to [-7, 2]),
                     distributions/discretized_logistic.cpp's bin masses. Analytic KL.
  likelihood=flow    models/flows.cpp FlowDecoder: fc4 = loc ++ log-scale (clamped) of a Normal over
                     logit-space pixels, 4 affine couplings conditioned on [kept half, relu(fc3(z))] with the
                     pixel order flipped between them, then UnitIntervalTransform (alpha 0.05); scored by
                     running every step's inverse. Analytic KL.
The bernoulli-likelihood priors see binarized pixels; the other heads see 8-bit pixels / 255, as
elbo-vae --binarize none (every head's default but bernoulli's) reads them, and as elbo's side of the
benchmark feeds them (tests/zoo_configs.h).

Run with /usr/bin/python3: `python3 bench/torch_heads.py` builds every twin, lists its parameters and
runs 3 Adam steps (a self-check, not a benchmark).
"""
import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from torch_steps import adam_losses

PIXELS, HIDDEN, LATENT = 784, 400, 20
LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)

# key -> (likelihood head, prior); one declaration, every use below reads it
CONFIGS = {
    "prior=mog:10": ("bernoulli", "mog:10"),
    "prior=flow:4": ("bernoulli", "flow:4"),
    "likelihood=gaussian": ("gaussian", "normal"),
    "likelihood=continuous-bernoulli": ("continuous-bernoulli", "normal"),
    "likelihood=categorical:256": ("categorical:256", "normal"),
    "likelihood=discretized-logistic": ("discretized-logistic", "normal"),
    "likelihood=flow": ("flow", "normal"),
}
KEYS = tuple(CONFIGS)

GAUSSIAN_STD = 0.1   # LikelihoodOptions::gaussian_std
LEVELS = 256         # --levels 256
COUPLING_STEPS = 4   # LikelihoodOptions::coupling_steps
UNIT_ALPHA = 0.05    # UnitIntervalTransform's default alpha
SIGMOID_BIAS = 2.0   # AffineAutoregressiveTransform's default: sigma = sigmoid(s + 2) starts near 1


def normal_log_prob(v: Tensor, loc, scale) -> Tensor:
    """dist::Normal::log_prob, elementwise: -(v - m)^2 / (2 s^2) - log s - log sqrt(2 pi)."""
    scale = torch.as_tensor(scale, dtype=v.dtype)
    return -(v - loc) ** 2 / (2 * scale ** 2) - torch.log(scale) - LOG_SQRT_2PI


# ---- nn/made.cpp ----

class MaskedLinear(nn.Linear):
    """nn::MaskedLinear: Linear's init on the whole weight, the mask a buffer, applied in forward."""

    def __init__(self, n_in: int, n_out: int, mask: Tensor):
        super().__init__(n_in, n_out)
        self.register_buffer("mask", mask.float())

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    """nn::MADE: input degrees 1..D (reversed: D..1), hidden degrees 1 + j mod (D - 1); out = m ++ s."""

    def __init__(self, d: int, hidden: int, context: int = 0, reversed_: bool = False):
        super().__init__()
        deg = torch.arange(d, 0, -1) if reversed_ else torch.arange(1, d + 1)
        hdeg = 1 + torch.arange(hidden) % (d - 1) if d > 1 else torch.zeros(hidden, dtype=torch.long)
        self.input = MaskedLinear(d, hidden, hdeg[:, None] >= deg[None, :])
        if context > 0:
            self.context = nn.Linear(context, hidden, bias=False)
        self.output = MaskedLinear(hidden, 2 * d, deg.repeat(2)[:, None] > hdeg[None, :])
        self.d = d

    def forward(self, x: Tensor, c: Tensor = None) -> tuple[Tensor, Tensor]:
        h = self.input(x)
        if c is not None:
            h = h + self.context(c)
        o = self.output(F.relu(h))
        return o[..., :self.d], o[..., self.d:]


# ---- priors (models/flows.cpp, LearnedPrior) ----

class MogPrior(nn.Module):
    def __init__(self, k: int, latent: int):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(k))
        self.loc = nn.Parameter(torch.randn(k, latent))
        self.log_scale = nn.Parameter(torch.zeros(k, latent))

    def log_prob(self, z: Tensor) -> Tensor:  # z [B, L] -> [B]
        comp = normal_log_prob(z[:, None, :], self.loc, torch.exp(self.log_scale)).sum(-1)  # [B, K]
        return torch.logsumexp(comp + F.log_softmax(self.logits, -1), -1)


class MafPrior(nn.Module):
    """N(0, I) pushed through K InverseTransform(AffineAutoregressiveTransform(MADE_k)): log p(z) runs
    each step's cheap direction, x = sigma * y + (1 - sigma) * m, last step first, adding sum log sigma."""

    def __init__(self, k: int, latent: int):
        super().__init__()
        for i in range(k):  # named prior.<k>.*, hidden 4 L, no context, odd steps reversed
            self.add_module(str(i), MADE(latent, 4 * latent, 0, i % 2 == 1))

    def log_prob(self, z: Tensor) -> Tensor:
        y, log_det = z, 0
        for made in reversed(list(self.children())):
            m, s = made(y)
            gate = s + SIGMOID_BIAS
            sigma = torch.sigmoid(gate)
            log_det = log_det + F.logsigmoid(gate).sum(-1)
            y = sigma * y + (1 - sigma) * m
        # NOTE: elbo's TransformedDistribution::log_prob calls the step's inverse and then its
        # log_abs_det_jacobian, each a MADE pass on the same y: two passes per step where one suffices.
        return normal_log_prob(y, 0.0, 1.0).sum(-1) + log_det


# ---- likelihood heads (models/likelihood.cpp): decoder output [B, per_pixel * D] -> log p(x | z) [B] ----

def bernoulli_log_px(out: Tensor, x: Tensor) -> Tensor:
    return -F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(1)


def gaussian_log_px(out: Tensor, x: Tensor) -> Tensor:
    return normal_log_prob(x, out, GAUSSIAN_STD).sum(1)


# log C(l) = log 2 + l^2/12 - 7 l^4/1440 + ... for |l| < cut (continuous_bernoulli.cpp's series to l^12)
CB_LOG_NORM_SERIES = (math.log(2), 1 / 12, -7 / 1440, 31 / 90720, -127 / 4838400, 73 / 34214400,
                      -1414477 / 7846046208000)


def cb_log_norm(l: Tensor) -> Tensor:
    """ContinuousBernoulli's log C(l) = log(l / tanh(l / 2)) as elbo writes it. NOTE: not torch's: torch
    works from probs clamped to [eps, 1 - eps] with a Taylor region for probs in (0.499, 0.501); elbo uses
    the closed form at |l| >= 1 (f32; 0.25 in f64) and a series in l^2 below, the closed form evaluated at
    l moved to the cut so the branch where() drops stays finite."""
    cut = 1.0 if l.dtype == torch.float32 else 0.25
    small = l.detach().abs() < cut
    a = torch.where(small, l.new_tensor(cut), l).abs()
    closed = torch.log(a) - torch.log(torch.tanh(0.5 * a))
    t = l * l
    c = CB_LOG_NORM_SERIES
    near = t * c[-1]  # Horner, as elbo's series()
    for k in c[-2:0:-1]:
        near = (near + k) * t
    return torch.where(small, near + c[0], closed)


def cb_log_px(out: Tensor, x: Tensor) -> Tensor:
    return (-F.binary_cross_entropy_with_logits(out, x, reduction="none") + cb_log_norm(out)).sum(1)


def categorical_log_px(out: Tensor, x: Tensor) -> Tensor:
    # IntensityCategorical: level k holds [k/K, (k+1)/K), level K-1 also 1; x = k/255 lands on level k
    level = (x * LEVELS).long().clamp_(max=LEVELS - 1)
    logp = F.log_softmax(out.view(out.shape[0], -1, LEVELS), -1)
    return logp.gather(-1, level.unsqueeze(-1)).squeeze(-1).sum(1)


def discretized_logistic_log_px(out: Tensor, x: Tensor) -> Tensor:
    d = out.shape[1] // 2
    loc, log_scale = out[:, :d], out[:, d:].clamp(-7.0, 2.0)
    half_bin = 1 / 510
    inv_s = torch.exp(-log_scale)
    centred = x - loc
    plus, minus = (centred + half_bin) * inv_s, (centred - half_bin) * inv_s
    lower_edge = F.logsigmoid(plus)  # x = 0: the bin reaches down to -inf
    upper_edge = -F.softplus(minus)  # x = 1: up to +inf
    delta = torch.sigmoid(plus) - torch.sigmoid(minus)
    # where the difference underflows: the density at the bin's centre times its width 1/255
    mid = centred * inv_s
    density = mid - log_scale - 2 * F.softplus(mid) - math.log(255)
    interior = torch.where(delta > 1e-5, torch.log(delta.clamp_min(1e-12)), density)
    lp = torch.where(x <= half_bin, lower_edge, torch.where(x >= 1 - half_bin, upper_edge, interior))
    return lp.sum(1)


class CouplingNet(nn.Module):
    """FlowDecoder::CouplingNet: [x_a, h] -> Linear(D/2 + H, H), ReLU, Linear(H, D): s raw ++ t, the last
    layer zero, so every step starts as the identity."""

    def __init__(self, n_in: int, hidden: int, n_out: int):
        super().__init__()
        self.add_module("in", nn.Linear(n_in, hidden))  # elbo's name; `in` is a Python keyword
        self.out = nn.Linear(hidden, 2 * n_out)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(F.relu(self._modules["in"](x)))


def flow_log_px(out: Tensor, h: Tensor, x: Tensor, couplings: nn.ModuleList) -> Tensor:
    """The TransformedDistribution of FlowDecoder::build scored at x: its transforms are
    [C_0, Flip, C_1, Flip, ..., C_{K-1}, UnitInterval]; log_prob inverts them last first."""
    d = out.shape[1] // 2
    split = d // 2
    loc, log_scale = out[:, :d], out[:, d:].clamp(-7.0, 2.0)
    p = UNIT_ALPHA + (1 - 2 * UNIT_ALPHA) * x  # UnitIntervalTransform.inverse: logit(alpha + (1 - 2 alpha) x)
    u = torch.log(p) - torch.log1p(-p)
    log_det = (-F.softplus(-u) - F.softplus(u)).sum(1) - d * math.log(1 - 2 * UNIT_ALPHA)
    for k in reversed(range(len(couplings))):
        ua, ub = u[:, :split], u[:, split:]
        o = couplings[k](torch.cat([ua, h], 1))
        s, t = torch.tanh(o[:, :d - split]), o[:, d - split:]  # tanh-bounded log-scales, shifts
        u = torch.cat([ua, (ub - t) * torch.exp(-s)], 1)
        log_det = log_det + s.sum(1)
        # NOTE: elbo's log_prob also runs the coupling net twice per step (inverse, then
        # log_abs_det_jacobian on the recovered x, whose kept half is y's): the same s, one pass here.
        if k > 0:
            u = u.flip(1)
    return normal_log_prob(u, loc, torch.exp(log_scale)).sum(1) - log_det


# head -> (decoder outputs per pixel, log p(x | z) from fc4's output)
HEADS = {
    "bernoulli": (1, bernoulli_log_px),
    "gaussian": (1, gaussian_log_px),
    "continuous-bernoulli": (1, cb_log_px),
    "categorical:256": (LEVELS, categorical_log_px),
    "discretized-logistic": (2, discretized_logistic_log_px),
    "flow": (2, None),  # flow_log_px, which also needs fc3's features and the couplings
}


class Vae(nn.Module):
    """models::VAE with an MLP encoder and decoder, one head and one prior."""

    def __init__(self, head: str, prior: str):
        super().__init__()
        per_pixel, self.log_px = HEADS[head]
        self.fc1 = nn.Linear(PIXELS, HIDDEN)
        self.fc21 = nn.Linear(HIDDEN, LATENT)
        self.fc22 = nn.Linear(HIDDEN, LATENT)
        self.fc3 = nn.Linear(LATENT, HIDDEN)
        self.fc4 = nn.Linear(HIDDEN, per_pixel * PIXELS)
        if head == "flow":
            split = PIXELS // 2
            self.coupling = nn.ModuleList(CouplingNet(split + HIDDEN, HIDDEN, PIXELS - split)
                                          for _ in range(COUPLING_STEPS))
        kind, _, k = prior.partition(":")
        self.prior = {"normal": lambda: None, "mog": lambda: MogPrior(int(k), LATENT),
                      "flow": lambda: MafPrior(int(k), LATENT)}[kind]()

    def loss(self, x: Tensor) -> Tensor:
        h = F.relu(self.fc1(x))
        loc, logvar = self.fc21(h), self.fc22(h)
        scale = torch.exp(0.5 * logvar)
        z = loc + torch.randn_like(loc) * scale  # one rsample, used by both terms
        hz = F.relu(self.fc3(z))
        out = self.fc4(hz)
        log_px = flow_log_px(out, hz, x, self.coupling) if self.log_px is None else self.log_px(out, x)
        if self.prior is None:
            # has_kl(Independent<Normal>, Independent<Normal>): kl_divergence(Normal, Normal) against N(0, 1)
            var_ratio = scale ** 2
            kl = (0.5 * (var_ratio + loc ** 2 - 1 - torch.log(var_ratio))).sum(1)
        else:
            # no closed form for a mixture or a flow prior: log q(z) - log p(z) on the same z
            kl = normal_log_prob(z, loc, scale).sum(1) - self.prior.log_prob(z)
        return kl.mean() - log_px.mean()


def binarized(batch: int) -> Tensor:  # --binarize dynamic
    return torch.rand(batch, PIXELS).bernoulli()


def grayscale(batch: int) -> Tensor:  # 8-bit pixels / 255 (--binarize none)
    return torch.randint(0, 256, (batch, PIXELS)).float() / 255


def build(key: str) -> tuple[nn.Module, Callable[[Tensor], Tensor], Callable[[int], Tensor]]:
    """(net, loss, make_x) for a key of KEYS: Adam runs over net.parameters(), loss(x) is the batch's
    -ELBO (a mean over the batch), make_x(batch) a [batch, 784] float32 input. KeyError otherwise."""
    if key not in CONFIGS:
        raise KeyError(f"torch_heads: no twin for {key!r}; keys: {', '.join(KEYS)}")
    head, prior = CONFIGS[key]
    net = Vae(head, prior)
    make_x = binarized if head == "bernoulli" else grayscale
    return net, net.loss, make_x


def main():
    torch.set_num_threads(1)
    for key in KEYS:
        torch.manual_seed(0)
        net, loss, make_x = build(key)
        n = sum(p.numel() for p in net.parameters())
        print(f"{key}: {n:,} parameters")
        buffers = dict(net.named_buffers())
        for name, t in net.state_dict().items():  # elbo's model.safetensors order: parameters, then buffers
            print(f"  {name} {list(t.shape)}{' (buffer)' if name in buffers else ''}")
        losses = adam_losses(net, loss, make_x(128))
        ok = all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
        print(f"  loss over 3 Adam steps: {', '.join(f'{v:.3f}' for v in losses)} ({'ok' if ok else 'CHECK'})")


if __name__ == "__main__":
    main()
