"""How a 3D-ICE model (:mod:`~chiptherm.formats.threedice`) is solved: a solid stack by
chiptherm's own solvers; a cavity stack by LU factorization with 3D-ICE's SuperLU options
or by blocks (:mod:`~chiptherm.formats.threedice_block`), steady and step by step."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from chiptherm.errors import ChipthermWarning, SolverError
from chiptherm.formats.threedice import IceModel
from chiptherm.formats.threedice_block import BlockSolver


@dataclass(frozen=True)
class SolveInfo:
    """How a steady 3D-ICE stack was solved, and why that way."""

    method: str
    relative_residual: float
    seconds: float
    reason: str = ""


CAVITY_METHODS = ("auto", "lu", "block")
BLOCK_TOL = 1e-11
"""The tightest relative residual asked of a block solve: GMRES over the sweeps reaches it
on 3D-ICE's tests, and a tighter one can stall on round-off."""
TRANSIENT_BLOCK_CELLS = 40_000
"""From this many cells on, a transient run of a 2RM or pin-fin stack solves its steps by
blocks; below it one factorization, reused by every step, is faster. 3D-ICE's 2RM transient
run (120 Euler steps, ``benchmarks/threedice.py --transient``, CPU time, one thread): blocks
against LU 0.94 / 0.48 s at 20,000 cells, 1.15 / 0.91 s at 30,000, 1.54 / 1.51 s at 40,000,
2.16 / 3.21 s at 60,000, 7.1 / 27.5 s at 200,000. A steady solve factorizes only once
either way, and blocks win it at every size measured (0.04 / 0.24 s at 20,000 cells)."""


def check_method(method: str) -> None:
    """Refuse a cavity method other than :data:`CAVITY_METHODS` (ValueError)."""
    if method not in CAVITY_METHODS:
        raise ValueError(f"method {method!r}: expected one of {', '.join(CAVITY_METHODS)}")


def blocks_pay(model: IceModel, steps: bool = False) -> bool:
    """Whether the block solve beats the factorization on ``model``'s cavity: for 2RM and
    pin fins, whose solid the transform solver solves exactly, not for 4RM, whose solid
    needs multigrid (``benchmarks/threedice.py``); for the many solves of a transient run
    (``steps``), only from :data:`TRANSIENT_BLOCK_CELLS` cells on."""
    cavity = model.doc.cavity
    if cavity is None or cavity.model == "4rm":
        return False
    return not steps or model.system.size >= TRANSIENT_BLOCK_CELLS


def solve_steady(
    model: IceModel, tol: float = 1e-12, method: str = "auto"
) -> tuple[np.ndarray, SolveInfo]:
    """The steady field (nz, n_rows, n_cols) K of the first slot's power, to a relative
    residual ``tol``: chiptherm's best solver for a solid stack; with a cavity, ``method``
    'lu' (the whole stack factorized, as 3D-ICE does) or 'block' (the solid by chiptherm's
    solvers and the coolant by its channels, coupled by GMRES:
    :mod:`~chiptherm.formats.threedice_block`). 'auto' takes 'block' for 2RM and pin-fin
    cavities, whose solid the transform solver solves exactly (43x faster than the fastest LU
    at 200,000 cells, CPU time), and 'lu' for 4RM, whose solid needs multigrid (LU is faster there).
    """
    from chiptherm.solvers import choice, solve_system

    started = time.perf_counter()
    if model.cavity is None:
        field, info = solve_system(model.system, method="auto", tol=tol)
        seconds = time.perf_counter() - started
        return field, SolveInfo(
            info.method, info.relative_residual, seconds, choice(model.system)[1]
        )
    check_method(method)
    chosen = method == "auto"
    reason = "as asked"
    if chosen:
        method = "block" if blocks_pay(model) else "lu"
        reason = (
            "2RM/pin-fin cavity: the solid by the exact transform solver, the coolant by its "
            "channels"
            if method == "block"
            else "4RM cavity: the whole stack factorized, as 3D-ICE does (its solid is not "
            "laterally uniform, so blocks are slower)"
        )
    a = model.matrix()
    rhs = model.rhs_for(model.system.q).ravel()
    x, name = None, "lu"
    if method == "block":
        solver = BlockSolver(a, model.cavity.mask(model.system.shape))
        try:
            x, _ = solver.solve(rhs, tol=max(tol, BLOCK_TOL))
            name = solver.name
        except SolverError as exc:
            if not chosen:
                raise
            reason = f"blocks stalled ({exc}); the whole stack factorized instead"
    if x is None:
        x = factorize(a).solve(rhs)
    residual = float(np.linalg.norm(a @ x - rhs) / np.linalg.norm(rhs))
    seconds = time.perf_counter() - started
    field = x.reshape(model.system.shape)
    warn_undershoot(model, float(field.min()))
    return field, SolveInfo(name, residual, seconds, reason)


def warn_undershoot(model: IceModel, coldest: float) -> None:
    """Warn when a cavity stack's coldest cell ``coldest`` (K) lies below the coolant's
    incoming temperature: 3D-ICE's central differences along the flow are not monotone,
    and on rows too coarse for the flow and the films they undershoot (3D-ICE computes the
    same numbers)."""
    if model.cavity is None:
        return
    inlet = min(t_in for _, _, t_in in model.cavity.coolant)
    if coldest < inlet - 1e-6:
        warnings.warn(
            f"{model.doc.source}: the coldest cell, {coldest:.3f} K, lies {inlet - coldest:.3g} "
            f"K below the coolant's incoming temperature: the coolant's central differences "
            f"(3D-ICE's model, which computes the same) undershoot on rows this coarse; a "
            f"smaller cell width along the flow (now {model.doc.cell[1]:g} µm) removes it",
            ChipthermWarning,
            stacklevel=3,
        )


def factorize(a: sp.sparray) -> spla.SuperLU:
    """Sparse LU of a cavity stack's matrix (N, N) as 3D-ICE factorizes it: SuperLU with the
    minimum-degree ordering of A'+A, a symmetric-mode pivot search and a pivot threshold of
    0.001. On 3D-ICE's 4RM test this takes 0.85 s against 1.93 s for SuperLU's defaults
    (COLAMD, partial pivoting) at 50,250 cells and 32.1 s against 82.1 s at 502,500 cells,
    with about half the fill; residuals stay below 1e-12 (benchmarks/threedice.py)."""
    return spla.splu(
        sp.csc_matrix(a),
        permc_spec="MMD_AT_PLUS_A",
        diag_pivot_thresh=0.001,
        options={"SymmetricMode": True},
    )


class CavityStepSolver:
    """Transient steps of a cavity stack: (A + S)·T = b with the storage S (nz, n_rows,
    n_cols) W/K on the diagonal (the ``solve`` of chiptherm's solvers). ``method`` 'lu'
    factorizes once per step length, 'block' solves each step by blocks from the scheme's
    guess (the solid, storage included, stays laterally uniform for 2RM and pin fins);
    'auto' takes blocks where :func:`blocks_pay` for a run of steps."""

    def __init__(self, model: IceModel, storage: np.ndarray, method: str = "auto") -> None:
        check_method(method)
        self._a = model.matrix() + sp.diags_array(storage.ravel())
        self._lu: spla.SuperLU | None = None
        self._block: BlockSolver | None = None
        if method == "block" or (method == "auto" and blocks_pay(model, steps=True)):
            assert model.cavity is not None
            self._block = BlockSolver(self._a, model.cavity.mask(model.system.shape))
            self.name = self._block.name
        else:
            self._lu = factorize(self._a)
            self.name = "lu"

    def solve(self, rhs: np.ndarray, x0: Any = None, tol: float = 0.0) -> tuple[np.ndarray, Any]:
        """Solve one step; a block solve that stalls is replaced, for this step length and
        the rest of the run, by the factorization."""
        b = np.asarray(rhs).ravel()
        if self._block is not None:
            start = None if x0 is None else np.asarray(x0).ravel()
            try:
                return self._block.solve(b, tol=max(tol, BLOCK_TOL), x0=start)
            except SolverError:
                self._block, self._lu, self.name = None, factorize(self._a), "lu"
        assert self._lu is not None
        return self._lu.solve(b), None
