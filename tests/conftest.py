"""Shared fixtures: small stacks built in code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chiptherm import Stack, load_stack

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def example(name: str, nx: int | None = None, ny: int | None = None) -> Stack:
    """An example stack, optionally on a coarser lateral grid."""
    stack = load_stack(EXAMPLES / f"{name}.yaml")
    if nx is not None:
        stack = stack.with_grid(nx, ny or nx)
    return stack


@pytest.fixture
def two_die() -> Stack:
    return example("two_die", 24, 24)


@pytest.fixture(autouse=True)
def training_seed(monkeypatch):
    """``CHIPTHERM_TEST_SEED=N pytest tests/operator`` trains every test model from seed N instead
    of the configs' own: the margins of the training tests are measured across seeds (and thread
    counts, ``CHIPTHERM_THREADS``) this way, so that they hold on any CPU and BLAS."""
    seed = os.environ.get("CHIPTHERM_TEST_SEED")
    if seed is None:
        return
    import chiptherm.operator.train as training

    load = training.load_train_config

    def reseeded(path):
        cfg, base = load(path)
        schedule = cfg.training.model_copy(update={"seed": int(seed)})
        return cfg.model_copy(update={"training": schedule}), base

    monkeypatch.setattr(training, "load_train_config", reseeded)
