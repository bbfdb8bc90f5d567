"""The physics loss of the modal operator: the three depth problems of every lateral mode.

For a mode of wavenumber w the profile is G = σ(w)·G₀ + a·G₁ + b·G₂ with G_n = Σ_k c_nk·φ_k
(see :class:`chiptherm.operator.modal.ModalDepth`). The three parts solve

    source     G₀'' - π²w²·a_x·G₀ + Q/σ = 0,   G₀(0) = G₀(1) = 0
    bottom     G₁'' - π²w²·a_x·G₁ = 0,         G₁(0) = 1, G₁(1) = 0
    top        G₂'' - π²w²·a_x·G₂ = 0,         G₂(0) = 0, G₂(1) = 1
    interface  G_n' continuous  (G_n itself is continuous by construction of the basis)

in every layer. None of them involves the face conditions: the heat-transfer coefficients enter
only through a and b, solved exactly at prediction time. Every residual is divided by the size of
its terms, so all modes count alike. Each residual is linear in c, and c is linear in the heads of
the coefficient network: for fixed body features the loss is a linear least-squares problem in
the heads, which :meth:`ModalLoss.refit` solves exactly (one problem per part, and separately for
the uniform mode w = 0).
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
        w: (M,) wavenumbers.
        s, layer: (N,) depths ŝ inside the layers and their layer indices (the same for every
            mode).
    """

    w: torch.Tensor
    s: torch.Tensor
    layer: torch.Tensor


@dataclass
class Rows:
    """Residual rows r = Σ_k A[r, k]·c_{part, k}(mode[r]) - b[r] of one loss term and one part
    (0 source, 1 bottom, 2 top), each row weighted."""

    a: torch.Tensor
    b: torch.Tensor
    mode: torch.Tensor
    part: int


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
        model's w_max) and ``depths`` stratified ŝ points per layer."""
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
        s, layer = [], []
        for i, n in enumerate(layer_counts(self.case, depths, minimum=4)):
            s.append(stratified(n, self.geo.s0[i], self.geo.s1[i], rng, cluster=True))
            layer += [i] * n
        return ModeSample(
            self._t(w),
            self._t(np.concatenate(s)),
            torch.as_tensor(np.asarray(layer), device=self.device),
        )

    def _t(self, a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a), dtype=torch.float32, device=self.device)

    # -- residual rows ---------------------------------------------------------------------------
    def rows(self, depth: ModalDepth, ms: ModeSample) -> dict[str, list[Rows]]:
        """The rows of every term ('pde', 'bottom', 'top', 'interface'), one set per part."""
        geo, basis = self.geo, depth.basis
        m, n = ms.w.shape[0], ms.s.shape[0]
        mode = torch.arange(m, device=ms.w.device)
        rho = math.pi * ms.w
        out: dict[str, list[Rows]] = {"pde": [], "bottom": [], "top": []}

        # PDE on every (mode, depth) pair; only the source part has a source
        w_all, layer = ms.w.repeat_interleave(n), ms.layer.repeat(m)
        phi, _, phi2 = basis(w_all, ms.s.repeat(m), layer)
        decay = (math.pi * w_all).square() * self.ax[layer]
        q = self.source[layer] / depth.sigma(ms.w).repeat_interleave(n)
        operator = phi2 - decay[:, None] * phi
        pairs = mode.repeat_interleave(n)
        for part, source in enumerate((q, torch.zeros_like(q), torch.zeros_like(q))):
            norm = 1.0 + decay + source
            out["pde"].append(Rows(operator / norm[:, None], -source / norm, pairs, part))

        # face values: 0 except the unit of the face's own part
        zeros = torch.zeros(m, dtype=torch.long, device=ms.w.device)
        for face, level, lay, own in (
            ("bottom", 0.0, zeros, 1),
            ("top", 1.0, zeros + geo.layers - 1, 2),
        ):
            f = basis(ms.w, torch.full((m,), level, device=ms.w.device), lay)[0]
            for part in range(3):
                target = torch.full((m,), float(part == own), device=ms.w.device)
                out[face].append(Rows(f, target, mode, part))

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
            a, modes = torch.cat(a_rows), torch.cat(mode_rows)
            zero = torch.zeros(a.shape[0], device=a.device)
            out["interface"] = [Rows(a, zero, modes, part) for part in range(3)]
        return out

    # -- loss and exact heads ----------------------------------------------------------------------
    def __call__(self, depth: ModalDepth, ms: ModeSample) -> dict[str, torch.Tensor]:
        """Mean squared residual of each term (summed over the three parts)."""
        c = depth.coefficients(ms.w)  # (M, 3, K)
        return {
            name: sum(((r.a * c[r.mode, r.part]).sum(dim=1) - r.b).square().mean() for r in rows)
            for name, rows in self.rows(depth, ms).items()
        }

    @torch.no_grad()
    def refit(self, depth: ModalDepth, ms: ModeSample, weights: dict[str, float]) -> float:
        """Set the heads to the exact minimizer of Σ_term weight·mean(residual²) for the current
        body features, one least-squares problem per part and for w = 0 and w > 0 apart;
        returns the relative residual norm of the fit."""
        h = depth.features(ms.w).double()  # (M, H)
        uniform = ms.w == 0
        rows = self.rows(depth, ms)
        misfit = total = 0.0
        for part in range(3):
            for zero, head in ((True, depth.head0), (False, depth.head)):
                blocks, rhs = [], []
                for name, term in rows.items():
                    r = term[part]
                    keep = uniform[r.mode] == zero
                    scale = math.sqrt(weights.get(name, 1.0) / r.b.shape[0])
                    a = r.a.double()[keep] * scale
                    blocks.append((a[:, :, None] * h[r.mode[keep]][:, None, :]).flatten(1))
                    rhs.append(r.b.double()[keep] * scale)
                design, target = torch.cat(blocks).cpu(), torch.cat(rhs).cpu()
                solution = torch.linalg.lstsq(design, target, driver="gelsd").solution
                head[part].copy_(solution.reshape(head[part].shape).to(head))
                misfit += float((design @ solution - target).square().sum())
                total += float(target.square().sum())
        return math.sqrt(misfit / max(total, 1e-300))
