"""A problem as UltraNest calls it: batched functions, a seeded global generator, no chatter.

UltraNest calls its prior transform and likelihood with arrays of points (``vectorized=True``)
and draws every random number from numpy's global generator (it takes no generator of its
own); it logs to standard output through the ``ultranest`` logger and prints when it makes a
directory. These helpers adapt nestmix's problems and keep the global state as it was.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from nestmix.errors import ModelError
from nestmix.samplers.base import LikelihoodProblem

__all__ = ["LOGL_FLOOR", "batched_functions", "noticed_warnings", "quiet",
           "seeded_global_generator"]

#: What a log-likelihood of -inf is passed to UltraNest as (UltraNest refuses non-finite
#: values; its own "safe" wrapper uses the same floor).
LOGL_FLOOR = -1e100


def batched_functions(problem: LikelihoodProblem) -> tuple[Callable[[np.ndarray], np.ndarray],
                                                           Callable[[np.ndarray], np.ndarray]]:
    """The problem's prior transform and log-likelihood over arrays of shape (n, ndim).

    A problem with ``log_likelihood_batch`` (a :class:`~nestmix.model.MixtureModel`) is
    evaluated a batch at a time, and so is its prior transform when it maps an (n, ndim) array
    to one of the same shape (checked once, on two points); anything else point by point.

    Returns
    -------
    transform, loglike : callables
        ``transform(u)`` of shape (n, ndim) → θ of shape (n, ndim); ``loglike(θ)`` → (n,),
        with -inf replaced by :data:`LOGL_FLOOR`.

    Raises
    ------
    nestmix.errors.ModelError
        From ``loglike``, when the likelihood is NaN or +inf at a point.
    """
    ndim = int(problem.ndim)

    def rowwise_transform(u: np.ndarray) -> np.ndarray:
        return np.array([problem.prior_transform(row) for row in u], dtype=float).reshape(
            len(u), ndim)

    transform = rowwise_transform
    try:
        probe = np.asarray(problem.prior_transform(np.full((2, ndim), 0.5)), dtype=float)
    except Exception:  # a transform of single points only
        probe = None
    if probe is not None and probe.shape == (2, ndim):
        def batch_transform(u: np.ndarray) -> np.ndarray:
            return np.asarray(problem.prior_transform(u), dtype=float)

        transform = batch_transform

    batch = getattr(problem, "log_likelihood_batch", None)

    def loglike(theta: np.ndarray) -> np.ndarray:
        if batch is not None:
            logl = np.array(batch(theta), dtype=float).reshape(len(theta))
        else:
            logl = np.array([problem.log_likelihood(row) for row in theta], dtype=float)
        bad = np.isnan(logl) | (logl == np.inf)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ModelError(f"the log-likelihood is {logl[i]} at θ = {theta[i]}")
        logl[logl == -np.inf] = LOGL_FLOOR
        return logl

    return transform, loglike


@contextlib.contextmanager
def seeded_global_generator(seed: int) -> Iterator[None]:
    """numpy's global generator seeded with ``seed`` (folded into [0, 2**32)) inside, and put
    back as it was afterwards: UltraNest draws from it and takes no generator of its own."""
    # the only global-generator calls in nestmix: UltraNest has no other way to be seeded
    state = np.random.get_state()  # noqa: NPY002
    np.random.seed(int(seed) % 2**32)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Around the making of a sampler: UltraNest's logger gets a handler that drops everything
    (UltraNest adds its own, to standard output and to the first run directory's
    ``debug.log``, only to a logger without handlers), and the line it prints when it makes a
    directory is swallowed. (With ``show_status=False`` a run prints nothing itself.)"""
    logger = logging.getLogger("ultranest")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
    with contextlib.redirect_stdout(io.StringIO()):
        yield


@contextlib.contextmanager
def noticed_warnings() -> Iterator[list[str]]:
    """The warnings UltraNest gives inside (e.g. that sampling from its region has become
    inefficient), as a list of lines for the run's ``warnings``; other warnings are given on
    as usual."""
    noticed: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield noticed
    for item in caught:
        if Path(item.filename).parent.name == "ultranest":
            line = f"UltraNest: {item.message}"
            if line not in noticed:
                noticed.append(line)
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
