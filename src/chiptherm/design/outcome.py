"""What a floorplan search records: the best objective per generation and what the
evaluations cost (:class:`History`), and the run's result (:class:`Outcome`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from chiptherm.description.stack import Block
from chiptherm.solvers.result import Result

SCORE_TRIAL = 10
"""Checks that always score, to measure how often the operator passes and what it costs."""


@dataclass
class History:
    """Best objective after each generation (K), and what the evaluations cost."""

    evaluations: list[int] = field(default_factory=list)
    best: list[float] = field(default_factory=list)
    solver_calls: int = 0
    refinements: int = 0
    scores: int = 0
    accepted: int = 0
    polished: int = 0
    descent_steps: int = 0
    descent_gain_k: float = 0.0
    score_seconds: float = 0.0
    solve_seconds: float = 0.0
    timed_solves: int = 0

    def scoring_pays(self) -> bool:
        """Whether scoring a candidate is cheaper, on average, than solving it outright.

        A score saves a solve only when it accepts the prediction, so after the first
        ``SCORE_TRIAL`` checks it pays while acceptance rate × solve time > score time. With
        a slow solver (pyamg) scoring almost always pays; with the transform solver, which
        costs less than the score itself, or an operator that keeps failing the tolerance,
        the solver decides directly.
        """
        if self.scores < SCORE_TRIAL or self.timed_solves == 0:
            return True
        solve = self.solve_seconds / self.timed_solves
        return self.accepted / self.scores * solve > self.score_seconds / self.scores


@dataclass
class Outcome:
    """The result of an optimization run."""

    mode: str
    placement: np.ndarray
    blocks: list[Block]
    objective_k: float
    verified: Result
    initial: Result
    verified_peak_k: float
    initial_peak_k: float
    history: History
    seconds: float
    overlap_k: float = 0.0  # the overlap and keep-out penalty of the placement (0: none)
    power: str = ""  # the stack's power source that carries the blocks
    cells: np.ndarray | None = None  # z-indices of the cells that carry them
    runaways: int = 0  # candidates without a steady state (thermal runaway), solver search
    dies: list[dict[str, object]] = field(default_factory=list)  # placed dies: name, x, y (m)
