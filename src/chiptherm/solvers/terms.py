"""The nonlinear terms of a stack, behind one interface.

A stack is nonlinear where something in its equations depends on the temperature: a
material's conductivity k(T), a power source's leakage, a coolant that warms with the heat it
picks up. Each is a :class:`NonlinearTerm` that, given a field T (nz, ny, nx) K, returns the
linear system with itself *frozen* at T:

- :class:`ConductivityAtTemperature`: the conductances assembled with k taken at T (the only
  term that changes the matrix);
- :class:`CoolantWarming`: the coolant temperatures along each flow from the heat leaving T
  (the right-hand side only);
- :class:`LeakagePower`: the leaked power at T added to the sources (the right-hand side only).

:func:`nonlinear_terms` lists a stack's terms in the order they apply, :func:`freeze` applies
them, and the fixed-point iteration (:mod:`chiptherm.solvers.nonlinear`), the Jacobian of the
full equations (:mod:`chiptherm.analysis.jacobian`) and the transient steps all go through
them; the assembly (:mod:`chiptherm.discretize.system`) knows only frozen values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from chiptherm.description.stack import Coolant, Stack
from chiptherm.discretize.grid import Grid
from chiptherm.discretize.system import FaceLink, SinkLink, System, power_field, source_field

RUNAWAY_K = 5000.0
"""A field hotter than this is taken as thermal runaway, K."""


@dataclass(frozen=True)
class LeakageTerm:
    """The leakage of one power source: ``base`` (nz, ny, nx) W per cell at the reference
    temperature (K), times exp(coefficient (1/K) · (T - reference))."""

    source: str
    base: np.ndarray
    coefficient: float
    reference_temperature: float

    def power(self, temperature: np.ndarray | None) -> np.ndarray:
        """(nz, ny, nx) leaked W per cell at ``temperature`` K (the reference when None)."""
        if temperature is None:
            return self.base
        rise = np.minimum(temperature - self.reference_temperature, RUNAWAY_K)
        return self.base * np.exp(self.coefficient * rise)


def leakage_terms(stack: Stack, grid: Grid) -> list[LeakageTerm]:
    """The leakage of every source in use that has one: each cell leaks its fraction of the
    source's non-negative power there, plus its share of the blocks' ``leakage_w``."""
    terms = []
    for name in stack.leaky_sources:
        source = stack.power[name]
        leak = source.leakage
        assert leak is not None
        base = leak.fraction * np.maximum(source_field(stack, grid, name), 0.0)
        if any(b.leakage_w for b in source.blocks):  # spread like power, idle blocks too
            blocks = [b.model_copy(update={"watts": b.leakage_w}) for b in source.blocks]
            idle = stack.with_power(name, source.model_copy(update={"blocks": blocks}))
            base = base + source_field(idle, grid, name)
        terms.append(LeakageTerm(name, base, leak.coefficient, leak.reference_temperature))
    return terms


def leakage_power(
    terms: list[LeakageTerm], field: np.ndarray | None, shape: tuple[int, int, int]
) -> np.ndarray:
    """(nz, ny, nx) leaked W per cell of all ``terms`` at ``field`` (their reference when None)."""
    return sum((term.power(field) for term in terms), np.zeros(shape))


Coolants = dict[tuple[str, str], np.ndarray]
"""Coolant temperatures, (ny, nx) K, keyed ('face', face) or ('cavity', layer name)."""


def with_coolants(system: System, temperatures: Coolants) -> System:
    """``system`` with the coolant temperatures of some faces and cavities replaced; the
    matrix is the same, only the right-hand side changes."""
    if not temperatures:
        return system
    faces = {
        face: FaceLink(link.conductance, temperatures[("face", face)], link.fixed)
        if ("face", face) in temperatures
        else link
        for face, link in system.faces.items()
    }
    sinks = {
        name: SinkLink(sink.conductance, temperatures.get(("cavity", name), sink.temperature))
        for name, sink in system.sinks.items()
    }
    return dataclasses.replace(system, faces=faces, sinks=sinks)


def coolant_temperatures(stack: Stack, system: System, field: np.ndarray) -> Coolants:
    """The (ny, nx) coolant temperature along the flow of every coolant face and cavity, K:
    the inlet temperature plus the heat each channel picked up upstream and half of its own
    cell's, over m·c_p of the channel. The heat is what leaves ``field`` through the face
    links and cavity sinks of ``system`` (whose coolant temperatures are those so far)."""
    out: Coolants = {}
    for face in stack.coolant_faces:
        spec = stack.boundary(face).coolant
        assert spec is not None
        link = system.faces[face]
        heat = link.conductance * (field[-1 if face == "top" else 0] - link.temperature)
        out[("face", face)] = warmed(spec, heat)
    for layer in stack.layers:
        if layer.coolant is not None:
            heat = system.sinks[layer.name].heat(field)
            out[("cavity", layer.name)] = warmed(layer.coolant, heat)
    return out


def coolants_of(stack: Stack, system: System) -> Coolants:
    """The coolant temperatures that ``system`` carries for every coolant face and cavity of
    ``stack``, (ny, nx) K each."""
    plane = system.shape[1:]
    out: Coolants = {}
    for face in stack.coolant_faces:
        out[("face", face)] = np.broadcast_to(system.faces[face].temperature, plane).copy()
    for layer in stack.layers:
        if layer.coolant is not None:
            temperature = system.sinks[layer.name].temperature
            out[("cavity", layer.name)] = np.broadcast_to(temperature, plane).copy()
    return out


def warmed(spec: Coolant, heat: np.ndarray) -> np.ndarray:
    """(ny, nx) temperature of a coolant that takes ``heat`` (ny, nx) W from each cell, K."""
    return spec.inlet_temperature + picked_up(heat, spec.direction) / (
        spec.flow_rate * spec.heat_capacity
    )


def picked_up(heat: np.ndarray, direction: str) -> np.ndarray:
    """(ny, nx) heat per unit of total flow picked up by the coolant by each cell's centre,
    W: the cumulative heat of the cells upstream plus half the cell's own, times the number of
    channels (the rows across the flow, of equal width, share the flow equally)."""
    axis = 1 if direction.endswith("x") else 0
    flip = (slice(None), slice(None, None, -1)) if axis == 1 else (slice(None, None, -1),)
    ordered = heat[flip] if direction.startswith("-") else heat
    upstream = np.cumsum(ordered, axis=axis) - 0.5 * ordered
    if direction.startswith("-"):
        upstream = upstream[flip]
    return upstream * heat.shape[1 - axis]


# -- the interface -----------------------------------------------------------------------------
class NonlinearTerm(Protocol):
    """A part of a stack's equations that depends on the temperature.

    Attributes:
        label: what it is, for messages ('k(T) of silicon', 'leakage of die', ...).
        changes_matrix: whether freezing it at another field changes the matrix (then a
            solver built on one frozen system does not serve the next).
    """

    label: str
    changes_matrix: bool

    def freeze(self, system: System, field: np.ndarray | None) -> System:
        """``system`` with this term taken at ``field`` (nz, ny, nx) K; at its reference
        (the stack's own values) when ``field`` is None."""
        ...


@dataclass
class ConductivityAtTemperature:
    """k(T): the stack's conductances assembled with every temperature-dependent material's
    conductivity taken at the field. Links of ``system`` that the stack does not define (the
    heat capacity of a transient step) are kept."""

    stack: Stack
    grid: Grid
    label: str = "temperature-dependent conductivity"
    changes_matrix: bool = True

    def freeze(self, system: System, field: np.ndarray | None) -> System:
        at = System.from_stack(self.stack, self.grid, temperature=field)
        extra = {name: link for name, link in system.sinks.items() if name not in at.sinks}
        return dataclasses.replace(at, sinks={**at.sinks, **extra}) if extra else at


@dataclass
class CoolantWarming:
    """Coolants that warm along their flow: their (ny, nx) temperatures from the heat that
    leaves the field through their face links and cavity sinks, which in turn depends on them;
    each freeze takes the heat with the temperatures of the last one (a fixed-point step)."""

    stack: Stack
    temperatures: Coolants = dataclasses.field(default_factory=dict)
    label: str = "warming coolant"
    changes_matrix: bool = False

    def freeze(self, system: System, field: np.ndarray | None) -> System:
        if field is not None:
            known = with_coolants(system, self.temperatures)
            self.temperatures = coolant_temperatures(self.stack, known, field)
        return with_coolants(system, self.temperatures)


@dataclass
class LeakagePower:
    """Leakage: every leaky source's leaked power at the field added to the system's sources.
    ``base_q`` (nz, ny, nx) W is the stack's power without leakage."""

    sources: list[LeakageTerm]
    base_q: np.ndarray
    label: str = "leakage"
    changes_matrix: bool = False

    def freeze(self, system: System, field: np.ndarray | None) -> System:
        leak = leakage_power(self.sources, field, system.shape)
        return dataclasses.replace(system, q=self.base_q + leak)


def nonlinear_terms(
    stack: Stack, grid: Grid, coolants: Coolants | None = None
) -> list[NonlinearTerm]:
    """The nonlinear terms of ``stack`` in the order they apply (the matrix first, then the
    coolants, whose heat the matrix's links carry, then the sources); none for a linear stack.
    ``coolants`` starts the coolant temperatures (default: each inlet's)."""
    terms: list[NonlinearTerm] = []
    if stack.temperature_dependent_materials:
        terms.append(ConductivityAtTemperature(stack, grid))
    if stack.coolants:
        terms.append(CoolantWarming(stack, dict(coolants or {})))
    leaking = leakage_terms(stack, grid)
    if leaking:
        terms.append(LeakagePower(leaking, power_field(stack, grid)))
    return terms


def freeze(system: System, terms: list[NonlinearTerm], field: np.ndarray | None) -> System:
    """``system`` with every one of ``terms`` frozen at ``field``, in order."""
    for term in terms:
        system = term.freeze(system, field)
    return system


def changes_matrix(terms: list[NonlinearTerm]) -> bool:
    """Whether any of ``terms`` makes the matrix depend on the temperature."""
    return any(term.changes_matrix for term in terms)
