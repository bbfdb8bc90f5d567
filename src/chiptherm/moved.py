"""Module names of the flat layout before the subpackages, kept importable for one release.

``import chiptherm.stack`` (or ``from chiptherm.result import solve``) still works: a finder
on ``sys.meta_path`` hands out the module under its new name (``chiptherm.description.stack``)
and warns once per name with a :class:`DeprecationWarning` that names it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

MOVED: dict[str, str] = {
    f"chiptherm.{old}": f"chiptherm.{new}"
    for old, new in {
        "stack": "description.stack",
        "stack_io": "description.stack_io",
        "materials": "description.materials",
        "overrides": "description.overrides",
        "yaml_numbers": "description.yaml_numbers",
        "settings": "description.settings",
        "channels": "description.channels",
        "grid": "discretize.grid",
        "system": "discretize.system",
        "network": "discretize.network",
        "homogenize": "discretize.homogenize",
        "nonlinear": "solvers.nonlinear",
        "result": "solvers.result",
        "jacobian": "analysis.jacobian",
        "sensitivity": "analysis.sensitivity",
        "convergence": "analysis.convergence",
        "compact": "analysis.compact",
        "budget": "analysis.budget",
        "sweep": "analysis.sweep",
        "tolerance": "analysis.tolerance",
        "review": "analysis.review",
        "compare": "analysis.compare",
        "parameters": "analysis.parameters",
        "objectives": "analysis.objectives",
        "optimize": "design.optimize",
    }.items()
}
"""Old module name -> the module that now holds its contents."""


class MovedModuleLoader(importlib.abc.Loader):
    """Loads an old name as the module under its new name (one object, two names)."""

    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(
            f"{spec.name} is now {self.new}; the old name goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(self.new)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module under its new name is already executed."""


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds the old names of :data:`MOVED` and nothing else."""

    def find_spec(self, fullname: str, path: object, target: object = None):
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, MovedModuleLoader(new))


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedModuleFinder())
