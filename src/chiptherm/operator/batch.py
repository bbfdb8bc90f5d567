"""Predicting many power maps at once: peaks and per-layer maxima for every map, optionally
every field, in batches on the model's device.

This is the operator's everyday job — the steady temperatures of thousands of power maps — so
nothing per map goes through the host except its statistics, and the fields, when asked for,
stream into one float32 .npy file (memory-mapped, renamed into place when complete), never
all in memory at once.

With a :class:`BatchChecker` every field is also scored by the confidence score of its own
finite-volume system (see :mod:`chiptherm.trust.confidence`), and the fields that fail the
tolerance can be refined by the solver, warm-started from the prediction; their statistics
(and stored fields) are then the solver's.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from chiptherm.atomic import atomic_path
from chiptherm.description.stack import Stack
from chiptherm.discretize.grid import Grid
from chiptherm.discretize.system import System, power_field
from chiptherm.errors import InputError
from chiptherm.operator.inference import GridCheck, grid_check
from chiptherm.operator.model import Operator, per_sample
from chiptherm.operator.sampling import load_maps
from chiptherm.tasks import Runner, on_cluster, worker_cache
from chiptherm.trust.confidence import DEFAULT_TOLERANCE_K, ErrorEstimator, refine


@dataclass
class NamedMaps:
    """Power maps in W per cell with a name each (file stem, with the index for a stack)."""

    names: list[str]
    watts: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.names)


def read_power_maps(paths: Sequence[str | Path]) -> NamedMaps:
    """The maps in .npy files: each file holds one (ny, nx) map or a stack (N, ny, nx); files
    may use different grids."""
    if not paths:
        raise InputError("no power map files given")
    names: list[str] = []
    watts: list[np.ndarray] = []
    for path in paths:
        stack = load_maps(path)
        stem = Path(path).stem
        single = stack.shape[0] == 1
        names += [stem if single else f"{stem}[{i}]" for i in range(stack.shape[0])]
        watts += list(stack)
    return NamedMaps(names, watts)


def read_parameter_table(path: str | Path, n: int, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-map scalar inputs from a CSV file: a header naming some of ``names`` (W/(m²·K)
    each), then one row per map, in the order of the maps; -> name -> (n,) values."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", source=str(path)) from None
    rows = [  # (line number, cells), blank lines left out
        (k + 1, row) for k, row in enumerate(csv.reader(lines)) if any(c.strip() for c in row)
    ]
    if not rows:
        raise InputError(
            "empty parameter table; expected a header such as top_htc", source=str(path)
        )
    first, header = rows[0][0], [h.strip() for h in rows[0][1]]
    unknown = [h for h in header if h not in names]
    if unknown or len(set(header)) != len(header):
        raise InputError(
            f"header {header}: expected distinct names among {list(names)}",
            source=str(path),
            line=first,
        )
    if len(rows) - 1 != n:
        raise InputError(
            f"{len(rows) - 1} rows for {n} maps; give one row per map", source=str(path)
        )
    values = np.empty((n, len(header)))
    for i, (line, row) in enumerate(rows[1:]):
        try:
            if len(row) != len(header):
                raise ValueError
            values[i] = [float(v) for v in row]
        except ValueError:
            raise InputError(
                f"expected {len(header)} numbers ({', '.join(header)}), got {row}",
                source=str(path),
                line=line,
            ) from None
    return {name: values[:, j] for j, name in enumerate(header)}


def densities(op: Operator, watts: Sequence[np.ndarray]) -> np.ndarray:
    """(B, ny, nx) sensor-grid densities, W/m², of maps in W per cell; maps of one shape are
    resampled together (one pair of resampling matrices for the batch)."""
    if len({w.shape for w in watts}) == 1:
        return op.case.density_from_watts(np.stack(watts))
    return np.stack([op.case.density_from_watts(w) for w in watts])


@dataclass(frozen=True)
class MapCheck:
    """The verdict on one predicted field.

    Attributes:
        error_k: the confidence score's largest error of the prediction, K.
        accepted: error_k <= the tolerance.
        refined: the solver's field (nz, ny, nx) K when the prediction was refined, else None.
        grid: the operator's error beside the case grid's own, when asked for.
    """

    error_k: float
    accepted: bool
    refined: np.ndarray | None = None
    grid: GridCheck | None = None


class BatchChecker:
    """Scores predicted fields of one operator on its case grid, and refines the rejected ones.

    The matrix of the finite-volume system depends on the scalar inputs (heat-transfer
    coefficients), not on the power, so one estimator serves every map with the same inputs;
    the ``keep`` most recent ones are kept. With a ``runner`` on a cluster, the maps of a batch
    are checked as tasks (:func:`check_map`), each worker keeping its own estimators.

    Args:
        op: the operator whose predictions are checked.
        tolerance_k: largest accepted error, K.
        refine_rejected: solve the maps whose score fails, warm-started from the prediction.
        keep: estimators kept for distinct scalar inputs.
        runner: where the checks of a batch run (None: here, map by map).
        check_grid: also solve every map on a grid twice finer (:class:`GridCheck`).
    """

    def __init__(
        self,
        op: Operator,
        tolerance_k: float = DEFAULT_TOLERANCE_K,
        refine_rejected: bool = False,
        keep: int = 4,
        runner: Runner | None = None,
        check_grid: bool = False,
    ) -> None:
        if not tolerance_k > 0:
            raise InputError("the tolerance must be > 0 K")
        self.op = op
        self.tolerance_k = tolerance_k
        self.refine_rejected = refine_rejected
        self.keep = keep
        self.runner = runner
        self.check_grid = check_grid
        self.grid = op.case.grid()
        self._estimators: dict[tuple[tuple[str, float], ...], ErrorEstimator] = {}

    def estimator(self, params: dict[str, float]) -> ErrorEstimator:
        """The estimator of the case stack with scalar inputs ``params``."""
        key = tuple(sorted(params.items()))
        if key not in self._estimators:
            if len(self._estimators) >= self.keep:
                self._estimators.pop(next(iter(self._estimators)))
            stack = self.op.stack_for(np.zeros(self.op.case.sensors), params)
            self._estimators[key] = ErrorEstimator(System.from_stack(stack, self.grid), stack)
        return self._estimators[key]

    def check(self, density: np.ndarray, params: dict[str, float], field: np.ndarray) -> MapCheck:
        """Score ``field`` (nz, ny, nx) K, predicted for the sensor-grid ``density`` (ny, nx)
        W/m² and scalar inputs ``params``; refine it when rejected and asked to."""
        stack = self.op.stack_for(density, params)
        return judge(
            self.estimator(params),
            stack,
            self.grid,
            field,
            self.tolerance_k,
            self.refine_rejected,
            self.check_grid,
        )

    def check_batch(
        self,
        density: np.ndarray,
        params: list[dict[str, float]],
        fields: np.ndarray,
        on_done: Callable[[int], None] | None = None,
    ) -> list[MapCheck]:
        """:meth:`check` for a batch: densities (B, ny, nx) W/m², B dicts of scalar inputs,
        fields (B, nz, ny, nx) K; ``on_done`` is told how many maps are checked."""
        if not on_cluster(self.runner):
            verdicts = []
            for j, field in enumerate(fields):
                verdicts.append(self.check(density[j], params[j], field))
                if on_done is not None:
                    on_done(j + 1)
            return verdicts
        zero = np.zeros(self.op.case.sensors)
        tasks = [
            CheckTask(
                self.op.stack_for(zero, params[j]),
                self.op.stack_for(density[j], params[j]),
                self.grid,
                field,
                self.tolerance_k,
                self.refine_rejected,
                self.check_grid,
            )
            for j, field in enumerate(fields)
        ]
        report = None if on_done is None else (lambda done, _: on_done(done))
        return self.runner.run(check_map, tasks, report)  # type: ignore[union-attr]


def judge(
    estimator: ErrorEstimator,
    stack: Stack,
    grid: Grid,
    field: np.ndarray,
    tolerance_k: float,
    refine_rejected: bool,
    check_grid: bool = False,
) -> MapCheck:
    """The verdict on ``field`` (nz, ny, nx) K as a solution of ``stack`` on ``grid``, scored
    by ``estimator`` (of the same stack's matrix); refined when rejected and asked to; with
    ``check_grid``, set beside the case grid's own error (:func:`grid_check`)."""
    rhs = estimator.system.rhs_for(power_field(stack, grid))
    verdict = estimator.score(field, tolerance_k, rhs=rhs)
    answer = None
    if not verdict.accepted and refine_rejected:
        answer = refine(System.from_stack(stack, grid), field, estimator=estimator).temperature
    checked = None
    if check_grid:
        on_grid = stack.with_grid(grid.shape[2], grid.shape[1])
        best = field if answer is None else answer
        checked = grid_check(on_grid, field, best, answer is not None)
    return MapCheck(verdict.error_k, verdict.accepted, answer, checked)


@dataclass(frozen=True)
class CheckTask:
    """One prediction to check on a worker.

    Attributes:
        base: the case stack with the map's scalar inputs and no power (its estimator is built
            once per worker and inputs).
        stack: the case stack carrying the map.
        grid: the case grid.
        field: (nz, ny, nx) the prediction, K.
        tolerance_k: largest accepted error, K.
        refine_rejected: solve the map when its score fails.
        check_grid: solve it on a grid twice finer too.
    """

    base: Stack
    stack: Stack
    grid: Grid
    field: np.ndarray
    tolerance_k: float
    refine_rejected: bool
    check_grid: bool = False


def check_map(task: CheckTask) -> MapCheck:
    """:func:`judge` on a worker (a task of :class:`~chiptherm.tasks.Runner`)."""
    key = ("estimator", task.base.model_dump_json(), *task.grid.key)
    estimator = worker_cache(
        key, lambda: ErrorEstimator(System.from_stack(task.base, task.grid), task.base)
    )
    return judge(
        estimator,
        task.stack,
        task.grid,
        task.field,
        task.tolerance_k,
        task.refine_rejected,
        task.check_grid,
    )


@dataclass
class BatchPrediction:
    """Statistics of every predicted field, K.

    Attributes:
        names: (N,) map names.
        peak_k, mean_k: (N,) hottest and volume-mean temperature of each field.
        layer_max_k: layer name (top first) -> (N,) hottest temperature in that layer.
        parameters: input name -> (N,) value used for each map, W/(m²·K).
        seconds: wall time of the predictions (not of reading the maps, nor of checking).
        fields: the .npy file of all fields (N, nz, ny, nx) float32 K, if written.
        error_k: (N,) the confidence score's largest error of each prediction, K, when checked.
        accepted: (N,) whether each prediction passed the tolerance, when checked.
        refined: (N,) whether each map's statistics and field are the solver's, when checked.
        check_seconds: wall time of scoring and refining (not included in ``seconds``).
        grids: (N,) each map's grid check, when asked for.
    """

    names: list[str]
    peak_k: np.ndarray
    mean_k: np.ndarray
    layer_max_k: dict[str, np.ndarray]
    parameters: dict[str, np.ndarray]
    seconds: float
    fields: Path | None = None
    error_k: np.ndarray | None = None
    accepted: np.ndarray | None = None
    refined: np.ndarray | None = None
    check_seconds: float = 0.0
    grids: list[GridCheck] | None = None

    def hottest(self, k: int) -> list[int]:
        """Indices of the ``k`` maps with the highest peaks, hottest first."""
        return [int(i) for i in np.argsort(-self.peak_k, kind="stable")[:k]]

    def parameter_summary(self) -> dict[str, Any]:
        """Per input: the value used for every map, or {"min", "max"} of the per-map values."""
        return {
            k: float(v[0]) if v.min() == v.max() else {"min": float(v.min()), "max": float(v.max())}
            for k, v in self.parameters.items()
        }

    def rows(self) -> list[dict[str, Any]]:
        """One dict per map: name, scalar inputs, peak, mean and per-layer maxima."""
        out = []
        for i, name in enumerate(self.names):
            row: dict[str, Any] = {"map": name}
            row.update({k: float(v[i]) for k, v in self.parameters.items()})
            row["peak_k"] = round(float(self.peak_k[i]), 4)
            row["mean_k"] = round(float(self.mean_k[i]), 4)  # 0.1 mK: below any model's error
            row.update({f"{k}_max_k": round(float(v[i]), 4) for k, v in self.layer_max_k.items()})
            if self.error_k is not None and self.accepted is not None and self.refined is not None:
                row["score_error_k"] = round(float(self.error_k[i]), 4)
                row["answer"] = (
                    "operator"
                    if self.accepted[i]
                    else ("refined" if self.refined[i] else "operator (above tolerance)")
                )
            if self.grids is not None:
                g = self.grids[i]
                row["grid_error_k"] = round(g.grid_error_k, 4)
                row["answer_vs_finer_k"] = round(g.answer_error_k, 4)
                row["limited_by"] = g.limited_by
            out.append(row)
        return out


def predict_batch(
    op: Operator,
    maps: NamedMaps,
    params: dict[str, float] | None = None,
    chunk: int = 64,
    fields: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
    checker: BatchChecker | None = None,
) -> BatchPrediction:
    """Predict every map on the case grid, ``chunk`` maps at a time.

    Args:
        op: the trained operator.
        maps: power maps in W per cell (any uniform grid over the chip each).
        params: scalar inputs (W/(m²·K)): one value for every map or (N,) values, one per
            map; the stack's values for inputs not given.
        chunk: maps per batch on the device.
        fields: where to write all fields as one float32 .npy (N, nz, ny, nx), K; None: not.
        progress: called with the number of maps done after each batch (after each map when
            checking).
        checker: scores every field (and refines the rejected ones, if it is set to).
    """
    if chunk < 1:
        raise InputError("the batch size must be at least 1")
    n = len(maps)
    values = op.parameter_values(n, params)
    grid = op.case.grid()
    nz, ny, nx = grid.shape
    layers = {}  # name -> its z-cells, a contiguous range (a view, not a copy, of each field)
    for i, la in enumerate(op.case.stack.layers):
        cells = grid.cells_of_layer(i)
        layers[la.name] = slice(int(cells[0]), int(cells[-1]) + 1)
    shares = grid.dz / grid.dz.sum()  # the volume mean on the device (see Grid.volume_mean)
    weights = torch.as_tensor(shares, dtype=torch.float32, device=op.device)
    peak, mean = np.empty(n), np.empty(n)
    layer_max = {name: np.empty(n) for name in layers}
    error, accepted, refined = np.zeros(n), np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    grids: list[GridCheck] = []
    checking = 0.0
    started = time.perf_counter()
    target_file = atomic_path(fields) if fields is not None else nullcontext(None)
    with target_file as target:
        out = (
            np.lib.format.open_memmap(target, mode="w+", dtype=np.float32, shape=(n, nz, ny, nx))
            if target is not None
            else None
        )
        for done in range(0, n, chunk):  # maps are read (from memory-mapped files) per batch
            sl = slice(done, min(done + chunk, n))
            density = densities(op, maps.watts[sl])
            part = {k: v[sl] for k, v in values.items()}
            ((u, offset),) = op.temperature_chunks(density, part, grid, chunk)
            # one pass for the layer maxima (the peak is the largest of them), one for the mean,
            # one transfer to the host
            maxima = torch.stack([u[:, z].amax(dim=(1, 2, 3)) for z in layers.values()], 1)
            volume_mean = (u.mean(dim=(2, 3)) * weights).sum(dim=1)
            stats = torch.cat([maxima, volume_mean[:, None]], 1).cpu().numpy()
            stats += offset
            for k, name in enumerate(layers):
                layer_max[name][sl] = stats[:, k]
            peak[sl], mean[sl] = stats[:, :-1].max(axis=1), stats[:, -1]
            host = None
            if checker is not None:
                check_started = time.perf_counter()
                host = (u.double() + offset).cpu().numpy()
                inputs = per_sample(part, len(host))
                report = None if progress is None else (lambda d, s0=sl.start: progress(s0 + d))
                verdicts = checker.check_batch(density, inputs, host, report)
                for j, verdict in enumerate(verdicts):
                    i = sl.start + j
                    error[i], accepted[i] = verdict.error_k, verdict.accepted
                    if verdict.grid is not None:
                        grids.append(verdict.grid)
                    if verdict.refined is not None:
                        refined[i] = True
                        host[j] = verdict.refined
                        for name, z in layers.items():
                            layer_max[name][i] = verdict.refined[z].max()
                        peak[i] = verdict.refined.max()
                        mean[i] = float(grid.volume_mean(verdict.refined))
                checking += time.perf_counter() - check_started
            if out is not None:
                out[sl] = host if host is not None else (u + offset).cpu().numpy()
            if progress is not None:
                progress(sl.stop)
        if out is not None:
            out.flush()
            del out
    return BatchPrediction(
        maps.names,
        peak,
        mean,
        layer_max,
        {k: np.array(v, dtype=float) for k, v in values.items()},
        time.perf_counter() - started - checking,
        Path(fields) if fields is not None else None,
        *((error, accepted, refined, checking) if checker is not None else ()),
        grids=grids if checker is not None and checker.check_grid else None,
    )
