"""Design search: floorplan optimization with the operator for speed and the solver for the
final word.

The modules follow a search from its input to its report:

- :mod:`~chiptherm.design.problem`: the problem file (blocks, keep-outs, objective, search);
- :mod:`~chiptherm.design.floorplan`: where the blocks go and what a placement evaluates to;
- :mod:`~chiptherm.design.search`: the CMA-ES search, hybrid (operator and solver) or by the
  solver alone;
- :mod:`~chiptherm.design.gradient`: gradient descent by the adjoint, to polish a placement;
- :mod:`~chiptherm.design.outcome` and :mod:`~chiptherm.design.report`: what a run records and
  writes.

The names below are the package's surface; ``from chiptherm.design import optimize`` is the
search a notebook, the command line and the demo all call.
"""

from chiptherm.design.floorplan import Floorplan, Site, load_response, load_site
from chiptherm.design.gradient import SmoothObjective, descend
from chiptherm.design.outcome import SCORE_TRIAL, History, Outcome
from chiptherm.design.problem import (
    BlockSpec,
    KeepOut,
    Objective,
    Problem,
    Rectangle,
    Search,
    load_problem,
    resolve_model,
    validate_problem,
)
from chiptherm.design.report import outcome_summary, write_report
from chiptherm.design.search import optimize

__all__ = [
    "SCORE_TRIAL",
    "BlockSpec",
    "Floorplan",
    "History",
    "KeepOut",
    "Objective",
    "Outcome",
    "Problem",
    "Rectangle",
    "Search",
    "Site",
    "SmoothObjective",
    "descend",
    "load_problem",
    "load_response",
    "load_site",
    "optimize",
    "outcome_summary",
    "resolve_model",
    "validate_problem",
    "write_report",
]
