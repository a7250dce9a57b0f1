"""The fused likelihood in numba: one pass over points × components per parameter vector.

Two entry points, each compiled for exactly one signature (C-contiguous writable float64
arrays and an int64 layout vector) and cached on disk: :func:`loglike_1d` for one-dimensional
data and :func:`loglike_nd` for D >= 2. For every θ row they build the full parameter vector φ
(inserting fixed values), unpack weights, means and covariances, precompute what depends only on
θ (log-weights, Cholesky factors, log-determinants), and then walk through the points in blocks
of ``BLOCK``: for each component a tight loop over the block writes the log-terms and keeps the
running maximum per point, a second loop sums ``exp(term - max)``, and the per-point
``max + log(sum)`` is summed over the block, and block sums go into a compensated (Neumaier)
total. Custom components enter as log-terms of the same blocks: read from ``extra`` (computed in
Python) or, for the built-in families, computed in the kernel from φ and the per-point data
rows that ``extra`` then holds (:mod:`~nestmix.model.kernels._numba_components`). The block
buffers (K_total × BLOCK doubles) are the only temporaries, so memory does not grow with N, and
the block loops are simple enough for LLVM to vectorise (exp and log are written out in
arithmetic; divisions follow numpy's error model so that they do not branch).

:func:`loglike_1d_parallel` and :func:`loglike_nd_parallel` are the same kernels with the blocks
of each θ row spread over numba's threads (``prange`` over chunks of blocks, each chunk with its
own block buffers): every block's sum is stored and the sums are added in block order with the
same compensation, so they return the serial kernels' values exactly, whatever the number of
threads. Both variants call the same per-block functions (:func:`_block_1d`, :func:`_block_nd`).

With per-point measurement covariances the total covariance Σ_k + S_i differs for every pair;
its determinant enters as a factor 1/sqrt(det) on the exponential rather than as a logarithm,
so a pair costs one square root and one exponential. The stabilising maximum is then taken over
log w_k - ½ r^T (Σ_k + S_i)^{-1} r; the term that attains it contributes its factor (between
1e-155 and 1e162 for representable variances) times one, so the sum neither overflows nor loses
the dominant term.

Conventions (shared with the numpy fallback and the reference densities of
:mod:`nestmix.components.gaussian`): a component whose covariance is not positive definite, or
whose weight is zero, contributes nothing; so does a pair whose log-density is NaN because an
intermediate overflowed (inf - inf: the true density underflows to zero); a point that no
component can produce makes the log-likelihood -inf; a θ with a non-finite entry or a negative
weight gives -inf.

The work is split by job: :mod:`~nestmix.model.kernels._numba_layout` (the layout vector and φ),
:mod:`~nestmix.model.kernels._numba_math` (exp, log, Cholesky),
:mod:`~nestmix.model.kernels._numba_components` (the built-in custom components) and
:mod:`~nestmix.model.kernels._numba_blocks` (the sums); this module holds the kernels, and the
digest of those modules' sources (:mod:`nestmix.model.kernels.numba_digest`), so that numba's
cache of the kernels goes stale when they change.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from nestmix.model.kernels._numba_blocks import (
    add_compensated,
    block_value,
    combine_blocks,
    extra_terms,
)
from nestmix.model.kernels._numba_components import clusters_nd, components_1d
from nestmix.model.kernels._numba_layout import (
    CORR_OFF,
    MEAN_OFF,
    N_CORR,
    N_SETS,
    N_WEIGHTS,
    WITH_CORR,
    D,
    K,
    n_compiled,
    prepare,
    variance,
)
from nestmix.model.kernels._numba_math import cholesky, solve_norm2

# The helpers' digest: regenerate with `python -m nestmix.model.kernels.numba_digest --write`.
_HELPER_DIGEST = "sha256:5a5a1f4e7149b047709dfc01de25dc3588bd9cf6ea277d56378cdc2b70b13981"

BLOCK = 256
# At most this many chunks of blocks in the parallel kernels (one task of a thread each, with
# its own block buffers; many, so that threads that finish early take another). The result does
# not depend on it, nor on the number of threads.
MAX_CHUNKS = 64

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_INF = np.inf
_JIT = {"cache": True, "error_model": "numpy"}
_PARALLEL = {**_JIT, "parallel": True}


@njit(**_JIT)
def _theta_1d(row, source, fixed, lay, errors, phi, logw, mu, var, const, inv_sd, use):
    """What the 1-D kernels precompute for one θ row (φ, log-weights, per-component means,
    variances, constants); False for a θ whose likelihood is zero."""
    if not prepare(row, source, fixed, lay, phi, logw):
        return False
    for j in range(lay[K]):
        mu[j] = phi[lay[MEAN_OFF] + j]
        v = variance(phi, lay, 0 if lay[N_SETS] == 1 else j, 0)
        var[j] = v
        finite = v > -_INF and v < _INF if errors else v > 0.0 and v < _INF
        use[j] = logw[j] > -_INF and finite
        const[j] = logw[j] - _HALF_LOG_2PI
        if use[j] and not errors:
            const[j] -= 0.5 * math.log(v)
            inv_sd[j] = 1.0 / math.sqrt(v)  # finite even for subnormal v, unlike 1 / v
    return True


@njit(**_JIT)
def _block_1d(r, i0, nb, lay, y, s2, extra, log_bg, phi, logw, mu, var, const, inv_sd, use,
              terms, factor, peak, sums):
    """One block of the 1-D likelihood for θ row ``r``, as (ok, sum) (:func:`block_value`);
    ok is False too where a compiled custom component is NaN or +inf."""
    k = lay[K]
    errors = s2.shape[0] > 0
    for i in range(nb):
        peak[i] = -_INF
    for j in range(k):
        row = terms[j]
        fac = factor[j]
        if not use[j]:
            for i in range(nb):
                row[i] = -_INF
                fac[i] = 0.0
            continue
        m, c, v0, w = mu[j], const[j], var[j], inv_sd[j]
        if errors:
            for i in range(nb):
                v = v0 + s2[i0 + i]
                ok = (v > 0.0) & (v < _INF)
                scale = 1.0 / math.sqrt(v)
                z = (y[i0 + i] - m) * scale
                t = c - 0.5 * z * z
                t = t if ok & (t > -_INF) else -_INF
                row[i] = t
                fac[i] = scale if ok else 0.0
                peak[i] = peak[i] if peak[i] >= t else t
        else:
            for i in range(nb):
                z = (y[i0 + i] - m) * w
                t = c - 0.5 * z * z
                t = t if t > -_INF else -_INF
                row[i] = t
                fac[i] = 1.0
                peak[i] = peak[i] if peak[i] >= t else t
    if n_compiled(lay) > 0 and not components_1d(phi, lay, y, s2, extra, i0, nb, logw,
                                                    terms, factor, peak):
        return False, 0.0
    extra_terms(r, i0, nb, lay, logw, extra, log_bg, terms, factor, peak)
    return block_value(nb, lay[N_WEIGHTS] + 1, terms, factor, peak, sums)


@njit(**_JIT)
def loglike_1d(theta, source, fixed, lay, y, s2, extra, log_bg, out):
    """Log-likelihoods of 1-D data for the θ rows of ``theta`` (written to ``out``).

    ``s2`` holds the per-point measurement variances, or is empty for exact values.
    """
    n = y.shape[0]
    k = lay[K]
    n_terms = lay[N_WEIGHTS] + 1
    errors = s2.shape[0] > 0
    phi = np.empty(source.shape[0])
    logw = np.empty(n_terms)
    mu = np.empty(k)
    var = np.empty(k)
    const = np.empty(k)
    inv_sd = np.empty(k)
    use = np.zeros(k, dtype=np.bool_)
    terms = np.empty((n_terms, BLOCK))
    factor = np.ones((n_terms, BLOCK))
    peak = np.empty(BLOCK)
    sums = np.empty(BLOCK)
    acc = np.empty(2)
    for r in range(theta.shape[0]):
        if not _theta_1d(theta[r], source, fixed, lay, errors, phi, logw, mu, var, const,
                         inv_sd, use):
            out[r] = -_INF
            continue
        acc[0] = 0.0
        acc[1] = 0.0
        alive = True
        for i0 in range(0, n, BLOCK):
            ok, value = _block_1d(r, i0, min(BLOCK, n - i0), lay, y, s2, extra, log_bg, phi,
                                  logw, mu, var, const, inv_sd, use, terms, factor, peak, sums)
            if not (ok and add_compensated(acc, value)):
                alive = False
                break
        value = acc[0] + acc[1]
        out[r] = value if alive and value == value else -_INF


@njit(**_PARALLEL)
def loglike_1d_parallel(theta, source, fixed, lay, y, s2, extra, log_bg, out):
    """:func:`loglike_1d` with the blocks of each θ row spread over numba's threads.

    The blocks are cut into at most ``MAX_CHUNKS`` chunks, each with its own block buffers;
    every block's sum is stored and the sums are then added in block order with the same
    compensation as the serial kernel, so the result is the serial kernel's, whatever the
    number of threads.
    """
    n = y.shape[0]
    k = lay[K]
    n_terms = lay[N_WEIGHTS] + 1
    errors = s2.shape[0] > 0
    n_blocks = (n + BLOCK - 1) // BLOCK
    n_chunks = max(1, min(n_blocks, MAX_CHUNKS))
    phi = np.empty(source.shape[0])
    logw = np.empty(n_terms)
    mu = np.empty(k)
    var = np.empty(k)
    const = np.empty(k)
    inv_sd = np.empty(k)
    use = np.zeros(k, dtype=np.bool_)
    ok = np.zeros(n_blocks, dtype=np.bool_)
    values = np.zeros(n_blocks)
    for r in range(theta.shape[0]):
        if not _theta_1d(theta[r], source, fixed, lay, errors, phi, logw, mu, var, const,
                         inv_sd, use):
            out[r] = -_INF
            continue
        for c in prange(n_chunks):
            terms = np.empty((n_terms, BLOCK))
            factor = np.ones((n_terms, BLOCK))
            peak = np.empty(BLOCK)
            sums = np.empty(BLOCK)
            for b in range(c * n_blocks // n_chunks, (c + 1) * n_blocks // n_chunks):
                i0 = b * BLOCK
                good, value = _block_1d(r, i0, min(BLOCK, n - i0), lay, y, s2, extra, log_bg,
                                        phi, logw, mu, var, const, inv_sd, use, terms, factor,
                                        peak, sums)
                ok[b] = good
                values[b] = value
        out[r] = combine_blocks(ok, values)


@njit(**_JIT)
def _set_covariances(phi, lay, cov):
    """Intrinsic covariance matrices of the scale sets, shape (n_sets, D, D)."""
    d = lay[D]
    n_corr = lay[N_CORR]
    for s in range(lay[N_SETS]):
        for a in range(d):
            for b in range(d):
                cov[s, a, b] = 0.0
        if lay[WITH_CORR]:
            t = 0
            for a in range(d):
                sa = math.sqrt(variance(phi, lay, s, a))
                cov[s, a, a] = sa * sa
                for b in range(a + 1, d):
                    sb = math.sqrt(variance(phi, lay, s, b))
                    c = phi[lay[CORR_OFF] + s * n_corr + t] * sa * sb
                    cov[s, a, b] = c
                    cov[s, b, a] = c
                    t += 1
        else:
            for a in range(d):
                cov[s, a, a] = variance(phi, lay, s, a)


@njit(**_JIT)
def _theta_nd(row, source, fixed, lay, errors, phi, logw, mu, cov, chol, const, use):
    """What the N-D kernels precompute for one θ row (φ, log-weights, means, covariances,
    Cholesky factors without measurement errors); False for a θ whose likelihood is zero."""
    if not prepare(row, source, fixed, lay, phi, logw):
        return False
    k = lay[K]
    d = lay[D]
    for j in range(k):
        for a in range(d):
            mu[j, a] = phi[lay[MEAN_OFF] + j * d + a]
    if k:
        _set_covariances(phi, lay, cov)
    for j in range(k):
        use[j] = logw[j] > -_INF
        const[j] = logw[j] - d * _HALF_LOG_2PI
        if not errors and use[j]:
            use[j] = cholesky(cov[0 if lay[N_SETS] == 1 else j], chol[j])
            if use[j]:
                for a in range(d):
                    const[j] -= math.log(chol[j, a, a])
    return True


@njit(**_JIT)
def _block_nd(r, i0, nb, lay, y, point_cov, extra, log_bg, phi, logw, mu, cov, chol, const,
              use, terms, factor, peak, sums, total_cov, low, resid, z):
    """One block of the N-D likelihood for θ row ``r``, as (ok, sum) (:func:`block_value`);
    ``total_cov``, ``low``, ``resid`` and ``z`` are scratch space."""
    d = lay[D]
    k = lay[K]
    errors = point_cov.shape[2] > 0
    for i in range(nb):
        peak[i] = -_INF
    for j in range(k):
        row = terms[j]
        fac = factor[j]
        for i in range(nb):
            row[i] = -_INF
            fac[i] = 0.0
        if not use[j]:
            continue
        c = const[j]
        sc = cov[0 if lay[N_SETS] == 1 else j]
        if not errors and d == 2:
            # z = L^{-1} r with L = [[l00, 0], [l10, l11]]
            a00 = 1.0 / chol[j, 0, 0]
            a11 = 1.0 / chol[j, 1, 1]
            a10 = -chol[j, 1, 0] * a00 * a11
            m0, m1 = mu[j, 0], mu[j, 1]
            for i in range(nb):
                r0 = y[0, i0 + i] - m0
                r1 = y[1, i0 + i] - m1
                z0 = r0 * a00
                z1 = r0 * a10 + r1 * a11
                t = c - 0.5 * (z0 * z0 + z1 * z1)
                t = t if t > -_INF else -_INF  # inf - inf from overflow: NaN
                row[i] = t
                fac[i] = 1.0
                peak[i] = peak[i] if peak[i] >= t else t
        elif not errors:
            for i in range(nb):
                for a in range(d):
                    resid[a] = y[a, i0 + i] - mu[j, a]
                t = c - 0.5 * solve_norm2(chol[j], resid, z)
                t = t if t > -_INF else -_INF
                row[i] = t
                fac[i] = 1.0
                peak[i] = peak[i] if peak[i] >= t else t
        elif d == 2:
            c00, c01, c11 = sc[0, 0], sc[0, 1], sc[1, 1]
            m0, m1 = mu[j, 0], mu[j, 1]
            for i in range(nb):
                p = c00 + point_cov[0, 0, i0 + i]
                q = c01 + point_cov[0, 1, i0 + i]
                s = c11 + point_cov[1, 1, i0 + i]
                det = p * s - q * q
                ok = (det > 0.0) & (p > 0.0) & (det < _INF)
                r0 = y[0, i0 + i] - m0
                r1 = y[1, i0 + i] - m1
                t = c - 0.5 * (s * r0 * r0 - 2.0 * q * r0 * r1 + p * r1 * r1) / det
                t = t if ok & (t > -_INF) else -_INF
                row[i] = t
                fac[i] = 1.0 / math.sqrt(det) if ok else 0.0
                peak[i] = peak[i] if peak[i] >= t else t
        else:
            for i in range(nb):
                for a in range(d):
                    resid[a] = y[a, i0 + i] - mu[j, a]
                    for b in range(d):
                        total_cov[a, b] = sc[a, b] + point_cov[a, b, i0 + i]
                if not cholesky(total_cov, low):
                    continue
                t = c - 0.5 * solve_norm2(low, resid, z)
                f = 1.0
                for a in range(d):
                    f /= low[a, a]
                if not (f > 0.0 and f < _INF):  # det under- or overflows: use logs
                    for a in range(d):
                        t -= math.log(low[a, a])
                    f = 1.0
                if not t > -_INF:
                    continue
                row[i] = t
                fac[i] = f
                peak[i] = peak[i] if peak[i] >= t else t
    if n_compiled(lay) > 0:
        clusters_nd(phi, lay, y, point_cov, i0, nb, logw, terms, factor, peak, total_cov, low,
                     resid, z)
    extra_terms(r, i0, nb, lay, logw, extra, log_bg, terms, factor, peak)
    return block_value(nb, lay[N_WEIGHTS] + 1, terms, factor, peak, sums)


@njit(**_JIT)
def loglike_nd(theta, source, fixed, lay, y, point_cov, extra, log_bg, out):
    """Log-likelihoods of D-dimensional data (D >= 2) for the θ rows of ``theta``.

    ``y`` holds the values by dimension, shape (D, N); ``point_cov`` the measurement
    covariances as (D, D, N), or empty (D, D, 0) for exact values.
    """
    n = y.shape[1]
    d = lay[D]
    k = lay[K]
    n_terms = lay[N_WEIGHTS] + 1
    errors = point_cov.shape[2] > 0
    phi = np.empty(source.shape[0])
    logw = np.empty(n_terms)
    mu = np.empty((k, d))
    cov = np.empty((max(lay[N_SETS], 1), d, d))
    chol = np.zeros((k, d, d))
    const = np.empty(k)
    use = np.zeros(k, dtype=np.bool_)
    total_cov = np.empty((d, d))
    low = np.zeros((d, d))
    resid = np.empty(d)
    z = np.empty(d)
    terms = np.empty((n_terms, BLOCK))
    factor = np.ones((n_terms, BLOCK))
    peak = np.empty(BLOCK)
    sums = np.empty(BLOCK)
    acc = np.empty(2)
    for r in range(theta.shape[0]):
        if not _theta_nd(theta[r], source, fixed, lay, errors, phi, logw, mu, cov, chol, const,
                         use):
            out[r] = -_INF
            continue
        acc[0] = 0.0
        acc[1] = 0.0
        alive = True
        for i0 in range(0, n, BLOCK):
            ok, value = _block_nd(r, i0, min(BLOCK, n - i0), lay, y, point_cov, extra, log_bg,
                                  phi, logw, mu, cov, chol, const, use, terms, factor, peak,
                                  sums, total_cov, low, resid, z)
            if not (ok and add_compensated(acc, value)):
                alive = False
                break
        value = acc[0] + acc[1]
        out[r] = value if alive and value == value else -_INF


@njit(**_PARALLEL)
def loglike_nd_parallel(theta, source, fixed, lay, y, point_cov, extra, log_bg, out):
    """:func:`loglike_nd` with the blocks of each θ row spread over numba's threads (as
    :func:`loglike_1d_parallel`: the same result as the serial kernel)."""
    n = y.shape[1]
    d = lay[D]
    k = lay[K]
    n_terms = lay[N_WEIGHTS] + 1
    errors = point_cov.shape[2] > 0
    n_blocks = (n + BLOCK - 1) // BLOCK
    n_chunks = max(1, min(n_blocks, MAX_CHUNKS))
    phi = np.empty(source.shape[0])
    logw = np.empty(n_terms)
    mu = np.empty((k, d))
    cov = np.empty((max(lay[N_SETS], 1), d, d))
    chol = np.zeros((k, d, d))
    const = np.empty(k)
    use = np.zeros(k, dtype=np.bool_)
    ok = np.zeros(n_blocks, dtype=np.bool_)
    values = np.zeros(n_blocks)
    for r in range(theta.shape[0]):
        if not _theta_nd(theta[r], source, fixed, lay, errors, phi, logw, mu, cov, chol, const,
                         use):
            out[r] = -_INF
            continue
        for c in prange(n_chunks):
            terms = np.empty((n_terms, BLOCK))
            factor = np.ones((n_terms, BLOCK))
            peak = np.empty(BLOCK)
            sums = np.empty(BLOCK)
            total_cov = np.empty((d, d))
            low = np.zeros((d, d))
            resid = np.empty(d)
            z = np.empty(d)
            for b in range(c * n_blocks // n_chunks, (c + 1) * n_blocks // n_chunks):
                i0 = b * BLOCK
                good, value = _block_nd(r, i0, min(BLOCK, n - i0), lay, y, point_cov, extra,
                                        log_bg, phi, logw, mu, cov, chol, const, use, terms,
                                        factor, peak, sums, total_cov, low, resid, z)
                ok[b] = good
                values[b] = value
        out[r] = combine_blocks(ok, values)

