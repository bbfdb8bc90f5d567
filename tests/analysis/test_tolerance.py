"""Tolerances: first-order propagation against the slab's exact law, Monte Carlo samples
against that law sample by sample, runaway samples, parsing and the command line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from chiptherm import sensitivity, stack_from_dict
from chiptherm.analysis.tolerance import (
    assign_tolerances,
    linear_uncertainty,
    monte_carlo,
    parse_tolerance,
)
from chiptherm.cli import app
from chiptherm.description.stack_io import save_stack
from chiptherm.errors import InputError

from .test_sensitivity import (
    H_TOP,
    T_AIR,
    WATTS,
    heated_slab,
    leaky_plate,
    slab_expectations,
)

POWER, HTC = "power.p.blocks.all.watts", "boundaries.top.htc"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("materials.tim.conductivity=20%", ("materials.tim.conductivity", 0.2)),
        ("power=0.05", ("power", 0.05)),
    ],
)
def test_tolerances_parse_as_percent_or_fraction(text: str, expected: tuple) -> None:
    key, sigma = parse_tolerance(text)
    assert key == expected[0] and sigma == pytest.approx(expected[1])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("power", "expected KEY=PERCENT"),
        ("power=lots", "'lots' is not a number"),
        ("power=150%", "between 0 and 100 %"),
        ("power=0", "between 0 and 100 %"),
    ],
)
def test_bad_tolerances_are_named(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_tolerance(text)


def test_kinds_and_keys_pick_parameters_and_unknown_ones_are_listed() -> None:
    study = sensitivity(stack_from_dict(heated_slab()))
    sigmas = assign_tolerances(
        study, [("thickness", 0.05), ("layers.upper.thickness", 0.2), ("power", 0.1)]
    )
    assert sigmas == {"layers.upper.thickness": 0.2, "layers.lower.thickness": 0.05, POWER: 0.1}
    everything = assign_tolerances(study, [("all", 0.02), ("power", 0.1)])
    assert len(everything) == len(study.entries) and everything[POWER] == 0.1
    with pytest.raises(InputError, match=r"matches no parameter.*'all', a kind \(thickness, con"):
        assign_tolerances(study, [("layers.upper.width", 0.1)])


def test_first_order_uncertainty_adds_in_quadrature() -> None:
    study = sensitivity(stack_from_dict(heated_slab()))
    expected = slab_expectations()
    result = linear_uncertainty(study, {HTC: 0.1, POWER: 0.05})
    parts = [expected[HTC] * 0.1, expected[POWER] * 0.05]
    assert result.sigma_k == pytest.approx(math.hypot(*parts), rel=1e-7)
    assert result.worst_case_k == pytest.approx(sum(abs(p) for p in parts), rel=1e-7)
    shares = {key: share for key, _, share in result.contributions}
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares[HTC] == pytest.approx(parts[0] ** 2 / (parts[0] ** 2 + parts[1] ** 2))


def test_monte_carlo_samples_follow_the_slabs_exact_law() -> None:
    """J - T_air = f_P·(q/(h·f_h) + the rest): every sample, not just the moments. The mean
    lies above the nominal value by about q/h·σ_h² (1/h is convex), which the first-order
    estimate cannot see."""
    study = sensitivity(stack_from_dict(heated_slab()))
    sigmas = {POWER: 0.1, HTC: 0.3}
    run = monte_carlo(study, sigmas, samples=400, seed=3)
    assert run.keys == [POWER, HTC] and run.failures == 0
    film = WATTS / 1e-3**2 / H_TOP  # q/h, K
    rest = slab_expectations()[POWER] - film
    f_power, f_htc = run.factors[:, 0], run.factors[:, 1]
    exact = T_AIR + f_power * (film / f_htc + rest)
    np.testing.assert_allclose(run.values_k, exact, rtol=1e-9)
    summary = run.summary()
    convexity = film * 0.3**2  # the mean's second-order shift, K
    assert summary["mean_k"] - study.value_k > 0.5 * convexity
    assert summary["p05_k"] < study.value_k < summary["p95_k"]


def test_runaway_samples_are_counted_not_fatal() -> None:
    """A leaky plate whose power may grow by half (1σ): some samples pass the fold of its
    heat balance, and each one is a NaN that the statistics leave out."""
    study = sensitivity(stack_from_dict(leaky_plate()))
    run = monte_carlo(study, {POWER: 0.5}, samples=40, seed=0)
    failed = np.isnan(run.values_k)
    assert run.failures == int(failed.sum()) > 0
    assert run.factors[failed, 0].min() > run.factors[~failed, 0].max()  # the largest powers
    assert math.isfinite(run.summary()["mean_k"])


def test_cli_reports_and_writes_the_uncertainty(tmp_path: Path) -> None:
    path = save_stack(stack_from_dict(heated_slab()), tmp_path / "slab.yaml")
    out = tmp_path / "out"
    runner = CliRunner()
    args = ["sensitivity", str(path), "--out", str(out), "--tolerance", "htc=10%"]
    result = runner.invoke(app, [*args, "--tolerance", "power=5%", "--samples", "16"])
    assert result.exit_code == 0, result.output
    assert "σ, first order" in result.output and "sampled mean (16 solves)" in result.output
    doc = json.loads((out / "uncertainty.json").read_text())
    assert doc["tolerances"] == {HTC: 0.1, POWER: 0.05}
    assert doc["monte_carlo"]["samples"] == 16
    assert (out / "uncertainty.png").stat().st_size > 0
    summary = json.loads((out / "sensitivity.json").read_text())
    assert summary["uncertainty"]["linear_sigma_k"] == pytest.approx(doc["linear_sigma_k"])

    result = runner.invoke(app, ["sensitivity", str(path), "--samples", "4", "--no-files"])
    assert result.exit_code == 1 and "--samples needs --tolerance" in result.output
    result = runner.invoke(app, [*args[:2], "--tolerance", "lid=5%", "--no-files"])
    assert result.exit_code == 1 and "'lid' matches no parameter" in result.output
