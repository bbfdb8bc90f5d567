"""DeepONet: a branch network on the design input, a trunk network on the coordinate.

    u(q, p; x̂, ŷ, ŝ) = Σ_r b_r(q, p) · t_r(x̂, ŷ, ŝ)

with q the power-density map on the sensor grid, p the scalar parameters, and (x̂, ŷ, ŝ) the
nondimensional coordinate (see :mod:`chiptherm.operator.case`). Trunks:

- ``mlp`` / ``kan``: one network on the point (x̂, ŷ, ŝ) -> R^rank (optionally Fourier features).
- ``separable-mlp`` / ``separable-kan``: one network per axis, t_r = X_r(x̂)·Y_r(ŷ)·Z_r(ŝ), so a
  full nx × ny × nz grid costs nx + ny + nz trunk evaluations.

Adiabatic side pairs are built in: the x (y) input enters as cos(π x̂), whose derivative vanishes
at x̂ = 0 and 1, so every trunk satisfies the zero-flux condition exactly.

The branch is linear in q by default (``branch.width = 0``): the heat equation is linear, so the
operator is exactly linear in the power map for fixed cooling, and a linear branch keeps that
structure (zero power gives ambient temperature, superposition holds). With parameters, the map
features are modulated by a small network of the parameters, which keeps linearity in q.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.func import jvp

from chiptherm.operator.nets import KAN, MLP, FourierFeatures


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TrunkConfig(_Config):
    """Trunk network settings (per axis for separable trunks)."""

    kind: Literal["separable-kan", "separable-mlp", "kan", "mlp"] = "separable-kan"
    width: int = Field(default=32, ge=1)
    depth: int = Field(default=2, ge=0)
    degree: int = Field(default=4, ge=1, le=32)
    layer_norm: bool = True
    activation: str = "tanh"
    fourier: int = Field(default=0, ge=0)
    fourier_scale: float = Field(default=1.0, gt=0)

    @property
    def separable(self) -> bool:
        return self.kind.startswith("separable")


class BranchConfig(_Config):
    """Branch network settings.

    Attributes:
        project: if set, first reduce the map to ``project`` x ``project`` features by learned
            per-axis projections (initialized to cosine modes); keeps large sensor grids cheap.
        width, depth: hidden layers of the map network; width 0 makes it linear (no bias).
        param_width: hidden width of the network on the scalar parameters.
    """

    project: int | None = Field(default=None, ge=1)
    width: int = Field(default=0, ge=0)
    depth: int = Field(default=0, ge=0)
    activation: str = "tanh"
    param_width: int = Field(default=32, ge=1)


class ModelConfig(_Config):
    """A DeepONet: rank of the inner product, branch and trunk."""

    rank: int = Field(default=64, ge=1)
    branch: BranchConfig = BranchConfig()
    trunk: TrunkConfig = TrunkConfig()


def cosine_modes(n: int, m: int) -> torch.Tensor:
    """(n, m) the first m DCT-II modes on n cell centres, normalized to unit RMS."""
    centres = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    modes = torch.cos(math.pi * centres[:, None] * torch.arange(m, dtype=torch.float64)[None, :])
    return (modes / n).float()


class Branch(nn.Module):
    """(B, ny, nx) normalized map and (B, P) normalized parameters -> (B, rank) coefficients."""

    def __init__(
        self, sensors: tuple[int, int], rank: int, n_params: int, cfg: BranchConfig
    ) -> None:
        super().__init__()
        ny, nx = sensors
        self.project_y = self.project_x = None
        n_features = ny * nx
        if cfg.project:
            m_y, m_x = min(cfg.project, ny), min(cfg.project, nx)
            self.project_y = nn.Parameter(cosine_modes(ny, m_y))
            self.project_x = nn.Parameter(cosine_modes(nx, m_x))
            n_features = m_y * m_x
        linear = cfg.width == 0
        self.power = (
            nn.Linear(n_features, rank, bias=False)
            if linear
            else MLP(n_features, rank, cfg.width, cfg.depth, cfg.activation)
        )
        if linear:
            # small start: u = Σ_r b_r t_r begins near zero and its curvature stays moderate
            nn.init.normal_(self.power.weight, std=1.0 / (math.sqrt(n_features) * rank))
        self.params = MLP(n_params, rank, cfg.param_width, 2, cfg.activation) if n_params else None
        self.mix = nn.Linear(rank, rank, bias=False) if n_params else None

    def forward(self, q: torch.Tensor, p: torch.Tensor | None = None) -> torch.Tensor:
        if self.project_y is not None:
            q = self.project_y.T @ q @ self.project_x
        features = self.power(q.flatten(1))
        if self.params is None:
            return features
        return self.mix(features * (1.0 + self.params(p)))


class AxisEmbedding(nn.Module):
    """Maps a nondimensional coordinate in [0, 1] to the network input: cos(π t) for an axis with
    adiabatic ends (zero slope at both ends, exactly), 2t - 1 otherwise."""

    def __init__(self, cosine: bool) -> None:
        super().__init__()
        self.cosine = cosine

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return torch.cos(math.pi * t) if self.cosine else 2.0 * t - 1.0

    def derivatives(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """e(t), e'(t), e''(t), each (n,)."""
        if self.cosine:
            c, s = torch.cos(math.pi * t), torch.sin(math.pi * t)
            return c, -math.pi * s, -(math.pi**2) * c
        return 2.0 * t - 1.0, torch.full_like(t, 2.0), torch.zeros_like(t)


def trunk_network(cfg: TrunkConfig, n_in: int, rank: int, groups: int = 1) -> nn.Module:
    """The network of a trunk: KAN or MLP, optionally after Fourier features; ``groups``
    independent copies (one per axis for separable trunks)."""
    layers: list[nn.Module] = []
    if cfg.fourier:
        ff = FourierFeatures(n_in, cfg.fourier, cfg.fourier_scale)
        layers.append(ff)
        n_in = ff.n_out
    if cfg.kind.endswith("kan"):
        layers.append(KAN(n_in, rank, cfg.width, cfg.depth, cfg.degree, cfg.layer_norm, groups))
    else:
        layers.append(MLP(n_in, rank, cfg.width, cfg.depth, cfg.activation, groups=groups))
    return nn.Sequential(*layers)


def value_and_derivatives(f, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """f(t), f'(t), f''(t) for a pointwise map f (each output depends on one entry of t only),
    by nested forward-mode jvp.

    One jvp with a tangent of ones gives the derivative at every point at once, because the
    output at point i depends only on t_i.
    """
    ones = torch.ones_like(t)

    def first(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return jvp(f, (s,), (ones,))

    (value, d1), (_, d2) = jvp(first, (t,), (ones,))
    return value, d1, d2


def _padded(ts: list[torch.Tensor]) -> torch.Tensor:
    """Stack 1-D tensors of different lengths into (len(ts), max length), padding with the last
    value (padded rows are computed and dropped)."""
    n = max(t.shape[0] for t in ts)
    return torch.stack([torch.cat([t, t[-1:].expand(n - t.shape[0])]) for t in ts])


class SeparableTrunk(nn.Module):
    """t_r(x̂, ŷ, ŝ) = X_r(x̂)·Y_r(ŷ)·Z_r(ŝ): one small network per axis, run as one grouped
    network so the three axes cost one batched product per layer."""

    def __init__(self, cfg: TrunkConfig, rank: int, cosine_x: bool, cosine_y: bool) -> None:
        super().__init__()
        self.embed = nn.ModuleList(
            [AxisEmbedding(cosine_x), AxisEmbedding(cosine_y), AxisEmbedding(False)]
        )
        self.net = trunk_network(cfg, 1, rank, groups=3)

    def features(self, x: torch.Tensor, y: torch.Tensor, s: torch.Tensor) -> list[torch.Tensor]:
        """[X (nx, rank), Y (ny, rank), Z (nz, rank)] at the given coordinates."""
        ts = [self.embed[i](t) for i, t in enumerate((x, y, s))]
        out = self.net(_padded(ts)[..., None])
        return [out[i, : t.shape[0]] for i, t in enumerate(ts)]

    def derivatives(
        self, x: torch.Tensor, y: torch.Tensor, s: torch.Tensor
    ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per axis: features and their first and second derivatives, each (n, rank).

        The network's derivatives with respect to its input e come from forward-mode jvp on all
        points of all three axes at once; the embedding e(t) is differentiated in closed form and
        joined by the chain rule.
        """
        emb = [self.embed[i].derivatives(t) for i, t in enumerate((x, y, s))]
        e, e1, e2 = (_padded([d[k] for d in emb]) for k in range(3))  # (3, n)
        g, g1, g2 = value_and_derivatives(lambda v: self.net(v[..., None]), e)  # (3, n, rank)
        e1, e2 = e1[..., None], e2[..., None]
        d1, d2 = g1 * e1, g2 * e1 * e1 + g1 * e2
        return [
            (g[i, :n], d1[i, :n], d2[i, :n]) for i, n in enumerate(t.shape[0] for t in (x, y, s))
        ]


class PointTrunk(nn.Module):
    """t(x̂, ŷ, ŝ): one network on the 3-D point."""

    def __init__(self, cfg: TrunkConfig, rank: int, cosine_x: bool, cosine_y: bool) -> None:
        super().__init__()
        self.embed = nn.ModuleList(
            [AxisEmbedding(cosine_x), AxisEmbedding(cosine_y), AxisEmbedding(False)]
        )
        self.net = trunk_network(cfg, 3, rank)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """(..., 3) points -> (..., rank) features."""
        embedded = torch.stack([e(points[..., i]) for i, e in enumerate(self.embed)], dim=-1)
        return self.net(embedded)


class DeepONet(nn.Module):
    """Branch · trunk operator in nondimensional units (see module docstring)."""

    def __init__(
        self,
        cfg: ModelConfig,
        sensors: tuple[int, int],
        n_params: int,
        cosine_x: bool,
        cosine_y: bool,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.branch = Branch(sensors, cfg.rank, n_params, cfg.branch)
        trunk = SeparableTrunk if cfg.trunk.separable else PointTrunk
        self.trunk = trunk(cfg.trunk, cfg.rank, cosine_x, cosine_y)

    @property
    def separable(self) -> bool:
        return self.cfg.trunk.separable

    def grid(
        self, coefficients: torch.Tensor, x: torch.Tensor, y: torch.Tensor, s: torch.Tensor
    ) -> torch.Tensor:
        """u on the tensor grid s × y × x: (B, nz, ny, nx) from coefficients (B, rank)."""
        if self.separable:
            fx, fy, fz = self.trunk.features(x, y, s)
            return combine(coefficients, fz, fy, fx)
        zz, yy, xx = torch.meshgrid(s, y, x, indexing="ij")
        features = self.trunk(torch.stack([xx, yy, zz], dim=-1))  # (nz, ny, nx, rank)
        return torch.einsum("br,zyxr->bzyx", coefficients, features)

    def points(self, coefficients: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """u at per-sample points (B, N, 3) -> (B, N)."""
        if self.separable:
            fx, fy, fz = self.trunk.features(*(points[..., i].reshape(-1) for i in range(3)))
            product = (fx * fy * fz).reshape(*points.shape[:-1], -1)
        else:
            product = self.trunk(points)
        return torch.einsum("br,bnr->bn", coefficients, product)


def combine(b: torch.Tensor, fz: torch.Tensor, fy: torch.Tensor, fx: torch.Tensor) -> torch.Tensor:
    """Σ_r b[B, r]·Z[z, r]·Y[y, r]·X[x, r] -> (B, nz, ny, nx), contracted axis by axis so the
    cost is B·nz·ny·nx·rank with no larger intermediate than (B, nz, ny, rank)."""
    bzy = (b[:, None, None, :] * fz[None, :, None, :]) * fy[None, None, :, :]
    return bzy @ fx.T


def to_tensor(array: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """float32 tensor on ``device``."""
    return torch.as_tensor(np.asarray(array), dtype=torch.float32, device=device)
