"""Many independent tasks: run one after another in this process, or on a Dask cluster.

Chip-thermal work is mostly many independent solves: the points of a sweep, the samples of a
Monte Carlo, the unit blocks of a resistance matrix. :func:`run_tasks` runs one function over
a list of items wherever a :class:`Cluster` says:

- nowhere given (the default): one after another in this process, as before;
- ``Cluster(workers=N)``: an embedded ``dask.distributed.LocalCluster`` of N worker processes
  on this machine, each pinned to ``threads`` threads (so N workers of one thread never
  oversubscribe N cores), started for the run and closed after it;
- ``Cluster(scheduler="tcp://host:8786")``, or the environment variable
  :data:`SCHEDULER_ENVIRONMENT`: an existing cluster (``dask scheduler`` and ``dask worker``
  started by hand, or dask-jobqueue on SLURM), which stays up.

Results come back in the items' order, whichever worker finished first. A task that raises
one of the ``expected`` errors does not stop the others: its place holds a
:class:`TaskFailure` naming the item and the error, and the caller decides (a sweep records
the point and goes on). Dask reschedules a task whose worker dies on another worker. Ctrl-C
cancels the cluster's tasks and is raised again, so a command leaves no partial output.

Tasks carry validated data (a :class:`~chiptherm.description.stack.Stack`, arrays), never
solver objects; what is expensive to rebuild for the same matrix is kept by each worker
process (:func:`worker_cache`), so it is built once per worker, not once per task. Dask is an
optional dependency (``pip install 'chiptherm[cluster]'``), imported only when a cluster is
used.
"""

from __future__ import annotations

import contextlib
import os
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from chiptherm.errors import InputError

SCHEDULER_ENVIRONMENT = "CHIPTHERM_SCHEDULER"
"""Environment variable with the address of a Dask scheduler every command uses by default."""

INSTALL_HINT = "pip install 'chiptherm[cluster]'"

Item = TypeVar("Item")


@dataclass(frozen=True)
class TaskFailure:
    """The place of a task that raised: its item's index, the error's type and message."""

    index: int
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass(frozen=True)
class Cluster:
    """Where tasks run: ``workers`` processes of an embedded local cluster, or the cluster at
    ``scheduler`` (given up on after ``timeout_s`` s without an answer); ``threads`` threads
    for each task's numerical libraries."""

    workers: int | None = None
    scheduler: str | None = None
    threads: int = 1
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.workers is not None and self.scheduler is not None:
            raise InputError("--workers and --scheduler: give one (a local cluster or an address)")
        if self.workers is not None and self.workers < 1:
            raise InputError(f"--workers: expected at least 1, got {self.workers}")
        if self.threads < 1:
            raise InputError(f"threads per worker: expected at least 1, got {self.threads}")

    @classmethod
    def from_options(
        cls, workers: int | None = None, scheduler: str | None = None, threads: int = 1
    ) -> Cluster | None:
        """The cluster a command's ``--workers`` / ``--scheduler`` ask for (the scheduler
        defaulting to :data:`SCHEDULER_ENVIRONMENT`), or None to run in this process."""
        if workers is None and scheduler is None:
            scheduler = os.environ.get(SCHEDULER_ENVIRONMENT, "").strip() or None
        if workers is None and scheduler is None:
            return None
        return cls(workers, scheduler, threads)

    def describe(self) -> str:
        """One phrase for a command's output: where the tasks ran."""
        if self.scheduler is not None:
            return f"the Dask cluster at {self.scheduler}"
        return f"a local Dask cluster of {self.workers} worker process(es)"


def on_cluster(where: Cluster | Runner | None) -> bool:
    """Whether tasks sent to ``where`` (as :func:`run_tasks` takes it) run on a cluster, not
    one after another in this process."""
    return (where.cluster if isinstance(where, Runner) else where) is not None


def run_tasks(
    function: Callable[[Item], Any],
    items: Sequence[Item],
    cluster: Cluster | Runner | None = None,
    on_done: Callable[[int, int], None] | None = None,
    expected: tuple[type[BaseException], ...] = (Exception,),
) -> list[Any]:
    """``function(item)`` for every item, in the items' order, in this process (``cluster``
    None) or on ``cluster`` (a :class:`Cluster` connected to for this run, or an open
    :class:`Runner`); ``function`` must be a module-level function (it is pickled).

    A task raising one of ``expected`` yields a :class:`TaskFailure` in its place; any other
    error stops the run. ``on_done`` is told (done, total) as tasks finish.
    """
    if isinstance(cluster, Runner):
        return cluster.run(function, items, on_done, expected)
    with Runner(cluster) as runner:
        return runner.run(function, items, on_done, expected)


class Runner:
    """One connection to ``cluster`` (None: this process) kept open for several runs of
    tasks, where each run needs the results of the one before: the generations of a search,
    the batches of predictions to check. A local cluster starts once, on entry, and closes on
    exit; each worker keeps its :func:`worker_cache` from run to run."""

    def __init__(self, cluster: Cluster | None) -> None:
        self.cluster = cluster
        self._client: Any = None
        self._exits = contextlib.ExitStack()

    def __enter__(self) -> Runner:
        if self.cluster is not None:
            self._client = self._exits.enter_context(connect(self.cluster))
        return self

    def __exit__(self, *exc: object) -> None:
        self._client = None
        self._exits.close()

    def run(
        self,
        function: Callable[[Item], Any],
        items: Sequence[Item],
        on_done: Callable[[int, int], None] | None = None,
        expected: tuple[type[BaseException], ...] = (Exception,),
    ) -> list[Any]:
        """``function(item)`` for every item, in order, as :func:`run_tasks` does."""
        if self.cluster is not None:
            if self._client is None:
                raise RuntimeError("Runner.run outside its with-block")
            return _gather(self._client, function, items, on_done, expected, self.cluster.threads)
        results = []
        for index, item in enumerate(items):
            results.append(_guarded(function, index, item, expected))
            if on_done is not None:
                on_done(index + 1, len(items))
        return results


def _guarded(
    function: Callable[[Item], Any],
    index: int,
    item: Item,
    expected: tuple[type[BaseException], ...],
    threads: int | None = None,
) -> Any:
    """``function(item)``, or a :class:`TaskFailure` if it raises one of ``expected``; on a
    worker, the thread pools are first pinned to ``threads``."""
    global _pinned
    if threads is not None and threads != _pinned:  # once per worker: threadpoolctl takes ms
        from chiptherm.threads import set_threads

        _pinned = set_threads(threads)
    try:
        return function(item)
    except expected as exc:
        message = str(exc) or traceback.format_exception_only(exc)[-1].strip()
        return TaskFailure(index, type(exc).__name__, message)


def _gather(
    client: Any,
    function: Callable[[Item], Any],
    items: Sequence[Item],
    on_done: Callable[[int, int], None] | None,
    expected: tuple[type[BaseException], ...],
    threads: int,
) -> list[Any]:
    """Submit every item to ``client``, report completions, return results in order; Ctrl-C
    cancels what is still queued or running. Each task pins its worker's thread pools to
    ``threads`` first."""
    from distributed import as_completed

    futures = [
        client.submit(_guarded, function, i, item, expected, threads, pure=False)
        for i, item in enumerate(items)
    ]
    try:
        for done, _ in enumerate(as_completed(futures), start=1):
            if on_done is not None:
                on_done(done, len(futures))
        return client.gather(futures)
    except BaseException:
        client.cancel(futures)
        raise


@contextlib.contextmanager
def connect(cluster: Cluster) -> Iterator[Any]:
    """A ``distributed.Client`` for ``cluster``: a LocalCluster started for the block (and
    closed after it), or a connection to a running scheduler.

    Raises:
        InputError: dask.distributed is not installed, or the scheduler cannot be reached.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError(
            f"running on a Dask cluster needs dask.distributed; install it with {INSTALL_HINT}"
        ) from None
    if cluster.scheduler is not None:
        try:
            client = Client(cluster.scheduler, timeout=f"{cluster.timeout_s}s")
        except (OSError, TimeoutError) as exc:
            raise InputError(
                f"Dask scheduler {cluster.scheduler} (from --scheduler or "
                f"{SCHEDULER_ENVIRONMENT}): no answer ({exc})"
            ) from None
        with client:
            yield client
        return
    import dask

    pinned = {name: str(cluster.threads) for name in _THREAD_VARIABLES}
    # dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536, which turns off glibc's
    # adaptive mmap threshold: every large numpy temporary is then mapped and faulted in
    # afresh, and a two_die solve at 120 x 120 took 165 ms in a worker against 86 ms here
    # (90 ms with the variable unset)
    unset = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
    with dask.config.set(unset):
        local = LocalCluster(
            n_workers=cluster.workers,
            threads_per_worker=1,
            processes=True,
            # the scheduler's HTTP server on a free local port: with None it still takes
            # 8787, and a second command running beside the first warns that it is taken
            dashboard_address="127.0.0.1:0",
            env=pinned | {"CHIPTHERM_THREADS": str(cluster.threads)},
        )
    with local, Client(local) as client:
        yield client


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_pinned: int | None = None
"""The thread count this process's pools were pinned to by a task (None: not yet)."""

_cache: dict[Any, Any] = {}


def worker_cache(key: Any, build: Callable[[], Any]) -> Any:
    """What ``build()`` returns, built once per process for ``key`` (a hashable description of
    what it depends on, e.g. the stack's JSON and the solver's name) and kept for the tasks
    that follow on the same worker (or, serially, in this process). The cache holds the last
    four keys."""
    if key not in _cache:
        while len(_cache) >= 4:
            _cache.pop(next(iter(_cache)))
        _cache[key] = build()
    return _cache[key]
