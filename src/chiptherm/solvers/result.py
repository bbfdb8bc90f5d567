"""The result of a steady solve: temperature field, coordinates, statistics, probes."""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

import numpy as np

from chiptherm.description.stack import Stack
from chiptherm.discretize.grid import Grid
from chiptherm.discretize.system import EnergyBalance, System
from chiptherm.errors import InputError
from chiptherm.solvers import SolveInfo, solve_system, using_device
from chiptherm.solvers.nonlinear import KELVIN_TOLERANCE, solve_nonlinear


@dataclass(frozen=True)
class Stats:
    """Max, min and mean temperature of a region, K (mean weighted by cell volume/overlap)."""

    max: float
    min: float
    mean: float


@dataclass(frozen=True)
class BlockStats:
    """Temperatures of one power block in the layer (or face) that carries it."""

    source: str
    block: str
    layer: str
    watts: float
    stats: Stats


@dataclass
class Result:
    """A solved stack.

    Attributes:
        stack: the stack that was solved.
        grid: its discretization.
        temperature: (nz, ny, nx) cell temperatures, K; index 0 = bottom, south, west.
        info: solver diagnostics.
        balance: power in vs heat out through the faces.
    """

    stack: Stack
    grid: Grid
    temperature: np.ndarray
    info: SolveInfo
    balance: EnergyBalance

    # -- statistics -----------------------------------------------------------------------
    def layer_field(self, layer: str | int) -> np.ndarray:
        """(cells, ny, nx) temperatures of one layer (by name or top-first index), bottom first."""
        index = self.stack.layer_index(layer) if isinstance(layer, str) else layer
        return self.temperature[self.grid.cells_of_layer(index)]

    def layer_map(self, layer: str | int) -> np.ndarray:
        """(ny, nx) thickness-weighted mean temperature through one layer, K."""
        index = self.stack.layer_index(layer) if isinstance(layer, str) else layer
        cells = self.grid.cells_of_layer(index)
        w = self.grid.dz[cells]
        return np.tensordot(w / w.sum(), self.temperature[cells], axes=1)

    @cached_property
    def layer_stats(self) -> dict[str, Stats]:
        """Per-layer max/min/volume-mean temperature, K, keyed by layer name (top first)."""
        out = {}
        for i, layer in enumerate(self.stack.layers):
            t = self.layer_field(i)
            out[layer.name] = Stats(float(t.max()), float(t.min()), float(self.layer_map(i).mean()))
        return out

    @cached_property
    def block_stats(self) -> list[BlockStats]:
        """Temperatures of every power block in every layer or face that uses its source."""
        out = []
        for label, (source_name, tmap) in carrier_maps(
            self.stack, self.grid, self.temperature
        ).items():
            for block in self.stack.power[source_name].blocks:
                weight = self.grid.block_fraction(block)
                ys, xs = self.grid.block_cells(block)
                cells = tmap[ys, xs]
                stats = Stats(float(cells.max()), float(cells.min()), float((weight * tmap).sum()))
                out.append(BlockStats(source_name, block.name, label, block.watts, stats))
        return out

    @property
    def leakage_w(self) -> float:
        """Temperature-dependent leakage at this field, W: the power in beyond the sources'
        dynamic power."""
        if not self.stack.leaky_sources:
            return 0.0
        return self.balance.power_in - self.stack.total_power

    def coolant_outlets(self) -> dict[str, dict[str, float]]:
        """Per coolant face (by face name) and cavity ('cavity NAME'): inlet and mixed outlet
        temperature (K), flow (kg/s) and the heat the coolant carries away (W); the outlet is
        the inlet plus that heat over m·c_p. Cavities with channels add the Reynolds number,
        the pressure drop (Pa) and the pumping power (W)."""
        specs = {face: self.stack.boundary(face).coolant for face in self.stack.coolant_faces}
        specs |= {f"cavity {la.name}": la.coolant for la in self.stack.layers if la.coolant}
        out = {}
        for key, spec in specs.items():
            assert spec is not None
            heat = self.balance.by_face[key]
            out[key] = {
                "inlet_k": spec.inlet_temperature,
                "outlet_k": spec.inlet_temperature + heat / (spec.flow_rate * spec.heat_capacity),
                "flow_kg_per_s": spec.flow_rate,
                "heat_w": heat,
            }
        for layer in self.stack.layers:
            if layer.channels is not None:
                from chiptherm.description.hydraulics import channel_flow

                flow = channel_flow(self.stack, layer)
                out[f"cavity {layer.name}"] |= {
                    "reynolds": flow.reynolds,
                    "pressure_drop_pa": flow.pressure_drop,
                    "pumping_power_w": flow.pumping_power,
                    "laminar": flow.laminar,
                }
        return out

    @property
    def max_temperature(self) -> float:
        """Hottest cell temperature, K."""
        return float(self.temperature.max())

    # -- probes ---------------------------------------------------------------------------
    @cached_property
    def _interpolator(self) -> Any:
        g = self.grid
        # scipy.interpolate brings scipy.optimize: 0.3 s that only probes need
        from scipy.interpolate import RegularGridInterpolator

        return RegularGridInterpolator((g.z, g.y, g.x), self.temperature, method="linear")

    def probe(self, x: float, y: float, layer: str | int, z: float | None = None) -> float:
        """Temperature at (x, y) in m, at mid-height of ``layer`` (or at absolute height z), K.

        Linear interpolation between cell centres; points between a face and the outermost
        cell centre take that cell's value.
        """
        index = self.stack.layer_index(layer) if isinstance(layer, str) else layer
        cells = self.grid.cells_of_layer(index)
        if z is None:
            z = 0.5 * (self.grid.z_edges[cells[0]] + self.grid.z_edges[cells[-1] + 1])
        g = self.grid
        lx, ly, height = g.x_edges[-1], g.y_edges[-1], g.z_edges[-1]
        if not (0.0 <= x <= lx and 0.0 <= y <= ly and 0.0 <= z <= height):
            raise InputError(
                f"probe ({x:g}, {y:g}, {z:g}) m lies outside the stack "
                f"({lx:g} x {ly:g} x {height:g} m)"
            )
        point = (
            float(np.clip(z, g.z[0], g.z[-1])),
            float(np.clip(y, g.y[0], g.y[-1])),
            float(np.clip(x, g.x[0], g.x[-1])),
        )
        return float(self._interpolator([point])[0])

    # -- summary ----------------------------------------------------------------------------
    def summary(self, probes: list[tuple[float, float, str]] | None = None) -> dict[str, Any]:
        """A JSON-ready summary: layers, blocks, probes, solver and energy diagnostics."""
        nz, ny, nx = self.grid.shape
        return {
            "stack": self.stack.name,
            "grid": {"nx": nx, "ny": ny, "nz": nz, "cells": nx * ny * nz},
            "units": {"temperature": "K", "power": "W", "length": "m"},
            "max_temperature": self.max_temperature,
            "total_power": self.balance.power_in,
            "layers": [{"name": name, **asdict(stats)} for name, stats in self.layer_stats.items()],
            "blocks": [
                {
                    "source": b.source,
                    "name": b.block,
                    "layer": b.layer,
                    "watts": b.watts,
                    **asdict(b.stats),
                }
                for b in self.block_stats
            ],
            "probes": [
                {"x": x, "y": y, "layer": layer, "temperature": self.probe(x, y, layer)}
                for x, y, layer in probes or []
            ],
            "solver": asdict(self.info),
            "energy": {
                "power_in": self.balance.power_in,
                "leakage": self.leakage_w,
                "coolant": self.coolant_outlets(),
                "heat_out": self.balance.heat_out,
                "by_face": self.balance.by_face,
                "relative_error": self.balance.relative_error,
            },
            "machine": {"platform": platform.platform(), "python": platform.python_version()},
        }


def carrier_maps(stack: Stack, grid: Grid, field: np.ndarray) -> dict[str, tuple[str, np.ndarray]]:
    """Every layer or face that carries power, by layer name or 'top face' / 'bottom face':
    its power source's name and the (ny, nx) map of ``field`` (nz, ny, nx) over it, weighted
    through a layer's z-cells by height as its power is (over a face, the face's cells)."""
    maps = {}
    for i, layer in enumerate(stack.layers):
        if layer.power:
            cells = grid.cells_of_layer(i)
            share = grid.dz[cells] / grid.dz[cells].sum()
            maps[layer.name] = (layer.power, np.tensordot(share, field[cells], axes=1))
    for face, level in (("top", -1), ("bottom", 0)):
        source = stack.boundary(face).power
        if source:
            maps[f"{face} face"] = (source, field[level])
    return maps


def solve(
    stack: Stack,
    method: str = "auto",
    x0: np.ndarray | None = None,
    tol: float = 1e-10,
    maxiter: int = 2000,
    progress: Callable[[str], None] | None = None,
    kelvin_tol: float = KELVIN_TOLERANCE,
    device: str | None = None,
) -> Result:
    """Discretize and solve ``stack``; the steady temperature field with diagnostics.

    Args:
        stack: the stack to solve.
        method: solver (see :mod:`chiptherm.solvers`), 'auto' by default.
        x0: optional initial guess (nz, ny, nx) in K for iterative methods (warm start).
        tol: relative residual tolerance ||b - A·T|| / ||b|| for iterative methods.
        maxiter: iteration limit for iterative methods.
        progress: receives one-line messages on the way (assembly, set-up, iterations).
        kelvin_tol: with temperature-dependent materials, leakage or a coolant, the
            fixed-point iteration stops when the last change and the estimated distance left
            to the fixed point are below this, K (see :mod:`chiptherm.solvers.nonlinear`).
        device: where to solve: 'numpy' (the host), or a torch device such as 'cuda' (see
            :mod:`chiptherm.solvers.backend`); default: the current
            :func:`~chiptherm.solvers.backend.using_device` block's, else the host.

    Raises:
        SolverError: when an iterative method does not reach ``tol``, or the fixed-point
            iteration of a nonlinear stack does not converge (thermal runaway included).
    """
    if progress is not None:
        progress(f"assembling {stack.name}")
    with using_device(device):
        if stack.needs_iteration:
            nonlinear = solve_nonlinear(stack, None, method, x0, tol, maxiter, progress, kelvin_tol)
            system, temperature, info = nonlinear.system, nonlinear.temperature, nonlinear.info
        else:
            system = System.from_stack(stack)
            temperature, info = solve_system(system, method, x0, tol, maxiter, progress)
    return Result(stack, system.grid, temperature, info, system.energy_balance(temperature))  # type: ignore[arg-type]
