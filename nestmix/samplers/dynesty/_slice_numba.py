"""dynesty's ``slice`` proposal compiled with numba, for models whose prior and likelihood are.

:func:`slice_sample` is dynesty 3.1's ``SliceSampler.sample`` (with ``generic_slice_step`` and
``_slice_doubling_accept``, ``dynesty/internal_samplers.py``) written out statement by statement
in numba: the same stepping-out and shrinkage (Neal 2003), the same switch to the doubling
procedure after more than 1 000 expansions, the same random numbers drawn in the same order
from the same ``numpy.random.Generator`` (numba draws from a Generator passed in exactly as
numpy does). Each proposal calls the compiled prior plan (:func:`nestmix.priors._compiled.
run_plan`) and the fused likelihood kernel (:mod:`nestmix.model.kernels._numba_impl`) directly,
which are the functions :class:`~nestmix.model.MixtureModel` calls, so a run gives bit for bit the
result of dynesty's own slice sampler — without dynesty's Python cost per likelihood call
(a closure, ``unitcheck``, a history record and the prior and likelihood wrappers: about
10 µs, more than the likelihood itself at a few hundred points).

The 1-D and N-D kernels take arrays of different ranks, so :func:`_loglike` picks one at
compile time; each data case gets one compiled, cached signature. numba's cache of this file
knows its source only, not that of the prior plan and kernels compiled into it: the digest of
their sources below (:mod:`nestmix.model.kernels.numba_digest`) is written again after they
change, which changes this file.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from nestmix.model.kernels._numba_impl import (
    loglike_1d,
    loglike_1d_parallel,
    loglike_nd,
    loglike_nd_parallel,
)
from nestmix.priors._compiled import run_plan

# The helpers' digest: regenerate with `python -m nestmix.model.kernels.numba_digest --write`.
_HELPER_DIGEST = "sha256:af9bdd4120eba8eb210c1c509f33b8c6d2f206e54c52a31719bd95a09e77533d"

#: Expansions of one slice after which dynesty warns and switches to doubling.
EXPANSION_THRESHOLD = 1000
#: ``status`` values of :func:`slice_sample`.
OK, FAILED = 0, 1

_JIT = {"cache": True, "error_model": "numpy"}

#: The last element of ``model`` (:func:`slice_sample`) that selects the serial kernel, and the
#: one that selects its parallel variant. They have different types, so the choice is made when
#: numba compiles: a run compiles (and caches) only the variant it calls, and the parallel one,
#: slow to compile, is compiled only by a run at large N with threads to spare.
SERIAL, PARALLEL = False, np.int8(1)


def _loglike(theta, source, fixed, lay, y, err, extra, log_bg, out,
             variant):  # pragma: no cover
    """Placeholder typed by the overload below (one kernel per data rank, serial or parallel
    by the type of ``variant``: :data:`SERIAL` or :data:`PARALLEL`)."""
    raise NotImplementedError


@overload(_loglike)
def _loglike_overload(theta, source, fixed, lay, y, err, extra, log_bg, out, variant):
    parallel = isinstance(variant, types.Integer)
    if y.ndim == 1:
        kernel = loglike_1d_parallel if parallel else loglike_1d
    else:
        kernel = loglike_nd_parallel if parallel else loglike_nd

    def call(theta, source, fixed, lay, y, err, extra, log_bg, out, variant):
        kernel(theta, source, fixed, lay, y, err, extra, log_bg, out)
    return call


@njit(**_JIT)
def _evaluate(u, x, direction, u_new, buffers, model):
    """dynesty's ``F(x)``: log L at ``u + x * direction`` (``-inf`` outside the cube).

    ``u_new`` receives the point; ``buffers`` are (cube, theta, out) of shapes (1, n), (1, n),
    (1,); ``model`` is (ops, params, source, fixed, lay, y, err, extra, log_bg, variant), the
    last :data:`SERIAL` or :data:`PARALLEL`: which variant of the kernel (the same values).
    """
    inside = True
    for j in range(u.shape[0]):
        u_new[j] = u[j] + x * direction[j]
        if not (u_new[j] > 0.0 and u_new[j] < 1.0):  # NaN is outside, as in unitcheck
            inside = False
    if not inside:
        return -np.inf
    cube, theta, out = buffers
    ops, params, source, fixed, lay, y, err, extra, log_bg, variant = model
    cube[0, :] = u_new
    run_plan(cube, ops, params, theta)
    _loglike(theta, source, fixed, lay, y, err, extra, log_bg, out, variant)
    return out[0]


@njit(**_JIT)
def _doubling_accepts(x1, loglstar, interval, u, direction, u_new, buffers, model):
    """dynesty's ``_slice_doubling_accept`` (Neal 2003, algorithm 6); returns (accepted,
    calls made). ``interval`` is (L, R, f(L), f(R)) after the doubling."""
    lhat, rhat, f_lhat, f_rhat = interval
    calls = 0
    seen = False
    while rhat - lhat > 1.1:
        middle = (lhat + rhat) / 2.0
        if (0 < middle <= x1) or (x1 < middle <= 0):
            seen = True
        if x1 < middle:
            rhat = middle
            f_rhat = _evaluate(u, rhat, direction, u_new, buffers, model)
        else:
            lhat = middle
            f_lhat = _evaluate(u, lhat, direction, u_new, buffers, model)
        calls += 1
        if seen and loglstar >= f_lhat and loglstar >= f_rhat:
            return False, calls
    return True, calls


@njit(**_JIT)
def slice_sample(u, loglstar, directions, slices, doubling, rng, model):
    """One new live point by ``slices`` rounds of slice sampling along ``directions``.

    Parameters
    ----------
    u : ndarray, shape (n,)
        Starting point in the unit cube (a copy of a live point); not modified.
    loglstar : float
        The likelihood bound.
    directions : ndarray, shape (n, n)
        dynesty's ``scale * axes.T``, each row already divided by ``dirnorm`` (done by the
        caller with ``numpy.linalg.norm``, as dynesty does).
    slices : int
    doubling : bool
        Start in doubling mode (dynesty's ``slice_doubling``).
    rng : numpy.random.Generator
    model : tuple
        ``(ops, params)`` of the compiled prior plan followed by the likelihood kernel's
        ``(source, fixed, lay, y, err, extra, log_bg)`` and :data:`SERIAL` or :data:`PARALLEL`:
        which variant of the kernel to call (:mod:`nestmix.runtime.threads`; the same values).

    Returns
    -------
    u_prop, v_prop : ndarray, shape (n,)
    logl_prop : float
    ncall, n_expand, n_contract : int
    warnings_expanded : int
        Slices expanded more than :data:`EXPANSION_THRESHOLD` times (dynesty warns for each).
    doubling_switched : bool
        Doubling was switched on during this call (dynesty's ``expansion_warning_set``).
    status : int
        :data:`OK`, or :data:`FAILED` where dynesty raises "Slice sampler has failed to find a
        valid point"; the outputs then hold the failing state.
    """
    n = u.shape[0]
    cur = u.copy()
    u_new = np.empty(n)
    u_prop = np.empty(n)
    buffers = (np.empty((1, n)), np.empty((1, n)), np.empty(1))
    nc = 0
    n_expand_total = 0
    n_contract_total = 0
    warnings_expanded = 0
    switched = False
    logl_prop = -np.inf
    for _ in range(slices):
        idxs = np.arange(n)
        rng.shuffle(idxs)
        for idx in idxs:
            direction = directions[idx]
            n_expand = 0
            n_contract = 0
            rand0 = rng.random()
            nstep_l = -rand0
            nstep_r = 1.0 - rand0
            logl_l = _evaluate(cur, nstep_l, direction, u_new, buffers, model)
            logl_r = _evaluate(cur, nstep_r, direction, u_new, buffers, model)
            nc += 2
            expansion_warning = False
            interval = (0.0, 0.0, 0.0, 0.0)
            if not doubling:  # stepping out
                while logl_l > loglstar:
                    nstep_l -= 1
                    logl_l = _evaluate(cur, nstep_l, direction, u_new, buffers, model)
                    nc += 1
                    n_expand += 1
                while logl_r > loglstar:
                    nstep_r += 1
                    logl_r = _evaluate(cur, nstep_r, direction, u_new, buffers, model)
                    nc += 1
                    n_expand += 1
                if n_expand > EXPANSION_THRESHOLD:
                    expansion_warning = True
                    warnings_expanded += 1
            else:
                k = 1
                while logl_l > loglstar or logl_r > loglstar:
                    if rng.random() < 0.5:
                        nstep_l -= nstep_r - nstep_l
                        logl_l = _evaluate(cur, nstep_l, direction, u_new, buffers, model)
                    else:
                        nstep_r += nstep_r - nstep_l
                        logl_r = _evaluate(cur, nstep_r, direction, u_new, buffers, model)
                    nc += 1
                    n_expand += k
                    k *= 2
                interval = (nstep_l, nstep_r, logl_l, logl_r)
            while True:  # shrinkage
                nstep_prop = nstep_l + rng.random() * (nstep_r - nstep_l)
                logl_prop = _evaluate(cur, nstep_prop, direction, u_new, buffers, model)
                nc += 1
                u_prop[:] = u_new
                n_contract += 1
                accepted = logl_prop > loglstar
                if accepted and doubling:
                    accepted, calls = _doubling_accepts(nstep_prop, loglstar, interval, cur,
                                                        direction, u_new, buffers, model)
                    nc += calls
                if accepted:
                    break
                if nstep_prop < 0:
                    nstep_l = nstep_prop
                elif nstep_prop > 0:
                    nstep_r = nstep_prop
                else:
                    return (u_prop, u_prop.copy(), logl_prop, nc, n_expand_total + n_expand,
                            n_contract_total + n_contract, warnings_expanded, switched, FAILED)
            cur[:] = u_prop
            n_expand_total += n_expand
            n_contract_total += n_contract
            if expansion_warning and not doubling:
                switched = True
                doubling = True
    cube, theta, _ = buffers
    cube[0, :] = u_prop
    run_plan(cube, model[0], model[1], theta)
    return (u_prop, theta[0].copy(), logl_prop, nc, n_expand_total, n_contract_total,
            warnings_expanded, switched, OK)
