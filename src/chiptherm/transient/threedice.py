"""3D-ICE's transient runs (``solver: transient step DT, slot ST ;``) of solid and cavity
stacks, with 3D-ICE's timing and output instants, so that the numbers are 3D-ICE's.

3D-ICE's emulator starts every cell at the initial temperature and takes the floorplans'
power values one time slot at a time: at the start of each slot every element's next value
is switched on, and the slot is integrated in ``ST / DT`` backward-Euler steps

    (G + C/Δt)·T_{n+1} = P(slot) + G_s·T_s + C/Δt·T_n,

with C each cell's heat capacity (volumetric heat capacity x cell volume). After every step
the ``step`` outputs get a line at time n·Δt, after a slot's last step the ``slot`` outputs,
and when the first element runs out of power values the run ends and the ``final`` outputs
get the last field. chiptherm solves the same equations; ``scheme="bdf2"`` instead takes
second-order BDF steps, restarted by one Euler step at every change of power (so a sudden
step neither rings nor carries the previous slot's history across the switch).

:func:`trace_from_3dice` turns the slots into a power trace of the converted stack
(:mod:`chiptherm.formats.convert`), for ``chiptherm transient``.
"""

from __future__ import annotations

import time as clock
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from chiptherm.analysis.compact import block_inputs
from chiptherm.description.stack import Stack
from chiptherm.discretize.system import SinkLink
from chiptherm.errors import ChipthermWarning, FormatError, InputError
from chiptherm.formats.threedice import IceModel
from chiptherm.formats.threedice_files import StkFile
from chiptherm.formats.threedice_floorplan import read_ice_flp
from chiptherm.formats.threedice_outputs import output_data, output_headers, write_texts
from chiptherm.formats.threedice_solve import CavityStepSolver, warn_undershoot
from chiptherm.solvers import make_solver
from chiptherm.solvers.nonlinear import with_sink
from chiptherm.transient.steps import STORAGE, doubling, scheme_terms
from chiptherm.transient.trace import PowerTrace

Scheme = Literal["euler", "bdf2"]


@dataclass(frozen=True)
class IceRun:
    """The outcome of a transient run.

    Attributes:
        times: (S+1,) the instants of the fields, s: 0 and the end of every step.
        peak_k: (S+1,) the hottest cell at each instant, K.
        final: (nz, n_rows, n_cols) the last field, K.
        slots: time slots run.
        steps: steps taken in all.
        power_w: (S,) the power put in during each step, W.
        heat_out_w: (S,) the heat leaving through the sinks at the end of each step, W.
        stored_j: heat stored in the stack at the end, J, as the scheme stores it (the sum of
            its storage terms over the steps: C·(T_end - T_0) for Euler; for BDF2 that plus
            C·(T_N - T_(N-1))/2 - C·(T_1 - T_0)/2 over each slot's steps 0..N, its own
            bookkeeping of the history), so that power in = heat out + stored holds to the
            solver's precision for either scheme.
        written: the output files, as the .stk file names them.
        method: the linear solver.
        seconds: wall time of the run.
    """

    times: np.ndarray
    peak_k: np.ndarray
    final: np.ndarray
    slots: int
    steps: int
    power_w: np.ndarray
    heat_out_w: np.ndarray
    stored_j: float
    written: list[str]
    method: str
    seconds: float


def slot_count(model: IceModel) -> int:
    """How many slots 3D-ICE runs: as many as the element with the fewest power values
    has, since the run ends when the first element runs out; warns, naming the element,
    when others hold values that are never used.

    Raises:
        FormatError: for an element without power values (3D-ICE would end the run before
            its first step), naming its floorplan file and line.
    """
    elements = [s.element for s in model.sources]
    for element in elements:
        if element.powers is None:
            raise FormatError(
                f"element {element.name} has no power values: a transient run takes one per "
                "time slot",
                source=element.source,
                line=element.line,
            )
    if not elements:
        return 0
    counts = [len(e.powers or []) for e in elements]
    slots = min(counts)
    longer = [e for e, n in zip(elements, counts, strict=True) if n > slots]
    if longer:
        shortest = elements[counts.index(slots)]
        warnings.warn(
            f"{longer[0].source}:{longer[0].line}: element {longer[0].name} has "
            f"{len(longer[0].powers or [])} power values, but the run ends after {slots} "
            f"slots, when element {shortest.name} runs out (as 3D-ICE does); the later "
            "values are not used",
            ChipthermWarning,
            stacklevel=2,
        )
    return slots


def run_transient(
    model: IceModel,
    workdir: Path = Path("."),
    scheme: Scheme = "euler",
    method: str = "auto",
    tol: float = 1e-12,
    on_step: Callable[[int, int], None] | None = None,
    double_every: int = 0,
    first_step: float | None = None,
) -> IceRun:
    """Run the transient analysis of ``model`` (see the module doc) and write its outputs
    into ``workdir`` (each file atomically, once the run is complete).

    Args:
        model: a stack whose file asks for a transient run.
        workdir: where the output section's paths are relative to.
        scheme: 'euler' (3D-ICE's) or 'bdf2' (restarted at every slot).
        method, tol: the linear solver of the steps (a cavity stack: auto, lu or block) and
            its relative residual.
        on_step: told (done, total) after every step.
        double_every, first_step: 0 (the default) takes 3D-ICE's steps; N > 0 takes
            chiptherm's doubling steps instead (:func:`slot_steps`), whose ends the ``step``
            outputs then report.

    Raises:
        FormatError: the file asks for a steady run, or an element has no power values.
        InputError: for a first step that is not positive or longer than a slot.
    """
    timing = model.doc.transient
    if timing is None:
        raise FormatError("the stack file asks for a steady run", source=model.doc.source)
    started = clock.perf_counter()
    slots = slot_count(model)
    per_slot = slot_steps(timing.step, timing.slot, timing.steps_per_slot, double_every, first_step)
    total = slots * len(per_slot)
    lengths = np.tile(per_slot, max(slots, 1))
    ends = step_ends(per_slot, timing.slot, max(slots, 1), double_every == 0)
    capacity = model.capacity
    solvers: dict[float, Any] = {}
    field = np.full(capacity.shape, model.doc.initial_temperature)
    stored = 0.0
    history = [field]
    texts = output_headers(model)
    peaks, power, heat_out = [float(field.max())], [], []
    coldest = float(field.min())
    step, now = 0, 0.0
    sources = model.rhs_for(model.power(0))
    for slot in range(slots):
        q = model.power(slot)
        sources = model.rhs_for(q)  # the power, G_s·T_s in the sink layers, the coolant's inlet
        for k in range(len(per_slot)):
            step += 1
            weight, memory, guess = scheme_terms(scheme, lengths, 1 if k == 0 else step, history)
            scale = weight / lengths[step - 1]  # 1/s: the storage term's weight/Δt
            if scale not in solvers:
                solvers[scale] = step_solver(model, scale * capacity, method)
            rhs = sources + scale * capacity * memory
            solved, _ = solvers[scale].solve(rhs, x0=guess, tol=tol)
            field = np.asarray(solved).reshape(capacity.shape)
            stored += float((weight * capacity * (field - memory)).sum())
            history = [history[-1], field]
            peaks.append(float(field.max()))
            coldest = min(coldest, float(field.min()))
            power.append(float(q.sum()))
            heat_out.append(model.heat_out(field))
            now = float(ends[step - 1])
            append_instant(model, texts, "step", field, sources, now)
            if on_step is not None:
                on_step(step, total)
        append_instant(model, texts, "slot", field, sources, now)
    append_instant(model, texts, "final", field, sources, now)
    written = write_texts(model, texts, workdir)
    warn_undershoot(model, coldest)
    name = next(iter(solvers.values())).name if solvers else method
    return IceRun(
        np.concatenate([[0.0], ends[:step]]),
        np.array(peaks),
        field,
        slots,
        step,
        np.array(power),
        np.array(heat_out),
        stored,
        written,
        name,
        clock.perf_counter() - started,
    )


def slot_steps(
    step: float, slot: float, count: int, double_every: int = 0, first: float | None = None
) -> np.ndarray:
    """(n,) the step lengths of one time slot, s: 3D-ICE's ``count`` steps of ``step`` s
    (``double_every`` 0), or chiptherm's doubling steps: from ``first`` (default a tenth of
    the file's step), doubled after every ``double_every`` steps, the last one landing on the
    slot's end, where the power changes and the steps start small again.

    Raises:
        InputError: for a negative ``double_every`` or a first step that is not positive or
            is longer than the slot.
    """
    if double_every < 0:
        raise InputError(f"double_every: expected 0 (3D-ICE's steps) or more, got {double_every}")
    if double_every == 0:
        return np.full(count, step)
    first = step / 10 if first is None else first
    if not (np.isfinite(first) and 0 < first <= slot):
        raise InputError(
            f"first step: expected a time in (0, {slot:g}] s (the slot), got {first:g}"
        )
    return np.array(doubling(slot, first, slot, double_every))


def step_ends(per_slot: np.ndarray, slot: float, slots: int, uniform: bool) -> np.ndarray:
    """(slots·n,) the times at the ends of the steps, s: n·Δt for 3D-ICE's uniform steps (as
    3D-ICE prints them), else each slot's start plus its steps so far."""
    if uniform:
        return np.arange(1, slots * len(per_slot) + 1) * per_slot[0]
    return (np.arange(slots)[:, None] * slot + np.cumsum(per_slot)[None, :]).ravel()


def step_solver(model: IceModel, storage: np.ndarray, method: str) -> Any:
    """A solver of (G + storage)·T = b for one step length: chiptherm's (``method``) for a
    solid stack, :class:`CavityStepSolver` (``method`` 'auto', 'lu' or 'block') with a
    cavity. ``storage`` (nz, n_rows, n_cols) W/K."""
    if model.cavity is not None:
        return CavityStepSolver(model, storage, method)
    link = SinkLink(conductance=storage, temperature=0.0)
    return make_solver(with_sink(model.system, (STORAGE, link)), method)


def append_instant(
    model: IceModel,
    texts: list[list[str]],
    instant: str,
    temperature: np.ndarray,
    sources: np.ndarray,
    time: float,
) -> None:
    """Add a data line at ``time`` (s) to every output asked for at ``instant`` ('step',
    'slot' or 'final')."""
    for out, text in zip(model.doc.outputs, texts, strict=True):
        if out.when == instant:
            text.append(output_data(model, out, temperature, sources, time))


def trace_from_3dice(doc: StkFile, stack: Stack) -> PowerTrace | None:
    """The slots of ``doc``'s transient run as a power trace of ``stack`` (its conversion):
    each rectangle's block takes its element's value of the slot times its share of the
    element's area, for as many slots as the element with the fewest values has (where
    3D-ICE ends the run). None for a steady stack."""
    if doc.transient is None:
        return None
    columns: dict[tuple[str, str], list[float]] = {}  # (source, block) -> W per slot
    for el in doc.stack:
        if el.kind != "die":
            continue
        for fe in read_ice_flp(el.floorplan, doc.chip):  # type: ignore[arg-type]
            for i, (_, _, lx, wy) in enumerate(fe.rects):
                name = fe.name if len(fe.rects) == 1 else f"{fe.name}.{i}"
                columns[el.name, name] = [p * lx * wy / fe.area for p in fe.powers or [0.0]]
    blocks = block_inputs(stack)
    slots = min((len(c) for c in columns.values()), default=0)
    watts = np.array([columns[b.source, b.block.name][:slots] for b in blocks]).T
    return PowerTrace(
        np.arange(slots) * doc.transient.slot, watts.reshape(slots, len(blocks)), blocks
    )
