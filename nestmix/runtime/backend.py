"""How the numbers are computed: the switches that choose compiled or plain code, and the
thread limits of numerical libraries.

Two environment variables change how nestmix computes (not what: a run's evidence is the same
up to floating-point rounding, and with the parallel kernel bit for bit):

``NESTMIX_KERNEL``
    ``auto`` (default: numba when it is installed), ``numba`` or ``numpy``: the likelihood
    kernels (:mod:`nestmix.model.kernels`) and the compiled prior transforms.
``NESTMIX_PARALLEL_KERNEL``
    ``auto`` (default: a likelihood over at least 10⁴ points spreads its points over the run's
    share of the cores, :mod:`nestmix.runtime.threads`), ``0``, ``false``, ``no`` or ``off`` for the
    serial kernel always, or a number of threads at most.

They are read here and nowhere else, and :func:`recorded_switches` gives their values in effect
for a run, which the sweep writes into the run's ``run.json`` (key ``backend``), together with
the run's sampler's own switches
(:meth:`nestmix.samplers.base.SamplerAdapter.recorded_switches`; dynesty's
``NESTMIX_COMPILED_SLICE``: :mod:`nestmix.samplers.dynesty.switches`).

Parallel workers run with BLAS and OpenMP limited to one thread each, so that ``n`` workers use
``n`` cores: :data:`BLAS_ENV` for processes about to start, :func:`limit_threads_in_environment`
for this process before numerical libraries load, :func:`single_threaded_blas` for libraries
already loaded.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import MutableMapping
from typing import Any

from nestmix.errors import ModelError

__all__ = ["BACKENDS", "BLAS_ENV", "KERNEL_ENV", "PARALLEL_KERNEL_ENV",
           "limit_threads_in_environment", "numba_available",
           "parallel_kernel_limit", "path_record", "recorded_switches", "resolve_backend",
           "single_threaded_blas"]

BACKENDS = ("auto", "numba", "numpy")
KERNEL_ENV = "NESTMIX_KERNEL"
PARALLEL_KERNEL_ENV = "NESTMIX_PARALLEL_KERNEL"
BLAS_ENV = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                   "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
                                   "BLIS_NUM_THREADS")}
"""Environment of worker processes: every BLAS and OpenMP pool limited to one thread."""


def numba_available() -> bool:
    """Whether numba is installed (found without importing it, which takes 0.3 s)."""
    try:
        return importlib.util.find_spec("numba") is not None
    except (ImportError, ValueError):
        return False


def resolve_backend(requested: str | None = None) -> str:
    """The likelihood backend to use: ``requested``, else ``$NESTMIX_KERNEL``, else ``auto``.

    ``auto`` means numba when it is importable and numpy otherwise.

    Raises
    ------
    ModelError
        For an unknown name, or ``numba`` asked for when numba is not installed.
    """
    source = "backend" if requested is not None else KERNEL_ENV
    name = requested if requested is not None else os.environ.get(KERNEL_ENV, "auto") or "auto"
    name = name.strip().lower()
    if name not in BACKENDS:
        raise ModelError(f"{source}: unknown likelihood backend {name!r}; valid: "
                         f"{', '.join(BACKENDS)}")
    if name == "auto":
        return "numba" if numba_available() else "numpy"
    if name == "numba" and not numba_available():
        raise ModelError(f"{source}: the numba backend needs numba (pip install numba)")
    return name


def parallel_kernel_limit() -> int | None:
    """``$NESTMIX_PARALLEL_KERNEL`` as a limit on the parallel kernel's threads: None for
    ``auto`` (unset or empty: no limit but the cores), 0 for off.

    Raises
    ------
    ModelError
        For a value that is none of those nor a whole number >= 0.
    """
    text = os.environ.get(PARALLEL_KERNEL_ENV, "").strip().lower()
    if text in ("", "auto"):
        return None
    if text in ("0", "false", "no", "off"):
        return 0
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ModelError(f"{PARALLEL_KERNEL_ENV}: expected auto, 0/off or a number of threads, "
                         f"got {text!r}")
    return value


def recorded_switches() -> dict[str, Any]:
    """The switches in effect, as written into a run's ``run.json``: ``kernel`` (``numba`` or
    ``numpy``) and ``parallel_kernel`` (``auto``, ``off`` or the most threads allowed); the
    sampler adds its own (:meth:`nestmix.samplers.base.SamplerAdapter.recorded_switches`)."""
    limit = parallel_kernel_limit()
    return {"kernel": resolve_backend(),
            "parallel_kernel": "auto" if limit is None else ("off" if limit == 0 else limit)}


def path_record(model: Any) -> dict[str, Any]:
    """What a run's ``run.json`` records of its model's code path (under ``backend``):
    ``compiled_path`` (:attr:`nestmix.model.MixtureModel.compiled_path`) and ``numpy_parts``
    (what ran in Python or numpy instead); empty for a problem that is not a MixtureModel."""
    parts = getattr(model, "numpy_parts", None)
    if parts is None:
        return {}
    return {"compiled_path": not parts, "numpy_parts": list(parts)}


def limit_threads_in_environment(environ: MutableMapping[str, str] | None = None) -> None:
    """Set every variable of :data:`BLAS_ENV` in ``environ`` (default ``os.environ``) that is
    not set already; libraries loaded afterwards (and child processes) use one thread."""
    target = os.environ if environ is None else environ
    for name, value in BLAS_ENV.items():
        target.setdefault(name, value)


def single_threaded_blas() -> Any:
    """A context in which the BLAS/OpenMP pools already loaded use one thread (parallel
    workers must not oversubscribe the cores)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)
