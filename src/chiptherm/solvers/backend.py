"""Where the solvers run: numpy on the host, or torch tensors on a device (CPU or CUDA).

The multigrid cycle, batched conjugate gradients, the matrix-free 7-point operator and the
transform solver are written once over array operations (the Python array API, through
``array_api_compat``), so one code runs on numpy arrays and on torch tensors. On the host
chiptherm keeps scipy's sparse matrices, LU and FFTs where they are faster; on a device every
operation stays there and only the right-hand sides and answers cross.

A device is named as torch names it: ``cpu`` (torch on the host's cores, used to test the
device path without a GPU), ``cuda``, ``cuda:1``; ``numpy`` (the default) is the host path.
:func:`using_device` makes a device the default of every solver built inside it (what
``--device`` does for a whole command); ``make_solver(..., device=...)`` names one directly.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import array_api_compat
import numpy as np

from chiptherm.errors import InputError

HOST = "numpy"
"""The name of the host path: numpy arrays, scipy's sparse matrices."""

DEVICE_METHODS = ("transform", "cg-mg", "cg-transform")
"""The methods that run on a torch device."""

_default: contextvars.ContextVar[str] = contextvars.ContextVar("chiptherm_device", default=HOST)


def namespace(*arrays: Any) -> ModuleType:
    """The array-API namespace of ``arrays`` (numpy's or torch's, through array_api_compat)."""
    return array_api_compat.array_namespace(*arrays)


def is_host(a: Any) -> bool:
    """Whether ``a`` is a numpy array (else a torch tensor)."""
    return isinstance(a, np.ndarray)


def resolve(name: str | None = None) -> Any:
    """The torch device named ``name`` (default: the one :func:`using_device` set), or None for
    the host path.

    Raises:
        InputError: an unknown device name, a CUDA device torch cannot see, or torch missing.
    """
    name = (name or _default.get()).strip()
    if name in (HOST, "host", ""):
        return None
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        raise InputError(f"device {name!r} needs torch; install it or use --device numpy") from None
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(
            f"unknown device {name!r}; expected numpy (the host), cpu, cuda or cuda:N"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(
                f"device {name!r}: torch {torch.__version__} sees no CUDA device "
                "(a CPU-only build, or no GPU on this machine); use --device numpy"
            )
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise InputError(
                f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) visible"
            )
    elif device.type != "cpu":
        raise InputError(f"device {name!r}: chiptherm's solvers run on numpy, cpu or cuda")
    return device


def default_device() -> str:
    """The device name solvers are built for when none is given ('numpy' unless inside
    :func:`using_device`)."""
    return _default.get()


@contextlib.contextmanager
def using_device(name: str | None) -> Iterator[None]:
    """Build every solver inside this block on device ``name`` (None keeps the current one).

    The name is checked on entry, so a bad ``--device`` is refused before any work.
    """
    if name is None:
        yield
        return
    resolve(name)
    token = _default.set(name)
    try:
        yield
    finally:
        _default.reset(token)


def to_device(a: np.ndarray, device: Any, dtype: Any = None) -> Any:
    """``a`` as a torch tensor on ``device`` (float64 unless ``dtype`` says otherwise), or
    unchanged (as ``dtype``) when ``device`` is None."""
    if device is None:
        return a if dtype is None else np.asarray(a, dtype=dtype)
    import torch

    return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype or torch.float64, device=device)


def to_numpy(a: Any) -> np.ndarray:
    """``a`` as a numpy float64 array (copied off its device)."""
    if is_host(a):
        return np.asarray(a, dtype=float)
    return a.detach().to("cpu").double().numpy()


def pair_sums(a: Any, axis: int) -> Any:
    """Sums of neighbouring pairs of ``a`` along ``axis`` (-1 or -2); an odd last one alone."""
    xp = namespace(a)

    def along(s: slice) -> tuple[Any, ...]:
        return (Ellipsis, s) if axis == -1 else (Ellipsis, s, slice(None))

    out = xp.asarray(a[along(slice(0, None, 2))], copy=True)
    odd = a[along(slice(1, None, 2))]
    out[along(slice(0, odd.shape[axis]))] += odd
    return out
