"""Pools that spread one dynesty run over many cores: worker processes, or a Dask cluster.

dynesty hands its pool batches of work (``pool.map(func, items)``: initial live points,
``queue_size`` proposals at a time); every item refers to the likelihood and the prior
transform. Sending the model (and its data) with every item would cost more than a cheap
likelihood, so the sampler is given light stand-ins (:class:`ProblemMethod`) that pickle to a
token; each worker gets the model once and looks it up by that token. Use a pool only when one
likelihood call costs much more than the round trip to a worker (milliseconds, not
microseconds).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nestmix.errors import SamplerError

__all__ = ["DaskPool", "ProblemMethod", "ProcessPool", "check_pool", "install", "make_token",
           "open_pool"]

_PROBLEMS: dict[str, Any] = {}


def make_token(key: str | None = None) -> str:
    """A token naming one problem in the workers: derived from ``key`` (e.g. the run's work
    directory and seed, so a run continued from its checkpoint finds its problem again), or
    random."""
    if key is None:
        return uuid.uuid4().hex
    import hashlib

    return hashlib.sha256(key.encode()).hexdigest()[:32]


def install(token: str, problem: Any) -> None:
    """Make ``problem`` the one :class:`ProblemMethod` s named ``token`` call in this process."""
    _PROBLEMS[token] = problem


class ProblemMethod:
    """``problem.<method>`` called through a token, so it pickles to a few bytes.

    Parameters
    ----------
    token : str
    method : str
        ``log_likelihood`` or ``prior_transform``.
    problem : object, optional
        The problem itself, where it is at hand (the sampling process).
    """

    def __init__(self, token: str, method: str, problem: Any = None) -> None:
        self.token = token
        self.method = method
        self._problem = problem

    def __call__(self, x):
        problem = self._problem if self._problem is not None else _PROBLEMS.get(self.token)
        if problem is None:
            raise RuntimeError(f"no problem installed under {self.token!r} in this process "
                               "(a pool worker that was not initialised)")
        return getattr(problem, self.method)(x)

    def __reduce__(self):
        return ProblemMethod, (self.token, self.method)


def check_pool(value: Any) -> None:
    """Raise SamplerError unless ``value`` is a usable ``pool`` setting."""
    if value is None or value == "dask":
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SamplerError(f"dynesty setting 'pool' must be a number of processes (>= 1) or "
                           f"'dask', got {value!r}")
    from nestmix.runtime.cpuload import available_cores

    if value > available_cores():
        raise SamplerError(f"dynesty setting 'pool' must be at most the {available_cores()} "
                           f"cores of this machine, got {value}")


def _install_blob(token: str, blob: bytes) -> None:
    import signal

    import cloudpickle

    from nestmix.runtime.backend import single_threaded_blas
    from nestmix.runtime.lifeline import watch_parent

    watch_parent()  # a pool process dies with the run that started it
    # Ctrl-C signals the whole process group: the run answers it between two iterations
    # (nestmix.samplers.dynesty.interrupt), so its pool must finish the batch it is computing
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    single_threaded_blas()  # for the life of the worker, not as a context
    install(token, cloudpickle.loads(blob))


class ProcessPool:
    """``processes`` worker processes on this machine (joblib's loky executor), each holding
    the problem and limited to one BLAS thread.

    Attributes
    ----------
    size : int
        Number of processes (dynesty's default ``queue_size``).
    """

    def __init__(self, processes: int, token: str, problem: Any) -> None:
        import cloudpickle
        from joblib.externals.loky import ProcessPoolExecutor

        from nestmix.runtime.backend import BLAS_ENV
        from nestmix.runtime.threads import child_environment

        self.size = int(processes)
        self._executor = ProcessPoolExecutor(
            max_workers=self.size, initializer=_install_blob,
            initargs=(token, cloudpickle.dumps(problem)),
            env={**BLAS_ENV, **child_environment(self.size)})  # the run's cores, split

    def map(self, func, items) -> list:
        """``[func(item) for item in items]``, computed by the workers."""
        return list(self._executor.map(func, list(items)))

    def close(self) -> None:
        """Stop the worker processes."""
        self._executor.shutdown(wait=True)


def _call(problem: Any, token: str, func, item):
    from nestmix.runtime.threads import run_share

    if token not in _PROBLEMS:
        install(token, problem)
    with run_share(None, limit=1):  # a Dask worker's threads each compute one item
        return func(item)


def _identity(value: Any) -> Any:
    return value


class DaskPool:
    """The workers of a Dask cluster; the problem is sent to the cluster once.

    Parameters
    ----------
    client : distributed.Client
        Inside a task running on the cluster, the one from ``distributed.worker_client()``.
    token : str
    problem : object
    size : int, optional
        Default ``queue_size``: the cluster's total number of worker threads.
    """

    def __init__(self, client: Any, token: str, problem: Any, size: int | None = None) -> None:
        self._client = client
        self._token = token
        self._problem = client.submit(_identity, problem, pure=False,
                                      key=f"nestmix-problem-{token}-{uuid.uuid4().hex[:8]}")
        threads = sum(client.nthreads().values())
        self.size = int(size or max(1, threads))

    def map(self, func, items) -> list:
        """``[func(item) for item in items]``, one Dask task per item."""
        items = list(items)
        futures = self._client.map(_call, [self._problem] * len(items),
                                   [self._token] * len(items), [func] * len(items), items,
                                   pure=False)
        return self._client.gather(futures)

    def close(self) -> None:
        """Release the problem held by the cluster."""
        self._client.cancel([self._problem])


@contextmanager
def open_pool(setting: Any, token: str, problem: Any) -> Iterator[Any]:
    """The pool a ``pool`` setting asks for, as a context: None (no pool) for None or 1, a
    :class:`ProcessPool` for a number of processes, a :class:`DaskPool` for ``"dask"``
    (only inside a task running on a Dask cluster). The problem is installed under ``token``
    in this process too.

    Raises
    ------
    SamplerError
        For ``"dask"`` outside a Dask worker.
    """
    check_pool(setting)
    install(token, problem)
    try:
        if setting is None or setting == 1:
            yield None
        elif setting != "dask":
            pool = ProcessPool(setting, token, problem)
            try:
                yield pool
            finally:
                pool.close()
        else:
            with _worker_client() as client:
                spread = DaskPool(client, token, problem)
                try:
                    yield spread
                finally:
                    spread.close()
    finally:
        _PROBLEMS.pop(token, None)


def _worker_client():
    try:
        from distributed import get_worker, worker_client

        get_worker()
    except (ImportError, ValueError) as exc:
        raise SamplerError("dynesty setting pool = 'dask' only works in a sweep that runs on a "
                           "Dask cluster (--dask ADDRESS)") from exc
    return worker_client()
