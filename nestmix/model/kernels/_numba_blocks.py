"""Sums of the compiled likelihood kernels: per point over the components, over the points of a
block, and over the blocks with compensation.

Every term of a block is held as a log-term and a factor (``terms``, ``factor``: one row per
component, custom component and background) with the running maximum per point (``peak``).
:func:`block_value` forms Σ_i [peak_i + log Σ_j factor_ji exp(term_ji - peak_i)] over the block;
:func:`add_compensated` adds block sums into a Neumaier sum, so that the total stays accurate
for millions of points, and :func:`combine_blocks` adds stored block sums in block order (the
parallel kernels). :func:`extra_terms` writes the log-terms given by ``extra`` (custom
components computed in Python) and the background.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from nestmix.model.kernels._numba_layout import HAS_BG, N_EXTRA, K, n_compiled
from nestmix.model.kernels._numba_math import exp_nonpositive, log_positive

# The helpers' digest: regenerate with `python -m nestmix.model.kernels.numba_digest --write`.
_HELPER_DIGEST = "sha256:08563fbdac736d1887a6cc332e6ca69eb21789cb3d7c53faa273d65c879d243a"

_INF = np.inf
_JIT: dict[str, Any] = {"cache": True, "error_model": "numpy"}


@njit(**_JIT)
def extra_terms(r, i0, nb, lay, logw, extra, log_bg, terms, factor, peak):
    """Log-terms of the custom components given in ``extra`` and of the background for the
    block at ``i0`` (only the background when the kernel computes the components itself)."""
    k = lay[K]
    n_extra = lay[N_EXTRA]
    for e in range(n_extra if n_compiled(lay) else 0, n_extra + lay[HAS_BG]):
        lw = logw[k + e]
        row = terms[k + e]
        for i in range(nb):
            t = lw + (extra[r, e, i0 + i] if e < n_extra else log_bg[i0 + i])
            row[i] = t
            factor[k + e, i] = 1.0
            peak[i] = peak[i] if peak[i] >= t else t


@njit(**_JIT)
def block_value(nb, n_terms, terms, factor, peak, sums):
    """Σ_i [peak_i + log Σ_j factor_ji exp(term_ji - peak_i)] over one block, as (ok, sum).

    Points are summed plainly within the block (at most ``BLOCK`` terms); ok is False when
    some point has no component that can produce it.
    """
    for i in range(nb):
        if peak[i] == -_INF:
            return False, 0.0
    for i in range(nb):
        sums[i] = 0.0
    for j in range(n_terms):
        row = terms[j]
        fac = factor[j]
        for i in range(nb):
            sums[i] += fac[i] * exp_nonpositive(row[i] - peak[i])
    for i in range(nb):  # a separate loop: this one vectorises, a reduction would not
        sums[i] = peak[i] + log_positive(sums[i])
    value = 0.0
    for i in range(nb):
        value += sums[i]
    return True, value


@njit(**_JIT)
def add_compensated(acc, value):
    """Add ``value`` to the Neumaier sum ``acc`` (total, compensation); False when the total
    overflows to -inf (as good as zero likelihood)."""
    total = acc[0]
    s = total + value
    if s == -_INF:
        return False
    if abs(total) >= abs(value):
        acc[1] += (total - s) + value
    else:
        acc[1] += (value - s) + total
    acc[0] = s
    return True


@njit(**_JIT)
def combine_blocks(ok, values):
    """The compensated total of the block sums in block order, as the serial kernels form it
    (-inf at the first block that failed or where the total overflows); NaN is -inf too."""
    acc = np.zeros(2)
    for b in range(values.shape[0]):
        if not (ok[b] and add_compensated(acc, values[b])):
            return -_INF
    value = acc[0] + acc[1]
    return value if value == value else -_INF

