"""Thread counts: what the numerical libraries' own defaults cost against pinned threads.

Each workload runs in a fresh process three ways: with the libraries' defaults (BLAS, OpenMP
and torch take every core; no ``set_threads`` call), and pinned by
:func:`chiptherm.threads.set_threads` to 1 and to 2 threads. Wall time and the process's CPU
time are reported; ratios are against one thread in the same run.

Workloads: three ``two_die`` solves (180,000 cells, transform solver), a ``tsv_array`` step
response (LU factorizations, 325 BDF2 steps), and 20 training steps of the shipped ``surface``
config (batch 32, 21×21×11 collocation).

    python benchmarks/threads.py [--repeat 2]

Writes benchmarks/results/threads.json. On a shared machine a second process may hold a core:
the script prints the load average beside each run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

WORKLOADS = {
    "solve two_die x3": """
from chiptherm import load_stack, solve
stack = load_stack("examples/two_die.yaml")
for _ in range(3):
    solve(stack)
""",
    "step response tsv_array": """
from chiptherm import load_stack, simulate
simulate(load_stack("examples/tsv_array.yaml"))
""",
    "train surface 20 steps": """
import tempfile
from chiptherm.operator.train import train
with tempfile.TemporaryDirectory() as out:
    train("configs/surface.yaml", out=out, quiet=True,
          overrides={"steps": 20, "checkpoint_every": 1000}).op
""",
}

RUNNER = """
import resource, sys, time
setting = sys.argv[1]
if setting != "default":
    from chiptherm.threads import set_threads
    set_threads(int(setting))
code = sys.stdin.read()
start = time.perf_counter()
exec(compile(code, "workload", "exec"))
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
print(wall, usage.ru_utime + usage.ru_stime)
"""


def run(code: str, setting: str) -> tuple[float, float]:
    """(wall s, CPU s) of ``code`` in a fresh process with the given thread setting."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env.pop("CHIPTHERM_THREADS", None)
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, setting],
        input=code,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
    )
    wall, cpu = (float(v) for v in done.stdout.split()[-2:])
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per setting (best kept)")
    args = parser.parse_args()
    from chiptherm.operator.inference import machine

    settings = ["default", "1", "2"]
    rows = []
    print(f"{'workload':<26} {'threads':>8} {'wall s':>8} {'CPU s':>8} {'wall / 1':>9} {'load':>5}")
    for name, code in WORKLOADS.items():
        best: dict[str, tuple[float, float]] = {}
        loads: dict[str, float] = {}
        for _ in range(args.repeat):
            for setting in settings:
                loads[setting] = os.getloadavg()[0]
                wall, cpu = run(code, setting)
                if setting not in best or wall < best[setting][0]:
                    best[setting] = (wall, cpu)
        for setting in settings:
            wall, cpu = best[setting]
            ratio = wall / best["1"][0]
            rows.append(
                {
                    "workload": name,
                    "threads": setting,
                    "wall_s": round(wall, 3),
                    "cpu_s": round(cpu, 3),
                    "wall_over_one_thread": round(ratio, 3),
                    "load_average": loads[setting],
                }
            )
            print(
                f"{name:<26} {setting:>8} {wall:8.2f} {cpu:8.2f} {ratio:9.2f} {loads[setting]:5.2f}"
            )
    out = HERE / "results" / "threads.json"
    out.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
