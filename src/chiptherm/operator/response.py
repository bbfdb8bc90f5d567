"""The response operator of a stack: its temperatures as an affine function of a power map.

Conduction is linear in the power wherever no conductivity or leakage depends on the
temperature, so for a power source given as a map on a sensor grid (W per cell of an
(my, mx) uniform grid over the chip, resampled conservatively onto the solver's grid exactly
as ``chiptherm solve`` resamples a ``map``) the temperature of every cell is

    T = T0 + Σ_s w_s · G_s,

with T0 the field with the source off (the stack's other sources, ambients and inlets on)
and G_s the rise per watt in sensor cell s. One solve per sensor cell (:func:`~chiptherm.
analysis.compact.linear_response`: one solver built for the system, a coolant warming along
its flow included) gives every G_s to the solver's tolerance, and a prediction is then one
matrix product.

This is the operator for the stacks where a learned one cannot yet be trained: material
regions side by side (chiplets in mold, TSV and bump fields), convective or fixed sides,
contact resistances, anisotropy, coefficient maps: whatever :class:`~chiptherm.discretize.
system.System` takes. It needs no training data and no network, and it makes no
approximation beyond the power map's own sensor grid: a prediction is the solve of the same
map. What it costs is its build (one solve per sensor cell that may carry power) and its
size (float32, sensor cells x output cells: ``examples/chiplets.yaml`` with 520 sensor cells
of 0.5 mm in its dies and its 48,000-cell power layer holds 100 MB; ``benchmarks/response.py``
measures build, size, speed and accuracy).

The outputs are the cells of the layers and faces the source heats: the hottest cell the
source makes is one of them (the discrete maximum principle: a cell without a source is
never hotter than all its neighbours), unless an ambient or another source elsewhere is
hotter. ``levels='all'`` keeps the whole field instead.

Array shapes: maps (k, my, mx) or (my, mx) W per sensor cell; fields (k, nl, ny, nx) K over
the ``levels`` (z indices) of the solver grid (nz, ny, nx).
"""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from chiptherm.analysis.compact import linear_response
from chiptherm.atomic import atomic_path
from chiptherm.description.parts import PowerSource, Rect
from chiptherm.description.stack import Stack
from chiptherm.discretize.grid import Grid, resample_matrix
from chiptherm.discretize.system import System, source_field
from chiptherm.errors import InputError
from chiptherm.tasks import Cluster, Runner, on_cluster, run_tasks, worker_cache

FORMAT = "chiptherm-response-1"
"""The ``format`` entry of a saved operator's metadata."""


@dataclass(frozen=True)
class ResponseOperator:
    """Temperatures of a stack's ``levels`` as T0 + Σ w_s·G_s over the active sensor cells.

    Attributes:
        stack_name: the stack it was built from.
        source: the power source whose map is the input.
        active: (my, mx) the sensor cells that may carry power (the others must stay 0 W).
        shape: (nz, ny, nx) of the solver grid.
        levels: (nl,) z indices of the output layers of cells.
        background: (nl, ny, nx) temperatures with the source off, K.
        response: (n_active, nl·ny·nx) float32 rise per watt in each active sensor cell, in
            the row-major order of ``active``'s True entries, K/W.
        method: the linear solver that built it.
        seconds: wall time of the build.
    """

    stack_name: str
    source: str
    active: np.ndarray
    shape: tuple[int, int, int]
    levels: np.ndarray
    background: np.ndarray
    response: np.ndarray
    method: str
    seconds: float

    @property
    def sensors(self) -> tuple[int, int]:
        """(my, mx) the sensor grid's cells along y and x."""
        return self.active.shape  # type: ignore[return-value]

    @property
    def nbytes(self) -> int:
        """Memory of the response and background, bytes."""
        return self.response.nbytes + self.background.nbytes

    def predict(self, watts: np.ndarray) -> np.ndarray:
        """Temperatures (k, nl, ny, nx) K of the output levels for maps (k, my, mx) W per
        sensor cell, or (nl, ny, nx) for one map (my, mx).

        Raises:
            InputError: for a map of another shape, or with power in a sensor cell outside
                the active ones.
        """
        maps = np.asarray(watts, dtype=float)
        single = maps.ndim == 2
        maps = maps[None] if single else maps
        if maps.ndim != 3 or maps.shape[1:] != self.sensors:
            raise InputError(
                f"power maps: expected shape (k, {self.sensors[0]}, {self.sensors[1]}) or "
                f"({self.sensors[0]}, {self.sensors[1]}) W per sensor cell, got {np.shape(watts)}"
            )
        outside = np.abs(maps[:, ~self.active]).max(initial=0.0)
        if outside > 0:
            k, y, x = np.argwhere(maps * ~self.active != 0)[0]
            raise InputError(
                f"power map {k}: sensor cell (row {y}, column {x}) carries {maps[k, y, x]:g} W, "
                f"but the operator of {self.stack_name!r} was built for power in "
                f"{int(self.active.sum())} sensor cells only (those that overlap the given regions)"
            )
        rises = maps[:, self.active].astype(np.float32) @ self.response
        fields = self.background + rises.reshape(len(maps), *self.background.shape)
        return fields[0] if single else fields

    def peaks(self, watts: np.ndarray) -> np.ndarray:
        """The hottest cell (k,) K of the output levels for maps (k, my, mx) W (() for one)."""
        fields = self.predict(watts)
        return fields.max(axis=(-3, -2, -1))

    def save(self, path: str | Path) -> None:
        """Write the operator to one ``.npz`` file (atomically): the arrays, and its
        metadata as JSON."""
        meta = {
            "format": FORMAT,
            "stack": self.stack_name,
            "source": self.source,
            "shape": list(self.shape),
            "method": self.method,
            "seconds": self.seconds,
        }
        with atomic_path(Path(path)) as tmp, tmp.open("wb") as handle:
            np.savez(
                handle,
                meta=np.array(json.dumps(meta)),
                active=self.active,
                levels=self.levels,
                background=self.background,
                response=self.response,
            )

    @classmethod
    def load(cls, path: str | Path) -> ResponseOperator:
        """Read an operator written by :meth:`save`.

        Raises:
            InputError: for a file that is not a response operator (or is damaged).
        """
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                arrays = {k: data[k] for k in ("active", "levels", "background", "response")}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise InputError(f"{path}: not a chiptherm response operator ({exc})") from None
        if meta.get("format") != FORMAT:
            raise InputError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
        return cls(
            meta["stack"],
            meta["source"],
            arrays["active"].astype(bool),
            tuple(meta["shape"]),  # type: ignore[arg-type]
            arrays["levels"],
            arrays["background"],
            arrays["response"],
            meta["method"],
            float(meta["seconds"]),
        )


def build_response(
    stack: Stack,
    source: str,
    sensors: tuple[int, int],
    within: Sequence[Rect] | Literal["regions"] | None = None,
    levels: Literal["heated", "all"] = "heated",
    method: str = "auto",
    tol: float = 1e-10,
    on_sensor: Callable[[int, int], None] | None = None,
    cluster: Cluster | Runner | None = None,
) -> ResponseOperator:
    """The response operator of ``stack`` for the map of power source ``source``.

    Args:
        stack: a stack whose temperatures are affine in the power (no k(T), no leakage).
        source: the power source that the maps replace (its blocks or map are dropped).
        sensors: (my, mx) cells of the maps' uniform grid over the chip.
        within: the sensor cells that may carry power: those that overlap these rectangles,
            or the material regions of the layers the source heats ('regions': the dies of a
            package), so that a block anywhere inside them stays on active cells; None: every
            sensor cell.
        levels: 'heated' (the layers and faces the source heats) or 'all' (the whole field).
        method, tol: the linear solver (see :mod:`chiptherm.solvers`) and its relative
            residual.
        on_sensor: told (done, total) as sensor cells are solved.
        cluster: solve the sensor cells as tasks on a Dask cluster (:mod:`chiptherm.tasks`),
            :data:`SENSORS_PER_TASK` a task, each worker building its solver once; the same
            numbers as in this process.

    Raises:
        InputError: for temperatures that are not affine in the power, an unknown or unused
            source, a sensor grid without cells, or no sensor cell inside ``within``.
    """
    started = time.perf_counter()
    check_source(stack, source)
    my, mx = sensors
    if my < 1 or mx < 1:
        raise InputError(f"sensors: expected at least 1 x 1 cells, got {my} x {mx}")
    task = SensorTask(stack, source, (my, mx), within, levels, method, tol, ())
    here = task.responses()
    active = here.active
    cells = [(int(y), int(x)) for y, x in np.argwhere(active)]
    per_task = SENSORS_PER_TASK if on_cluster(cluster) else 1
    chunks = [cells[i : i + per_task] for i in range(0, len(cells), per_task)]
    items = [replace(task, cells=tuple(chunk)) for chunk in chunks]
    done = (
        (lambda k, _: on_sensor(min(k * per_task, len(cells)), len(cells))) if on_sensor else None
    )
    rows = run_tasks(sensor_rows, items, cluster, done, ())
    return ResponseOperator(
        stack.name,
        source,
        active,
        here.grid.shape,
        here.levels,
        here.background[here.levels],
        np.concatenate(rows) if rows else np.empty((0, here.cells), dtype=np.float32),
        here.method,
        time.perf_counter() - started,
    )


SENSORS_PER_TASK = 8
"""Sensor cells a task of a build on a cluster solves: enough to amortize a task's overhead,
few enough to spread the sensor grid over the workers."""


@dataclass(frozen=True)
class SensorTask:
    """A share of a build: the build's inputs (see :func:`build_response`) and the sensor
    ``cells`` (row, column) whose responses it solves."""

    stack: Stack
    source: str
    sensors: tuple[int, int]
    within: Sequence[Rect] | Literal["regions"] | None
    levels: Literal["heated", "all"]
    method: str
    tol: float
    cells: tuple[tuple[int, int], ...]

    def responses(self) -> SensorResponses:
        """The solver and fields of this build, made once per process (or worker)."""
        within = self.within
        listed = within is not None and not isinstance(within, str)
        shown = [r.model_dump_json() for r in within] if listed else within  # type: ignore[union-attr]
        key = (
            "sensor responses",
            self.stack.model_dump_json(),
            self.source,
            self.sensors,
            repr(shown),
            self.levels,
            self.method,
            self.tol,
        )
        return worker_cache(key, lambda: SensorResponses(self))


class SensorResponses:
    """What the responses of a build need, made once per process or worker: the stack with
    the source off on its grid, the rectangles that may carry power and the active sensor
    cells, the field with the source off (``background``, K), the output ``levels``, and a
    solver of the rises (K) of any powers (W)."""

    def __init__(self, task: SensorTask) -> None:
        self.sensors, self.source = task.sensors, task.source
        self.rects = allowed_rects(task.stack, task.source, task.within)
        self.active = sensor_mask(task.stack, task.sensors, self.rects)
        self.off = task.stack.with_power(task.source, PowerSource(map=np.zeros(task.sensors)))
        system = System.from_stack(self.off)
        self.grid: Grid = system.grid  # type: ignore[assignment]
        self.background, self.rises, self.method = linear_response(
            self.off, system, task.method, task.tol, off=self.off
        )
        self.levels = (
            heated_levels(self.off, self.grid, task.source)
            if task.levels == "heated"
            else np.arange(self.grid.shape[0])
        )
        self.cells = len(self.levels) * self.grid.shape[1] * self.grid.shape[2]

    def row(self, cell: tuple[int, int]) -> np.ndarray:
        """(nl·ny·nx,) float32 the rise per watt in sensor cell ``cell``, K/W."""
        one_watt = np.zeros(self.sensors)
        one_watt[cell] = 1.0
        unit = map_power(self.off, self.grid, self.source, self.rects, one_watt)
        return self.rises(unit[None])[0][self.levels].ravel().astype(np.float32)


def sensor_rows(task: SensorTask) -> np.ndarray:
    """A task of :func:`build_response`: (len(cells), nl·ny·nx) float32 the rises per watt
    of the task's sensor cells, K/W."""
    responses = task.responses()
    return np.stack([responses.row(cell) for cell in task.cells])


def check_source(stack: Stack, source: str) -> None:
    """Refuse a stack whose temperatures are not affine in the power, or a source it does
    not have or does not use, with what is wrong."""
    if stack.nonlinearities:
        raise InputError(
            "a response operator needs temperatures linear in the power, and "
            f"{' and '.join(stack.nonlinearities)} depend(s) on the temperature"
        )
    if source not in stack.power:
        raise InputError(
            f"stack {stack.name!r} has no power source {source!r}; it has "
            f"{', '.join(stack.power) or 'none'}"
        )
    if source not in stack.used_power:
        raise InputError(f"power source {source!r} heats no layer or face of {stack.name!r}")


def allowed_rects(
    stack: Stack, source: str, within: Sequence[Rect] | Literal["regions"] | None
) -> list[Rect] | None:
    """The rectangles that may carry power (see :func:`build_response`), or None for the
    whole chip."""
    if within is None:
        return None
    if within != "regions":
        return list(within)
    rects: list[Rect] = [
        region for layer in stack.layers if layer.power == source for region in layer.regions
    ]
    if not rects:
        raise InputError(
            f"within='regions': the layers that {source!r} heats have no material regions"
        )
    return rects


def sensor_mask(stack: Stack, sensors: tuple[int, int], rects: list[Rect] | None) -> np.ndarray:
    """(my, mx) the sensor cells that overlap ``rects`` by a positive area (all of them for
    None), so that a block anywhere inside the rectangles stays on active cells."""
    my, mx = sensors
    if rects is None:
        return np.ones((my, mx), dtype=bool)
    lx, ly = stack.size
    x0, x1 = np.arange(mx) * lx / mx, np.arange(1, mx + 1) * lx / mx
    y0, y1 = np.arange(my) * ly / my, np.arange(1, my + 1) * ly / my
    active = np.zeros((my, mx), dtype=bool)
    for rect in rects:
        active |= np.outer((y0 < rect.y1) & (y1 > rect.y), (x0 < rect.x1) & (x1 > rect.x))
    if not active.any():
        raise InputError(f"no cell of the {my} x {mx} sensor grid overlaps the regions")
    return active


def map_power(
    stack: Stack,
    grid: Grid,
    source: str,
    rects: list[Rect] | None,
    watts: np.ndarray,
) -> np.ndarray:
    """(nz, ny, nx) W per solver cell of the map ``watts`` (my, mx) W per sensor cell: what the
    operator's input means. Each sensor cell's watts are spread over the solver columns it
    overlaps in proportion to the overlap (as a ``map`` is resampled) and, with ``rects``,
    over those of them whose centres lie inside the rectangles only, so that a die's power
    stays in its silicon rather than in the mold beside it (a sensor cell that overlaps
    them by a sliver narrower than one solver column keeps the plain resampling, as a
    block's edge puts its share into the column beside it); then through the layers and
    faces the source heats."""
    columns = grid.power_map(PowerSource(map=watts))
    if rects is not None:
        my, mx = watts.shape
        lx, ly = stack.size
        ry = resample_matrix(np.linspace(0.0, ly, my + 1), grid.y_edges)  # (ny, my)
        rx = resample_matrix(np.linspace(0.0, lx, mx + 1), grid.x_edges)  # (nx, mx)
        inside = np.zeros(grid.shape[1:])
        for rect in rects:
            inside = np.maximum(inside, grid.region_mask(rect))
        share = ry.T @ inside @ rx  # (my, mx) each sensor cell's share over inside columns
        kept = np.where(share > 0, watts / np.where(share > 0, share, 1.0), 0.0)
        sliver = np.where(share > 0, 0.0, watts)
        columns = (ry @ kept @ rx.T) * inside + ry @ sliver @ rx.T
    at_grid = PowerSource(map=columns)  # the solver grid's own: resampled as it is
    return source_field(stack.with_power(source, at_grid), grid, source)


def heated_levels(stack: Stack, grid: Grid, source: str) -> np.ndarray:
    """(nl,) z indices of the cells that ``source`` heats: its layers' cells and the top or
    bottom cells of a face it heats."""
    levels: list[int] = []
    for index, layer in enumerate(stack.layers):
        if layer.power == source:
            levels += [int(z) for z in grid.cells_of_layer(index)]
    for face, level in (("top", grid.shape[0] - 1), ("bottom", 0)):
        if stack.boundary(face).power == source:
            levels.append(level)
    return np.array(sorted(set(levels)), dtype=np.int64)
