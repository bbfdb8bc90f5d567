"""Power-map distributions for training and evaluation.

Every distribution draws batches of power-density maps, shape (n, ny, nx) in W/m², on a case's
sensor grid (uniform cells over the chip, index 0 = south/west). A map is piecewise constant on
those cells: it is exactly what the branch network reads, what the physics loss injects, and what
the reference solver receives (as W per cell), so training and checking use one and the same map.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from chiptherm.description.settings import Settings
from chiptherm.discretize.grid import overlap_1d
from chiptherm.errors import InputError


def squared_exponential_factor(n: int, length_scale: float) -> np.ndarray:
    """(n, n) matrix L with L·Lᵀ = the squared-exponential covariance of n cell centres on [0, 1]
    (from a symmetric eigendecomposition, so it is well defined although the covariance is
    numerically singular)."""
    c = (np.arange(n) + 0.5) / n
    cov = np.exp(-0.5 * ((c[:, None] - c[None, :]) / length_scale) ** 2)
    values, vectors = np.linalg.eigh(cov)
    return vectors * np.sqrt(np.clip(values, 0.0, None))


class GaussianField(Settings):
    """Gaussian random field with a squared-exponential covariance, sampled exactly.

    The covariance of the cell centres is a Kronecker product of one matrix per axis, so a map is
    L_y · Z · L_xᵀ with Z standard normal: two small matrix products per map.

    Attributes:
        length_scale: correlation length as a fraction of the chip side (per axis).
        amplitude: standard deviation, W/m².
        mean: mean power density, W/m².
    """

    kind: Literal["grf"] = "grf"
    """Selects this distribution."""
    length_scale: float = Field(default=0.3, gt=0)
    amplitude: float = Field(default=2000.0, ge=0)
    mean: float = 0.0

    def sample(
        self, n: int, size: tuple[float, float], sensors: tuple[int, int], rng: np.random.Generator
    ) -> np.ndarray:
        ny, nx = sensors
        lx = squared_exponential_factor(nx, self.length_scale)
        ly = squared_exponential_factor(ny, self.length_scale)
        z = rng.standard_normal((n, ny, nx))
        return self.mean + self.amplitude * (ly @ z @ lx.T)


class RandomBlocks(Settings):
    """Rectangular power blocks at random positions and sizes (overlap allowed).

    Attributes:
        count: blocks per map.
        watts: the powers to choose from (uniformly), W.
        size: [min, max] block side as a fraction of the chip side.
    """

    kind: Literal["blocks"] = "blocks"
    """Selects this distribution."""
    count: int = Field(default=10, ge=1, le=1000)
    watts: list[Annotated[float, Field(gt=0)]] = Field(default=[0.5e-3, 1e-3, 2e-3], min_length=1)
    size: tuple[float, float] = (0.05, 0.3)

    @model_validator(mode="after")
    def _check(self) -> RandomBlocks:
        lo, hi = self.size
        if not 0 < lo <= hi <= 1:
            raise ValueError(
                "size must be [min, max] with 0 < min <= max <= 1 (fractions of the side)"
            )
        return self

    def rectangles(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, count, 5) blocks as fractions of the side: x0, y0, width, height, and watts."""
        lo, hi = self.size
        w = rng.uniform(lo, hi, (n, self.count))
        h = rng.uniform(lo, hi, (n, self.count))
        x0 = rng.uniform(0, 1, (n, self.count)) * (1 - w)
        y0 = rng.uniform(0, 1, (n, self.count)) * (1 - h)
        p = rng.choice(np.asarray(self.watts), (n, self.count))
        return np.stack([x0, y0, w, h, p], axis=-1)

    def sample(
        self, n: int, size: tuple[float, float], sensors: tuple[int, int], rng: np.random.Generator
    ) -> np.ndarray:
        return rasterize_blocks(self.rectangles(n, rng), size, sensors)


def rasterize_blocks(
    blocks: np.ndarray, size: tuple[float, float], sensors: tuple[int, int]
) -> np.ndarray:
    """Power density (n, ny, nx) in W/m² of blocks (n, count, 5) = x0, y0, w, h (fractions), W.

    Each block's power is spread over the cells it overlaps in proportion to the overlap area.
    """
    ny, nx = sensors
    lx, ly = size
    xe, ye = np.linspace(0, 1, nx + 1), np.linspace(0, 1, ny + 1)
    out = np.zeros((blocks.shape[0], ny, nx))
    cell_area = lx * ly / (nx * ny)
    for i, batch in enumerate(blocks):
        for x0, y0, w, h, watts in batch:
            fx = overlap_1d(xe, x0, x0 + w) / w
            fy = overlap_1d(ye, y0, y0 + h) / h
            out[i] += watts * np.outer(fy, fx)
    return out / cell_area


class MapFiles(Settings):
    """Maps read from .npy files (W per cell of any uniform grid over the chip), drawn at random."""

    kind: Literal["files"] = "files"
    """Selects this distribution."""
    paths: list[str] = Field(min_length=1)
    """Files or glob patterns, relative to the config file."""
    base_dir: str = "."
    """Set by the reader: the config file's folder."""

    def files(self) -> list[Path]:
        found: list[Path] = []
        for pattern in self.paths:
            full = pattern if Path(pattern).is_absolute() else str(Path(self.base_dir) / pattern)
            found += [Path(p) for p in sorted(glob.glob(full))]
        if not found:
            raise InputError(f"no power-map files match {self.paths} (relative to {self.base_dir})")
        return found

    def sample(
        self, n: int, size: tuple[float, float], sensors: tuple[int, int], rng: np.random.Generator
    ) -> np.ndarray:
        from chiptherm.discretize.grid import resample_matrix

        files = self.files()
        ny, nx = sensors
        lx, ly = size
        out = np.empty((n, ny, nx))
        for i, k in enumerate(rng.integers(0, len(files), n)):
            watts = load_map(files[k])
            my, mx = watts.shape
            rx = resample_matrix(np.linspace(0, lx, mx + 1), np.linspace(0, lx, nx + 1))
            ry = resample_matrix(np.linspace(0, ly, my + 1), np.linspace(0, ly, ny + 1))
            out[i] = ry @ watts @ rx.T / (lx * ly / (nx * ny))
        return out


def read_npy(path: str | Path, mmap: bool = False) -> np.ndarray:
    """The array in a .npy file (memory-mapped, read on use, with ``mmap``); a clear error for
    a missing file, another format or bad data."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            magic = f.read(6)
        if magic != b"\x93NUMPY":
            what = "an .npz archive" if magic.startswith(b"PK") else "not a NumPy .npy file"
            raise InputError(f"{what}; save the map(s) with numpy.save", source=str(path))
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except FileNotFoundError:
        raise InputError("power map file does not exist", source=str(path)) from None
    except InputError:
        raise
    except Exception as exc:  # numpy raises many kinds for a bad file
        raise InputError(f"cannot read as .npy: {exc}", source=str(path)) from None


def checked_maps(arr: np.ndarray, path: str | Path, dims: tuple[int, ...]) -> np.ndarray:
    """``arr`` as power maps in W per cell, if it has one of ``dims`` dimensions, is numeric and
    finite (the error names ``path`` and, for a stack of maps, the first bad one). A memory-map
    stays one: it is checked map by map, not loaded."""
    if arr.ndim not in dims or not np.issubdtype(arr.dtype, np.number) or arr.size == 0:
        shape = "(ny, nx)" if dims == (2,) else "(ny, nx) or a stack (N, ny, nx)"
        raise InputError(
            f"expected a numeric array {shape} of W per cell, got shape {arr.shape} "
            f"dtype {arr.dtype}",
            source=str(path),
        )
    stack = arr.reshape(-1, *arr.shape[-2:])
    for i in range(stack.shape[0]):
        if not np.isfinite(stack[i]).all():
            which = "" if arr.ndim == 2 else f" (map {i} of the stack)"
            raise InputError(f"power map contains NaN or infinite values{which}", source=str(path))
    return arr if isinstance(arr, np.memmap) else arr.astype(float)


def load_map(path: str | Path) -> np.ndarray:
    """A (ny, nx) power map in W per cell from a .npy file, checked."""
    return checked_maps(read_npy(path), path, (2,))


def load_maps(path: str | Path) -> np.ndarray:
    """(N, ny, nx) power maps in W per cell from a .npy file holding one map or a stack,
    checked; memory-mapped, so a large stack is read map by map when used."""
    arr = checked_maps(read_npy(path, mmap=True), path, (2, 3))
    return arr[None] if arr.ndim == 2 else arr


class Mixture(Settings):
    """Each map drawn from one of several distributions, chosen with the given weights."""

    kind: Literal["mixture"] = "mixture"
    """Selects this distribution."""
    parts: list[Annotated[GaussianField | RandomBlocks | MapFiles, Field(discriminator="kind")]] = (
        Field(min_length=1)
    )
    weights: list[Annotated[float, Field(ge=0)]] | None = None
    """Probability of each part (equal if absent)."""

    @model_validator(mode="after")
    def _check(self) -> Mixture:
        if self.weights is not None and (
            len(self.weights) != len(self.parts) or sum(self.weights) <= 0
        ):
            raise ValueError("weights must have one non-negative entry per part, not all zero")
        return self

    def sample(
        self, n: int, size: tuple[float, float], sensors: tuple[int, int], rng: np.random.Generator
    ) -> np.ndarray:
        w = np.ones(len(self.parts)) if self.weights is None else np.asarray(self.weights)
        choice = rng.choice(len(self.parts), n, p=w / w.sum())
        out = np.empty((n, *sensors))
        for k, part in enumerate(self.parts):
            idx = np.flatnonzero(choice == k)
            if idx.size:
                out[idx] = part.sample(idx.size, size, sensors, rng)
        return out


Distribution = Annotated[
    GaussianField | RandomBlocks | MapFiles | Mixture, Field(discriminator="kind")
]
