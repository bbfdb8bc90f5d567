"""Transient heat conduction: how the temperature of a stack follows its power in time.

The finite-volume system of the steady solver, with the heat capacity C of every cell (J/K,
the volumetric heat capacity ρ·c_p of its material times its volume):

    C dT/dt = b(t) - A·T,

where b(t) carries the power at time t: block powers from a trace (:mod:`.trace`), each row
held until the next (power maps, ambients and fixed faces stay constant); a step takes the
row in force at its midpoint. Steps are implicit, so any step length is stable (:mod:`.run`):

- ``bdf2`` (default), the second-order backward differentiation formula after one
  backward-Euler step, with variable steps: for the ratio ω = Δt_n/Δt_{n-1},
  (1+2ω)/(1+ω)·C·T_{n+1}/Δt_n + A·T_{n+1} = C/Δt_n·((1+ω)·T_n - ω²/(1+ω)·T_{n-1}) + b_{n+1}
  (3/2, 2 and 1/2 for equal steps). It is L-stable: a component far faster than the step
  vanishes in one step, where Crank-Nicolson would carry it on as an oscillation. It is not
  monotone: on steps longer than about a component's time constant it overshoots the new
  level right after a change of power, by up to 3 % of the change (2.9 % at Δt = 7 τ in the
  worst case; a dip below the ambient when the power goes off). The default steps, which
  start again at 10⁻⁵ of the run after each change, resolve what a change excites and keep
  the field in the range the maximum principle allows (tested); so does backward Euler at
  any step. Restarting BDF2 with an Euler step at each change does not help on long steps
  (the worst dip of one component grows from 2.0 to 3.0 % of the change), so it is not done;
- ``euler``: backward Euler, (C/Δt + A)·T_{n+1} = C/Δt·T_n + b_{n+1}, first order and
  monotone: the field never leaves the maximum principle's range, whatever the step.

Either way a step is a steady system with one more link per cell, to the field the scheme
builds from earlier steps, through the conductance s·C (:mod:`.steps`); the solvers treat it
like a cavity's coolant link. On a stack linear in the power the matrix depends only on the
step length, so one solver (the transform solver where the stack is laterally uniform, else a
factorization or preconditioned CG warm-started by extrapolating the last two steps) serves
every step of that length. A step response takes steps that double every 25 steps, since a
die, its spreader and its package respond over decades of time. Stacks with k(T), leakage or
a coolant warming along its flow take each step as a fixed-point iteration with the link in
every system (fully implicit); a leaky stack that runs away thermally ends the run there. A
coolant stores no heat: its transit time is short beside the solid's time constants.

The energy balance holds step by step: the power put in equals the change of stored energy
plus the heat leaving through the faces (and into coolants), exactly for backward Euler and
for BDF2's own storage term. :class:`TransientResult` (:mod:`.result`) records both, with the
peak and every block's temperature at every step and a few full fields. :mod:`.impedance`
turns the step responses of single blocks into a compact model (Foster networks) that
evaluates any trace without solving.
"""

from chiptherm.transient.impedance import ThermalImpedance, thermal_impedance
from chiptherm.transient.result import LimitCrossing, TransientResult, crossing, time_to_value
from chiptherm.transient.run import SCHEMES, Scheme, simulate
from chiptherm.transient.steps import STORAGE, capacity_field, step_times
from chiptherm.transient.trace import PowerTrace, read_power_trace, step_trace

__all__ = [
    "SCHEMES",
    "STORAGE",
    "LimitCrossing",
    "PowerTrace",
    "Scheme",
    "ThermalImpedance",
    "TransientResult",
    "capacity_field",
    "crossing",
    "read_power_trace",
    "simulate",
    "step_times",
    "step_trace",
    "thermal_impedance",
    "time_to_value",
]
