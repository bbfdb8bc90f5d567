"""The derivative of a temperature with respect to the power map: by the operator and exactly.

Gradient-based design needs derivatives, and an operator whose temperatures are accurate may
still have inaccurate ones (a point response is sharper than its modes or basis). This module
gives both, at one cell, with respect to the power density on the model's sensor grid, in K
per W/m²:

- :func:`operator_gradient`: automatic differentiation through the branch and trunk networks;
- :func:`adjoint_gradient`: the finite-volume solution's exact derivative, the adjoint field
  λ = A⁻¹e (one more solve) on the layer or face the map heats, carried back to the sensor
  grid by the transpose of the map's conservative resampling.
"""

from __future__ import annotations

import numpy as np

from chiptherm.discretize.grid import resample_matrix
from chiptherm.discretize.system import System
from chiptherm.operator.deeponet import to_tensor
from chiptherm.operator.model import Operator
from chiptherm.solvers import make_solver
from chiptherm.solvers.result import carrier_maps


def adjoint_gradient(
    op: Operator, density: np.ndarray
) -> tuple[np.ndarray, tuple[int, int, int], float]:
    """The exact derivative of the hottest cell's temperature with respect to the (ny, nx)
    sensor-grid density of ``op``'s case, K/(W/m²); that cell (z, y, x) on the case grid,
    and its temperature, K."""
    case = op.case
    stack = case.stack_with(density)
    system = System.from_stack(stack)
    grid = system.grid
    assert grid is not None
    solver = make_solver(system)
    field, _ = solver.solve(system.rhs)
    field = field.reshape(grid.shape)
    cell = tuple(int(i) for i in np.unravel_index(int(np.argmax(field)), grid.shape))
    weights = np.zeros(grid.shape)
    weights[cell] = 1.0
    adjoint, _ = solver.solve(weights)
    maps = carrier_maps(stack, grid, adjoint.reshape(grid.shape))
    influence = next(m for source, m in maps.values() if source == case.power)
    sy, sx = case.sensors
    lx, ly = case.size
    rx = resample_matrix(np.linspace(0.0, lx, sx + 1), grid.x_edges)
    ry = resample_matrix(np.linspace(0.0, ly, sy + 1), grid.y_edges)
    area = (lx / sx) * (ly / sy)
    return area * (ry.T @ influence @ rx), cell, float(field[cell])  # type: ignore[return-value]


def operator_gradient(
    op: Operator, density: np.ndarray, cell: tuple[int, int, int]
) -> tuple[np.ndarray, float]:
    """The operator's derivative of its temperature at ``cell`` (z, y, x) of the case grid
    with respect to the (ny, nx) sensor-grid density, K/(W/m²), and that temperature, K."""
    case = op.case
    xs, ys, ss = case.grid_coordinates(case.grid())
    x, y, s = (
        to_tensor(a[[i]], op.device) for a, i in ((xs, cell[2]), (ys, cell[1]), (ss, cell[0]))
    )
    inputs = op.inputs(density[None])
    q = inputs.q.detach().clone().requires_grad_(True)
    op.net.eval()
    rise = op.net.grid(op.net.branch(q, inputs.p), x, y, s).sum() * case.temperature_scale
    rise.backward()
    assert q.grad is not None
    gradient = q.grad[0].cpu().numpy().astype(float) / case.power_scale
    background = op.background(1, None, case.grid())
    offset = background if np.isscalar(background) else float(background[0][cell])  # type: ignore[index]
    return gradient, float(rise.detach()) + float(offset)
