"""The modal operator: exact lateral modes, depth profiles from a physics basis.

With adiabatic side faces, the temperature of a laterally uniform stack is a cosine series,

    u(x̂, ŷ, ŝ) = Σ_ji F_ji(q) · cos(iπx̂) · cos(jπŷ) · G(w_ji, Bi, ŝ),

where F_ji are the cosine coefficients of the power map (exact, for the piecewise-constant sensor
map) and G is the depth response of mode (i, j) to a unit source. In the nondimensional
equation of :mod:`chiptherm.operator.physics` every mode obeys its own 1-D problem

    G'' - π²w²·a_x(ŝ)·G + Q(ŝ) = 0,       w² = i² + (a_y/a_x)·j²,

with the face conditions of the stack (Biot numbers Bi = h·S of the cooled faces). This is a
DeepONet whose branch is the cosine projection of the map (and the heat-transfer coefficients)
and whose trunk functions are cos·cos·G, one per mode.

The face conditions are linear, so G = σ(w)·G₀ + a·G₁ + b·G₂: G₀ carries the source with both
faces held at zero, G₁ and G₂ are the source-free profiles with the value 1 at the bottom and
at the top face. The face values a, b follow from the two face conditions exactly, for any
heat-transfer coefficients (:meth:`ModalDepth.face_values`). Each part is written in a *physics
basis*, G_n = Σ_k c_nk(w)·φ_k(w, ŝ), with

- polynomials 1, ŝ, ŝ², ŝ³ and the splines (ŝ-ŝ_i)₊², (ŝ-ŝ_i)₊³ at every interface: at w = 0 the
  exact profiles (linear in passive layers, quadratic in the source layer, slope continuous)
  lie in their span;
- exp(-πw·|τ - τ_k|) for every interface and face, with τ(ŝ) = ∫ √a_x dŝ the lateral
  "optical depth" (τ = z/Lx in isotropic layers): in each layer the homogeneous solutions;
- the response of an unbounded medium to the source layer (``slab``): the particular solution.

For any w > 0 the exact profiles are combinations of these functions, so the network only has
to learn the smooth map w -> c (a KAN or MLP on ξ = log(w/w₁) scaled to [-1, 1]), followed by
linear heads. σ(w) = 1/(1 + a_src·π²w²/Q) (volumetric source) or 1/(1 + πw·√a/Qs) (surface
source) scales G₀ to O(1). The laterally uniform mode w = 0 has its own heads.

Training (:class:`~chiptherm.operator.modal_physics.ModalLoss`) needs no power maps and no
heat-transfer coefficients: by linearity and orthogonality of the modes, the PDE residual of
any map is the F-weighted sum of the mode residuals, so the loss is the residual of the three
parts of sampled modes w on sampled depths ŝ. The residual is linear in the heads, which are
refitted exactly by least squares.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from chiptherm.errors import UnsupportedError
from chiptherm.operator.case import Case
from chiptherm.operator.config import TrunkConfig
from chiptherm.operator.nets import KAN, MLP

Basis = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class ModalGeometry:
    """What the modal basis needs to know about a case (nondimensional, bottom layer first).

    Attributes:
        s0, s1: layer extents in ŝ.
        ax: lateral coefficient a_x of each layer.
        source: Q per unit normalized density in each layer (0 outside the source layer).
        ratio: a_y / a_x, the same in every layer.
        source_layer: index of the layer carrying the power, or None (surface power).
        source_face: 'top' or 'bottom' for surface power, else None.
        surface: Qs per unit normalized density for surface power.
        faces: 'top' and 'bottom' -> 'convective', 'fixed' or 'adiabatic'.
        biot: 'top' and 'bottom' -> h·S of the stack's own coefficient (0 if none).
        parameters: (face, low, high) Biot-number range h·S of each scalar input.
    """

    s0: tuple[float, ...]
    s1: tuple[float, ...]
    ax: tuple[float, ...]
    source: tuple[float, ...]
    ratio: float
    source_layer: int | None
    source_face: str | None
    surface: float
    faces: dict[str, str]
    biot: dict[str, float]
    parameters: tuple[tuple[str, float, float], ...] = ()

    @classmethod
    def from_case(cls, case: Case) -> ModalGeometry:
        """The geometry of ``case``; refuses cases the modal expansion cannot represent."""
        if not (case.adiabatic_axis("x") and case.adiabatic_axis("y")):
            raise UnsupportedError("the modal operator needs adiabatic side faces")
        spans = case.layers
        ratios = {round(sp.ay / sp.ax, 12) for sp in spans}
        if len(ratios) > 1:
            raise UnsupportedError(
                "the modal operator needs the same lateral anisotropy k_y/k_x in every layer"
            )
        for below, above in itertools.pairwise(spans):
            if above.s0 - below.s1 > 1e-12:
                raise UnsupportedError(
                    f"the modal operator does not support the contact resistance below layer "
                    f"{above.name!r}"
                )
        big_s = case.s_total
        faces, biot = {}, {}
        for face in ("top", "bottom"):
            bc = case.boundary(face)
            faces[face] = (
                "fixed" if bc.temperature is not None else "convective" if bc.htc else "adiabatic"
            )
            biot[face] = float(bc.htc) * big_s if bc.htc else 0.0
        layer = next((i for i, sp in enumerate(spans) if sp.source), None)
        return cls(
            s0=tuple(sp.s0 for sp in spans),
            s1=tuple(sp.s1 for sp in spans),
            ax=tuple(sp.ax for sp in spans),
            source=case.source_coefficients,
            ratio=ratios.pop(),
            source_layer=layer,
            source_face=case.source_face,
            surface=case.surface_coefficient,
            faces=faces,
            biot=biot,
            parameters=tuple((p.face, p.low * big_s, p.high * big_s) for p in case.parameters),
        )

    @property
    def layers(self) -> int:
        return len(self.s0)

    def wavenumbers(self, modes: int) -> np.ndarray:
        """(modes, modes) w_ji = sqrt(i² + ratio·j²) of the lateral modes (row j, column i)."""
        i = np.arange(modes, dtype=float)
        return np.sqrt(i[None, :] ** 2 + self.ratio * i[:, None] ** 2)

    @property
    def w_min(self) -> float:
        """The smallest nonzero wavenumber."""
        return min(1.0, math.sqrt(self.ratio))

    def layer_of(self, s: np.ndarray) -> np.ndarray:
        """Index of the layer holding each ŝ (the lower one at an interface)."""
        idx = np.searchsorted(np.asarray(self.s1), np.asarray(s), side="left")
        return np.clip(idx, 0, self.layers - 1)


class ModalBasis(nn.Module):
    """The depth basis φ_k(w, ŝ) of a :class:`ModalGeometry`, with its ŝ-derivatives."""

    def __init__(self, geo: ModalGeometry) -> None:
        super().__init__()
        self.geo = geo
        s0 = torch.tensor(geo.s0, dtype=torch.float64)
        s1 = torch.tensor(geo.s1, dtype=torch.float64)
        root = torch.tensor(geo.ax, dtype=torch.float64).sqrt()
        tau0 = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(root * (s1 - s0), 0)])
        for name, value in (("s0", s0), ("root", root), ("tau0", tau0)):
            self.register_buffer(name, value.float(), persistent=False)
        self.interfaces = list(geo.s1[:-1])
        self.anchors = [float(t) for t in tau0]
        src = geo.source_layer
        self.slab = None if src is None else (self.anchors[src], self.anchors[src + 1])

    @property
    def size(self) -> int:
        """K, the number of basis functions."""
        return 4 + 2 * len(self.interfaces) + len(self.anchors) + (self.slab is not None)

    def forward(self, w: torch.Tensor, s: torch.Tensor, layer: torch.Tensor) -> Basis:
        """φ, φ', φ'' (P, K) at P points: wavenumber w (P,), depth ŝ (P,), layer index (P,).

        The layer decides one-sided derivatives at interfaces (and which closed form applies).
        """
        rho = math.pi * w
        root = self.root[layer]
        tau = self.tau0[layer] + root * (s - self.s0[layer])
        middle = 0.5 * (self.tau0[layer] + self.tau0[layer + 1])
        one, zero = torch.ones_like(s), torch.zeros_like(s)
        cols = [
            (one, zero, zero),
            (s, one, zero),
            (s * s, 2 * s, 2 * one),
            (s**3, 3 * s * s, 6 * s),
        ]
        for si in self.interfaces:
            d = (s - si).clamp_min(0.0)
            above = (layer > self.interfaces.index(si)).to(s.dtype)
            cols.append((d * d, 2 * d, 2 * above))
            cols.append((d**3, 3 * d * d, 6 * d))
        for anchor in self.anchors:
            sign = torch.where(middle > anchor, 1.0, -1.0)
            f = torch.exp(-rho * (tau - anchor).abs())
            cols.append((f, -rho * sign * root * f, (rho * root).square() * f))
        if self.slab is not None:
            cols.append(self._slab(rho, tau, middle, root))
        return tuple(torch.stack([c[k] for c in cols], dim=1) for k in range(3))  # type: ignore[return-value]

    def _slab(
        self, rho: torch.Tensor, tau: torch.Tensor, middle: torch.Tensor, root: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The response of an unbounded medium (decay rate ρ in τ) to a unit source on
        [τ_a, τ_b], divided by its plateau: 1 - (e_a + e_b)/2 inside, ±(e_a - e_b)/2 outside,
        with e = exp(-ρ|τ - τ_edge|); continuous with a continuous slope."""
        ta, tb = self.slab
        ea, eb = torch.exp(-rho * (tau - ta).abs()), torch.exp(-rho * (tau - tb).abs())
        inside = (middle > ta) & (middle < tb)
        below = middle <= ta
        f = torch.where(
            inside, 1 - 0.5 * (ea + eb), torch.where(below, 0.5 * (ea - eb), 0.5 * (eb - ea))
        )
        d1 = torch.where(inside, 0.5 * rho * (ea - eb), torch.where(below, rho * f, -rho * f))
        d2 = torch.where(inside, -0.5 * rho.square() * (ea + eb), rho.square() * f)
        return f, d1 * root, d2 * root.square()


PROBLEMS = ("source", "bottom", "top")  # the three depth problems of every mode


class ModalDepth(nn.Module):
    """The three depth problems of every mode, solved in the physics basis.

    The profile of mode w with face Biot numbers Bi_b, Bi_t is assembled as

        G = σ(w)·G₀ + a·G₁ + b·G₂,     G_n = Σ_k c_nk(w)·φ_k(w, ŝ),

    where G₀ carries the volumetric source with both faces held at zero, and G₁ (G₂) solves
    the source-free equation with the value 1 at the bottom (top) face and 0 at the other one.
    a = G(0) and b = G(1) follow exactly from the two face conditions, a 2 × 2 linear system
    per mode (:meth:`face_values`): the cooling of the faces never enters the network, so one
    model covers every heat-transfer coefficient exactly. The coefficients c come from a KAN or
    MLP body and linear heads.

    Args:
        geo: the case geometry.
        cfg: the trunk settings: a KAN or MLP body (``kind``) of ``width`` output features,
            ``depth`` hidden layers, ``degree``, ``layer_norm``, ``activation``.
        w_max: the largest wavenumber the model is trained for.
        chebyshev: fixed features T_0..T_{n-1}(ξ) the heads see beside the body's.
    """

    def __init__(
        self, geo: ModalGeometry, cfg: TrunkConfig, w_max: float, chebyshev: int = 24
    ) -> None:
        super().__init__()
        self.geo = geo
        self.basis = ModalBasis(geo)
        self.w_max = w_max
        self.chebyshev = chebyshev
        width = cfg.width
        if cfg.kind.endswith("kan"):
            self.body: nn.Module = KAN(1, width, width, cfg.depth, cfg.degree, cfg.layer_norm)
        else:
            self.body = MLP(1, width, width, cfg.depth, cfg.activation)
        shape = (len(PROBLEMS), self.basis.size, chebyshev + width)
        self.head = nn.Parameter(torch.zeros(shape))
        self.head0 = nn.Parameter(torch.zeros(shape))  # the laterally uniform mode w = 0
        self.gain = self._gain(geo)

    @staticmethod
    def _gain(geo: ModalGeometry) -> tuple[str, float]:
        if geo.source_layer is not None:
            return "volume", geo.ax[geo.source_layer] * math.pi**2 / geo.source[geo.source_layer]
        face = 0 if geo.source_face == "bottom" else -1
        return "surface", math.sqrt(geo.ax[face]) * math.pi / max(geo.surface, 1e-30)

    def sigma(self, w: torch.Tensor) -> torch.Tensor:
        """σ(w): the scale of the profile of mode w per unit normalized density."""
        kind, g = self.gain
        return 1.0 / (1.0 + g * (w.square() if kind == "volume" else w))

    def xi(self, w: torch.Tensor) -> torch.Tensor:
        """ξ = log(w/w₁)/log(w_max/w₁) scaled to [-1, 1] (w₁ the smallest nonzero w)."""
        w1 = self.geo.w_min
        return (
            2.0 * torch.log(w.clamp_min(w1) / w1) / math.log(max(self.w_max / w1, 1.0 + 1e-9)) - 1.0
        )

    def features(self, w: torch.Tensor) -> torch.Tensor:
        """(M, chebyshev + width) head inputs of M wavenumbers: the Chebyshev polynomials
        T_n(ξ), then the body's features."""
        xi = self.xi(w)
        series = [torch.ones_like(xi), xi][: self.chebyshev]
        while len(series) < self.chebyshev:
            series.append(2.0 * xi * series[-1] - series[-2])
        return torch.cat([*(t[:, None] for t in series), self.body(xi[:, None])], dim=1)

    def coefficients(self, w: torch.Tensor) -> torch.Tensor:
        """c (M, 3, K) of the three problems, with the w = 0 heads for the uniform mode."""
        h = self.features(w)
        general = torch.einsum("mh,nkh->mnk", h, self.head)
        uniform = torch.einsum("mh,nkh->mnk", h, self.head0)
        return torch.where((w == 0)[:, None, None], uniform, general)

    def part_profiles(self, w: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """(σ·G₀, G₁, G₂) (M, 3, nz) of M modes at the depths s (nz,)."""
        layer = torch.as_tensor(self.geo.layer_of(s.detach().cpu().numpy()), device=s.device)
        m, nz = w.shape[0], s.shape[0]
        phi = self.basis(w.repeat_interleave(nz), s.repeat(m), layer.repeat(m))[0]
        phi, c = phi.reshape(m, nz, -1), self.coefficients(w)
        sigma = self.sigma(w)[:, None]
        parts = [(phi * c[:, n, None, :]).sum(-1) for n in range(len(PROBLEMS))]
        return torch.stack([sigma * parts[0], *parts[1:]], dim=1)

    def face_slopes(self, w: torch.Tensor) -> torch.Tensor:
        """(M, 3, 2) ŝ-derivatives of (σ·G₀, G₁, G₂) at the bottom and the top face."""
        m, top = w.shape[0], self.geo.layers - 1
        c = self.coefficients(w)
        slopes = []
        for level, layer in ((0.0, 0), (1.0, top)):
            at = torch.full((m,), level, device=w.device)
            d1 = self.basis(w, at, torch.full((m,), layer, device=w.device))[1]
            slopes.append(torch.einsum("mnk,mk->mn", c, d1))
        out = torch.stack(slopes, dim=2)
        out[:, 0] *= self.sigma(w)[:, None]
        return out

    def face_values(
        self, w: torch.Tensor, biot: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(a, b) = (G(0), G(1)) (B, M) of M modes under B face conditions.

        ``biot`` maps 'bottom' and 'top' to (B,) or (1,) Biot numbers h·S (ignored on fixed or
        adiabatic faces). The face conditions G' - Bi_b·G = -Qs_b, G' + Bi_t·G = Qs_t (or G = 0
        on a fixed face) are linear in (a, b) and solved by Cramer's rule.
        """
        geo = self.geo
        d = self.face_slopes(w)[None]  # (1, M, 3, 2)
        rows = []
        for face, col, sign in (("bottom", 0, -1.0), ("top", 1, 1.0)):
            qs = geo.surface if geo.source_face == face else 0.0
            if geo.faces[face] == "fixed":
                unit = torch.ones_like(d[..., 0, col])
                zero = torch.zeros_like(unit)
                rows.append((unit, zero, zero) if face == "bottom" else (zero, unit, zero))
                continue
            bi = biot[face][:, None] if geo.faces[face] == "convective" else 0.0
            own = d[..., 1 + col, col] + sign * bi  # the unit problem of this face
            other = d[..., 2 - col, col]
            pair = (own, other) if face == "bottom" else (other, own)
            rows.append((*pair, sign * qs - d[..., 0, col]))
        (a11, a12, r1), (a21, a22, r2) = rows
        det = a11 * a22 - a12 * a21
        return (r1 * a22 - a12 * r2) / det, (a11 * r2 - a21 * r1) / det


def cosine_coefficients(n: int, modes: int) -> torch.Tensor:
    """(n, modes) P with F = P_yᵀ·q·P_x the continuous cosine coefficients of a map that is
    constant on n equal cells: P[c, i] = (2 - δ_i0)·∫_cell cos(iπt) dt."""
    edges = np.arange(n + 1, dtype=float) / n
    i = np.arange(1, modes, dtype=float)
    ints = (np.sin(np.pi * i * edges[1:, None]) - np.sin(np.pi * i * edges[:-1, None])) / (
        np.pi * i
    )
    out = np.concatenate([np.full((n, 1), 1.0 / n), 2.0 * ints], axis=1)
    return torch.as_tensor(out, dtype=torch.float32)


@dataclass
class ModalInput:
    """The branch output of the modal operator: map coefficients F (B, m, m) and the Biot
    numbers h·S of the bottom and top faces, face -> (B,) or (1,) when shared."""

    f: torch.Tensor
    biot: dict[str, torch.Tensor]


class ModalBranch(nn.Module):
    """(B, ny, nx) normalized map, (B, P) normalized parameters -> :class:`ModalInput`."""

    def __init__(self, geo: ModalGeometry, sensors: tuple[int, int], modes: int) -> None:
        super().__init__()
        self.geo = geo
        ny, nx = sensors
        self.register_buffer("project_y", cosine_coefficients(ny, modes), persistent=False)
        self.register_buffer("project_x", cosine_coefficients(nx, modes), persistent=False)

    def biot(self, p: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """face -> Biot numbers (B,) from the normalized parameters (log scale, see
        :meth:`chiptherm.operator.case.Parameter.normalize`), else the stack's own (1,)."""
        device = self.project_x.device
        out = {f: torch.tensor([b], device=device) for f, b in self.geo.biot.items()}
        for i, (face, low, high) in enumerate(self.geo.parameters):
            assert p is not None
            lo, hi = math.log(low), math.log(high)
            out[face] = torch.exp(lo + 0.5 * (p[:, i] + 1.0) * (hi - lo))
        return out

    def forward(self, q: torch.Tensor, p: torch.Tensor | None = None) -> ModalInput:
        return ModalInput(self.project_y.T @ q @ self.project_x, self.biot(p))


class ModalTrunk(nn.Module):
    """cos(iπx̂)·cos(jπŷ)·G(w_ji, ŝ) for the m x m lateral modes."""

    def __init__(
        self, geo: ModalGeometry, modes: int, cfg: TrunkConfig, chebyshev: int = 24
    ) -> None:
        super().__init__()
        self.modes = modes
        w = torch.as_tensor(geo.wavenumbers(modes), dtype=torch.float32)
        self.register_buffer("w", w, persistent=False)
        self.depth = ModalDepth(geo, cfg, float(w.max()) * 1.05, chebyshev)
        self.register_buffer(
            "k", math.pi * torch.arange(modes, dtype=torch.float32), persistent=False
        )
        self._cache: tuple[tuple, torch.Tensor] | None = None

    def cosines(self, t: torch.Tensor) -> torch.Tensor:
        """(n, m) cos(iπt)."""
        return torch.cos(t[:, None] * self.k)

    def part_profiles(self, s: torch.Tensor) -> torch.Tensor:
        """(σ·G₀, G₁, G₂) (m·m, 3, nz) of every mode at the depths s (nz,).

        They depend on nothing but the network and the depths, so without gradients (at
        prediction) the last result is reused until the depths or any weight change."""
        w = self.w.reshape(-1)
        if torch.is_grad_enabled():
            return self.depth.part_profiles(w, s)
        key = (
            s.device,
            s.detach().cpu().numpy().tobytes(),
            tuple((p.data_ptr(), p._version) for p in self.depth.parameters()),
        )
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self.depth.part_profiles(w, s))
        return self._cache[1]

    def weights(self, inp: ModalInput) -> torch.Tensor:
        """(B, 3, m·m) weights of the three parts of every mode: F, F·a, F·b."""
        f = inp.f.reshape(inp.f.shape[0], -1)
        a, b = self.depth.face_values(self.w.reshape(-1), inp.biot)
        return torch.stack([f, f * a, f * b], dim=1)

    def profiles(self, s: torch.Tensor, biot: dict[str, float] | None = None) -> torch.Tensor:
        """G (m, m, nz) at the depths s (nz,) for the stack's own face coefficients or the
        Biot numbers ``biot`` (face -> h·S)."""
        w = self.w.reshape(-1)
        values = dict(self.depth.geo.biot, **(biot or {}))
        a, b = self.depth.face_values(
            w, {f: torch.tensor([v], device=w.device) for f, v in values.items()}
        )
        g = self.part_profiles(s)
        g = g[:, 0] + a[0, :, None] * g[:, 1] + b[0, :, None] * g[:, 2]
        return g.reshape(self.modes, self.modes, -1)

    def grid(
        self, inp: ModalInput, x: torch.Tensor, y: torch.Tensor, s: torch.Tensor
    ) -> torch.Tensor:
        """u (B, nz, ny, nx) on the tensor grid."""
        cx, cy = self.cosines(x), self.cosines(y)
        g = self.part_profiles(s).transpose(0, 2)  # (nz, 3, m·m)
        weights = self.weights(inp)
        h = sum(weights[:, n, None, :] * g[None, :, n, :] for n in range(len(PROBLEMS)))
        return cy @ h.reshape(*h.shape[:2], self.modes, self.modes) @ cx.T

    def points(self, inp: ModalInput, points: torch.Tensor) -> torch.Tensor:
        """u (B, N) at per-sample points (B, N, 3)."""
        weights = self.weights(inp).reshape(-1, 3, self.modes, self.modes)
        w = self.w.reshape(-1)
        out = []
        for b in range(points.shape[0]):
            x, y, s = points[b, :, 0], points[b, :, 1], points[b, :, 2]
            g = self.depth.part_profiles(w, s).reshape(self.modes, self.modes, 3, -1)
            out.append(
                torch.einsum("nji,jinz,zj,zi->z", weights[b], g, self.cosines(y), self.cosines(x))
            )
        return torch.stack(out)
