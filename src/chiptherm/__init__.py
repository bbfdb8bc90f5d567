"""chiptherm: fast, trustworthy steady thermal simulation of chips and 3D-IC stacks."""

from chiptherm.compact import ResistanceMatrix, resistance_matrix
from chiptherm.convergence import convergence_study
from chiptherm.errors import ChipthermError, InputError, SolverError, StackError
from chiptherm.grid import Grid
from chiptherm.result import Result, solve
from chiptherm.sensitivity import Sensitivity, sensitivity
from chiptherm.stack import Block, Boundary, Layer, Material, PowerSource, Region, Stack
from chiptherm.stack_io import load_stack, save_stack, stack_from_dict
from chiptherm.system import System
from chiptherm.transient import PowerTrace, TransientResult, read_power_trace, simulate

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
