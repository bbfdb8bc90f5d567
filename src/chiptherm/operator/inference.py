"""Using a trained operator: predictions as :class:`Result` objects; evaluation vs the solver."""

from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from pydantic import TypeAdapter
from rich.progress import Progress

from chiptherm.description.stack import Stack
from chiptherm.discretize.grid import Grid
from chiptherm.discretize.system import System
from chiptherm.errors import InputError
from chiptherm.operator.evaluate import coarsened, error_metrics, reference_fields
from chiptherm.operator.evaluate import refined as refined_stack
from chiptherm.operator.model import Operator, per_sample
from chiptherm.operator.sampling import Distribution, GaussianField, Mixture, RandomBlocks
from chiptherm.solvers import SolveInfo
from chiptherm.solvers.result import Result, solve
from chiptherm.tasks import Cluster
from chiptherm.trust.confidence import (
    DEFAULT_TOLERANCE_K,
    Confidence,
    ErrorEstimator,
    Refinement,
    refine,
)

KINDS = ("train", "grf", "blocks")


def prediction_and_system(
    op: Operator,
    density: np.ndarray,
    params: dict[str, float] | None = None,
    grid: Grid | None = None,
) -> tuple[Result, System]:
    """One prediction as a :class:`Result` on the case grid (or ``grid``'s lateral resolution),
    with the finite-volume system of its stack (reused to score and refine it).

    The result's ``info.relative_residual`` is the finite-volume residual ||A·T - b|| / ||b|| of
    the predicted field and ``balance`` its energy balance, so a prediction reports how well it
    satisfies the discrete physics.
    """
    grid = grid or op.case.grid()
    _, ny, nx = grid.shape
    start = time.perf_counter()
    temperature = op.predict(density[None], params, grid)[0]
    elapsed = time.perf_counter() - start
    stack = op.stack_for(density, params).with_grid(nx, ny)
    system = System.from_stack(stack, grid)
    info = SolveInfo("operator", 0, system.relative_residual(temperature), 0.0, elapsed)
    return Result(stack, grid, temperature, info, system.energy_balance(temperature)), system


def training_distribution(meta: dict[str, Any]) -> Distribution:
    """The power-map distribution a model was trained on (from its model.json)."""
    try:
        raw = meta["training"]["config"]["distribution"]
    except (KeyError, TypeError):
        raise InputError("the model does not record its training distribution") from None
    return TypeAdapter(Distribution).validate_python(raw)


def distribution_for(meta: dict[str, Any], kind: str) -> Distribution:
    """'train': the training distribution; 'grf' / 'blocks': that part of it if it has one,
    else the standard preset of that kind (a random field as strong as the training maps: its
    amplitude is the model's power scale, their RMS density)."""
    if kind not in KINDS:
        raise InputError(f"unknown map kind {kind!r}; choose from {', '.join(KINDS)}")
    trained = training_distribution(meta)
    if kind == "train":
        return trained
    parts = trained.parts if isinstance(trained, Mixture) else [trained]
    for part in parts:
        if part.kind == kind:
            return part
    if kind == "blocks":
        return RandomBlocks()
    scale = meta.get("case", {}).get("power_scale")
    return GaussianField(amplitude=float(scale)) if scale else GaussianField()


def evaluate_operator(
    op: Operator,
    distribution: Distribution,
    maps: int,
    seed: int = 0,
    grid: Grid | None = None,
    progress: Progress | None = None,
    refine: int = 1,
    params: dict[str, float] | None = None,
    cluster: Cluster | None = None,
) -> dict[str, Any]:
    """Accuracy and speed of ``op`` against the reference solver on ``maps`` drawn maps (the
    reference solves on ``cluster``, if given: see :mod:`chiptherm.tasks`).

    A model with scalar inputs is evaluated on values drawn log-uniformly from their training
    ranges, except those fixed in ``params`` (W/(m²·K)). Returns a JSON-ready dict: the
    metrics (see :class:`Metrics`), the parameter values, the peak temperature of every map
    (``peaks_k``: predicted and reference), prediction and solver time per map, and the
    machine. With ``refine`` > 1 the metrics are against solves on a grid ``refine`` times
    finer (averaged back), two more entries say how the prediction and the solve on the
    evaluation grid itself compare with that reference, and ``peaks_k`` also holds the peaks of
    the solve on the evaluation grid (``grid_solve``).
    """
    if refine < 1:
        raise InputError("--refine must be at least 1")
    if maps < 1:
        raise InputError("--maps must be at least 1")
    case = op.case
    grid = grid or case.grid()
    rng = np.random.default_rng(seed)
    density = distribution.sample(maps, case.size, case.sensors, rng)
    values = held_out_parameters(op, maps, rng, params)
    per_map = per_sample(values, maps)
    start = time.perf_counter()
    pred = op.predict(density, values or None, grid)
    predict_s = time.perf_counter() - start
    start = time.perf_counter()
    ref = reference_fields(case, density, per_map, grid, progress, cluster=cluster)
    solve_s = time.perf_counter() - start
    extra: dict[str, Any] = {}
    if values:
        extra["parameters"] = {k: v.tolist() for k, v in values.items()}
    peaks = {"predicted": pred.max(axis=(1, 2, 3)).tolist()}
    if refine > 1:
        fine = reference_fields(case, density, per_map, grid, progress, refine, cluster)
        extra |= {
            "reference_refine": refine,
            "metrics_vs_grid_solve": error_metrics(pred, ref, case.ambient).as_dict(),
            "grid_solve_error": error_metrics(ref, fine, case.ambient).as_dict(),
        }
        peaks["grid_solve"] = ref.max(axis=(1, 2, 3)).tolist()
        ref = fine
    peaks["reference"] = ref.max(axis=(1, 2, 3)).tolist()
    extra["peaks_k"] = peaks  # per map: predicted and reference peak temperatures
    metrics = error_metrics(pred, ref, case.ambient)
    nz, ny, nx = grid.shape
    return {
        "case": case.stack.name,
        "distribution": distribution.model_dump(mode="json"),
        "grid": {"nx": nx, "ny": ny, "nz": nz},
        "seed": seed,
        "metrics": metrics.as_dict(),
        **extra,
        "predict_s_per_map": predict_s / maps,
        "solve_s_per_map": solve_s / maps,
        "speedup": solve_s / max(predict_s, 1e-12),
        "machine": machine(),
    }


@dataclass
class Sweep:
    """Peak temperatures of one power map over values of one scalar input.

    Attributes:
        name: the swept input; values: (n,) its values, W/(m²·K).
        predicted_k, solved_k: (n,) peak temperatures, K, from the operator and the solver.
        predict_s: time of the one batched prediction; solve_s: time of all solves, s.
        refine: the solves ran on a grid this many times finer (averaged back).
    """

    name: str
    values: np.ndarray
    predicted_k: np.ndarray
    solved_k: np.ndarray
    predict_s: float
    solve_s: float
    refine: int

    def summary(self) -> dict[str, Any]:
        gap = np.abs(self.predicted_k - self.solved_k)
        return {
            "name": self.name,
            "values": self.values.tolist(),
            "predicted_peak_k": self.predicted_k.tolist(),
            "solved_peak_k": self.solved_k.tolist(),
            "max_peak_gap_k": float(gap.max()),
            "predict_s": self.predict_s,
            "solve_s": self.solve_s,
            "reference_refine": self.refine,
        }


def parameter_sweep(
    op: Operator,
    density: np.ndarray,
    name: str,
    values: np.ndarray,
    params: dict[str, float] | None = None,
    refine: int = 1,
) -> Sweep:
    """Peak temperature of one (ny, nx) density map (W/m²) for every value of the scalar
    input ``name``: one batched prediction against one solve per value (on a grid ``refine``
    times finer, averaged back); the other inputs from ``params`` or the stack."""
    values = np.asarray(values, dtype=float)
    fixed = {k: np.full(len(values), v) for k, v in (params or {}).items()}
    inputs = {**fixed, name: values}
    maps = np.repeat(np.asarray(density, dtype=float)[None], len(values), axis=0)
    start = time.perf_counter()
    predicted = op.peaks(maps, inputs)
    predict_s = time.perf_counter() - start
    start = time.perf_counter()
    solved = reference_fields(op.case, maps, per_sample(inputs, len(values)), refine=refine)
    solve_s = time.perf_counter() - start
    peaks = solved.reshape(len(values), -1).max(axis=1)
    return Sweep(name, values, predicted, peaks, predict_s, solve_s, refine)


def held_out_parameters(
    op: Operator, n: int, rng: np.random.Generator, fixed: dict[str, float] | None = None
) -> dict[str, np.ndarray]:
    """(n,) values of every scalar input of ``op``: those in ``fixed`` (checked), the others
    drawn log-uniformly from their training ranges, W/(m²·K)."""
    fixed = fixed or {}
    checked = op.parameter_values(n, fixed)  # names and values
    return {
        p.name: checked[p.name].copy()
        if p.name in fixed
        else np.exp(rng.uniform(math.log(p.low), math.log(p.high), n))
        for p in op.case.parameters
    }


def machine() -> dict[str, Any]:
    """Where a measurement ran: platform, CPU count, Python and torch versions, device."""
    import os

    import torch

    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


@dataclass
class CheckedPrediction:
    """A prediction with its confidence verdict and, when refined, the solver path taken.

    Attributes:
        result: the answer (the prediction, or the refined field).
        predicted: the operator's field, (nz, ny, nx) K.
        confidence: the verdict on the prediction.
        path: 'operator' (accepted), 'refined' (solver warm-started from the prediction) or
            'operator (not refined)' when refinement was not asked for.
        refinement: warm and cold solver diagnostics when refined.
    """

    result: Result
    predicted: np.ndarray
    confidence: Confidence
    path: str
    predict_s: float
    refinement: Refinement | None = None
    grid: GridCheck | None = None

    def summary(self) -> dict[str, Any]:
        out = {
            "path": self.path,
            "predict_s": self.predict_s,
            "confidence": self.confidence.as_dict(),
        }
        if self.grid is not None:
            out["grid_check"] = self.grid.as_dict()
        if self.refinement is not None:
            r = self.refinement
            out["refinement"] = {
                "warm": asdict(r.warm),
                "cold": None if r.cold is None else asdict(r.cold),
                "max_change_k": float(np.abs(r.temperature - self.predicted).max()),
            }
        return out


@dataclass(frozen=True)
class GridCheck:
    """The operator's error beside the case grid's own, both against the solution on a grid
    twice finer along every axis, averaged back onto the case cells (the physics, as far as
    one finer grid tells it).

    Attributes:
        operator_error_k: largest |prediction - case-grid solution|, K.
        grid_error_k: largest |case-grid solution - finer solution|, K: what the case grid
            itself misses.
        prediction_error_k: largest |prediction - finer solution|, K.
        answer_error_k: largest |answer - finer solution|, K (the refined field's, when
            refined; else the prediction's).
        refined: whether the answer is a refinement.
        seconds: wall time of the two solves.
    """

    operator_error_k: float
    grid_error_k: float
    prediction_error_k: float
    answer_error_k: float
    refined: bool
    seconds: float

    @property
    def limited_by(self) -> str:
        """'grid' when the case grid's error is the larger, else 'operator'."""
        return "grid" if self.grid_error_k > self.operator_error_k else "operator"

    @property
    def refinement_improves(self) -> bool | None:
        """Whether refining brought the answer closer to the finer solution (None: not
        refined). A refinement that moves away is not an improvement, whatever the score."""
        if not self.refined:
            return None
        return self.answer_error_k < self.prediction_error_k

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {
            "limited_by": self.limited_by,
            "refinement_improves": self.refinement_improves,
        }

    def verdict(self) -> str:
        """The check in sentences: which error limits the answer, and what refining did."""
        text = (
            f"grid check ({self.seconds:.1f} s, a solve on a grid twice finer): the prediction "
            f"is {self.operator_error_k:.3f} K from the case-grid solution, which is itself "
            f"{self.grid_error_k:.3f} K from the finer one, so the {self.limited_by} limits "
            f"this answer; the prediction is {self.prediction_error_k:.3f} K from the finer "
            "solution"
        )
        if self.refined:
            moved = "closer to" if self.refinement_improves else "away from"
            text += (
                f", the refined answer {self.answer_error_k:.3f} K: refining moved the answer "
                f"{moved} the finer solution"
                + ("" if self.refinement_improves else ", so it is no improvement on the physics")
            )
        return text


def grid_check(stack: Stack, predicted: np.ndarray, answer: np.ndarray, refined: bool) -> GridCheck:
    """:class:`GridCheck` of the field ``predicted`` (nz, ny, nx) K for ``stack`` (on the
    stack's own grid) and of the ``answer`` given for it: one solve on a grid twice finer,
    and one on the stack's grid unless the answer is a refinement (already that solution)."""
    started = time.perf_counter()
    case = answer if refined else solve(stack).temperature
    finer = coarsened(solve(refined_stack(stack, 2)).temperature, 2)
    return GridCheck(
        float(np.abs(predicted - case).max()),
        float(np.abs(case - finer).max()),
        float(np.abs(predicted - finer).max()),
        float(np.abs(answer - finer).max()),
        refined,
        time.perf_counter() - started,
    )


def predict_checked(
    op: Operator,
    density: np.ndarray,
    params: dict[str, float] | None = None,
    tolerance_k: float = DEFAULT_TOLERANCE_K,
    refine_with: str | None = None,
    compare_cold: bool = True,
    check_grid: bool = False,
) -> CheckedPrediction:
    """Predict, score the prediction, and refine it with ``refine_with`` (a solver method, or
    'krylov' for the default: the exact correction on laterally uniform stacks, else the
    warm-startable Krylov solver) when the estimated error exceeds ``tolerance_k``; with
    ``check_grid``, also set the operator's error beside the case grid's own
    (:class:`GridCheck`)."""
    pred, system = prediction_and_system(op, density, params)
    predict_s = pred.info.solve_s
    estimator = ErrorEstimator(system, pred.stack)
    confidence = estimator.score(pred.temperature, tolerance_k)
    if confidence.accepted or refine_with is None:
        path = "operator" if confidence.accepted else "operator (not refined)"
        grid = (
            grid_check(pred.stack, pred.temperature, pred.temperature, False)
            if check_grid
            else None
        )
        return CheckedPrediction(pred, pred.temperature, confidence, path, predict_s, None, grid)
    method = None if refine_with == "krylov" else refine_with
    refined = refine(
        system, pred.temperature, method, compare_cold=compare_cold, estimator=estimator
    )
    result = Result(
        pred.stack,
        pred.grid,
        refined.temperature,
        refined.warm,
        system.energy_balance(refined.temperature),
    )
    grid = (
        grid_check(pred.stack, pred.temperature, refined.temperature, True) if check_grid else None
    )
    return CheckedPrediction(
        result, pred.temperature, confidence, "refined", predict_s, refined, grid
    )
