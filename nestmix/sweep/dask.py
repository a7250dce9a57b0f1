"""Run a sweep's tasks on a ``dask.distributed`` cluster.

Every task is a Dask future. The workers write their runs into the sweep directory themselves,
so that directory must be on a file system every worker sees under the same path (checked before
anything is submitted, and after every task). A worker lost in the middle of a task is replaced
by Dask, which runs the task again elsewhere; runs are written atomically and once (see
:meth:`nestmix.store.RunStore.save_run`), so a retried task neither loses nor duplicates a run.
The data and model are sent to the cluster once, as a small task that Dask can recompute if
the worker holding its result is lost.
"""

from __future__ import annotations

import queue
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nestmix.errors import ClusterError
from nestmix.extras import require

__all__ = ["check_worker_versions", "cluster_description", "connect", "matched_packages",
           "run_on_dask"]

CONNECT_TIMEOUT = 20  # seconds to reach a scheduler before giving up
# packages whose version must be the same on every worker as here: nestmix computes the runs and
# their fingerprints, numpy/scipy and the samplers (each adapter's worker_packages) compute the
# numbers (dask.distributed checks its own dependencies itself)
MATCHED_PACKAGES = ("nestmix", "numpy", "scipy")


def _import_distributed():
    require("dask", "running on a Dask cluster")  # the 'dask' extra, named when missing
    import distributed

    return distributed


@contextmanager
def connect(target: Any, timeout: float = CONNECT_TIMEOUT):
    """A ``distributed.Client`` for ``target``: a scheduler address such as
    ``tcp://host:8786`` or a cluster object (``LocalCluster``, dask-jobqueue's
    ``SLURMCluster``; connected here within ``timeout`` seconds, closed afterwards), or an
    existing client (used as is).

    Raises
    ------
    ClusterError
        If no scheduler answers at the address.
    """
    distributed = _import_distributed()
    if isinstance(target, distributed.Client):
        yield target
        return
    target = getattr(target, "scheduler_address", target)  # a cluster object: its scheduler
    if not isinstance(target, str) or not target.strip():
        raise ClusterError(f"a Dask scheduler address looks like tcp://host:8786, got "
                           f"{target!r}")
    _check_address(target.strip())
    try:
        client = distributed.Client(target.strip(), timeout=timeout,
                                    set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {target}: {exc} (is "
                           "`dask scheduler` running there, and the port open?)") from exc
    try:
        yield client
    finally:
        client.close()


def _check_address(address: str) -> None:
    """Refuse a malformed address before a client is made for it (a client made for one
    hangs for its close timeout when the interpreter exits)."""
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        _, location = parse_address(address)
        parse_host_port(location)
    except (ValueError, TypeError) as exc:
        raise ClusterError(f"a Dask scheduler address looks like tcp://host:8786, got "
                           f"{address!r} ({exc})") from None


def cluster_description(client: Any) -> str:
    """``<address> (<n> workers, <m> threads)``."""
    threads = client.nthreads()
    return (f"{client.scheduler.address} ({len(threads)} worker{'s' if len(threads) != 1 else ''}"
            f", {sum(threads.values())} threads)")


def _sees(directory: str, marker: str) -> bool:
    return (Path(directory) / marker).is_file()


def check_shared_directory(client: Any, directory: str | Path, marker: str) -> None:
    """Make sure every worker sees ``directory / marker``.

    Raises
    ------
    ClusterError
        Naming the workers that do not.
    """
    seen = client.run(_sees, str(directory), marker)
    blind = sorted(worker for worker, ok in seen.items() if not ok)
    if blind:
        raise ClusterError(
            f"the Dask worker{'s' if len(blind) > 1 else ''} {', '.join(blind)} cannot see "
            f"the run directory {directory}: it must be on a file system shared by every "
            "worker, under the same path (give --out an absolute path on shared storage)")


def matched_packages(samplers: Sequence[str]) -> tuple[str, ...]:
    """The packages a worker must import at this process's versions to run ``samplers``:
    :data:`MATCHED_PACKAGES` and what each sampler declares
    (:attr:`nestmix.samplers.base.SamplerAdapter.worker_packages`)."""
    from nestmix.samplers import get_sampler

    out = list(MATCHED_PACKAGES)
    for name in samplers:
        out += [p for p in get_sampler(name).worker_packages if p not in out]
    return tuple(out)


def package_versions(packages: Sequence[str] = MATCHED_PACKAGES) -> dict[str, str | None]:
    """The version of each package as imported in this process (None if it is not there)."""
    import importlib

    versions: dict[str, str | None] = {}
    for name in packages:
        try:
            module = importlib.import_module(name)
        except ImportError:
            versions[name] = None
        else:
            versions[name] = str(getattr(module, "__version__", "unknown"))
    return versions


def check_worker_versions(client: Any, packages: Sequence[str] = MATCHED_PACKAGES) -> None:
    """Make sure every worker imports the same versions of ``packages`` as this process.

    A worker with another nestmix (or sampler, numpy, scipy) would write runs that the sweep
    directory's fingerprints say were made here, with numbers this version might not reproduce.
    ``Client.get_versions`` is not used: it reports the installed distributions (a worker
    started before an upgrade still runs the old code) and only warns on a mismatch.

    Raises
    ------
    ClusterError
        Naming each worker and package that differ, with both versions.
    """
    here = package_versions(packages)
    there = client.run(package_versions, tuple(packages))
    differences = [f"{worker} has {name} {found.get(name) or 'not installed'}"
                   for worker, found in sorted(there.items())
                   for name in packages if found.get(name) != here[name]]
    if differences:
        wanted = ", ".join(f"{name} {version}" for name, version in here.items())
        raise ClusterError(
            "the Dask workers must run the versions this machine runs (" + wanted + "), but "
            + "; ".join(differences) + ": install the same versions on the workers")


def _on_worker(func: Callable[..., Any], topic: str, index: int, shared: tuple,
               *args: Any) -> Any:
    """Runs on a worker: announce the start of call ``index``, then make it."""
    from distributed import get_worker

    try:
        get_worker().log_event(topic, {"index": index})
    except Exception:  # progress is a courtesy; the task must run regardless
        pass
    return func(*shared, *args)


def _identity(value: Any) -> Any:
    return value


def run_on_dask(client: Any, func: Callable[..., Any], shared: tuple, args: Sequence[tuple],
                names: Sequence[str], started: Callable[[int, str], None] | None = None,
                ) -> Iterator[tuple[int, Any]]:
    """Call ``func(*shared, *args[i])`` on the cluster for every i, yielding ``(i, result)`` as
    each one finishes.

    Parameters
    ----------
    client : distributed.Client
    func : callable
        A module-level function the workers can import.
    shared : tuple
        Arguments common to every call (sent to the cluster once).
    args : sequence of tuple
        The arguments of each call.
    names : sequence of str
        A readable name per call, used in the Dask task keys.
    started : callable, optional
        Called with (i, worker address) whenever call i starts on a worker (again if Dask
        retries it after losing a worker).

    Raises
    ------
    ClusterError
        If Dask gives up on a call because the workers running it kept dying.
    Exception
        Whatever a call raised; the calls not yet finished are cancelled.
    """
    distributed = _import_distributed()
    token = uuid.uuid4().hex[:12]
    topic = f"nestmix-{token}"
    events: queue.Queue = queue.Queue()
    client.subscribe_topic(topic, events.put)
    shared_future = client.submit(_identity, shared, key=f"nestmix-shared-{token}", pure=False)
    pending = {}
    for i, (call, name) in enumerate(zip(args, names, strict=True)):
        future = client.submit(_on_worker, func, topic, i, shared_future, *call, pure=False,
                               key=f"nestmix-{name}-{token}", priority=-i)
        pending[future] = i
    emit = started or (lambda i, worker: None)

    def drain() -> None:
        while True:
            try:
                _, message = events.get_nowait()
            except queue.Empty:
                return
            emit(int(message["index"]), str(message.get("worker", "")))

    try:
        while pending:
            done = [future for future in pending if future.done()]
            drain()
            if not done:
                time.sleep(0.2)
            for future in done:
                i = pending.pop(future)
                try:
                    result = future.result()
                except distributed.KilledWorker as exc:
                    raise ClusterError(
                        f"Dask gave up on {names[i]}: the workers running it died repeatedly "
                        f"({exc}); finished runs are kept, run the sweep again to resume"
                    ) from None
                yield i, result
        drain()
    except BaseException:
        client.cancel(list(pending))
        raise
    finally:
        client.cancel([shared_future])
        try:
            client.unsubscribe_topic(topic)
        except Exception:  # the client may be closing already
            pass
