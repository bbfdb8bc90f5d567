"""Building blocks: multilayer perceptrons and Kolmogorov–Arnold networks (Chebyshev basis).

All networks are smooth (tanh-family activations, polynomial bases), because the physics loss
takes their second derivatives with respect to the input.
"""

from __future__ import annotations

import math

import torch
from torch import nn

ACTIVATIONS = {"tanh": nn.Tanh, "sin": None, "silu": nn.SiLU, "gelu": nn.GELU}


class Sine(nn.Module):
    """sin(x), the SIREN activation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)


def activation(name: str) -> nn.Module:
    """The activation module called ``name`` (tanh, sin, silu, gelu)."""
    if name == "sin":
        return Sine()
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()  # type: ignore[misc]


class GroupLinear(nn.Module):
    """``groups`` independent affine maps applied at once: (G, ..., n_in) -> (G, ..., n_out).

    Several small networks (one per axis of a separable trunk) then cost one batched matrix
    product per layer instead of one product per network.
    """

    def __init__(self, groups: int, n_in: int, n_out: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(groups, n_in, n_out))
        nn.init.normal_(self.weight, std=math.sqrt(2.0 / (n_in + n_out)))  # Xavier normal
        self.bias = nn.Parameter(torch.zeros(groups, 1, n_out)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(shape[0], -1, shape[-1])
        out = (
            flat @ self.weight if self.bias is None else torch.baddbmm(self.bias, flat, self.weight)
        )
        return out.reshape(*shape[:-1], out.shape[-1])


class MLP(nn.Module):
    """Fully connected network ``n_in -> width x depth -> n_out``, ``groups`` copies at once.

    Args:
        n_in, n_out: input and output features.
        width: hidden features.
        depth: hidden layers (0 gives a single affine map).
        act: activation name.
        bias_out: whether the last layer has a bias.
        groups: independent copies; inputs and outputs carry a leading group axis.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        width: int,
        depth: int,
        act: str = "tanh",
        bias_out: bool = True,
        groups: int = 1,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        size = n_in
        for _ in range(depth):
            layers += [GroupLinear(groups, size, width), activation(act)]
            size = width
        layers.append(GroupLinear(groups, size, n_out, bias=bias_out))
        self.net = nn.Sequential(*layers)
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(G, ..., n_in) -> (G, ..., n_out); with one group the leading axis may be omitted."""
        if self.groups == 1:
            return self.net(x[None])[0]
        return self.net(x)


class FourierFeatures(nn.Module):
    """Fixed random Fourier features [cos(2π B x), sin(2π B x)] with B ~ N(0, scale²).

    Args:
        n_in: input features.
        count: number of frequencies (the output has 2·count features).
        scale: standard deviation of the frequencies.
        seed: seed of the frequency draw (stored with the model as a buffer).
    """

    def __init__(self, n_in: int, count: int, scale: float, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("frequencies", torch.randn(n_in, count, generator=g) * scale)

    @property
    def n_out(self) -> int:
        return 2 * self.frequencies.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., n_in) -> (..., 2·count)."""
        phase = 2 * math.pi * x @ self.frequencies
        return torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1)


class ChebyshevKANLayer(nn.Module):
    """One Kolmogorov–Arnold layer: y_o = Σ_i Σ_k c[k, i, o] · T_k(tanh(x_i)).

    Each edge carries a learnable univariate function, a Chebyshev series of ``degree`` on the
    input squashed into (-1, 1) by tanh. The sum over inputs and degrees is one (batched) matrix
    product, which keeps forward-mode differentiation cheap. ``groups`` independent layers run
    at once on inputs with a leading group axis.
    """

    def __init__(self, n_in: int, n_out: int, degree: int, groups: int = 1) -> None:
        super().__init__()
        self.degree = degree
        # smooth start: the k-th coefficients shrink like 1/(k+1)², so the initial functions are
        # dominated by low degrees and have moderate curvature
        decay = 1.0 / torch.arange(1, degree + 2, dtype=torch.float32).square()
        std = (decay / decay.square().sum().sqrt() / math.sqrt(n_in)).repeat_interleave(n_in)
        self.coefficients = nn.Parameter(
            torch.randn(groups, n_in * (degree + 1), n_out) * std[:, None]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(G, ..., n_in) -> (G, ..., n_out)."""
        t = torch.tanh(x)
        basis = [torch.ones_like(t), t]
        for _ in range(2, self.degree + 1):
            basis.append((t + t) * basis[-1] - basis[-2])  # T_k = 2t·T_{k-1} - T_{k-2}
        stacked = torch.cat(basis[: self.degree + 1], dim=-1)  # (G, ..., (degree+1)·n_in)
        shape = stacked.shape
        out = stacked.reshape(shape[0], -1, shape[-1]) @ self.coefficients
        return out.reshape(*shape[:-1], out.shape[-1])


class LayerNorm(nn.Module):
    """Layer normalization over the last axis, without affine terms, written with elementary
    operations: torch's fused layer norm gives wrong second derivatives under nested
    forward-mode differentiation, which the physics loss relies on."""

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(dim=-1, keepdim=True)
        return centred * torch.rsqrt(centred.square().mean(dim=-1, keepdim=True) + self.eps)


class KAN(nn.Module):
    """Stack of Chebyshev KAN layers ``n_in -> width x depth -> n_out``, optionally with layer
    normalization (without affine terms: the next layer's coefficients absorb them) between the
    hidden layers; ``groups`` independent copies at once, like :class:`MLP`."""

    def __init__(
        self,
        n_in: int,
        n_out: int,
        width: int,
        depth: int,
        degree: int = 4,
        layer_norm: bool = True,
        groups: int = 1,
    ) -> None:
        super().__init__()
        sizes = [n_in] + [width] * depth + [n_out]
        layers: list[nn.Module] = []
        for i in range(len(sizes) - 1):
            layers.append(ChebyshevKANLayer(sizes[i], sizes[i + 1], degree, groups))
            if layer_norm and i < len(sizes) - 2:
                layers.append(LayerNorm())
        self.net = nn.Sequential(*layers)
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(G, ..., n_in) -> (G, ..., n_out); with one group the leading axis may be omitted."""
        if self.groups == 1:
            return self.net(x[None])[0]
        return self.net(x)


def parameter_count(module: nn.Module) -> int:
    """Number of trainable scalars in ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
