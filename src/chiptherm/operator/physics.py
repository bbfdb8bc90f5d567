"""The physics loss: the steady heat equation and its boundary conditions, nondimensional.

In the coordinates of :mod:`chiptherm.operator.case` every layer obeys

    ax·u_x̂x̂ + ay·u_ŷŷ + u_ŝŝ + Q = 0,      Q = q·k_z·S² / θ   (q in W/m³),

and the faces (outward heat flow positive; Bi = h·S for top/bottom, h·L/k for sides):

    top    ŝ = 1:  u_ŝ + Bi·u = Qs        bottom ŝ = 0:  u_ŝ - Bi·u = -Qs
    west   x̂ = 0:  u_x̂ - Bi·u = 0         east   x̂ = 1:  u_x̂ + Bi·u = 0     (same for y)

with Bi = 0 for an adiabatic face, u = 0 for a fixed-temperature face, and Qs = q_s·S/θ the
surface power density q_s (W/m²) entering the face. Flux continuity between layers holds by
construction of ŝ. Each equation is scaled to O(1): the PDE of a layer by 1 + ax + ay + Q₁,
with Q₁ its source per unit normalized density.

Separable trunks get their derivatives per axis by forward-mode differentiation on the whole
collocation grid at once (nx + ny + nz network evaluations); point trunks use the standard
per-point reverse-mode derivatives on all B·nx·ny·nz points — the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from chiptherm.operator.case import Case
from chiptherm.operator.deeponet import DeepONet


@dataclass
class Collocation:
    """Collocation points: a tensor grid ŝ × ŷ × x̂.

    Attributes:
        x, y, s: (nx,), (ny,), (nz,) nondimensional coordinates, interior points.
        layer: (nz,) int64, index into ``case.layers`` (bottom first) of each ŝ point, on the
            same device.
    """

    x: torch.Tensor
    y: torch.Tensor
    s: torch.Tensor
    layer: torch.Tensor


def layer_counts(case: Case, nz: int, minimum: int = 2) -> list[int]:
    """Split nz ŝ-points over the layers: at least ``minimum`` each, the rest by ŝ extent."""
    spans = case.layers
    counts = [minimum] * len(spans)
    extra = max(nz - minimum * len(spans), 0)
    widths = np.array([sp.s1 - sp.s0 for sp in spans])
    share = widths / widths.sum() * extra
    counts = [c + int(v) for c, v in zip(counts, np.floor(share), strict=True)]
    for i in np.argsort(-(share - np.floor(share)))[: nz - sum(counts)]:
        counts[i] += 1
    return counts


def stratified(
    n: int, lo: float, hi: float, rng: np.random.Generator | None, cluster: bool = False
) -> np.ndarray:
    """n points in (lo, hi), one per equal sub-interval: random within it, or its centre.

    With ``cluster`` the sub-intervals are equal in ξ where t = (1 - cos πξ) / 2, which crowds
    the points towards both ends (faces, interfaces and surface sources, where fields bend most).
    """
    offset = 0.5 if rng is None else rng.uniform(0.0, 1.0, n)
    xi = (np.arange(n) + offset) / n
    if cluster:
        xi = 0.5 * (1.0 - np.cos(np.pi * xi))
    return lo + xi * (hi - lo)


def sample_collocation(
    case: Case,
    counts: tuple[int, int, int],
    rng: np.random.Generator | None,
    device: torch.device | str = "cpu",
    cluster: bool = True,
) -> Collocation:
    """Collocation grid of (nx, ny, nz) points; stratified random when ``rng`` is given, the ŝ
    points of each layer crowded towards its faces when ``cluster`` is set."""
    nx, ny, nz = counts
    s_parts, layer = [], []
    for i, (span, n) in enumerate(zip(case.layers, layer_counts(case, nz), strict=True)):
        s_parts.append(stratified(n, span.s0, span.s1, rng, cluster))
        layer += [i] * n

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a, dtype=torch.float32, device=device)

    return Collocation(
        t(stratified(nx, 0.0, 1.0, rng)),
        t(stratified(ny, 0.0, 1.0, rng)),
        t(np.concatenate(s_parts)),
        torch.as_tensor(np.asarray(layer, dtype=np.int64), device=device),
    )


def density_at(q: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Piecewise-constant sensor map q (B, my, mx) at points x (nx,), y (ny,) -> (B, ny, nx)."""
    my, mx = q.shape[-2:]
    ix = torch.clamp((x * mx).long(), 0, mx - 1)
    iy = torch.clamp((y * my).long(), 0, my - 1)
    return q[:, iy][:, :, ix]


@dataclass
class Inputs:
    """A training batch in nondimensional form.

    Attributes:
        q: (B, my, mx) power density divided by ``case.power_scale``.
        p: (B, P) normalized parameters, or None.
        biot: face -> (B,) h·S of each top/bottom convective face for each sample.
    """

    q: torch.Tensor
    p: torch.Tensor | None
    biot: dict[str, torch.Tensor]


class PhysicsLoss:
    """Residuals of a case's equations for a DeepONet; call it to get the loss terms."""

    def __init__(
        self, case: Case, device: torch.device | str = "cpu", energy: bool = False
    ) -> None:
        self.case = case
        # the face conditions, read once (a stack builds a default for each face not given)
        faces = ("top", "bottom", "west", "east", "south", "north")
        self.boundaries = {face: case.boundary(face) for face in faces}
        # the global balance (heat out of the cooled faces = power in) as an extra term; only
        # where all heat leaves through convective top/bottom faces
        self.energy = energy and all(
            face in ("top", "bottom") and bc.htc is not None
            for face, bc in self.boundaries.items()
            if bc.removes_heat
        )
        spans = case.layers
        ax = np.array([sp.ax for sp in spans])
        ay = np.array([sp.ay for sp in spans])
        # Q per unit normalized density: q_vol = density / thickness
        source = np.array(case.source_coefficients)
        self.surface = case.surface_coefficient
        self.source_face = case.source_face
        # each layer's equation divided by the size of its terms: conduction coefficients and
        # the source (normalized densities have RMS 1), so thin, strongly heated or highly
        # conductive layers neither dominate nor vanish from the loss
        norm = 1.0 + ax + ay + source
        self.sides = [f for f in ("west", "east", "south", "north") if not self._hard(f)]
        side_biot = {
            face: np.array([case.side_biot(face, sp) for sp in spans])
            for face in self.sides
            if self.boundaries[face].htc is not None
        }
        # per-layer constants as device tables, looked up by each point's layer index: no
        # host-to-device copy inside a step (a step recorded as a CUDA graph may not hold one)
        # and nothing that stops torch.compile from tracing the loss as one graph
        tables = {"ax": ax, "ay": ay, "source": source, "norm": norm, **side_biot}
        self.tables = {
            name: torch.as_tensor(v, dtype=torch.float32, device=device)
            for name, v in tables.items()
        }
        self.edges = torch.tensor([0.0, 1.0], device=device)  # the ends of every axis

    def _hard(self, face: str) -> bool:
        axis = "x" if face in ("west", "east") else "y"
        return self.case.adiabatic_axis(axis)

    def _per_z(self, name: str, layer: torch.Tensor) -> torch.Tensor:
        """The per-layer constant ``name`` (ax, ay, source, norm, or a convective side face's
        Biot number) at each depth point: (nz,) from the (nz,) layer indices."""
        return self.tables[name][layer]

    # -- separable: per-axis forward-mode derivatives -----------------------------------------
    def separable_terms(
        self, model: DeepONet, b: torch.Tensor, inputs: Inputs, col: Collocation
    ) -> dict[str, torch.Tensor]:
        """Mean squared residuals (PDE and each face) for a separable trunk."""
        edge = self.edges
        axes = model.trunk.derivatives(*(torch.cat([t, edge]) for t in (col.x, col.y, col.s)))
        feats = []
        for t, (f, d1, d2) in zip((col.x, col.y, col.s), axes, strict=True):
            n = t.shape[0]  # interior points first, then the two ends
            feats.append((f[:n], d1[:n], d2[:n], f[n:], d1[n:]))
        (fx, _, dxx, fx_e, dx_e), (fy, _, dyy, fy_e, dy_e), (fz, _, dzz, fz_e, dz_e) = feats

        ax, ay = self._per_z("ax", col.layer), self._per_z("ay", col.layer)
        q_xy = density_at(inputs.q, col.x, col.y)  # (B, ny, nx)
        c = model.contract
        lap = (
            ax[None, :, None, None] * c(b, fz, fy, dxx)
            + ay[None, :, None, None] * c(b, fz, dyy, fx)
            + c(b, dzz, fy, fx)
        )
        pde = lap + self._per_z("source", col.layer)[None, :, None, None] * q_xy[:, None]
        pde = pde / self._per_z("norm", col.layer)[None, :, None, None]
        terms = {"pde": pde.square().mean()}

        faces = {}
        for face, k in (("bottom", 0), ("top", 1)):
            u = c(b, fz_e[k : k + 1], fy, fx)[:, 0]
            du = c(b, dz_e[k : k + 1], fy, fx)[:, 0]
            terms[face] = self._top_bottom(face, u, du, q_xy, inputs).square().mean()
            faces[face] = u
        if self.energy:
            terms["energy"] = self._energy(faces, inputs)
        for face in self.sides:
            axis, k = (
                (0, 0)
                if face == "west"
                else (0, 1)
                if face == "east"
                else (1, 0)
                if face == "south"
                else (1, 1)
            )
            if axis == 0:
                u = c(b, fz, fy, fx_e[k : k + 1])[..., 0]  # (B, nz, ny)
                du = c(b, fz, fy, dx_e[k : k + 1])[..., 0]
            else:
                u = c(b, fz, fy_e[k : k + 1], fx)[:, :, 0]  # (B, nz, nx)
                du = c(b, fz, dy_e[k : k + 1], fx)[:, :, 0]
            terms[face] = self._side(face, u, du, col.layer).square().mean()
        return terms

    # -- point trunks: per-point reverse-mode derivatives ----------------------------------------
    def point_terms(
        self, model: DeepONet, b: torch.Tensor, inputs: Inputs, col: Collocation
    ) -> dict[str, torch.Tensor]:
        """Mean squared residuals for a point trunk (autograd on every point of every sample)."""
        nb = b.shape[0]
        zz, yy, xx = torch.meshgrid(col.s, col.y, col.x, indexing="ij")
        grid = torch.stack([xx, yy, zz], -1)
        pts = grid.expand(nb, *grid.shape).reshape(nb, -1, 3).clone().requires_grad_(True)
        u = model.points(b, pts)
        (g,) = torch.autograd.grad(u.sum(), pts, create_graph=True)
        second = [
            torch.autograd.grad(g[..., i].sum(), pts, create_graph=True)[0][..., i]
            for i in range(3)
        ]
        shape = (nb, *grid.shape[:3])
        uxx, uyy, uss = (d.reshape(shape) for d in second)
        ax, ay = self._per_z("ax", col.layer), self._per_z("ay", col.layer)
        q_xy = density_at(inputs.q, col.x, col.y)
        pde = ax[None, :, None, None] * uxx + ay[None, :, None, None] * uyy + uss
        pde = pde + self._per_z("source", col.layer)[None, :, None, None] * q_xy[:, None]
        pde = pde / self._per_z("norm", col.layer)[None, :, None, None]
        terms = {"pde": pde.square().mean()}

        faces = {}
        for face, level in (("bottom", 0.0), ("top", 1.0)):
            yy2, xx2 = torch.meshgrid(col.y, col.x, indexing="ij")
            face_pts = torch.stack([xx2, yy2, torch.full_like(xx2, level)], -1)
            fp = (
                face_pts.expand(nb, *face_pts.shape).reshape(nb, -1, 3).clone().requires_grad_(True)
            )
            uf = model.points(b, fp)
            (gf,) = torch.autograd.grad(uf.sum(), fp, create_graph=True)
            size = (nb, *face_pts.shape[:2])
            faces[face] = uf.reshape(size)
            res = self._top_bottom(face, uf.reshape(size), gf[..., 2].reshape(size), q_xy, inputs)
            terms[face] = res.square().mean()
        if self.energy:
            terms["energy"] = self._energy(faces, inputs)
        for face in self.sides:
            axis = 0 if face in ("west", "east") else 1
            level = 0.0 if face in ("west", "south") else 1.0
            other = col.y if axis == 0 else col.x
            zz2, oo = torch.meshgrid(col.s, other, indexing="ij")
            fixed = torch.full_like(zz2, level)
            cols = [fixed, oo, zz2] if axis == 0 else [oo, fixed, zz2]
            face_pts = torch.stack(cols, -1)
            fp = (
                face_pts.expand(nb, *face_pts.shape).reshape(nb, -1, 3).clone().requires_grad_(True)
            )
            uf = model.points(b, fp)
            (gf,) = torch.autograd.grad(uf.sum(), fp, create_graph=True)
            size = (nb, *face_pts.shape[:2])
            res = self._side(face, uf.reshape(size), gf[..., axis].reshape(size), col.layer)
            terms[face] = res.square().mean()
        return terms

    def _energy(self, faces: dict[str, torch.Tensor], inputs: Inputs) -> torch.Tensor:
        """(Σ_faces Bi·mean(u) - mean power)² per sample, averaged: the global heat balance."""
        out = -self.surface * inputs.q.mean(dim=(1, 2))
        for face, u in faces.items():
            if face in inputs.biot:
                out = out + inputs.biot[face] * u.mean(dim=(1, 2))
        return out.square().mean()

    # -- boundary residuals --------------------------------------------------------------------
    def _top_bottom(
        self, face: str, u: torch.Tensor, du: torch.Tensor, q_xy: torch.Tensor, inputs: Inputs
    ) -> torch.Tensor:
        """Residual on the top or bottom face; u, du, q_xy are (B, ny, nx)."""
        bc = self.boundaries[face]
        if bc.temperature is not None:
            return u
        sign = 1.0 if face == "top" else -1.0
        flux = self.surface * q_xy if self.source_face == face else 0.0
        biot = torch.zeros(u.shape[0], device=u.device)
        if bc.htc is not None:
            biot = inputs.biot[face]
        return du + sign * biot[:, None, None] * u - sign * flux

    def _side(
        self, face: str, u: torch.Tensor, du: torch.Tensor, layer: torch.Tensor
    ) -> torch.Tensor:
        """Residual on a side face; u and du are (B, nz, n) with n along the face."""
        bc = self.boundaries[face]
        if bc.temperature is not None:
            return u
        sign = 1.0 if face in ("east", "north") else -1.0
        if bc.htc is None:
            return du
        return du + sign * self._per_z(face, layer)[None, :, None] * u

    def __call__(
        self, model: DeepONet, inputs: Inputs, col: Collocation
    ) -> dict[str, torch.Tensor]:
        """Loss terms {'pde', 'top', 'bottom', side faces...}, each a mean squared residual."""
        b = model.branch(inputs.q, inputs.p)
        if model.separable:
            return self.separable_terms(model, b, inputs, col)
        return self.point_terms(model, b, inputs, col)
