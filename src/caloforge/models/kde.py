"""A Gaussian kernel density estimate of a latent space, sampled from explicit noise.

The BIB-AE's encoder does not map showers onto exactly the standard-normal prior; the "Getting
High" BIB-AE samples its decoder's latent from a KDE of encoded training showers instead. Here
the KDE lives in the generator as buffers (saved in the artifact, exported with it):

- ``bank`` (K, d): the kernel centres, a ring of the encoder's posterior means of the last K
  training showers (:meth:`LatentKDE.update`, one batch per training step), or the posterior
  means of one encoder on a set of showers (:meth:`LatentKDE.refit`: what the trainer leaves
  in a saved model, through :meth:`caloforge.models.base.Family.refresh`);
- ``bandwidth`` (d,): Scott's rule per dimension, ``K^(-1/(d+4)) x std(bank)``, set with the bank;
- ``filled``: 0 until the ring has been filled once; until then :meth:`sample` is the prior.

:meth:`sample` is a pure function of standard-normal noise, so generation and ONNX export keep
the noise as their only randomness: ``z_pick`` selects a centre (``Phi(z_pick)`` uniform in
(0, 1) -> index ``floor(K Phi)``), and ``eps`` (d) is the draw within its kernel:
``latent = centre + bandwidth * eps``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LatentKDE"]


class LatentKDE(nn.Module):
    bank: torch.Tensor
    bandwidth: torch.Tensor
    filled: torch.Tensor
    position: torch.Tensor

    def __init__(self, n_kernels: int, dim: int) -> None:
        super().__init__()
        #: a Python int (not the bank's shape: tracing for ONNX would turn that into a warning)
        self.n_kernels = int(n_kernels)
        if n_kernels < 2 or dim < 1:
            msg = f"a latent KDE needs >= 2 kernels and dim >= 1, got {n_kernels}, {dim}"
            raise ValueError(msg)
        self.register_buffer("bank", torch.zeros(n_kernels, dim))
        self.register_buffer("bandwidth", torch.ones(dim))
        self.register_buffer("filled", torch.zeros(()))
        self.register_buffer("position", torch.zeros((), dtype=torch.int64))

    @torch.no_grad()
    def update(self, latents: torch.Tensor) -> None:
        """Write (B, d) latents into the ring (the oldest out); once it has been filled, set
        ``filled`` and refit the bandwidth (Scott's rule) on the whole bank."""
        k = self.n_kernels
        rows = latents.detach()[-k:].to(self.bank)
        idx = (self.position + torch.arange(len(rows), device=self.bank.device)) % k
        self.bank[idx] = rows
        end = int(self.position) + len(rows)
        if end >= k:
            self.filled.fill_(1.0)
        self.position.fill_(end % k)
        if self.is_filled:
            self.bandwidth.copy_(scott_bandwidth(self.bank))

    @torch.no_grad()
    def refit(self, latents: torch.Tensor) -> None:
        """Replace the whole bank by (n, d) latents, n >= 2 (cycled through when n < K, every
        kernel used alike) and refit the bandwidth on them (Scott's rule with their n): the
        KDE of one encoder, not a ring written by the drifting encoders of the last K/B
        training steps."""
        n = len(latents)
        if n < 2:
            msg = f"refit needs >= 2 latents, got {n}"
            raise ValueError(msg)
        rows = latents.detach().to(self.bank)
        self.bank.copy_(rows[torch.arange(self.n_kernels, device=rows.device) % n])
        self.bandwidth.copy_(scott_bandwidth(rows))
        self.filled.fill_(1.0)
        self.position.zero_()

    @property
    def is_filled(self) -> bool:
        return bool(self.filled > 0)

    def sample(self, z_pick: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """(N,) and (N, d) standard-normal noise -> (N, d) latents: a kernel's centre plus
        ``bandwidth * eps`` once filled, ``eps`` (the prior) before. Pure, ONNX-traceable."""
        k = self.n_kernels
        u = 0.5 * (1.0 + torch.erf(z_pick * 0.7071067811865476))
        idx = torch.clamp(torch.floor(u * k), 0, k - 1).to(torch.int64)
        centre = self.bank.index_select(0, idx)
        f = self.filled
        return f * (centre + self.bandwidth * eps) + (1.0 - f) * eps


def scott_bandwidth(points: torch.Tensor) -> torch.Tensor:
    """(K, d) -> (d,) Scott's rule, ``K^(-1/(d+4))`` times the per-dimension std."""
    k, d = points.shape
    return points.std(dim=0).clamp_min(1e-6) * float(k) ** (-1.0 / (d + 4))
