"""The built-in custom components computed inside the compiled likelihood kernels.

The densities of :mod:`nestmix.components` (``line``, ``gaussian_outlier``, ``student_t``,
``gaussian_cluster``, ``exponential_space_density``), the same formulas in the same order,
written into the block buffers of :mod:`nestmix.model.kernels._numba_blocks` from φ and the
per-point data rows of ``extra`` (:func:`nestmix.model.kernels.component_table`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from nestmix.model.kernels._numba_layout import (
    FIELDS,
    LAYOUT_SIZE,
    LINE,
    OUTLIER,
    SPACE_DENSITY,
    STUDENT_T,
    D,
    K,
    n_compiled,
)
from nestmix.model.kernels._numba_math import (
    cholesky,
    exp_nonpositive,
    normal_log_density,
    solve_norm2,
)

# The helpers' digest: regenerate with `python -m nestmix.model.kernels.numba_digest --write`.
_HELPER_DIGEST = "sha256:08563fbdac736d1887a6cc332e6ca69eb21789cb3d7c53faa273d65c879d243a"

_LOG_2PI = math.log(2.0 * math.pi)
_INF = np.inf
_JIT: dict[str, Any] = {"cache": True, "error_model": "numpy"}


@njit(**_JIT)
def components_1d(phi, lay, y, s2, data, i0, nb, logw, terms, factor, peak):
    """Log-terms of the compiled custom components (1-D data) for the block at ``i0``.

    The densities of :mod:`nestmix.components` (``line``, ``gaussian_outlier``, ``student_t``,
    ``gaussian_cluster``, ``exponential_space_density``), the same formulas in the same order.
    Returns False when one is NaN or +inf, where the numpy path makes the likelihood zero.
    """
    k = lay[K]
    errors = s2.shape[0] > 0
    for c in range(n_compiled(lay)):
        base = LAYOUT_SIZE + 1 + FIELDS * c
        code, p0, row, option = lay[base], lay[base + 1], lay[base + 2], lay[base + 3]
        lw = logw[k + c]
        out = terms[k + c]
        fac = factor[k + c]
        # the parameters, in the order of each family's ``parameters``
        a = phi[p0]
        b = phi[p0 + 1] if code != SPACE_DENSITY else 0.0
        e = phi[p0 + 2] if code == LINE or code == STUDENT_T else 0.0
        const = 0.0
        if code == STUDENT_T:  # a = mu, b = sigma, e = nu
            const = math.lgamma(0.5 * (e + 1.0)) - math.lgamma(0.5 * e) \
                - 0.5 * math.log(e * math.pi) if e > 0.0 else 0.0
        elif code == OUTLIER:  # a = mu, b = ln_s
            const = math.exp(2.0 * b)
        elif code == SPACE_DENSITY:  # a = L
            if not space_density(a, data, row, option, i0, nb, lw, out, fac, peak):
                return False
            continue
        for i in range(nb):
            v = s2[i0 + i] if errors else 0.0
            if code == LINE:  # a = m, b = b, e = scatter
                t = normal_log_density(y[i0 + i] - (a * data[0, row, i0 + i] + b), v + e * e)
            elif code == OUTLIER:
                t = normal_log_density(y[i0 + i] - a, v + const)
            elif code == STUDENT_T:
                scale2 = b * b
                if option:
                    scale2 = scale2 + v
                resid = y[i0 + i] - a
                if scale2 > 0.0 and e > 0.0:
                    t = const - 0.5 * math.log(scale2) - 0.5 * (e + 1.0) * math.log1p(
                        resid * resid / (e * scale2))
                else:
                    t = -_INF
            else:  # CLUSTER: a = mu, b = sigma
                t = normal_log_density(y[i0 + i] - a, b * b + v)
                t = t if t == t else -_INF  # as gaussian_log_density
            if not t < _INF:  # NaN or +inf
                return False
            t = lw + t
            out[i] = t
            fac[i] = 1.0
            peak[i] = peak[i] if peak[i] >= t else t
    return True


@njit(**_JIT)
def space_density(length, data, row, nodes, i0, nb, lw, out, fac, peak):
    """``exponential_space_density``: log Σ_q exp(A_q - r_q / L) - 3 log L over the nodes,
    A = 3 s + log weights + log-likelihoods and r the distances (rows of ``data``), points in
    the inner loops so that they vectorise; ``out`` and ``fac`` hold the running maximum and
    sum. False for a NaN or +inf."""
    if not length > 0.0:
        for i in range(nb):
            out[i] = -_INF
            fac[i] = 1.0
        return True
    for i in range(nb):
        out[i] = -_INF
        fac[i] = 0.0
    for q in range(nodes):
        top = data[0, row + q]
        dist = data[0, row + nodes + q]
        for i in range(nb):
            s = top[i0 + i] - dist[i0 + i] / length
            out[i] = out[i] if out[i] >= s else s
    for i in range(nb):
        if not (out[i] > -_INF and out[i] < _INF):
            out[i] = 0.0
    for q in range(nodes):
        top = data[0, row + q]
        dist = data[0, row + nodes + q]
        for i in range(nb):
            fac[i] += exp_nonpositive(top[i0 + i] - dist[i0 + i] / length - out[i])
    const = 3.0 * math.log(length)
    for i in range(nb):
        t = out[i] + math.log(fac[i]) - const
        if not t < _INF:
            return False
        t = lw + t
        out[i] = t
        fac[i] = 1.0
        peak[i] = peak[i] if peak[i] >= t else t
    return True


@njit(**_JIT)
def clusters_nd(phi, lay, y, point_cov, i0, nb, logw, terms, factor, peak, total, low, resid,
                 z):
    """Log-terms of compiled ``gaussian_cluster`` components (D >= 2) for the block at ``i0``:
    log N(y_i | μ, diag(σ²) + S_i), -inf where that covariance is not positive definite."""
    k = lay[K]
    d = lay[D]
    errors = point_cov.shape[2] > 0
    for c in range(n_compiled(lay)):
        base = LAYOUT_SIZE + 1 + FIELDS * c
        p0, n_scales = lay[base + 1], lay[base + 3]
        lw = logw[k + c]
        out = terms[k + c]
        fac = factor[k + c]
        for i in range(nb):
            for a in range(d):
                resid[a] = y[a, i0 + i] - phi[p0 + a]
                sd = phi[p0 + d + (a if n_scales > 1 else 0)]
                for b in range(d):
                    total[a, b] = point_cov[a, b, i0 + i] if errors else 0.0
                total[a, a] += sd * sd
            t = -_INF
            if cholesky(total, low):
                t = -0.5 * (d * _LOG_2PI + solve_norm2(low, resid, z))
                for a in range(d):
                    t -= math.log(low[a, a])
                t = t if t == t else -_INF
            t = lw + t
            out[i] = t
            fac[i] = 1.0
            peak[i] = peak[i] if peak[i] >= t else t

