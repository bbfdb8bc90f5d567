"""Effective media: a layer with material regions (TSVs, pillars) as one anisotropic material.

For a layer whose base material k_m holds regions of other materials, each covering an area
fraction f_i of the layer (counted on the stack's own grid, as the solver paints them):

- through the layer (z), the regions are columns side by side, so the conductances add:
  k_z = (1 - Σ f_i)·k_m,z + Σ f_i·k_i,z  (exact for columns that span the layer);
- in the plane (x, y), the regions are inclusions in the base material: the two-dimensional
  Maxwell Garnett rule, (k - k_m) / (k + k_m) = Σ f_i·(k_i - k_m) / (k_i + k_m), per axis.

The result is laterally uniform, which operator cases need (``case.homogenize``). It is an
approximation: the confidence score and the refinement judge predictions of such a model
against the true stack, regions and all.
"""

from __future__ import annotations

import numpy as np

from chiptherm.description.stack import Layer, Material, Stack
from chiptherm.discretize.grid import Grid
from chiptherm.errors import InputError


def area_fractions(stack: Stack, layer: Layer, grid: Grid) -> dict[str, float]:
    """Material name -> share of the layer's area, painted on ``grid`` as the solver does
    (regions in order, later ones over earlier ones)."""
    names = [layer.material] + [region.material for region in layer.regions]
    index = np.zeros(grid.shape[1:], dtype=int)  # (ny, nx) position in ``names``
    for k, region in enumerate(layer.regions, start=1):
        index[grid.region_mask(region)] = k
    shares: dict[str, float] = {}
    for k, name in enumerate(names):
        shares[name] = shares.get(name, 0.0) + float(np.mean(index == k))
    return shares


def effective_conductivity(
    stack: Stack, base: str, shares: dict[str, float]
) -> tuple[float, float, float]:
    """(kx, ky, kz), W/(m·K), of ``base`` holding the other materials of ``shares``."""
    km = np.asarray(stack.material(base).conductivity, dtype=float)
    total = np.zeros(3)
    polarization = np.zeros(3)
    for name, share in shares.items():
        k = np.asarray(stack.material(name).conductivity, dtype=float)
        total += share * k
        if name != base:
            polarization += share * (k - km) / (k + km)
    lateral = km * (1.0 + polarization) / (1.0 - polarization)
    return float(lateral[0]), float(lateral[1]), float(total[2])


def homogenized(stack: Stack) -> Stack:
    """``stack`` with every layer that holds regions made of one effective material named
    '<layer> effective'; the stack itself when no layer holds regions."""
    if not any(layer.regions for layer in stack.layers):
        return stack
    for layer in (la for la in stack.layers if la.regions):
        names = [layer.material] + [r.material for r in layer.regions]
        dependent = [n for n in dict.fromkeys(names) if stack.material(n).is_temperature_dependent]
        if dependent:
            raise InputError(
                f"layer {layer.name!r}: effective media are defined for constant "
                f"conductivities, and that of {', '.join(map(repr, dependent))} depends on "
                "the temperature"
            )
    grid = Grid.from_stack(stack)
    materials = dict(stack.materials)
    layers = []
    for layer in stack.layers:
        if not layer.regions:
            layers.append(layer)
            continue
        name = f"{layer.name} effective"
        shares = area_fractions(stack, layer, grid)
        materials[name] = Material(
            conductivity=effective_conductivity(stack, layer.material, shares)
        )
        layers.append(layer.model_copy(update={"material": name, "regions": []}))
    return stack.model_copy(update={"materials": materials, "layers": layers})
