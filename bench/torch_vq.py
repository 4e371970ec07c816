"""A PyTorch twin of nn::VectorQuantizer (nn/quantize.h), written from its definition: the nearest code by
||e||^2 - 2 z.e, the straight-through output, the commitment and codebook losses, and the codebook's
debiased exponential moving averages with Laplace smoothing (sonnet's VectorQuantizerEMA). The same
parameter and buffer names and shapes, so a state_dict loads both ways. Restarts of unused codes draw
from elbo's generator and have no twin here (restart_after must be 0).
"""
import math

import torch
from torch import nn


class VectorQuantizer(nn.Module):
    def __init__(self, num_codes, dim, commitment=0.25, ema_decay=0.99, epsilon=1e-5):
        super().__init__()
        self.k, self.d, self.commitment, self.decay, self.eps = num_codes, dim, commitment, ema_decay, epsilon
        limit = math.sqrt(3.0 / dim)
        e = torch.empty(num_codes, dim).uniform_(-limit, limit)
        if ema_decay > 0:
            self.register_buffer("embedding", e)
            self.register_buffer("ema_count", torch.zeros(num_codes))
            self.register_buffer("ema_weight", torch.zeros(num_codes, dim))
        else:
            self.embedding = nn.Parameter(e)
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        self.register_buffer("unused_steps", torch.zeros(num_codes, dtype=torch.int64))

    def nearest(self, flat):
        with torch.no_grad():
            e = self.embedding.detach()
            return ((e * e).sum(1) - 2 * flat.detach() @ e.t()).argmin(1)

    def forward(self, z_e):
        """(z_q, codes, loss, counts, perplexity), as elbo's Quantized."""
        flat = z_e.reshape(-1, self.d)
        codes = self.nearest(flat)
        counts = torch.bincount(codes, minlength=self.k)
        p = counts.double() / len(codes)
        perplexity = math.exp(-(p[p > 0] * p[p > 0].log()).sum().item())
        q = self.embedding[codes]
        loss = self.commitment * ((flat - q.detach()) ** 2).mean()
        if self.decay == 0:
            loss = loss + ((q - flat.detach()) ** 2).mean()
        z_q = (flat + (q - flat).detach()).reshape(z_e.shape)
        if self.training:
            with torch.no_grad():
                self.steps += 1
                if self.decay > 0:
                    self._ema(flat.detach(), codes, counts)
                self.unused_steps.copy_(torch.where(counts > 0, torch.zeros_like(self.unused_steps),
                                                    self.unused_steps + 1))
        return z_q, codes.reshape(z_e.shape[:-1]), loss, counts, perplexity

    def _ema(self, flat, codes, counts):
        g = self.decay
        self.ema_count.mul_(g).add_((1 - g) * counts.to(self.ema_count.dtype))
        dw = torch.zeros_like(self.ema_weight).index_add_(0, codes, flat)
        self.ema_weight.mul_(g).add_((1 - g) * dw)
        bias = 1 - g ** self.steps.item()
        n_avg = self.ema_count / bias
        n = n_avg.sum()
        smoothed = (n_avg + self.eps) / (n + self.k * self.eps) * n
        self.embedding.copy_(self.ema_weight / bias / smoothed[:, None])
