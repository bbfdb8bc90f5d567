"""How many threads chiptherm's numerical libraries use.

On a shared machine the libraries' own defaults (one thread per core for BLAS, OpenMP and
torch) oversubscribe: thousands of small operations then wait on thread barriers while other
processes hold the cores. Measured on a 2-core machine (``benchmarks/threads.py``), one thread is
never much slower and often several times faster, so chiptherm runs on
:data:`DEFAULT_THREADS` unless told otherwise: by ``--threads N`` on a command, by the
environment variable ``CHIPTHERM_THREADS``, or by :func:`set_threads` in Python.

:func:`set_threads` limits, in one call, the BLAS and OpenMP pools already loaded (through
threadpoolctl), those loaded later (their environment variables), torch's intra-op pool and
the workers of scipy's FFTs in the transform solver.
"""

from __future__ import annotations

import os
import sys

from chiptherm.errors import InputError

ENVIRONMENT = "CHIPTHERM_THREADS"
"""Environment variable with the default thread count of every command."""

DEFAULT_THREADS = 1
"""Threads when neither ``--threads`` nor :data:`ENVIRONMENT` says otherwise (see the module
docstring for why one)."""

LIBRARY_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""What BLAS, OpenMP and torch read when they start their pools."""

_threads: int | None = None


def requested_threads(threads: int | None = None) -> int:
    """``threads`` if given, else :data:`ENVIRONMENT`, else :data:`DEFAULT_THREADS`.

    Raises:
        InputError: a count below 1, or an environment value that is not a whole number.
    """
    if threads is None:
        text = os.environ.get(ENVIRONMENT, "").strip()
        if not text:
            return DEFAULT_THREADS
        try:
            threads = int(text)
        except ValueError:
            raise InputError(
                f"{ENVIRONMENT}={text!r}: expected a whole number of threads"
            ) from None
    if threads < 1:
        raise InputError(f"threads: expected at least 1, got {threads}")
    return threads


def set_threads(threads: int | None = None) -> int:
    """Use ``threads`` threads (see :func:`requested_threads`) from now on; returns the count."""
    global _threads
    count = requested_threads(threads)
    for name in LIBRARY_VARIABLES:
        os.environ[name] = str(count)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=count)
    if "torch" in sys.modules:  # torch imported later reads OMP_NUM_THREADS
        torch = sys.modules["torch"]
        if torch.get_num_threads() != count:
            torch.set_num_threads(count)
    _threads = count
    return count


def fft_workers() -> int:
    """Workers for scipy's FFTs: the count of the last :func:`set_threads`, else the requested
    count (the environment's or the default)."""
    return _threads if _threads is not None else requested_threads()
