"""A general thermal conductance network: nodes, links, links to ambient, injected power.

Used where the model is not a tensor-grid stack (HotSpot's package nodes). The system is
G·T = P + G_amb·T_amb with G symmetric positive definite when any node links to ambient.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from chiptherm.discretize.system import EnergyBalance
from chiptherm.solvers.direct import DirectSolver


@dataclass
class Network:
    """A conductance network under construction; call :meth:`solve` when complete.

    Conductances in W/K, power in W, temperatures in K.
    """

    n_nodes: int
    power: np.ndarray = field(init=False)
    _i: list[np.ndarray] = field(default_factory=list, init=False)
    _j: list[np.ndarray] = field(default_factory=list, init=False)
    _g: list[np.ndarray] = field(default_factory=list, init=False)
    _amb_node: list[np.ndarray] = field(default_factory=list, init=False)
    _amb_g: list[np.ndarray] = field(default_factory=list, init=False)
    _amb_t: list[np.ndarray] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.power = np.zeros(self.n_nodes)

    def link(
        self, i: np.ndarray | int, j: np.ndarray | int, resistance: np.ndarray | float
    ) -> None:
        """Connect nodes i and j (arrays broadcast) through ``resistance`` in K/W."""
        i, j, r = np.broadcast_arrays(np.atleast_1d(i), np.atleast_1d(j), np.atleast_1d(resistance))
        self._i.append(i.ravel().astype(np.int64))
        self._j.append(j.ravel().astype(np.int64))
        self._g.append(1.0 / r.ravel().astype(float))

    def to_ambient(
        self, i: np.ndarray | int, resistance: np.ndarray | float, temperature: float
    ) -> None:
        """Connect nodes i to a fixed ambient temperature (K) through ``resistance`` (K/W)."""
        i, r = np.broadcast_arrays(np.atleast_1d(i), np.atleast_1d(resistance))
        self._amb_node.append(i.ravel().astype(np.int64))
        self._amb_g.append(1.0 / r.ravel().astype(float))
        self._amb_t.append(np.full(i.size, float(temperature)))

    def _ambient(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.concatenate(self._amb_node),
            np.concatenate(self._amb_g),
            np.concatenate(self._amb_t),
        )

    def matrix(self) -> sp.csr_array:
        """Assembled conductance matrix G (N, N), W/K."""
        i, j, g = np.concatenate(self._i), np.concatenate(self._j), np.concatenate(self._g)
        ai, ag, _ = self._ambient()
        rows = np.concatenate([i, j, i, j, ai])
        cols = np.concatenate([j, i, i, j, ai])
        vals = np.concatenate([-g, -g, g, g, ag])
        n = self.n_nodes
        return sp.coo_array((vals, (rows, cols)), shape=(n, n)).tocsr()

    def rhs(self) -> np.ndarray:
        """P + G_amb·T_amb, W."""
        ai, ag, at = self._ambient()
        b = self.power.copy()
        np.add.at(b, ai, ag * at)
        return b

    def energy_balance(self, temperature: np.ndarray) -> EnergyBalance:
        """Power in against heat out to ambient."""
        ai, ag, at = self._ambient()
        out = float(np.sum(ag * (temperature[ai] - at)))
        p_in = float(self.power.sum())
        scale = max(float(np.abs(self.power).sum()), abs(out), 1e-300)
        return EnergyBalance(p_in, out, {"ambient": out}, abs(p_in - out) / scale)

    def solve(self) -> np.ndarray:
        """Node temperatures (N,), K, by sparse LU."""
        b = self.rhs()
        x, _ = DirectSolver(self.matrix()).solve(b)
        return x
