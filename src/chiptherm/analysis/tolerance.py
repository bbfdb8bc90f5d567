"""How uncertain is a temperature, given the tolerances of the stack's parameters?

Each tolerance is a relative standard deviation (1σ) of an independent, normally distributed
parameter: TIM conductivity ±20 %, die thickness ±5 %, block powers ±10 %. From the
sensitivities S_i = dJ/d ln p_i (:mod:`chiptherm.analysis.sensitivity`) the first-order estimate is

    σ_J = sqrt(Σ (S_i σ_i)²),

with each parameter's share of the variance, and the linear worst case Σ |S_i|·σ_i (every
parameter one σ off in its worst direction). A Monte Carlo run solves the stack at sampled
parameters (warm-started from the nominal field) and gives the real distribution, which the
linear estimate cannot: film coefficients and conductivities act as 1/p, so the mean shifts
up and the upper tail is longer than the lower.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chiptherm.analysis.objectives import Objective
from chiptherm.analysis.sensitivity import Sensitivity
from chiptherm.description.stack import Stack
from chiptherm.errors import InputError, SolverError
from chiptherm.solvers.result import solve
from chiptherm.tasks import Cluster, Runner, TaskFailure, on_cluster, run_tasks, worker_cache

KINDS = ("thickness", "conductivity", "contact", "htc", "flow", "channel", "power", "leakage")
"""Parameter kinds a tolerance may name instead of one parameter's key."""
SMALLEST_FACTOR = 1e-3
"""Sampled factors are kept above this, so that no parameter turns zero or negative."""


def parse_tolerance(text: str) -> tuple[str, float]:
    """'materials.tim.conductivity=20%' or 'power=0.05' -> (pattern, relative σ)."""
    pattern, sep, value = text.partition("=")
    example = "e.g. materials.tim.conductivity=20% or power=5%"
    if not sep or not pattern.strip() or not value.strip():
        raise InputError(f"--tolerance {text!r}: expected KEY=PERCENT, {example}")
    value = value.strip()
    try:
        sigma = float(value[:-1]) / 100.0 if value.endswith("%") else float(value)
    except ValueError:
        raise InputError(f"--tolerance {text!r}: {value!r} is not a number; {example}") from None
    if not math.isfinite(sigma) or not 0.0 < sigma < 1.0:
        raise InputError(
            f"--tolerance {text!r}: the relative standard deviation must lie between 0 and 100 %"
        )
    return pattern.strip(), sigma


def assign_tolerances(
    study: Sensitivity, tolerances: Sequence[tuple[str, float]]
) -> dict[str, float]:
    """Parameter key -> relative σ. A pattern is a parameter's key, a kind (all parameters
    of that kind) or 'all'; a pattern named later overrides one named earlier.

    Raises:
        InputError: for a pattern that matches no parameter, listing the kinds and keys.
    """
    sigmas: dict[str, float] = {}
    for pattern, sigma in tolerances:
        matched = [
            e.parameter.key
            for e in study.entries
            if pattern in ("all", e.parameter.key, e.parameter.kind)
        ]
        if not matched:
            keys = ", ".join(e.parameter.key for e in study.entries)
            raise InputError(
                f"--tolerance {pattern!r} matches no parameter of {study.stack_name!r}: give "
                f"'all', a kind ({', '.join(KINDS)}) or a key ({keys})"
            )
        sigmas |= dict.fromkeys(matched, sigma)
    return sigmas


@dataclass(frozen=True)
class LinearUncertainty:
    """First-order propagation of parameter tolerances to the objective.

    Attributes:
        value_k: the objective at the nominal stack, K.
        sigma_k: its standard deviation, K.
        worst_case_k: Σ |S_i|·σ_i, K: every parameter one σ off in its worst direction.
        contributions: (key, S_i·σ_i in K, share of the variance), largest first.
    """

    value_k: float
    sigma_k: float
    worst_case_k: float
    contributions: list[tuple[str, float, float]]


def linear_uncertainty(study: Sensitivity, sigmas: dict[str, float]) -> LinearUncertainty:
    """σ_J = sqrt(Σ (S_i σ_i)²) over the parameters with a tolerance."""
    parts = [(key, study.of(key).per_log * sigma) for key, sigma in sigmas.items()]
    variance = sum(part**2 for _, part in parts)
    contributions = sorted(
        ((key, part, part**2 / variance if variance > 0 else 0.0) for key, part in parts),
        key=lambda c: -abs(c[1]),
    )
    return LinearUncertainty(
        study.value_k,
        math.sqrt(variance),
        float(sum(abs(part) for _, part in parts)),
        contributions,
    )


@dataclass(frozen=True)
class MonteCarlo:
    """The objective solved at sampled parameters.

    Attributes:
        factors: (samples, parameters) the factors each parameter was multiplied by.
        keys: the parameters, in the columns' order.
        values_k: (samples,) the objective at each sample, K (NaN where the solve failed, e.g.
            thermal runaway).
        peaks_k: (samples,) the hottest cell of each sample, wherever it is, K.
        failures: how many samples failed.
        seconds: wall time.
    """

    factors: np.ndarray
    keys: list[str]
    values_k: np.ndarray
    peaks_k: np.ndarray
    failures: int
    seconds: float

    def summary(self) -> dict[str, Any]:
        """Mean, standard deviation and percentiles of the solved samples, K."""
        values = self.values_k[np.isfinite(self.values_k)]
        peaks = self.peaks_k[np.isfinite(self.peaks_k)]
        if values.size == 0:
            return {"samples": int(self.values_k.size), "failures": self.failures}
        return {
            "samples": int(self.values_k.size),
            "failures": self.failures,
            "mean_k": float(values.mean()),
            "std_k": float(values.std(ddof=1)) if values.size > 1 else 0.0,
            "p05_k": float(np.percentile(values, 5)),
            "p95_k": float(np.percentile(values, 95)),
            "max_k": float(values.max()),
            "peak_p95_k": float(np.percentile(peaks, 95)),
            "peak_max_k": float(peaks.max()),
            "seconds": self.seconds,
        }


def monte_carlo(
    study: Sensitivity,
    sigmas: dict[str, float],
    samples: int,
    seed: int = 0,
    solver: str = "auto",
    tol: float = 1e-8,
    on_sample: Callable[[int, int], None] | None = None,
    cluster: Cluster | Runner | None = None,
) -> MonteCarlo:
    """Solve the stack of ``study`` at ``samples`` draws of its toleranced parameters, each
    factor 1 + σ·N(0, 1) (kept above :data:`SMALLEST_FACTOR`), every solve warm-started from
    the nominal field. A sample whose solve fails (thermal runaway) is kept as NaN and
    counted; the run goes on. ``on_sample`` is told (done, total).

    On a ``cluster`` (:mod:`chiptherm.tasks`) every sample is a task carrying its stack; each
    worker solves the nominal stack once for the warm starts of all its samples. The draws are
    the same, and so are the values, to the solver's tolerance."""
    start = time.perf_counter()
    nominal = study.nominal
    keys = list(sigmas)
    parameters = {e.parameter.key: e.parameter for e in study.entries}
    rng = np.random.default_rng(seed)
    spread = np.array([sigmas[key] for key in keys])
    factors = np.maximum(1.0 + spread * rng.standard_normal((samples, len(keys))), SMALLEST_FACTOR)
    stacks = []
    for row in factors:
        stack = nominal.stack
        for key, factor in zip(keys, row, strict=True):
            stack = parameters[key].scaled(stack, float(factor))
        stacks.append(stack)
    if not on_cluster(cluster):
        outcomes = run_tasks(
            lambda stack: objective_at(stack, study.objective, solver, tol, nominal.temperature),
            stacks,
            on_done=on_sample,
            expected=(SolverError,),
        )
    else:
        tasks = [(stack, nominal.stack, study.objective, solver, tol) for stack in stacks]
        outcomes = run_tasks(sample_task, tasks, cluster, on_sample, expected=(SolverError,))
    values = np.array([np.nan if isinstance(o, TaskFailure) else o[0] for o in outcomes])
    peaks = np.array([np.nan if isinstance(o, TaskFailure) else o[1] for o in outcomes])
    failures = sum(isinstance(o, TaskFailure) for o in outcomes)
    return MonteCarlo(factors, keys, values, peaks, failures, time.perf_counter() - start)


def objective_at(
    stack: Stack, objective: Objective, solver: str, tol: float, x0: np.ndarray | None
) -> tuple[float, float]:
    """(objective K, hottest cell K) of ``stack`` solved from ``x0``; raises SolverError where
    the solve fails."""
    result = solve(stack, method=solver, x0=x0, tol=tol)
    weights = objective.weights(stack, result.grid)
    return float((weights * result.temperature).sum()), result.max_temperature


def sample_task(task: tuple[Stack, Stack, Objective, str, float]) -> tuple[float, float]:
    """A Monte Carlo sample on a cluster: (stack, nominal stack, objective, solver, tol) ->
    :func:`objective_at`, warm-started from the nominal field, solved once per worker."""
    stack, nominal, objective, solver, tol = task
    key = ("nominal field", nominal.model_dump_json(), solver, tol)
    field = worker_cache(key, lambda: solve(nominal, method=solver, tol=tol).temperature)
    return objective_at(stack, objective, solver, tol, field)
