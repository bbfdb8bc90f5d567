"""The response operator of a stack: its temperatures as an affine function of its power.

Conduction is linear in the power wherever no conductivity or leakage depends on the
temperature, so for the power of one source, given per solver column and projected onto a
few basis functions per sensor cell (:mod:`~chiptherm.operator.response_basis`), the
temperature of every cell is

    T = T0 + Σ_k c_k · G_k,

with T0 the field with the source off (the stack's other sources, ambients and inlets on),
c_k the power's coefficient on basis function k and G_k the rise that function causes. One
solve per basis function (:func:`~chiptherm.analysis.compact.linear_response`: one solver
built for the system, a coolant warming along its flow included) gives every G_k to the
solver's tolerance, and a prediction is then one sparse projection and one matrix product.

This is the operator for the stacks where a learned one cannot yet be trained: material
regions side by side (chiplets in mold, TSV and bump fields), convective or fixed sides,
contact resistances, anisotropy, coefficient maps: whatever :class:`~chiptherm.discretize.
system.System` takes. It needs no training data and no network, and its one approximation
is the basis: a prediction is the solve of the projected power, to float32 round-off. What
it costs is its build (one to three solves per sensor cell that may carry power) and its
size (float32, basis functions x output cells: ``examples/chiplets.yaml`` with 520 sensor
cells of 0.5 mm over its dies and its 48,000-cell power layer, 96 MB with one function a
cell, 286 MB with three; ``benchmarks/response.py`` measures build, size, speed and
accuracy).

The outputs are the cells of the layers and faces the source heats: the hottest cell the
source makes is one of them (the discrete maximum principle: a cell without a source is
never hotter than all its neighbours), unless an ambient or another source elsewhere is
hotter. ``levels='all'`` keeps the whole field instead.

Array shapes: sensor maps (k, my, mx) W per sensor cell, column fields (k, ny, nx) W per
solver column; predicted fields (k, nl, ny, nx) K over the ``levels`` (z indices) of the
solver grid (nz, ny, nx).
"""

from __future__ import annotations

import hashlib
import json
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp

from chiptherm.analysis.compact import linear_response
from chiptherm.atomic import atomic_path
from chiptherm.description.parts import Block, PowerSource, Rect
from chiptherm.description.stack import Stack
from chiptherm.discretize.grid import Grid, rect_area_fraction
from chiptherm.discretize.system import System, source_field
from chiptherm.errors import InputError
from chiptherm.operator.response_basis import SensorBasis
from chiptherm.tasks import Cluster, Runner, on_cluster, run_tasks, worker_cache

FORMAT = "chiptherm-response-1"
"""The ``format`` entry of a saved operator's metadata."""


@dataclass(frozen=True)
class ResponseOperator:
    """Temperatures of a stack's ``levels`` as T0 + Σ c_k·G_k over the basis functions of
    its active sensor cells (:class:`~chiptherm.operator.response_basis.SensorBasis`).

    Attributes:
        stack_name: the stack it was built from.
        source: the power source whose map is the input.
        size: (lx, ly) of the chip, m.
        basis: the sensor cells' basis functions and the projection onto them.
        shape: (nz, ny, nx) of the solver grid.
        levels: (nl,) z indices of the output layers of cells.
        background: (nl, ny, nx) temperatures with the source off, K.
        response: (n_basis, nl·ny·nx) float32 rise per unit of each basis function, K/W.
        method: the linear solver that built it.
        seconds: wall time of the build.
        fingerprint: :func:`stack_fingerprint` of the stack it was built from ('' for a
            file written before it was recorded).
    """

    stack_name: str
    source: str
    size: tuple[float, float]
    basis: SensorBasis
    shape: tuple[int, int, int]
    levels: np.ndarray
    background: np.ndarray
    response: np.ndarray
    method: str
    seconds: float
    fingerprint: str = ""

    @property
    def sensors(self) -> tuple[int, int]:
        """(my, mx) the sensor grid's cells along y and x."""
        return self.basis.sensors

    @property
    def active(self) -> np.ndarray:
        """(my, mx) the sensor cells that may carry power."""
        return self.basis.active

    @property
    def nbytes(self) -> int:
        """Memory of the response and background, bytes."""
        return self.response.nbytes + self.background.nbytes

    def predict(self, watts: np.ndarray) -> np.ndarray:
        """Temperatures (k, nl, ny, nx) K of the output levels for sensor maps (k, my, mx)
        W per sensor cell (each spread evenly over the cell's columns), or (nl, ny, nx) for
        one map (my, mx).

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
        if np.abs(maps[:, ~self.active]).max(initial=0.0) > 0:
            k, y, x = np.argwhere(maps * ~self.active != 0)[0]
            raise InputError(
                f"power map {k}: sensor cell (row {y}, column {x}) carries {maps[k, y, x]:g} W, "
                f"but the operator of {self.stack_name!r} was built for power in "
                f"{int(self.active.sum())} sensor cells only (those over the given regions)"
            )
        fields = self.predict_columns(self.basis.spread(maps))
        return fields[0] if single else fields

    def predict_columns(self, columns: np.ndarray) -> np.ndarray:
        """Temperatures (k, nl, ny, nx) K for power fields (k, ny, nx) W per solver column:
        the exact response to their projection on the basis
        (:meth:`~chiptherm.operator.response_basis.SensorBasis.projected`)."""
        coefficients = self.basis.coefficients(np.asarray(columns, dtype=float))
        rises = coefficients.astype(np.float32) @ self.response
        return self.background + rises.reshape(len(columns), *self.background.shape)

    def predict_blocks(self, floorplans: Sequence[Sequence[Block]]) -> np.ndarray:
        """Temperatures (k, nl, ny, nx) K for floorplans, each a list of blocks (their
        watts spread over the columns they overlap, as the solver spreads them)."""
        _, ny, nx = self.shape
        lx, ly = self.size
        x_edges, y_edges = np.linspace(0.0, lx, nx + 1), np.linspace(0.0, ly, ny + 1)
        columns = np.zeros((len(floorplans), ny, nx))
        for k, blocks in enumerate(floorplans):
            for block in blocks:
                columns[k] += block.watts * rect_area_fraction(block, x_edges, y_edges)
        return self.predict_columns(columns)

    def check_stack(self, stack: Stack, where: str, grid: bool = True) -> None:
        """Refuse ``stack`` (named ``where`` in the message) unless it is the stack this
        operator was built from, up to the blocks or map of its varying source: the same
        name, where recorded everything else (:func:`stack_fingerprint`), and (with
        ``grid``) the same grid; a floorplan file only lends its blocks, so its grid may
        differ.

        Raises:
            InputError: naming what differs and how to rebuild.
        """
        rebuild = "rebuild it with 'chiptherm response'"
        if stack.name != self.stack_name:
            hint = rebuild if grid else f"give {self.stack_name!r} with other blocks"
            raise InputError(
                f"{where}: stack {stack.name!r}, not {self.stack_name!r} that the response "
                f"operator was built from; {hint}"
            )
        shape = Grid.from_stack(stack).shape if grid else self.shape
        if shape != self.shape:
            raise InputError(
                f"{where}: the response operator was built from stack {self.stack_name!r} on "
                f"a {'x'.join(map(str, self.shape))} grid, not on a "
                f"{'x'.join(map(str, shape))} grid; {rebuild}"
            )
        if self.fingerprint and stack_fingerprint(stack, self.source) != self.fingerprint:
            raise InputError(
                f"{where}: the response operator was built from another version of stack "
                f"{stack.name!r} (its layers, materials, boundaries or other sources differ); "
                f"{rebuild}"
            )

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
            "size": list(self.size),
            "shape": list(self.shape),
            "sensors": list(self.sensors),
            "order": self.basis.order,
            "method": self.method,
            "seconds": self.seconds,
            "fingerprint": self.fingerprint,
        }
        sparse = {
            f"{name}_{part}": getattr(getattr(self.basis, name), part)
            for name in ("shapes", "projection")
            for part in ("data", "indices", "indptr")
        }
        with atomic_path(Path(path)) as tmp, tmp.open("wb") as handle:
            np.savez(
                handle,
                meta=np.array(json.dumps(meta)),
                owner=self.basis.owner,
                cell=self.basis.cell,
                levels=self.levels,
                background=self.background,
                response=self.response,
                **sparse,
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
                arrays = {k: data[k] for k in data.files if k != "meta"}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise InputError(f"{path}: not a chiptherm response operator ({exc})") from None
        if meta.get("format") != FORMAT:
            raise InputError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
        owner = arrays["owner"]
        sparse = [
            sp.csr_array(
                tuple(arrays[f"{name}_{part}"] for part in ("data", "indices", "indptr")),
                shape=(len(arrays["cell"]), owner.size),
            )
            for name in ("shapes", "projection")
        ]
        basis = SensorBasis(
            tuple(meta["sensors"]), owner, *sparse, arrays["cell"], int(meta["order"])
        )
        return cls(
            meta["stack"],
            meta["source"],
            tuple(meta["size"]),  # type: ignore[arg-type]
            basis,
            tuple(meta["shape"]),  # type: ignore[arg-type]
            arrays["levels"],
            arrays["background"],
            arrays["response"],
            meta["method"],
            float(meta["seconds"]),
            str(meta.get("fingerprint", "")),
        )


def build_response(
    stack: Stack,
    source: str,
    sensors: tuple[int, int],
    within: Sequence[Rect] | Literal["regions"] | None = None,
    levels: Literal["heated", "all"] = "heated",
    order: int = 1,
    method: str = "auto",
    tol: float = 1e-10,
    on_sensor: Callable[[int, int], None] | None = None,
    cluster: Cluster | Runner | None = None,
) -> ResponseOperator:
    """The response operator of ``stack`` for the power of source ``source``.

    Args:
        stack: a stack whose temperatures are affine in the power (no k(T), no leakage).
        source: the power source that the inputs replace (its blocks or map are dropped).
        sensors: (my, mx) cells of the sensor grid over the chip.
        within: where power may go: the solver columns whose centres lie inside these
            rectangles, or inside the material regions of the layers the source heats
            ('regions': the dies of a package); None: everywhere.
        levels: 'heated' (the layers and faces the source heats) or 'all' (the whole field).
        order: the sensor cells' basis (:mod:`~chiptherm.operator.response_basis`): 0, the
            constant (one solve per cell), 1, also the first moments (three), or 2, also the
            second moments (six).
        method, tol: the linear solver (see :mod:`chiptherm.solvers`) and its relative
            residual.
        on_sensor: told (done, total) as basis functions are solved.
        cluster: solve the basis functions as tasks on a Dask cluster (:mod:`chiptherm.tasks`),
            :data:`FUNCTIONS_PER_TASK` a task, each worker building its solver once; the same
            numbers as in this process.

    Raises:
        InputError: for temperatures that are not affine in the power, an unknown or unused
            source, a sensor grid without cells, or no column inside ``within``.
    """
    started = time.perf_counter()
    check_source(stack, source)
    my, mx = sensors
    if my < 1 or mx < 1:
        raise InputError(f"sensors: expected at least 1 x 1 cells, got {my} x {mx}")
    task = SensorTask(stack, source, (my, mx), within, levels, order, method, tol, ())
    here = task.responses()
    count = here.basis.shapes.shape[0]
    per_task = FUNCTIONS_PER_TASK if on_cluster(cluster) else 1
    chunks = [tuple(range(i, min(i + per_task, count))) for i in range(0, count, per_task)]
    items = [replace(task, functions=chunk) for chunk in chunks]
    done = (lambda k, _: on_sensor(min(k * per_task, count), count)) if on_sensor else None
    rows = run_tasks(sensor_rows, items, cluster, done, ())
    return ResponseOperator(
        stack.name,
        source,
        stack.size,
        here.basis,
        here.grid.shape,
        here.levels,
        here.background[here.levels],
        np.concatenate(rows),
        here.method,
        time.perf_counter() - started,
        stack_fingerprint(stack, source),
    )


def stack_fingerprint(stack: Stack, source: str) -> str:
    """A digest (16 hex digits) of everything in ``stack`` that a response operator of
    ``source`` depends on, except the grid (compared apart): the stack without that
    source's blocks or map."""
    data = stack.model_dump(mode="json")
    data["power"][source] = None
    data["grid"] = None
    text = json.dumps(data, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


FUNCTIONS_PER_TASK = 8
"""Basis functions a task of a build on a cluster solves: enough to amortize a task's
overhead, few enough to spread the sensor grid over the workers."""


@dataclass(frozen=True)
class SensorTask:
    """A share of a build: the build's inputs (see :func:`build_response`) and the indices
    of the basis ``functions`` whose responses it solves."""

    stack: Stack
    source: str
    sensors: tuple[int, int]
    within: Sequence[Rect] | Literal["regions"] | None
    levels: Literal["heated", "all"]
    order: int
    method: str
    tol: float
    functions: tuple[int, ...]

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
            self.order,
            self.method,
            self.tol,
        )
        return worker_cache(key, lambda: SensorResponses(self))


class SensorResponses:
    """What the responses of a build need, made once per process or worker: the stack with
    the source off on its grid, the sensor basis, the field with the source off
    (``background``, K), the output ``levels``, and a solver of the rises (K) of any powers."""

    def __init__(self, task: SensorTask) -> None:
        self.source = task.source
        self.off = task.stack.with_power(task.source, PowerSource(map=np.zeros(task.sensors)))
        system = System.from_stack(self.off)
        self.grid: Grid = system.grid  # type: ignore[assignment]
        rects = allowed_rects(task.stack, task.source, task.within)
        self.basis = SensorBasis.on_grid(self.grid, task.sensors, rects, task.order)
        self.background, self.rises, self.method = linear_response(
            self.off, system, task.method, task.tol, off=self.off
        )
        self.levels = (
            heated_levels(self.off, self.grid, task.source)
            if task.levels == "heated"
            else np.arange(self.grid.shape[0])
        )

    def row(self, function: int) -> np.ndarray:
        """(nl·ny·nx,) float32 the rise per unit of basis function ``function``, K."""
        columns = self.basis.shapes[[function]].toarray().reshape(self.grid.shape[1:])
        unit = column_power(self.off, self.grid, self.source, columns)
        return self.rises(unit[None])[0][self.levels].ravel().astype(np.float32)


def sensor_rows(task: SensorTask) -> np.ndarray:
    """A task of :func:`build_response`: (len(functions), nl·ny·nx) float32 the rises of the
    task's basis functions, K."""
    responses = task.responses()
    return np.stack([responses.row(k) for k in task.functions])


def column_power(stack: Stack, grid: Grid, source: str, columns: np.ndarray) -> np.ndarray:
    """(nz, ny, nx) W per cell of ``columns`` (ny, nx) W per solver column of ``source``,
    through the layers and faces it heats (split by cell height, as the solver splits it)."""
    return source_field(stack.with_power(source, PowerSource(map=columns)), grid, source)


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
