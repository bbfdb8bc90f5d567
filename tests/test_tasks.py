"""Many tasks on a Dask cluster (chiptherm.tasks): the same results in the same order as in
this process, a failing task reported in its place while the rest go on, a worker killed
mid-run (its task retried elsewhere), an explicit scheduler address on 127.0.0.1, and the
commands that use it."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from chiptherm.analysis.sweep import sweep_stack
from chiptherm.cli import app
from chiptherm.errors import InputError, SolverError
from chiptherm.tasks import SCHEDULER_ENVIRONMENT, Cluster, TaskFailure, connect, run_tasks

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def scheduler():
    """A two-worker cluster of processes on 127.0.0.1 for the module, by its address."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as cluster:
        yield cluster.scheduler_address


def square_or_fail(x: float) -> float:
    if x < 0:
        raise SolverError(f"no solve for {x}")
    return x * x


def die_once(item: tuple[int, str]) -> tuple[int, int]:
    """Kills its worker process the first time it runs for item 0 (a marker file remembers)."""
    index, marker = item
    if index == 0 and not os.path.exists(marker):
        Path(marker).write_text("killed")
        os._exit(1)
    return index, os.getpid()


def test_tasks_come_back_in_order_with_failures_in_their_place(scheduler):
    items = [3.0, -1.0, 2.0, 0.5, -2.0, 4.0]
    serial = run_tasks(square_or_fail, items, expected=(SolverError,))
    done = []
    clustered = run_tasks(
        square_or_fail,
        items,
        Cluster(scheduler=scheduler),
        on_done=lambda d, total: done.append((d, total)),
        expected=(SolverError,),
    )
    assert serial == clustered
    assert clustered[0] == 9.0 and clustered[5] == 16.0
    assert clustered[1] == TaskFailure(1, "SolverError", "no solve for -1.0")
    assert done[-1] == (6, 6) and len(done) == 6


def test_an_unexpected_error_stops_the_run(scheduler):
    with pytest.raises(SolverError):
        run_tasks(square_or_fail, [1.0, -1.0], Cluster(scheduler=scheduler), expected=())


def test_a_worker_killed_mid_run_has_its_task_retried(scheduler, tmp_path):
    items = [(i, str(tmp_path / "marker")) for i in range(4)]
    results = run_tasks(die_once, items, Cluster(scheduler=scheduler))
    assert [index for index, _ in results] == [0, 1, 2, 3]
    assert (tmp_path / "marker").exists()  # item 0 did kill a worker once


def test_cluster_options_are_checked_and_the_environment_names_a_scheduler(monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENVIRONMENT, raising=False)
    assert Cluster.from_options() is None
    monkeypatch.setenv(SCHEDULER_ENVIRONMENT, "tcp://127.0.0.1:8786")
    assert Cluster.from_options() == Cluster(scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(InputError, match="give one"):
        Cluster(workers=2, scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(InputError, match="at least 1"):
        Cluster(workers=0)
    with pytest.raises(InputError, match="threads per worker: expected at least 1, got 0"):
        Cluster(workers=2, threads=0)


def test_an_unreachable_scheduler_is_one_clear_error():
    with (
        pytest.raises(InputError, match=r"Dask scheduler tcp://127.0.0.1:9 .*: no answer"),
        connect(Cluster(scheduler="tcp://127.0.0.1:9", timeout_s=1.0)),
    ):
        pass


def test_without_dask_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(InputError, match=r"chiptherm\[cluster\]"), connect(Cluster(workers=2)):
        pass


def sweep_json(args: list[str]) -> dict:
    result = CliRunner().invoke(app, ["sweep", str(ROOT / "examples" / "two_die.yaml"), *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_sweep_on_a_cluster_equals_the_serial_sweep(scheduler, tmp_path):
    vary = ["--vary", "boundaries.top.htc=1e3:1e5:4:log", "--set", "grid.nx=24", "--set"]
    args = [*vary, "grid.ny=20", "--json", "--no-files"]
    serial = sweep_json(args)
    clustered = sweep_json([*args, "--scheduler", scheduler])
    assert [p["values"] for p in clustered["points"]] == [p["values"] for p in serial["points"]]
    for a, b in zip(serial["points"], clustered["points"], strict=True):
        assert math.isclose(a["peak_k"], b["peak_k"], rel_tol=1e-12)
        assert np.allclose(list(a["block_mean_k"].values()), list(b["block_mean_k"].values()))


def test_a_sweep_on_embedded_workers_records_a_runaway_point_and_goes_on(tmp_path):
    from tests.analysis.test_sweep import LEAKY

    path = tmp_path / "leaky.yaml"
    path.write_text(yaml.safe_dump(LEAKY, sort_keys=False))
    axes = [("power.p.leakage.fraction", [0.2, 3.0, 0.1])]
    serial = sweep_stack(path, axes)
    clustered = sweep_stack(path, axes, cluster=Cluster(workers=2))
    ok, runaway, after = clustered.points
    assert "thermal runaway" in runaway.error and np.isnan(runaway.peak_k)
    assert "thermal runaway" in serial.points[1].error  # its numbers depend on the start
    for a, b in ((ok, serial.points[0]), (after, serial.points[2])):
        assert b.error is None and math.isclose(a.peak_k, b.peak_k, rel_tol=1e-9)


def test_a_resistance_matrix_on_a_cluster_equals_the_serial_one(scheduler):
    from chiptherm.analysis.compact import resistance_matrix
    from tests.conftest import example

    stack = example("two_die", 16, 12)
    serial = resistance_matrix(stack, "direct")
    done = []
    clustered = resistance_matrix(
        stack, "direct", on_block=lambda d, n: done.append(d), cluster=Cluster(scheduler=scheduler)
    )
    assert np.array_equal(clustered.resistance, serial.resistance)
    assert np.array_equal(clustered.heated.response, serial.heated.response)
    assert np.array_equal(clustered.background_k, serial.background_k)
    assert done[-1] == len(serial.blocks)


def test_a_response_operator_on_a_cluster_equals_the_serial_one(scheduler):
    from chiptherm.operator.response import build_response
    from tests.conftest import example

    stack = example("chiplets", 20, 16)
    serial = build_response(stack, "chips", (4, 5), within="regions", method="direct")
    done = []
    clustered = build_response(
        stack,
        "chips",
        (4, 5),
        within="regions",
        method="direct",
        on_sensor=lambda d, n: done.append(d),
        cluster=Cluster(scheduler=scheduler),
    )
    assert np.array_equal(clustered.response, serial.response)
    assert np.array_equal(clustered.background, serial.background)
    assert np.array_equal(clustered.active, serial.active)
    assert done[-1] == len(serial.response) > 8  # more than one task


def test_the_resistances_command_takes_workers(tmp_path):
    args = ["resistances", str(ROOT / "examples" / "two_die.yaml"), "--set", "grid.nx=16"]
    args += ["--set", "grid.ny=12", "--json", "--no-files"]
    serial = CliRunner().invoke(app, args)
    clustered = CliRunner().invoke(app, [*args, "--workers", "2"])
    assert serial.exit_code == clustered.exit_code == 0, clustered.output
    a, b = json.loads(serial.stdout), json.loads(clustered.stdout)
    assert a["resistance_k_per_w"] == b["resistance_k_per_w"]


def test_a_monte_carlo_on_a_cluster_draws_and_values_as_in_this_process(scheduler):
    """The slab's exact law sample by sample, and the leaky plate's runaways counted, both as
    in this process."""
    from chiptherm.analysis.sensitivity import sensitivity
    from chiptherm.analysis.tolerance import monte_carlo
    from chiptherm.description.stack_io import stack_from_dict
    from tests.analysis.test_sensitivity import heated_slab, leaky_plate
    from tests.analysis.test_tolerance import HTC, POWER

    where = Cluster(scheduler=scheduler)
    study = sensitivity(stack_from_dict(heated_slab()))
    here = monte_carlo(study, {POWER: 0.1, HTC: 0.3}, samples=24, seed=3)
    there = monte_carlo(study, {POWER: 0.1, HTC: 0.3}, samples=24, seed=3, cluster=where)
    assert np.array_equal(here.factors, there.factors)
    np.testing.assert_allclose(there.values_k, here.values_k, rtol=1e-9)
    leaky = sensitivity(stack_from_dict(leaky_plate()))
    here = monte_carlo(leaky, {POWER: 0.5}, samples=16, seed=0)
    there = monte_carlo(leaky, {POWER: 0.5}, samples=16, seed=0, cluster=where)
    assert there.failures == here.failures > 0
    assert np.array_equal(np.isnan(there.values_k), np.isnan(here.values_k))


def test_a_convergence_study_on_a_cluster_equals_the_serial_one(scheduler):
    from chiptherm.analysis.convergence import convergence_study
    from tests.conftest import example

    stack = example("two_die", 6, 4)  # 6 x 4 x 18 to 24 x 16 x 72 cells
    here = convergence_study(stack, levels=3, method="direct")
    there = convergence_study(
        stack, levels=3, method="direct", cluster=Cluster(scheduler=scheduler)
    )
    assert [(lv.nx, lv.ny, lv.nz) for lv in there.levels] == [
        (lv.nx, lv.ny, lv.nz) for lv in here.levels
    ]
    assert there.values == here.values
    assert there.estimates["peak"] == here.estimates["peak"]


def test_evaluate_solves_its_references_on_a_cluster_with_the_same_numbers(scheduler):
    args = ["evaluate", "volumetric", "--maps", "3", "--kind", "blocks", "--nx", "24", "--json"]
    here = CliRunner().invoke(app, args)
    there = CliRunner().invoke(app, [*args, "--scheduler", scheduler])
    assert here.exit_code == there.exit_code == 0, there.output
    a, b = json.loads(here.stdout)["results"], json.loads(there.stdout)["results"]
    assert a["blocks"]["peaks_k"] == b["blocks"]["peaks_k"]


def test_a_command_without_dask_says_how_to_install_it_and_solves_nothing(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)
    args = ["sweep", str(ROOT / "examples" / "two_die.yaml"), "--vary", "boundaries.top.htc=1e3"]
    result = CliRunner().invoke(app, [*args, "--workers", "2", "--out", str(tmp_path / "s")])
    assert result.exit_code == 1
    assert "pip install 'chiptherm[cluster]'" in result.output  # brackets not taken as markup
    assert not (tmp_path / "s").exists()


def test_checked_and_refined_batches_on_a_cluster_equal_the_serial_ones(scheduler, tmp_path):
    """volumetric at two top h with a sharp hot spot: the same scores, answers and refined
    fields whether the checks run here or as tasks, in batches of 3 over one connection."""
    watts = np.random.default_rng(5).uniform(0, 6e-6, (5, 20, 20))
    watts[1, 8:10, 8:10] = 2e-4
    watts[4, 3:5, 12:14] = 2e-4
    np.save(tmp_path / "maps.npy", watts)
    (tmp_path / "h.csv").write_text("top_htc\n300\n3000\n300\n3000\n300\n")
    args = ["predict-batch", "volumetric", str(tmp_path / "maps.npy"), "--params-file"]
    args += [str(tmp_path / "h.csv"), "--param", "bottom_htc=800", "--check", "--batch", "3"]
    first = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "scores"), "-q"])
    scores = json.loads((tmp_path / "scores" / "summary.json").read_text())["results"]
    ranked = sorted(row["score_error_k"] for row in scores)
    tol = (ranked[2] + ranked[3]) / 2  # two of five maps fail
    args += ["--refine", "--tol-kelvin", str(tol), "--fields", "-q"]
    outputs = {}
    for where, extra in (("here", []), ("there", ["--scheduler", scheduler])):
        result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / where), *extra])
        assert result.exit_code == 0, result.output
        summary = json.loads((tmp_path / where / "summary.json").read_text())
        outputs[where] = (summary, np.load(tmp_path / where / "temperatures.npy"))
    (here, here_fields), (there, there_fields) = outputs["here"], outputs["there"]
    assert first.exit_code == 0 and ranked[3] > ranked[2] + 1e-3
    assert there["check"]["refined"] == here["check"]["refined"] == 2
    for a, b in zip(here["results"], there["results"], strict=True):
        assert (a["map"], a["answer"]) == (b["map"], b["answer"])
        assert a["score_error_k"] == pytest.approx(b["score_error_k"], abs=1e-4)
        assert a["peak_k"] == pytest.approx(b["peak_k"], abs=1e-4)
    np.testing.assert_allclose(there_fields, here_fields, atol=1e-5)


def test_workers_without_check_are_refused(tmp_path):
    np.save(tmp_path / "maps.npy", np.ones((2, 4, 4)) * 1e-6)
    args = ["predict-batch", "surface", str(tmp_path / "maps.npy"), "--workers", "2"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "--workers and --scheduler run the checks of --check" in result.output
    assert not (tmp_path / "o").exists()


def test_a_solver_search_on_a_cluster_takes_the_same_path(scheduler):
    """Every generation's candidates solved as tasks: CMA-ES sees the same values, so the
    search ends at the same placement with the same verified peak."""
    from chiptherm.design import Site, load_problem, optimize
    from chiptherm.operator.checkpoint import load_operator
    from chiptherm.tasks import Runner

    problem, _ = load_problem(ROOT / "examples" / "problems" / "floorplan.yaml")
    search = problem.search.model_copy(update={"steps": 13})
    problem = problem.model_copy(update={"search": search})
    op, _ = load_operator("surface")
    here = optimize(problem, op, "solver", site=Site.of_operator(op))
    with Runner(Cluster(scheduler=scheduler)) as runner:
        there = optimize(problem, op, "solver", site=Site.of_operator(op), runner=runner)
    assert here.history.solver_calls == there.history.solver_calls > 12
    np.testing.assert_allclose(there.placement, here.placement, atol=1e-12)
    assert there.history.best == pytest.approx(here.history.best, abs=1e-9)
    assert there.verified_peak_k == pytest.approx(here.verified_peak_k, abs=1e-9)


def test_a_review_on_a_cluster_equals_the_serial_one(scheduler):
    """The coarser grids and the Monte Carlo samples as tasks over one connection."""
    from chiptherm.analysis.review import design_review
    from tests.conftest import example

    stack = example("two_die", 12, 12)
    args = (None, None, [("power", 0.05)], 6, 1)
    here = design_review(stack, *args)
    there = design_review(stack, *args, cluster=Cluster(scheduler=scheduler))
    assert here.grid is not None and there.grid is not None
    assert there.grid.values == here.grid.values
    assert here.sampled is not None and there.sampled is not None
    np.testing.assert_allclose(there.sampled.values_k, here.sampled.values_k, rtol=1e-9)
    assert np.isfinite(here.sampled.values_k).all()


def test_an_impedance_on_a_cluster_equals_the_serial_one(scheduler):
    """The step responses of groups of blocks as tasks, each on its own step solvers."""
    from chiptherm.transient.impedance import BLOCKS_PER_RUN, thermal_impedance
    from tests.conftest import example

    stack = example("two_die", 10, 10)
    here = thermal_impedance(stack)
    assert len(here.blocks) > BLOCKS_PER_RUN  # more than one task
    done = []
    there = thermal_impedance(
        stack, cluster=Cluster(scheduler=scheduler), on_block=lambda d, n: done.append((d, n))
    )
    np.testing.assert_allclose(there.z, here.z, rtol=0, atol=1e-9 * np.abs(here.z).max())
    np.testing.assert_allclose(there.hotspot_z, here.hotspot_z, atol=1e-9 * here.hotspot_z.max())
    np.testing.assert_allclose(there.foster, here.foster, atol=1e-6 * np.abs(here.foster).max())
    assert done[-1] == (here.times.size - 1,) * 2


def scheduled_tasks(address: str) -> int:
    """How many tasks the scheduler at ``address`` holds."""
    with distributed.Client(address, timeout="5s") as client:
        return client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))


def test_ctrl_c_cancels_the_clusters_tasks_and_writes_nothing(scheduler, tmp_path):
    """SIGINT to a sweep whose points run on the cluster: the command stops with the
    interrupted status, the scheduler forgets its tasks and no output folder appears."""
    import signal
    import subprocess
    import time

    from chiptherm.errors import Interrupted

    out = tmp_path / "sweep"
    args = [sys.executable, "-m", "chiptherm", "sweep", str(ROOT / "examples" / "two_die.yaml")]
    args += ["--vary", "boundaries.top.htc=1e3:1e5:200:log", "--scheduler", scheduler]
    command = subprocess.Popen(
        [*args, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell without job control starts background jobs with SIGINT ignored, and the
        # command would inherit that: give it the default disposition, as a terminal would
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 60
        while scheduled_tasks(scheduler) == 0:  # until the points are submitted
            assert command.poll() is None and time.monotonic() < deadline, command.stderr
            time.sleep(0.2)
        command.send_signal(signal.SIGINT)
        _, stderr = command.communicate(timeout=60)
    finally:
        command.kill()
    assert command.returncode == Interrupted.exit_code, stderr
    assert "interrupted" in stderr and "nothing was written" in stderr
    assert not out.exists()
    deadline = time.monotonic() + 20
    while scheduled_tasks(scheduler) > 0:  # cancelled, not left to run
        assert time.monotonic() < deadline
        time.sleep(0.2)
