"""The physics loss of the modal operator: the 1-D problem of every lateral mode.

For a mode of wavenumber w and parameters p the depth profile G = σ(w)·Σ_k c_k·φ_k must satisfy
(see :mod:`chiptherm.operator.modal`)

    pde        G'' - π²w²·a_x·G + Q = 0            in every layer
    bottom     G' - Bi_b·G = -Qs  (Qs only for power entering the bottom face; G = 0 if fixed)
    top        G' + Bi_t·G =  Qs
    interface  G' continuous  (G itself is continuous by construction of the basis)

Every residual is divided by σ and by the size of its terms, so all modes count alike. Each
residual is linear in c, and c is linear in the heads of the coefficient network: for fixed body
features the loss is a linear least-squares problem in the heads, which :meth:`ModalLoss.refit`
solves exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from chiptherm.operator.case import Case
from chiptherm.operator.modal import ModalDepth
from chiptherm.operator.physics import layer_counts, stratified

ZERO_SHARE = 0.125  # of the sampled modes, the laterally uniform one (w = 0)


@dataclass
class ModeSample:
    """Sampled modes and depths.

    Attributes:
        w: (M,) wavenumbers; p: (M, P) normalized parameters or None; biot: face -> (M,) h·S.
        s, layer: (N,) depths ŝ inside the layers and their layer indices (the same for every
            mode).
    """

    w: torch.Tensor
    p: torch.Tensor | None
    biot: dict[str, torch.Tensor]
    s: torch.Tensor
    layer: torch.Tensor


@dataclass
class Rows:
    """Residual rows r = Σ_k A[r, k]·c_k(mode[r]) - b[r] of one loss term, each row weighted."""

    a: torch.Tensor
    b: torch.Tensor
    mode: torch.Tensor


class ModalLoss:
    """Residuals of the mode problems of a case for a :class:`ModalDepth`."""

    def __init__(self, case: Case, depth: ModalDepth, device: torch.device | str = "cpu") -> None:
        self.case = case
        self.geo = depth.geo
        self.device = device
        self.ax = torch.tensor(self.geo.ax, dtype=torch.float32, device=device)
        self.source = torch.tensor(self.geo.source, dtype=torch.float32, device=device)

    # -- sampling ------------------------------------------------------------------------------
    def sample(
        self, depth: ModalDepth, modes: int, depths: int, rng: np.random.Generator
    ) -> ModeSample:
        """``modes`` wavenumbers (a share at w = 0, the rest log-uniform and uniform up to the
        model's w_max) with random parameters, and ``depths`` stratified ŝ points per layer."""
        w1, w_max = self.geo.w_min, depth.w_max
        n0 = max(1, round(ZERO_SHARE * modes))
        n_log = (modes - n0) // 2
        w = np.concatenate(
            [
                np.zeros(n0),
                np.exp(rng.uniform(math.log(w1), math.log(w_max), n_log)),
                rng.uniform(w1, w_max, modes - n0 - n_log),
            ]
        )
        params = self.case.parameters
        p = rng.uniform(-1.0, 1.0, (modes, len(params))) if params else None
        biot = {}
        for face in ("top", "bottom"):
            values = np.full(modes, self.geo.biot[face])
            for i, par in enumerate(params):
                if par.face == face and p is not None:
                    lo, hi = math.log(par.low), math.log(par.high)
                    values = np.exp(lo + 0.5 * (p[:, i] + 1.0) * (hi - lo)) * self.case.s_total
            biot[face] = self._t(values)
        s, layer = [], []
        for i, n in enumerate(layer_counts(self.case, depths, minimum=4)):
            s.append(stratified(n, self.geo.s0[i], self.geo.s1[i], rng, cluster=True))
            layer += [i] * n
        return ModeSample(
            self._t(w),
            None if p is None else self._t(p),
            biot,
            self._t(np.concatenate(s)),
            torch.as_tensor(np.asarray(layer), device=self.device),
        )

    def _t(self, a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a), dtype=torch.float32, device=self.device)

    # -- residual rows ---------------------------------------------------------------------------
    def rows(self, depth: ModalDepth, ms: ModeSample) -> dict[str, Rows]:
        """The rows of every term: 'pde', 'bottom', 'top', 'interface'."""
        geo, basis = self.geo, depth.basis
        m, n = ms.w.shape[0], ms.s.shape[0]
        mode = torch.arange(m, device=ms.w.device)
        sigma = depth.sigma(ms.w)
        rho = math.pi * ms.w

        # PDE on every (mode, depth) pair
        w_all, layer = ms.w.repeat_interleave(n), ms.layer.repeat(m)
        phi, _, phi2 = basis(w_all, ms.s.repeat(m), layer)
        decay = (math.pi * w_all).square() * self.ax[layer]
        q = self.source[layer] / sigma.repeat_interleave(n)
        norm = 1.0 + decay + q
        out = {
            "pde": Rows(
                (phi2 - decay[:, None] * phi) / norm[:, None], -q / norm, mode.repeat_interleave(n)
            )
        }

        # faces
        zeros = torch.zeros(m, dtype=torch.long, device=ms.w.device)
        for face, level, lay, sign in (
            ("bottom", 0.0, zeros, -1.0),
            ("top", 1.0, zeros + geo.layers - 1, 1.0),
        ):
            f, f1, _ = basis(ms.w, torch.full((m,), level, device=ms.w.device), lay)
            qs = geo.surface / sigma if geo.source_face == face else torch.zeros_like(sigma)
            if geo.faces[face] == "fixed":
                out[face] = Rows(f, torch.zeros_like(sigma), mode)
                continue
            bi = ms.biot[face] if geo.faces[face] == "convective" else torch.zeros_like(sigma)
            root = math.sqrt(geo.ax[0 if face == "bottom" else -1])
            norm = 1.0 + bi + rho * root + qs
            out[face] = Rows((f1 + sign * bi[:, None] * f) / norm[:, None], sign * qs / norm, mode)

        # flux continuity at the interfaces
        if geo.layers > 1:
            a_rows, mode_rows = [], []
            for i in range(geo.layers - 1):
                at = torch.full((m,), geo.s1[i], device=ms.w.device)
                _, below, _ = basis(ms.w, at, zeros + i)
                _, above, _ = basis(ms.w, at, zeros + i + 1)
                scale = 1.0 + rho * math.sqrt(max(geo.ax[i], geo.ax[i + 1]))
                a_rows.append((above - below) / scale[:, None])
                mode_rows.append(mode)
            a = torch.cat(a_rows)
            out["interface"] = Rows(
                a, torch.zeros(a.shape[0], device=a.device), torch.cat(mode_rows)
            )
        return out

    # -- loss and exact heads ----------------------------------------------------------------------
    def __call__(self, depth: ModalDepth, ms: ModeSample) -> dict[str, torch.Tensor]:
        """Mean squared residual of each term."""
        c = depth.coefficients(ms.w, ms.p)
        return {
            name: ((r.a * c[r.mode]).sum(dim=1) - r.b).square().mean()
            for name, r in self.rows(depth, ms).items()
        }

    @torch.no_grad()
    def refit(self, depth: ModalDepth, ms: ModeSample, weights: dict[str, float]) -> float:
        """Set the heads to the exact minimizer of Σ_term weight·mean(residual²) for the current
        body features; returns the relative residual norm of the fit."""
        h = depth.features(ms.w, ms.p).double()  # (M, H)
        uniform = ms.w == 0
        blocks: dict[bool, list[torch.Tensor]] = {True: [], False: []}
        rhs: dict[bool, list[torch.Tensor]] = {True: [], False: []}
        for name, r in self.rows(depth, ms).items():
            scale = math.sqrt(weights.get(name, 1.0) / r.b.shape[0])
            outer = (r.a.double() * scale)[:, :, None] * h[r.mode][:, None, :]  # (R, K, H)
            for zero in (True, False):  # the w = 0 rows use head0 only, the others head only
                rows = uniform[r.mode] == zero
                blocks[zero].append(outer[rows].flatten(1))
                rhs[zero].append(r.b.double()[rows] * scale)
        misfit = total = 0.0
        for zero, head in ((True, depth.head0), (False, depth.head)):
            design, target = torch.cat(blocks[zero]).cpu(), torch.cat(rhs[zero]).cpu()
            solution = torch.linalg.lstsq(design, target, driver="gelsd").solution
            head.copy_(solution.reshape(head.shape).to(head))
            misfit += float((design @ solution - target).square().sum())
            total += float(target.square().sum())
        return math.sqrt(misfit / max(total, 1e-300))
