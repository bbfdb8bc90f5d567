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
        "network": "solvers.network",
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
        "optimize": "design",
    }.items()
}
"""Old module name -> the module that now holds its contents."""

ALSO_MOVED: dict[str, dict[str, str]] = {
    "chiptherm.stack_io": {"load_stack": "chiptherm.formats.loading"},
}
"""Names an old module held that now live in another module than the rest of it."""


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
        module = importlib.import_module(self.new)
        extra = ALSO_MOVED.get(spec.name)
        if not extra:
            return module
        merged = ModuleType(spec.name, module.__doc__)  # the new module, and names from others
        merged.__dict__.update({k: v for k, v in vars(module).items() if not k.startswith("__")})
        for name, home in extra.items():
            setattr(merged, name, getattr(importlib.import_module(home), name))
        return merged

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module under its new name is already executed."""


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds the old names of :data:`MOVED` and nothing else."""

    def find_spec(self, fullname: str, path: object, target: object = None):
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, MovedModuleLoader(new))


class PublicNamesPackage(ModuleType):
    """The ``chiptherm`` package, whose public names an old module's import cannot replace.

    Importing ``chiptherm.sensitivity`` binds the loaded module to the attribute
    ``sensitivity`` of ``chiptherm``, where the function :func:`chiptherm.sensitivity` lives; the
    old module names that are also public names would otherwise replace the function.
    """

    def __setattr__(self, name: str, value: object) -> None:
        public = name in getattr(self, "__all__", ()) and name in vars(self)
        if public and isinstance(value, ModuleType) and f"{self.__name__}.{name}" in MOVED:
            return
        super().__setattr__(name, value)


def install(package: ModuleType) -> None:
    """Put the finder first on ``sys.meta_path`` (once) and guard ``package``'s public names."""
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedModuleFinder())
    package.__class__ = PublicNamesPackage
