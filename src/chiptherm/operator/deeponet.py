"""DeepONet: a branch network on the design input, a trunk network on the coordinate.

    u(q, p; x̂, ŷ, ŝ) = Σ_r b_r(q, p) · t_r(x̂, ŷ, ŝ)

with q the power-density map on the sensor grid, p the scalar parameters, and (x̂, ŷ, ŝ) the
nondimensional coordinate (see :mod:`chiptherm.operator.case`). Trunks:

- ``mlp`` / ``kan``: one network on the point (x̂, ŷ, ŝ) -> R^rank (optionally Fourier features).
- ``separable-mlp`` / ``separable-kan``: one network per axis, t_r = X_r(x̂)·Y_r(ŷ)·Z_r(ŝ), so a
  full nx × ny × nz grid costs nx + ny + nz trunk evaluations; combined as rank-r products or,
  with ``combine: tucker``, over all index triples (see :class:`ModelConfig`).

Adiabatic side pairs are built in: the x (y) input enters as cos(jπ x̂), whose derivatives
vanish at x̂ = 0 and 1, so every trunk satisfies the zero-flux condition exactly.

The branch is linear in q by default (``branch.width = 0``): the heat equation is linear, so the
operator is exactly linear in the power map for fixed cooling, and a linear branch keeps that
structure (zero power gives ambient temperature, superposition holds). With parameters, the map
features are modulated by a small network of the parameters, which keeps linearity in q.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.func import jvp

from chiptherm.operator.config import BranchConfig, ModelConfig, TrunkConfig
from chiptherm.operator.modal import ModalBranch, ModalGeometry, ModalTrunk
from chiptherm.operator.nets import KAN, MLP, FourierFeatures


def cosine_modes(n: int, m: int) -> torch.Tensor:
    """(n, m) the first m DCT-II modes on n cell centres, divided by n (so a map of ones projects
    to O(1) features)."""
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


class TuckerBranch(nn.Module):
    """(B, ny, nx) map, (B, P) parameters -> (B, m, m, m) coefficients C_jik = F_ji·W_jik, with
    F = P_yᵀ·q·P_x (P initialized to cosine modes); linear in q. Parameters scale F per mode."""

    def __init__(
        self, sensors: tuple[int, int], rank: int, n_params: int, cfg: BranchConfig
    ) -> None:
        super().__init__()
        ny, nx = sensors
        self.project_y = nn.Parameter(cosine_modes(ny, rank) * math.sqrt(ny))
        self.project_x = nn.Parameter(cosine_modes(nx, rank) * math.sqrt(nx))
        self.weight = nn.Parameter(torch.randn(rank, rank, rank) / rank**2)
        self.params = (
            MLP(n_params, rank * rank, cfg.param_width, 2, cfg.activation) if n_params else None
        )
        self.scale = 1.0 / math.sqrt(ny * nx)

    def forward(self, q: torch.Tensor, p: torch.Tensor | None = None) -> torch.Tensor:
        f = (self.project_y.T @ q @ self.project_x) * self.scale  # (B, m, m)
        if self.params is not None:
            f = f * (1.0 + self.params(p).reshape(f.shape))
        return f[..., None] * self.weight


Derivatives = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class LateralEmbedding(nn.Module):
    """x̂ (or ŷ) in [0, 1] -> ``features`` inputs of the trunk, with their derivatives.

    Adiabatic axis: cos(jπt), j = 1..features. Every one has zero slope at t = 0 and 1, so any
    trunk satisfies the zero-flux side conditions exactly; the higher j let the trunk resolve
    sharp lateral features. Other axes: 2t - 1 followed by cos(jπt), j = 1..features-1.
    """

    def __init__(self, adiabatic: bool, features: int) -> None:
        super().__init__()
        first = 1 if adiabatic else 0
        self.linear = not adiabatic
        k = math.pi * torch.arange(first, first + features - self.linear, dtype=torch.float64)
        self.register_buffer("k", k.float(), persistent=False)  # derived from the config
        self.features = features

    def derivatives(self, t: torch.Tensor) -> Derivatives:
        """e(t), e'(t), e''(t), each (n, features)."""
        phase = t[:, None] * self.k
        c, s = torch.cos(phase), torch.sin(phase)
        e, e1, e2 = c, -self.k * s, -self.k.square() * c
        if self.linear:
            e = torch.cat([2.0 * t[:, None] - 1.0, e], dim=1)
            e1 = torch.cat([torch.full_like(t[:, None], 2.0), e1], dim=1)
            e2 = torch.cat([torch.zeros_like(t[:, None]), e2], dim=1)
        return e, e1, e2

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.derivatives(t)[0]


class DepthEmbedding(nn.Module):
    """ŝ in [0, 1] -> ``features`` inputs: 2ŝ - 1, then boundary-layer shapes of decreasing width
    w = 1/4, 1/16, ...: exp(-ŝ/w) and exp(-(1-ŝ)/w) at the bottom and top faces and Gaussians
    exp(-((ŝ-c)/w)²) around interior sources at c. They let a small network represent the thin
    layers where a sharp power map decays into the stack."""

    def __init__(self, features: int, centres: tuple[float, ...] = ()) -> None:
        super().__init__()
        shapes: list[tuple[str, float, float]] = []
        width = 0.25
        while len(shapes) < features - 1:
            for kind, c in [("face", 1.0), ("face", 0.0)] + [("bump", c) for c in centres]:
                shapes.append((kind, c, width))
            width /= 4.0
        self.shapes = shapes[: features - 1]
        self.features = features

    def derivatives(self, t: torch.Tensor) -> Derivatives:
        """e(t), e'(t), e''(t), each (n, features)."""
        cols = [(2.0 * t - 1.0, torch.full_like(t, 2.0), torch.zeros_like(t))]
        for kind, c, w in self.shapes:
            if kind == "face":
                sign = 1.0 if c == 0.0 else -1.0  # decays away from the face
                g = torch.exp(-sign * (t - c) / w)
                cols.append((g, -sign / w * g, g / w**2))
            else:
                d = (t - c) / w
                g = torch.exp(-d.square())
                cols.append((g, -2.0 * d / w * g, (4.0 * d.square() - 2.0) / w**2 * g))
        return tuple(torch.stack([col[k] for col in cols], dim=1) for k in range(3))  # type: ignore[return-value]

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.derivatives(t)[0]


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


def value_and_derivatives(
    f, e: torch.Tensor, e1: torch.Tensor, e2: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """g(t) = f(e(t)) and its first and second derivatives in t, by nested forward-mode jvp.

    ``f`` maps (..., n, K) inputs to (..., n, r) pointwise (output n depends on input n only);
    e, e1, e2 are the inputs and their first and second t-derivatives. One jvp along e' gives
    g' = J·e' at every point at once; a jvp of that along (e', e'') gives
    g'' = e'ᵀ·H·e' + J·e''.
    """

    def first(v: torch.Tensor, dv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return jvp(f, (v,), (dv,))

    (value, d1), (_, d2) = jvp(first, (e, e1), (e1, e2))
    return value, d1, d2


def embeddings(
    cfg: TrunkConfig, cosine_x: bool, cosine_y: bool, centres: tuple[float, ...]
) -> nn.ModuleList:
    k = cfg.features
    return nn.ModuleList(
        [LateralEmbedding(cosine_x, k), LateralEmbedding(cosine_y, k), DepthEmbedding(k, centres)]
    )


def _padded(ts: list[torch.Tensor]) -> torch.Tensor:
    """Stack tensors (n_i, ...) of different lengths into (len(ts), max n_i, ...), padding with
    the last row (padded rows are computed and dropped)."""
    n = max(t.shape[0] for t in ts)
    return torch.stack([torch.cat([t, t[-1:].expand(n - t.shape[0], *t.shape[1:])]) for t in ts])


class SeparableTrunk(nn.Module):
    """t_r(x̂, ŷ, ŝ) = X_r(x̂)·Y_r(ŷ)·Z_r(ŝ): one small network per axis, run as one grouped
    network so the three axes cost one batched product per layer. With ``lateral: cosine``
    X and Y are the cosine modes themselves and only Z is a network."""

    def __init__(
        self,
        cfg: TrunkConfig,
        rank: int,
        cosine_x: bool,
        cosine_y: bool,
        centres: tuple[float, ...] = (),
    ) -> None:
        super().__init__()
        self.embed = embeddings(cfg, cosine_x, cosine_y, centres)
        self.cosine = cfg.lateral == "cosine"
        if self.cosine and not (cosine_x and cosine_y):
            raise ValueError("lateral: cosine needs adiabatic side faces")
        self.net = trunk_network(cfg, cfg.features, rank, groups=1 if self.cosine else 3)
        wavenumbers = math.pi * torch.arange(rank, dtype=torch.float64)
        self.register_buffer("k", wavenumbers.float(), persistent=False)

    def modes(self, t: torch.Tensor) -> Derivatives:
        """cos(iπt), i = 0..rank-1, and its first and second derivatives, each (n, rank)."""
        phase = t[:, None] * self.k
        c = torch.cos(phase)
        return c, -self.k * torch.sin(phase), -self.k.square() * c

    def features(self, x: torch.Tensor, y: torch.Tensor, s: torch.Tensor) -> list[torch.Tensor]:
        """[X (nx, rank), Y (ny, rank), Z (nz, rank)] at the given coordinates."""
        ts = (x, y, s)
        if self.cosine:
            return [self.modes(x)[0], self.modes(y)[0], self.net(self.embed[2](s))]
        out = self.net(_padded([self.embed[i](t) for i, t in enumerate(ts)]))
        return [out[i, : t.shape[0]] for i, t in enumerate(ts)]

    def derivatives(
        self, x: torch.Tensor, y: torch.Tensor, s: torch.Tensor
    ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per axis: features and their first and second derivatives, each (n, rank).

        The embeddings are differentiated in closed form; the network by forward-mode jvp on all
        points of all three axes at once (see :func:`value_and_derivatives`).
        """
        ts = (x, y, s)
        if self.cosine:
            depth = value_and_derivatives(self.net, *self.embed[2].derivatives(s))
            return [self.modes(x), self.modes(y), depth]
        emb = [self.embed[i].derivatives(t) for i, t in enumerate(ts)]
        e, e1, e2 = (_padded([d[k] for d in emb]) for k in range(3))  # (3, n, K)
        g, d1, d2 = value_and_derivatives(self.net, e, e1, e2)  # (3, n, rank)
        return [(g[i, :n], d1[i, :n], d2[i, :n]) for i, n in enumerate(t.shape[0] for t in ts)]


class PointTrunk(nn.Module):
    """t(x̂, ŷ, ŝ): one network on the embedded 3-D point."""

    def __init__(
        self,
        cfg: TrunkConfig,
        rank: int,
        cosine_x: bool,
        cosine_y: bool,
        centres: tuple[float, ...] = (),
    ) -> None:
        super().__init__()
        self.embed = embeddings(cfg, cosine_x, cosine_y, centres)
        self.net = trunk_network(cfg, 3 * cfg.features, rank)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """(..., 3) points -> (..., rank) features."""
        shape = points.shape[:-1]
        flat = points.reshape(-1, 3)
        embedded = torch.cat([e(flat[:, i]) for i, e in enumerate(self.embed)], dim=-1)
        return self.net(embedded).reshape(*shape, -1)


class DeepONet(nn.Module):
    """Branch · trunk operator in nondimensional units (see module docstring)."""

    def __init__(
        self,
        cfg: ModelConfig,
        sensors: tuple[int, int],
        n_params: int,
        cosine_x: bool,
        cosine_y: bool,
        centres: tuple[float, ...] = (),
        geometry: ModalGeometry | None = None,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        if cfg.combine == "modal":
            if geometry is None:
                raise ValueError("combine: modal needs the case geometry")
            self.branch = ModalBranch(geometry, sensors, cfg.rank)
            self.trunk = ModalTrunk(geometry, cfg.rank, cfg.trunk, cfg.chebyshev)
            return
        branch = TuckerBranch if cfg.combine == "tucker" else Branch
        self.branch = branch(sensors, cfg.rank, n_params, cfg.branch)
        trunk = SeparableTrunk if cfg.trunk.separable else PointTrunk
        self.trunk = trunk(cfg.trunk, cfg.rank, cosine_x, cosine_y, centres)

    @property
    def separable(self) -> bool:
        return self.cfg.trunk.separable

    @property
    def modal(self) -> bool:
        return self.cfg.combine == "modal"

    def contract(
        self, coefficients: torch.Tensor, fz: torch.Tensor, fy: torch.Tensor, fx: torch.Tensor
    ) -> torch.Tensor:
        """(B, nz, ny, nx) field from branch coefficients and per-axis trunk features (or their
        derivatives) of a separable trunk."""
        if self.cfg.combine == "tucker":
            return combine_tucker(coefficients, fz, fy, fx)
        return combine(coefficients, fz, fy, fx)

    def grid(
        self, coefficients: torch.Tensor, x: torch.Tensor, y: torch.Tensor, s: torch.Tensor
    ) -> torch.Tensor:
        """u on the tensor grid s × y × x: (B, nz, ny, nx) from the branch coefficients."""
        if self.modal:
            return self.trunk.grid(coefficients, x, y, s)
        if self.separable:
            fx, fy, fz = self.trunk.features(x, y, s)
            return self.contract(coefficients, fz, fy, fx)
        zz, yy, xx = torch.meshgrid(s, y, x, indexing="ij")
        features = self.trunk(torch.stack([xx, yy, zz], dim=-1))  # (nz, ny, nx, rank)
        return torch.einsum("br,zyxr->bzyx", coefficients, features)

    def points(self, coefficients: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """u at per-sample points (B, N, 3) -> (B, N)."""
        if self.modal:
            return self.trunk.points(coefficients, points)
        if self.separable:
            fx, fy, fz = self.trunk.features(*(points[..., i].reshape(-1) for i in range(3)))
            if self.cfg.combine == "tucker":
                shape = (*points.shape[:-1], -1)
                fx, fy, fz = fx.reshape(shape), fy.reshape(shape), fz.reshape(shape)
                return torch.einsum("bjik,bnk,bnj,bni->bn", coefficients, fz, fy, fx)
            product = (fx * fy * fz).reshape(*points.shape[:-1], -1)
        else:
            product = self.trunk(points)
        return torch.einsum("br,bnr->bn", coefficients, product)


def combine(b: torch.Tensor, fz: torch.Tensor, fy: torch.Tensor, fx: torch.Tensor) -> torch.Tensor:
    """Σ_r b[B, r]·Z[z, r]·Y[y, r]·X[x, r] -> (B, nz, ny, nx), contracted axis by axis so the
    cost is B·nz·ny·nx·rank with no larger intermediate than (B, nz, ny, rank)."""
    bzy = (b[:, None, None, :] * fz[None, :, None, :]) * fy[None, None, :, :]
    return bzy @ fx.T


def combine_tucker(
    c: torch.Tensor, fz: torch.Tensor, fy: torch.Tensor, fx: torch.Tensor
) -> torch.Tensor:
    """Σ_jik C[B, j, i, k]·Z[z, k]·Y[y, j]·X[x, i] -> (B, nz, ny, nx), one axis at a time."""
    g = c @ fz.T  # (B, j, i, z)
    h = torch.einsum("yj,bjiz->bzyi", fy, g)
    return h @ fx.T


def to_tensor(array: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """float32 tensor on ``device``."""
    return torch.as_tensor(np.asarray(array), dtype=torch.float32, device=device)
