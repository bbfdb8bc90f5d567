"""A trained operator: a case plus its DeepONet, predicting temperatures in kelvin on any grid."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
from pydantic import Field

from chiptherm.description.settings import Settings
from chiptherm.description.stack import PowerSource, Stack
from chiptherm.description.stack_io import stack_from_dict, stack_to_dict
from chiptherm.discretize.grid import Grid
from chiptherm.errors import InputError
from chiptherm.formats.loading import load_stack
from chiptherm.operator.case import Case, Parameter
from chiptherm.operator.config import ModelConfig
from chiptherm.operator.deeponet import DeepONet, to_tensor
from chiptherm.operator.modal import ModalGeometry
from chiptherm.operator.physics import Inputs


class ParameterConfig(Settings):
    """A heat-transfer coefficient given to the branch, drawn from [low, high] W/(m²·K)."""

    name: str
    """The input's name (``--param NAME=VALUE`` at prediction)."""
    face: str
    """The face whose coefficient it is (top, bottom, ...)."""
    low: float = Field(gt=0)
    """Lowest value drawn, W/(m²·K)."""
    high: float = Field(gt=0)
    """Highest value drawn, W/(m²·K)."""


class CaseConfig(Settings):
    """Which stack, which power source varies, how the branch sees the map.

    Attributes:
        stack: a stack file (relative to the config file) or an inline stack mapping.
        power: name of the stack's power source that the operator takes as input.
        sensors: [ny, nx] cells of the sensor grid.
        parameters: heat-transfer coefficients given to the branch as scalar inputs.
        power_scale: typical power density, W/m² (estimated from the distribution if omitted).
        homogenize: learn layers with material regions (TSVs) as effective media; the solver
            side (references, confidence, refinement) keeps the true stack.
    """

    stack: str | dict[str, Any]
    power: str
    sensors: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]] = (21, 21)
    parameters: list[ParameterConfig] = Field(default_factory=list)
    power_scale: float | None = Field(default=None, gt=0)
    homogenize: bool = False


def build_case(cfg: CaseConfig, base_dir: Path, power_scale: float) -> Case:
    """The :class:`Case` of a config (stack paths relative to ``base_dir``)."""
    if isinstance(cfg.stack, str):
        path = Path(cfg.stack)
        stack = load_stack(path if path.is_absolute() else base_dir / path)
    else:
        stack = stack_from_dict(cfg.stack, source="case.stack")
    params = [Parameter(p.name, p.face, p.low, p.high) for p in cfg.parameters]
    return Case(stack, cfg.power, tuple(cfg.sensors), params, power_scale, cfg.homogenize)


def portable_stack(case: Case) -> dict[str, Any]:
    """The case's stack as a plain dict, with the varying power replaced by a zero map."""
    stack = case.stack.with_power(case.power, PowerSource(map=np.zeros((1, 1))))
    data = stack_to_dict(stack)
    data["power"][case.power] = {"map": [[0.0]]}
    return data


@dataclass
class Operator:
    """A case and its network, with predictions in SI units.

    Attributes:
        case: the case (stack, power input, scales).
        net: the DeepONet (nondimensional).
        model_config: the network settings.
    """

    case: Case
    net: DeepONet
    model_config: ModelConfig

    @classmethod
    def create(cls, case: Case, cfg: ModelConfig, seed: int = 0) -> Operator:
        torch.manual_seed(seed)
        net = DeepONet(
            cfg,
            case.sensors,
            len(case.parameters),
            cosine_x=case.adiabatic_axis("x"),
            cosine_y=case.adiabatic_axis("y"),
            centres=() if case.source_face else (case.source_s,),
            geometry=ModalGeometry.from_case(case) if cfg.combine == "modal" else None,
        )
        return cls(case, net, cfg)

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    # -- inputs --------------------------------------------------------------------------------
    def parameter_values(self, n: int, params: dict[str, Any] | None) -> dict[str, np.ndarray]:
        """(n,) values of every parameter: given ones (scalar or per sample), else the stack's."""
        params = dict(params or {})
        unknown = set(params) - {p.name for p in self.case.parameters}
        if unknown:
            known = [p.name for p in self.case.parameters] or "none"
            raise InputError(f"unknown parameter(s) {sorted(unknown)}; this model takes {known}")
        out = {}
        for p in self.case.parameters:
            default = self.case.boundary(p.face).htc
            value = np.broadcast_to(np.asarray(params.get(p.name, default), dtype=float), (n,))
            if np.any(value <= 0) or not np.all(np.isfinite(value)):
                raise InputError(f"parameter {p.name!r} must be a positive number of W/(m²·K)")
            out[p.name] = value
        return out

    def extrapolated(self, values: dict[str, np.ndarray]) -> list[str]:
        """Names of the inputs in ``values`` (from :meth:`parameter_values`) that leave their
        training range where the network itself reads them. Modal models solve the face
        conditions exactly for any heat-transfer coefficient, so for them this is empty."""
        if self.net.modal:
            return []
        return [
            p.name
            for p in self.case.parameters
            if np.any(values[p.name] < p.low) or np.any(values[p.name] > p.high)
        ]

    def inputs(self, density: np.ndarray, params: dict[str, Any] | None = None) -> Inputs:
        """Nondimensional network inputs from (B, ny, nx) power densities in W/m²."""
        density = np.asarray(density, dtype=float)
        if density.ndim == 2:
            density = density[None]
        if density.shape[1:] != tuple(self.case.sensors):
            raise InputError(
                f"power density must be (B, {self.case.sensors[0]}, {self.case.sensors[1]}) on "
                f"the sensor grid, got {density.shape}"
            )
        n = density.shape[0]
        dev = self.device
        values = self.parameter_values(n, params)
        p = None
        if self.case.parameters:
            p = to_tensor(
                np.stack([pr.normalize(values[pr.name]) for pr in self.case.parameters], 1), dev
            )
        biot = {}
        for face in ("top", "bottom"):
            bc = self.case.boundary(face)
            if bc.htc is not None:
                h = np.full(n, bc.htc)
                for pr in self.case.parameters:
                    if pr.face == face:
                        h = values[pr.name]
                biot[face] = to_tensor(h * self.case.s_total, dev)
        return Inputs(to_tensor(density / self.case.power_scale, dev), p, biot)

    # -- prediction ----------------------------------------------------------------------------
    def rise_chunks(
        self,
        density: np.ndarray,
        params: dict[str, Any] | None = None,
        grid: Grid | None = None,
        chunk: int = 64,
        z_cells: np.ndarray | None = None,
    ) -> Iterator[torch.Tensor]:
        """Temperature rises over ambient in K, ``chunk`` maps at a time, as float32 tensors
        (b, nz, ny, nx) on the model's device (nothing is copied to the host): at the cell
        centres of ``grid`` (the case grid by default), for power densities (B, ny, nx) W/m² on
        the sensor grid; only the z-cells ``z_cells`` (indices, bottom = 0) when given."""
        grid = grid or self.case.grid()
        xs, ys, ss = self.case.grid_coordinates(grid)
        if z_cells is not None:
            ss = ss[z_cells]
        x, y, s = (to_tensor(a, self.device) for a in (xs, ys, ss))
        inputs = self.inputs(density, params)
        self.net.eval()
        with torch.no_grad():
            for i in range(0, inputs.q.shape[0], chunk):
                p = None if inputs.p is None else inputs.p[i : i + chunk]
                b = self.net.branch(inputs.q[i : i + chunk], p)
                u = self.net.grid(b, x, y, s)
                yield u.mul_(self.case.temperature_scale)

    def background(
        self,
        n: int,
        params: dict[str, Any] | None = None,
        grid: Grid | None = None,
        z_cells: np.ndarray | None = None,
    ) -> float | np.ndarray:
        """The temperature of the case with the varying power off, K, for ``n`` samples with
        scalar inputs ``params``: the ambient (a float) when it is uniform, else fields
        (n or 1, nz, ny, nx) on ``grid`` (only ``z_cells`` when given), one exact solve per
        distinct set of inputs. Predictions are this plus the learned rise."""
        if self.case.uniform_background:
            return self.case.ambient
        grid = grid or self.case.grid()
        values = per_sample(self.parameter_values(n, params), n)
        distinct = {tuple(sorted(v.items())) for v in values}
        samples = values[:1] if len(distinct) == 1 else values
        out = np.stack([self.case.background(grid, v) for v in samples])
        return out if z_cells is None else out[:, z_cells]

    def temperature_chunks(
        self,
        density: np.ndarray,
        params: dict[str, Any] | None = None,
        grid: Grid | None = None,
        chunk: int = 64,
    ) -> Iterator[tuple[torch.Tensor, float]]:
        """(T - offset, offset) per chunk of maps: float32 tensors (b, nz, ny, nx) K on the
        model's device and a float K. With a uniform background the offset is the ambient and
        the tensor the rise (so float32 keeps its resolution); otherwise the background field
        is added on the device and the offset is 0."""
        n = 1 if np.ndim(density) == 2 else len(density)
        values = self.parameter_values(n, params)
        done = 0
        for u in self.rise_chunks(density, params, grid, chunk):
            if self.case.uniform_background:
                yield u, self.case.ambient
            else:
                part = {k: v[done : done + len(u)] for k, v in values.items()}
                bg = self.background(len(u), part, grid)
                yield u.add_(to_tensor(bg, self.device)), 0.0
            done += len(u)

    def predict(
        self,
        density: np.ndarray,
        params: dict[str, Any] | None = None,
        grid: Grid | None = None,
        chunk: int = 64,
        z_cells: np.ndarray | None = None,
    ) -> np.ndarray:
        """Temperatures (B, nz, ny, nx) in K on the host (see :meth:`rise_chunks`): the learned
        rise plus the :meth:`background`."""
        grid = grid or self.case.grid()
        nz = grid.shape[0] if z_cells is None else len(z_cells)
        n = 1 if np.ndim(density) == 2 else len(density)
        out = np.empty((n, nz, *grid.shape[1:]))
        start = 0
        for u in self.rise_chunks(density, params, grid, chunk, z_cells):
            out[start : start + u.shape[0]] = u.cpu().numpy()
            start += u.shape[0]
        out += self.background(n, params, grid, z_cells)
        return out

    def peaks(
        self,
        density: np.ndarray,
        params: dict[str, Any] | None = None,
        grid: Grid | None = None,
        chunk: int = 64,
    ) -> np.ndarray:
        """(B,) peak temperatures in K of the fields of :meth:`predict`, reduced on the device
        chunk by chunk (no field is copied to the host)."""
        peaks = [
            u.amax(dim=(1, 2, 3)).cpu().numpy().astype(float) + offset
            for u, offset in self.temperature_chunks(density, params, grid, chunk)
        ]
        return np.concatenate(peaks)

    def predict_watts(
        self, watts: np.ndarray, params: dict[str, Any] | None = None, grid: Grid | None = None
    ) -> np.ndarray:
        """Like :meth:`predict`, from one map in W per cell of any uniform grid (a stack map)."""
        return self.predict(self.case.density_from_watts(watts)[None], params, grid)[0]

    def source_cells(self, grid: Grid | None = None) -> np.ndarray:
        """z-indices of the cells that carry the varying power (its layer, or the face cells)."""
        grid = grid or self.case.grid()
        face = self.case.source_face
        if face is not None:
            return np.array([grid.shape[0] - 1 if face == "top" else 0])
        return grid.cells_of_layer(self.case.stack.layer_index(self.case.power_layer))

    def stack_for(self, density: np.ndarray, params: dict[str, Any] | None = None) -> Stack:
        """The case stack carrying one (ny, nx) density map and parameter values."""
        values = per_sample(self.parameter_values(1, params), 1)[0]
        return self.case.stack_with(density, values)


def per_sample(values: dict[str, np.ndarray], n: int) -> list[dict[str, float]]:
    """{name: (n,) values} -> n dicts {name: value}, one per sample."""
    return [{k: float(v[i]) for k, v in values.items()} for i in range(n)]
