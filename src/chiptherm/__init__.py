"""chiptherm: fast, trustworthy steady thermal simulation of chips and 3D-IC stacks."""

import sys

from chiptherm import moved
from chiptherm.analysis.compact import ResistanceMatrix, resistance_matrix
from chiptherm.analysis.convergence import convergence_study
from chiptherm.analysis.sensitivity import Sensitivity, sensitivity
from chiptherm.description.stack import Block, Boundary, Layer, Material, PowerSource, Region, Stack
from chiptherm.description.stack_io import save_stack, stack_from_dict
from chiptherm.discretize.grid import Grid
from chiptherm.discretize.system import System
from chiptherm.errors import ChipthermError, InputError, SolverError, StackError
from chiptherm.formats.loading import load_stack
from chiptherm.solvers.result import Result, solve
from chiptherm.transient import PowerTrace, TransientResult, read_power_trace, simulate

moved.install(sys.modules[__name__])

__version__ = "0.1.0"

__all__ = [
    "Block",
    "Boundary",
    "ChipthermError",
    "Grid",
    "InputError",
    "Layer",
    "Material",
    "PowerSource",
    "PowerTrace",
    "Region",
    "ResistanceMatrix",
    "Result",
    "Sensitivity",
    "SolverError",
    "Stack",
    "StackError",
    "System",
    "TransientResult",
    "__version__",
    "convergence_study",
    "load_stack",
    "read_power_trace",
    "resistance_matrix",
    "save_stack",
    "sensitivity",
    "simulate",
    "solve",
    "stack_from_dict",
]
