"""What a transient run records: per-step series, block temperatures and saved fields."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from chiptherm.analysis.compact import BlockInput, unit_block_field
from chiptherm.description.stack import Stack
from chiptherm.discretize.grid import Grid
from chiptherm.errors import InputError


@dataclass(frozen=True)
class TransientResult:
    """A transient run.

    Attributes:
        stack: the stack.
        grid: its discretization.
        labels: (n,) block labels.
        times: (s+1,) time of every step's end, the initial state first, s.
        power_w: (s+1,) total block and map power during the step that ends there, W; first
            the power of the initial state (every block off when it is 'idle').
        peak_k: (s+1,) hottest cell, K.
        block_mean_k: (s+1, n) every block's mean temperature (weighted by its power, as
            ``solve`` reports it), K.
        block_max_k: (s+1, n) the hottest cell each block heats, K.
        stored_j: (s+1,) energy stored above the initial state, J.
        heat_out_w: (s+1,) heat leaving through the faces, W.
        balance_error: the largest relative error of the discrete energy balance of a step.
        frame_times: (f,) times of the saved fields, s.
        frames: (f, nz, ny, nx) saved fields, K (float32).
        temperature: (nz, ny, nx) the last field, K.
        steady_peak_k: the hottest cell of the steady state at the last row's power, K (nan
            where there is none: thermal runaway).
        steady_block_mean_k: (n,) the blocks' means in that steady state, K (nan likewise).
        runaway_s: the time at which a leaky stack ran away thermally (a step's fixed-point
            iteration diverged, or the peak passed 1000 K), s; the series end there. None
            when it did not.
        scheme: 'bdf2' or 'euler'.
        step_response: whether the power was one row held from t = 0 (then the times to
            63/90/99 % of the steady rise describe the stack; under a trace they do not).
        dt: the shortest time step, s.
        method: the solver of the steps.
        seconds: wall time of the run, s.
    """

    stack: Stack
    grid: Grid
    labels: list[str]
    times: np.ndarray
    power_w: np.ndarray
    peak_k: np.ndarray
    block_mean_k: np.ndarray
    block_max_k: np.ndarray
    stored_j: np.ndarray
    heat_out_w: np.ndarray
    balance_error: float
    frame_times: np.ndarray
    frames: np.ndarray
    temperature: np.ndarray
    steady_peak_k: float
    steady_block_mean_k: np.ndarray
    scheme: str
    step_response: bool
    dt: float
    method: str
    seconds: float
    runaway_s: float | None = None

    def time_to(self, fraction: float) -> float | None:
        """The first time (s) at which the peak has covered ``fraction`` of its way from its
        initial value to the steady peak of the last row's power, interpolated between steps;
        None if it does not within the run."""
        start, end = float(self.peak_k[0]), self.steady_peak_k
        if not math.isfinite(end):
            return None
        return time_to_value(self.times, self.peak_k, start + fraction * (end - start))

    def crossings(
        self, max_temperature: float | None = None, block_limits: dict[str, float] | None = None
    ) -> list[LimitCrossing]:
        """When the peak reaches ``max_temperature`` (K) and each named block's hottest cell
        its own limit (``block_limits``, label -> K), and how long each stays above.

        Raises:
            InputError: for a block name the run does not have.
        """
        out = []
        if max_temperature is not None:
            out.append(crossing(self.times, self.peak_k, max_temperature, "peak"))
        for label, limit in (block_limits or {}).items():
            if label not in self.labels:
                raise InputError(
                    f"--limit {label}: no such block; the blocks are {', '.join(self.labels)}"
                )
            series = self.block_max_k[:, self.labels.index(label)]
            out.append(crossing(self.times, series, limit, label))
        return out

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary: settings, extremes and, for a step response, the times to
        63/90/99 % of the steady peak's rise."""
        hottest = int(np.argmax(self.peak_k))
        return {
            "stack": self.stack.name,
            "scheme": self.scheme,
            "dt_s": self.dt,  # the shortest step
            "steps": len(self.times) - 1,
            "duration_s": float(self.times[-1]),
            "method": self.method,
            "seconds": self.seconds,
            "cells": self.grid.size,
            "initial_peak_k": float(self.peak_k[0]),
            "final_peak_k": float(self.peak_k[-1]),
            "max_peak_k": float(self.peak_k[hottest]),
            "max_peak_time_s": float(self.times[hottest]),
            "steady_peak_k": _finite(self.steady_peak_k),
            "runaway_s": self.runaway_s,
            "step_response": self.step_response,
            "time_to_63_s": self.time_to(1.0 - math.exp(-1.0)) if self.step_response else None,
            "time_to_90_s": self.time_to(0.9) if self.step_response else None,
            "time_to_99_s": self.time_to(0.99) if self.step_response else None,
            "balance_error": self.balance_error,
            "blocks": [
                {
                    "label": label,
                    "max_mean_k": float(self.block_mean_k[:, j].max()),
                    "max_k": float(self.block_max_k[:, j].max()),
                    "final_mean_k": float(self.block_mean_k[-1, j]),
                    "steady_mean_k": _finite(float(self.steady_block_mean_k[j])),
                }
                for j, label in enumerate(self.labels)
            ],
        }

    def rows(self) -> list[dict[str, float]]:
        """One row per step for a CSV file: time, power, peak, every block's mean and max."""
        out = []
        for i, t in enumerate(self.times):
            row = {
                "time_s": float(t),
                "power_w": float(self.power_w[i]),
                "peak_k": float(self.peak_k[i]),
            }
            for j, label in enumerate(self.labels):
                row[f"{label}_mean_k"] = float(self.block_mean_k[i, j])
                row[f"{label}_max_k"] = float(self.block_max_k[i, j])
            row["stored_j"] = float(self.stored_j[i])
            row["heat_out_w"] = float(self.heat_out_w[i])
            out.append(row)
        return out


@dataclass(frozen=True)
class LimitCrossing:
    """When a temperature passes a limit during a run.

    Attributes:
        what: 'peak', or the label of the block whose hottest cell is followed.
        limit_k: the limit, K.
        first_s: the first time at which it reaches the limit (interpolated between steps),
            s; None if it never does.
        above_s: how long it stays above the limit in all, s.
        highest_k: its highest value during the run, K.
    """

    what: str
    limit_k: float
    first_s: float | None
    above_s: float
    highest_k: float


def crossing(times: np.ndarray, values: np.ndarray, limit: float, what: str) -> LimitCrossing:
    """Where ``values`` (K, at ``times`` s, linear between them) reach and exceed ``limit``."""
    v0, v1 = values[:-1], values[1:]
    span = np.diff(times)
    rising = (v0 < limit) & (v1 >= limit)
    falling = (v0 >= limit) & (v1 < limit)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(v1 != v0, (limit - v0) / (v1 - v0), 0.0)  # where the segment crosses
    above = np.where((v0 >= limit) & (v1 >= limit), span, 0.0)
    above += np.where(rising, (1.0 - share) * span, 0.0) + np.where(falling, share * span, 0.0)
    if values[0] >= limit:
        first: float | None = float(times[0])
    elif rising.any():
        i = int(np.argmax(rising))
        first = float(times[i] + share[i] * span[i])
    else:
        first = None
    return LimitCrossing(what, float(limit), first, float(above.sum()), float(values.max()))


def _finite(value: float) -> float | None:
    """``value``, or None (JSON null) where it is not finite."""
    return value if math.isfinite(value) else None


def time_to_value(times: np.ndarray, values: np.ndarray, target: float) -> float | None:
    """The first time (s) at which ``values`` reach ``target`` in the direction they start
    moving from ``values[0]``, linearly interpolated; None if they never do."""
    rising = target >= values[0]
    reached = values >= target if rising else values <= target
    hits = np.flatnonzero(reached)
    if hits.size == 0:
        return None
    i = int(hits[0])
    if i == 0:
        return float(times[0])
    v0, v1 = values[i - 1], values[i]
    share = (target - v0) / (v1 - v0) if v1 != v0 else 1.0
    return float(times[i - 1] + share * (times[i] - times[i - 1]))


# -- block temperatures ------------------------------------------------------------------------
@dataclass(frozen=True)
class BlockProbe:
    """The cells one block heats and their weights: its mean is weights·T[cells]."""

    cells: np.ndarray
    weights: np.ndarray

    @classmethod
    def of(cls, stack: Stack, grid: Grid, block: BlockInput) -> BlockProbe:
        unit = unit_block_field(stack, grid, block.source, block.block.name).ravel()
        cells = np.flatnonzero(unit > 0)
        return cls(cells, unit[cells] / unit[cells].sum())

    def mean(self, temperature: np.ndarray) -> float:
        return float(self.weights @ temperature.ravel()[self.cells])

    def max(self, temperature: np.ndarray) -> float:
        return float(temperature.ravel()[self.cells].max())


# -- the run -----------------------------------------------------------------------------------


class Recorder:
    """Per-step series and the saved frames of a run over ``times`` (s+1,) s."""

    def __init__(self, times: np.ndarray, blocks: int, frames: int) -> None:
        count = times.size
        self.times = times
        self.power = np.zeros(count)
        self.peak = np.zeros(count)
        self.block_mean = np.zeros((count, blocks))
        self.block_max = np.zeros((count, blocks))
        self.stored = np.zeros(count)
        self.heat_out = np.zeros(count)
        wanted = np.linspace(0.0, times[-1], frames + 1)  # evenly spaced in time
        nearest = np.abs(times[None, :] - wanted[:, None]).argmin(axis=1)
        self.frame_steps = set(nearest.tolist())
        self.frame_times: list[float] = []
        self.frames: list[np.ndarray] = []
        self.count = 0

    def state(
        self,
        n: int,
        field: np.ndarray,
        probes: list[BlockProbe],
        power: float,
        heat_out: float,
        stored: float,
    ) -> None:
        """Record the end of step ``n`` (0: the initial state)."""
        self.power[n] = power
        self.peak[n] = float(field.max())
        self.block_mean[n] = [p.mean(field) for p in probes]
        self.block_max[n] = [p.max(field) for p in probes]
        self.stored[n] = stored
        self.heat_out[n] = heat_out
        self.count = n + 1
        if n in self.frame_steps:
            self.frame_times.append(float(self.times[n]))
            self.frames.append(field.astype(np.float32))

    def series(self) -> dict[str, np.ndarray]:
        """The recorded steps' series (fewer than planned when a run ended early)."""
        n = self.count
        return {
            "times": self.times[:n],
            "power_w": self.power[:n],
            "peak_k": self.peak[:n],
            "block_mean_k": self.block_mean[:n],
            "block_max_k": self.block_max[:n],
            "stored_j": self.stored[:n],
            "heat_out_w": self.heat_out[:n],
        }
