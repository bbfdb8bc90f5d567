"""The solvers of one System on a torch device: CUDA, or torch on the host's CPU.

Everything the iteration touches lives on the device: the matrix-free 7-point operator (the
System's conductances, float64), the multigrid hierarchy (float32) or the transform tables,
and the conjugate-gradient vectors. Right-hand sides arrive as numpy arrays, cross once, and
the answers come back as numpy arrays, so a :class:`DeviceSolver` stands wherever a host
solver does (``make_solver(system, method, device="cuda")``). Batches cross and iterate as
one (k, N) block (:meth:`DeviceSolver.solve_many`).

Methods on a device: ``transform`` (laterally uniform stacks, exact), ``cg-mg`` (any stack)
and ``cg-transform``; sparse LU and pyamg stay on the host.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from chiptherm.discretize.system import System
from chiptherm.errors import SolverError
from chiptherm.solvers.backend import DEVICE_METHODS, to_device, to_numpy
from chiptherm.solvers.base import SolveInfo
from chiptherm.solvers.batched import batch_infos, conjugate_gradients
from chiptherm.solvers.krylov import averaged_structure
from chiptherm.solvers.multigrid import Level, Multigrid
from chiptherm.solvers.transform import TransformSolver


def device_choice(system: System, device: Any) -> tuple[str, str]:
    """The method 'auto' picks on ``device`` and why, in a phrase for the summary."""
    if system.lateral_structure is not None:
        return "transform", f"laterally uniform stack: the exact transform solver on {device}"
    return "cg-mg", f"non-uniform stack: multigrid CG on {device}"


class DeviceSolver:
    """A solver of ``system`` whose arrays live on a torch ``device``; build once, solve many
    right-hand sides (one by one or as batches)."""

    def __init__(self, system: System, method: str, device: Any, maxiter: int = 2000) -> None:
        t0 = time.perf_counter()
        if method == "auto":
            method = device_choice(system, device)[0]
        if method not in DEVICE_METHODS:
            raise SolverError(
                f"solver {method!r} runs on the host only; on {device} use "
                f"{', '.join(DEVICE_METHODS)} (or --device numpy)"
            )
        self.name = method
        self.device = device
        self.shape = system.shape
        self.maxiter = maxiter
        self.on_iteration: Callable[[int], None] | None = None  # batched CG reports at the end
        self.exact: TransformSolver | None = None
        if method == "transform":
            self.exact = TransformSolver.for_system(system, device)
        else:
            self.operator = Level.of_system(system, single=False, device=device, smoother=False)
            self.precondition = self._preconditioner(system, method)
        self.setup_s = time.perf_counter() - t0

    @property
    def where(self) -> str:
        """The device's name as torch writes it ('cuda:0', 'cpu')."""
        return str(self.device)

    def _preconditioner(self, system: System, method: str) -> Callable[[Any], Any]:
        """The (k, nz, ny, nx) -> (k, nz, ny, nx) approximate inverse of ``method``."""
        if method == "cg-mg":
            return Multigrid(system, device=self.device).apply_many
        structure = system.lateral_structure or averaged_structure(system)
        if structure is None:
            raise SolverError("cg-transform needs heat to leave through the top or bottom")
        return TransformSolver(structure, system.shape, self.device).apply_many

    def solve(
        self, b: np.ndarray, x0: np.ndarray | None = None, tol: float = 1e-10
    ) -> tuple[np.ndarray, SolveInfo]:
        """Solve A x = b (b in W, any shape of N cells) to ‖b - A x‖ ≤ tol·‖b‖; x in K, in b's
        shape. Raises :class:`SolverError` if CG does not converge."""
        batch = b.reshape(1, *self.shape)
        start = None if x0 is None else np.asarray(x0).reshape(1, *self.shape)
        x, infos = self.solve_many(batch, start, tol)
        return x[0].reshape(b.shape), infos[0]

    def solve_many(
        self, b: np.ndarray, x0: np.ndarray | None = None, tol: float = 1e-10
    ) -> tuple[np.ndarray, list[SolveInfo]]:
        """Solve for a batch ``b`` (k, nz, ny, nx), W, together; (k, nz, ny, nx) K and one
        :class:`SolveInfo` per right-hand side."""
        started = time.perf_counter()
        k = len(b)
        rhs = to_device(np.asarray(b, dtype=float).reshape(k, *self.shape), self.device)
        if self.exact is not None:
            x = to_numpy(self.exact.apply_many(rhs))
            each = (time.perf_counter() - started) / k
            info = SolveInfo(
                self.name, 0, float("nan"), self.setup_s, each, x0 is not None, device=self.where
            )
            return x, [info] * k
        start = None if x0 is None else to_device(np.asarray(x0).reshape(k, -1), self.device)
        x, iterations, residuals = conjugate_gradients(
            lambda v: self.operator.apply(v.reshape(k, *self.shape)).reshape(k, -1),
            lambda r: self.precondition(r.reshape(k, *self.shape)).reshape(k, -1),
            rhs.reshape(k, -1),
            start,
            tol,
            self.maxiter,
        )
        infos = batch_infos(
            self.name, iterations, residuals, tol, self.setup_s, started, x0 is not None
        )
        infos = [dataclasses.replace(info, device=self.where) for info in infos]
        if self.on_iteration is not None:
            self.on_iteration(int(iterations.max()))
        return to_numpy(x).reshape(b.shape), infos
