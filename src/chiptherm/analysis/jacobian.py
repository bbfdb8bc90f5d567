"""The Jacobian of the steady equations of a nonlinear stack, and its adjoint solve.

A stack with temperature-dependent conductivity, leakage or a warming coolant is solved by
fixed-point iteration (:mod:`chiptherm.solvers.nonlinear`). At the converged field its sensitivities
still follow from one adjoint solve, with the Jacobian of the full equations in place of the
conduction matrix. The unknowns are the field T (nz, ny, nx) K and, for every coolant (on a
face or in a cavity), its temperatures c (ny, nx) K; the equations are

    R_T(T, c) = b(T, c) + q_leak(T) - A(T)·T = 0                 (the cells' heat balance)
    R_c(T, c) = D·(c - T_in - s·P·h(T, c)) = 0                    (each coolant's heat sum)

where h is the heat each column passes to the coolant (W), P the running sum along the flow
of the heat upstream plus half the cell's own, s the number of channels over m·c_p (K/W),
and D the difference along the flow (first entry kept), which turns the running sum into a
two-term recurrence: D·P·h = (h_k + h_(k-1))/2. Every equation then couples only near
neighbours, and the Jacobian J = -∂R/∂(T, c) is sparse:

- the conduction block -∂R_T/∂T by central differences of the residual at T ± ε on seven
  interleaved colours of cells, (x + 2y + 3z) mod 7: the seven cells of every 7-point stencil
  have seven different colours, so each difference holds one entry of every row (and every
  film and leakage term, which depends on its own cell);
- the coolant blocks in closed form from the link conductances (and, for a face whose film
  sits in series with a temperature-dependent cell, the derivative of that conductance, from
  the same differences).

Without coolants and temperature dependence J is A itself. Solving Jᵀ·λ = (w, 0) gives the
adjoint λ of the objective J = w·T, and for any parameter p, dJ/dp = (dw/dp)·T + λ·∂R/∂p,
with ∂R/∂p a difference of the residuals of the moved stack at the fixed (T, c).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from chiptherm.description.stack import Coolant, Stack
from chiptherm.discretize.grid import Grid
from chiptherm.discretize.system import System
from chiptherm.errors import SolverError
from chiptherm.solvers import DIRECT_LIMIT
from chiptherm.solvers.krylov import build_preconditioner
from chiptherm.solvers.terms import (
    Coolants,
    CoolantWarming,
    freeze,
    nonlinear_terms,
    warmed,
    with_coolants,
)

COLOURS = 7
"""Colours of the 7-point stencil: (x + 2y + 3z) mod 7 differs across every stencil."""
STEP_K = 1e-3
"""Temperature step of the central differences of the residual, K."""
OFFSETS = ((0, 0, 0), (0, 0, 1), (0, 0, -1), (0, 1, 0), (0, -1, 0), (1, 0, 0), (-1, 0, 0))
"""The 7-point stencil as (dz, dy, dx)."""


# -- coolants ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CoolantBlock:
    """One coolant's unknowns: where they sit in the unknown vector and how they couple.

    Attributes:
        key: ('face', face) or ('cavity', layer name), as in :data:`Coolants`.
        spec: the coolant's inlet, flow and heat capacity.
        offset: index of its first unknown in the vector (T first, then the coolants).
        conductance: (nz, ny, nx) W/K from each cell to this coolant (zero elsewhere).
    """

    key: tuple[str, str]
    spec: Coolant
    offset: int
    conductance: np.ndarray


def coolant_blocks(stack: Stack, system: System) -> list[CoolantBlock]:
    """The coolants of ``stack`` in a fixed order (faces, then cavities), with the link
    conductances of ``system`` spread over (nz, ny, nx)."""
    blocks = []
    offset = system.size
    plane = system.shape[1] * system.shape[2]
    for face in stack.coolant_faces:
        spec = stack.boundary(face).coolant
        assert spec is not None
        conductance = np.zeros(system.shape)
        conductance[-1 if face == "top" else 0] = system.faces[face].conductance
        blocks.append(CoolantBlock(("face", face), spec, offset, conductance))
        offset += plane
    for layer in stack.layers:
        if layer.coolant is not None:
            conductance = system.sinks[layer.name].conductance
            blocks.append(CoolantBlock(("cavity", layer.name), layer.coolant, offset, conductance))
            offset += plane
    return blocks


def flow_order(direction: str) -> tuple[int, bool]:
    """The axis of a (ny, nx) coolant array along ``direction`` and whether it runs
    backwards."""
    return (1 if direction.endswith("x") else 0), direction.startswith("-")


def along_flow(a: np.ndarray, direction: str) -> np.ndarray:
    """(ny, nx) ``a`` reordered so that index 0 along the flow axis is the inlet (its own
    inverse)."""
    axis, backwards = flow_order(direction)
    return np.flip(a, axis=axis) if backwards else a


def differenced(a: np.ndarray, direction: str) -> np.ndarray:
    """D·a: each entry minus its upstream neighbour's, the inlet entry kept, (ny, nx)."""
    axis, _ = flow_order(direction)
    ordered = along_flow(a, direction)
    out = np.diff(ordered, axis=axis, prepend=0.0)
    return along_flow(out, direction)


def coolant_residual(spec: Coolant, temperature: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """R_c = D·(c - warmed(heat)) of one coolant, (ny, nx) K."""
    return differenced(temperature - warmed(spec, heat), spec.direction)


# -- the residual ------------------------------------------------------------------------------
def link_heat(system: System, key: tuple[str, str], field: np.ndarray) -> np.ndarray:
    """(ny, nx) heat passed by ``field`` to the coolant ``key`` of ``system`` (whose coolant
    temperatures are set), W."""
    kind, name = key
    if kind == "face":
        link = system.faces[name]
        return link.conductance * (field[-1 if name == "top" else 0] - link.temperature)
    return system.sinks[name].heat(field)


def assembled(stack: Stack, grid: Grid, field: np.ndarray, coolants: Coolants) -> System:
    """The system of ``stack`` assembled at ``field``: its nonlinear terms frozen there
    (conductivities, leakage), the coolants at ``coolants`` (unknowns here, not warmed)."""
    terms = [t for t in nonlinear_terms(stack, grid) if not isinstance(t, CoolantWarming)]
    return with_coolants(freeze(System.from_stack(stack, grid), terms, field), coolants)


def residual(stack: Stack, grid: Grid, field: np.ndarray, coolants: Coolants) -> np.ndarray:
    """The residual R = (R_T, R_c...) of ``stack`` at the field and coolant temperatures,
    flat: N cell balances (W), then (ny·nx) per coolant in the order of
    :func:`coolant_blocks` (K)."""
    system = assembled(stack, grid, field, coolants)
    parts = [system.residual(field).ravel()]
    for block in coolant_blocks(stack, system):
        heat = link_heat(system, block.key, field)
        parts.append(coolant_residual(block.spec, coolants[block.key], heat).ravel())
    return np.concatenate(parts)


# -- the Jacobian ------------------------------------------------------------------------------
def colours(shape: tuple[int, int, int]) -> np.ndarray:
    """(nz, ny, nx) colour (x + 2y + 3z) mod 7 of every cell."""
    z, y, x = np.indices(shape)
    return (x + 2 * y + 3 * z) % COLOURS


def conduction_block(
    stack: Stack, grid: Grid, field: np.ndarray, coolants: Coolants, step: float = STEP_K
) -> tuple[sp.csr_array, dict[tuple[str, str], np.ndarray]]:
    """-∂R_T/∂T (N, N) W/K by coloured central differences, and for every coolant face the
    derivative of its link conductances with respect to the face cell's temperature,
    (ny, nx) W/K²."""
    shape = grid.shape
    n = int(np.prod(shape))
    colour = colours(shape)
    faces = [face for face in stack.coolant_faces]
    slopes = {("face", face): np.zeros(shape[1:]) for face in faces}
    columns = np.empty((COLOURS, n))
    for c in range(COLOURS):
        bump = step * (colour == c)
        plus = assembled(stack, grid, field + bump, coolants)
        minus = assembled(stack, grid, field - bump, coolants)
        columns[c] = (minus.residual(field - bump) - plus.residual(field + bump)).ravel() / (
            2.0 * step
        )
        for face in faces:
            level = -1 if face == "top" else 0
            hit = colour[level] == c
            change = plus.faces[face].conductance - minus.faces[face].conductance
            slopes[("face", face)][hit] = change[hit] / (2.0 * step)
    rows, cols, values = [], [], []
    index = np.arange(n).reshape(shape)
    for dz, dy, dx in OFFSETS:
        target = _shifted_index(index, dz, dy, dx)
        valid = target >= 0
        c = (colour + dx + 2 * dy + 3 * dz) % COLOURS
        rows.append(index[valid])
        cols.append(target[valid])
        values.append(columns[c[valid], index[valid]])
    matrix = sp.coo_array(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    ).tocsr()
    matrix.eliminate_zeros()
    return matrix, slopes


def _shifted_index(index: np.ndarray, dz: int, dy: int, dx: int) -> np.ndarray:
    """The flat index of each cell's neighbour at offset (dz, dy, dx); -1 outside the grid."""
    out = np.full(index.shape, -1)
    nz, ny, nx = index.shape
    src = (
        slice(max(dz, 0), nz + min(dz, 0)),
        slice(max(dy, 0), ny + min(dy, 0)),
        slice(max(dx, 0), nx + min(dx, 0)),
    )
    dst = (
        slice(max(-dz, 0), nz + min(-dz, 0)),
        slice(max(-dy, 0), ny + min(-dy, 0)),
        slice(max(-dx, 0), nx + min(-dx, 0)),
    )
    out[dst] = index[src]
    return out


def coolant_coupling(
    blocks: list[CoolantBlock],
    field: np.ndarray,
    coolants: Coolants,
    slopes: dict[tuple[str, str], np.ndarray],
    size: int,
) -> sp.csr_array:
    """The coolant rows and columns of J (everything but the conduction block), in closed
    form, (size, size) with size = N + the coolant unknowns."""
    shape = field.shape
    plane = shape[1] * shape[2]
    cells = np.arange(field.size).reshape(shape)
    rows, cols, values = [], [], []

    def add(r: np.ndarray, c: np.ndarray, v: np.ndarray) -> None:
        keep = v != 0.0
        rows.append(r[keep])
        cols.append(c[keep])
        values.append(v[keep])

    for block in blocks:
        c_index = block.offset + np.arange(plane).reshape(shape[1:])
        g = block.conductance
        # R_T gains g·(c - T) on the linked cells; g·T sits in A already: -∂R_T/∂c = -g
        for z in np.flatnonzero(g.reshape(shape[0], -1).any(axis=1)):
            add(cells[z].ravel(), c_index.ravel(), -g[z].ravel())
        # h = Σ_z g_z·(T_z - c): ∂h/∂T_z = g_z (+ g'·(T - c) on a face), ∂h/∂c = -Σ_z g_z
        dh_dt = g.copy()
        if block.key in slopes:
            level = -1 if block.key[1] == "top" else 0
            dh_dt[level] += slopes[block.key] * (field[level] - coolants[block.key])
        dh_dc = -g.sum(axis=0)
        s = _channels(block.spec, shape[1:]) / (block.spec.flow_rate * block.spec.heat_capacity)
        # R_c[k] = c_k - c_(k-1) - s/2·(h_k + h_(k-1)) (inlet: c_0 - T_in - s/2·h_0);
        # J = -∂R_c/∂(T, c)
        upstream = _upstream_index(c_index, block.spec.direction)  # -1 at the inlet
        has_up = upstream >= 0
        add(c_index.ravel(), c_index.ravel(), -(1.0 - 0.5 * s * dh_dc).ravel())
        add(
            c_index[has_up],
            upstream[has_up],
            (1.0 + 0.5 * s * _upstream_values(dh_dc, block.spec.direction))[has_up],
        )
        up_cells = _upstream_cells(cells, block.spec.direction)
        for z in np.flatnonzero(dh_dt.reshape(shape[0], -1).any(axis=1)):
            add(c_index.ravel(), cells[z].ravel(), (0.5 * s * dh_dt[z]).ravel())
            upstream_slope = _upstream_values(dh_dt[z], block.spec.direction)
            add(
                c_index[has_up],
                up_cells[z][has_up],
                (0.5 * s * upstream_slope)[has_up],
            )
    if not rows:
        return sp.csr_array((size, size))
    return sp.coo_array(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
        shape=(size, size),
    ).tocsr()


def _channels(spec: Coolant, plane: tuple[int, int]) -> int:
    """The number of channels of a coolant over a (ny, nx) plane: the rows across the flow."""
    axis, _ = flow_order(spec.direction)
    return plane[1 - axis]


def _upstream_values(a: np.ndarray, direction: str) -> np.ndarray:
    """(ny, nx) the value of ``a`` at each entry's upstream neighbour (0 at the inlet)."""
    axis, _ = flow_order(direction)
    ordered = along_flow(a, direction)
    out = np.zeros_like(ordered)
    if axis == 1:
        out[:, 1:] = ordered[:, :-1]
    else:
        out[1:] = ordered[:-1]
    return along_flow(out, direction)


def _upstream_index(index: np.ndarray, direction: str) -> np.ndarray:
    """(ny, nx) index of each entry's upstream neighbour, -1 at the inlet."""
    return _upstream_values(index + 1, direction).astype(int) - 1


def _upstream_cells(cells: np.ndarray, direction: str) -> np.ndarray:
    """(nz, ny, nx) flat index of each cell's upstream neighbour in its own plane (-1 at the
    inlet)."""
    return np.stack([_upstream_index(plane, direction) for plane in cells])


@dataclass
class Jacobian:
    """J = -∂R/∂(T, c) of a stack at a converged field, and solves with its transpose.

    Attributes:
        stack: the stack.
        grid: its discretization.
        field: (nz, ny, nx) the converged field, K.
        coolants: the converged coolant temperatures, K.
        matrix: (M, M) J in W/K (cell rows) and 1 (coolant rows), M = N + coolant unknowns.
        system: the system assembled at the field (the preconditioner's source).
    """

    stack: Stack
    grid: Grid
    field: np.ndarray
    coolants: Coolants
    matrix: sp.csr_array
    system: System

    @classmethod
    def at(cls, stack: Stack, grid: Grid, field: np.ndarray, coolants: Coolants) -> Jacobian:
        """The Jacobian of ``stack`` at the converged ``field`` and ``coolants``."""
        field = np.asarray(field, dtype=float).reshape(grid.shape)
        system = assembled(stack, grid, field, coolants)
        conduction, slopes = conduction_block(stack, grid, field, coolants)
        blocks = coolant_blocks(stack, system)
        size = field.size + field[0].size * len(blocks)
        matrix = sp.block_diag((conduction, sp.csr_array((size - field.size,) * 2))).tocsr()
        if blocks:
            matrix = (matrix + coolant_coupling(blocks, field, coolants, slopes, size)).tocsr()
        return cls(stack, grid, field, coolants, matrix, system)

    @property
    def size(self) -> int:
        return int(self.matrix.shape[0])

    def residual(self, stack: Stack, grid: Grid | None = None) -> np.ndarray:
        """R of ``stack`` (the nominal one moved) at the nominal field and coolants on
        ``grid`` (default: the moved stack's own, whose cell sizes follow its thicknesses),
        flat."""
        return residual(stack, grid or Grid.from_stack(stack), self.field, self.coolants)

    def solve_transpose(self, weights: np.ndarray, tol: float = 1e-10) -> np.ndarray:
        """λ with Jᵀ·λ = (w, 0): the adjoint of the objective w (nz, ny, nx), flat (M,) K/W.

        Raises:
            SolverError: when GMRES does not reach ``tol`` (the stack is at the edge of
                thermal runaway, where J is singular).
        """
        rhs = np.zeros(self.size)
        rhs[: weights.size] = weights.ravel()
        return self._solve(self.matrix.T.tocsc(), rhs, tol, "the adjoint solve")

    def solve(self, power: np.ndarray, tol: float = 1e-10) -> np.ndarray:
        """δu with J·δu = (δq, 0): the change of the field (and of the coolant temperatures)
        for extra power δq (nz, ny, nx) W, to first order; exact where the equations are
        linear (a stack whose only iterated terms are coolants). Flat (M,) K.

        Raises:
            SolverError: when GMRES does not reach ``tol``.
        """
        rhs = np.zeros(self.size)
        rhs[: power.size] = power.ravel()
        return self._solve(self.matrix.tocsc(), rhs, tol, "the linearized solve")

    def _solve(self, matrix: sp.csc_array, rhs: np.ndarray, tol: float, what: str) -> np.ndarray:
        """``matrix``⁻¹·``rhs`` for J or Jᵀ: sparse LU up to the direct limit, else GMRES with
        the block-triangular preconditioner."""
        if self.size <= DIRECT_LIMIT:
            return spla.spsolve(matrix, rhs)
        count = [0]

        def counted(_: object) -> None:
            count[0] += 1

        x, _ = spla.gmres(
            matrix,
            rhs,
            rtol=tol,
            atol=0.0,
            restart=60,
            maxiter=40,
            M=self._preconditioner(matrix),
            callback=counted,
            callback_type="pr_norm",
        )
        achieved = float(np.linalg.norm(rhs - matrix @ x) / np.linalg.norm(rhs))
        if not np.isfinite(achieved) or achieved > 10 * tol:
            raise SolverError(
                f"{what} of {self.stack.name!r} did not converge (relative residual "
                f"{achieved:.2e} after {count[0]} GMRES iterations); the stack may be at the "
                "edge of thermal runaway"
            )
        return x

    def _preconditioner(self, matrix: sp.csc_array) -> spla.LinearOperator:
        """Block lower-triangular preconditioner of J or Jᵀ (``matrix``): the conduction block
        by the preconditioner of the assembled (symmetric) system, then the coolant block
        exactly."""
        n = self.field.size
        inner = build_preconditioner(self.system, "transform-or-amg")
        assert inner is not None
        if self.size == n:
            return inner
        coolant = spla.splu(matrix[n:, n:].tocsc())
        coupling = matrix[n:, :n].tocsr()

        def apply(r: np.ndarray) -> np.ndarray:
            x_t = inner @ r[:n]
            x_c = coolant.solve(r[n:] - coupling @ x_t)
            return np.concatenate([x_t, x_c])

        return spla.LinearOperator((self.size, self.size), matvec=apply, dtype=float)
