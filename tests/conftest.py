"""Shared fixtures: small stacks built in code."""

from __future__ import annotations

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
