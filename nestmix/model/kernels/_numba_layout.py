"""The layout vector: where the compiled likelihood kernels find a model's parameters.

The int64 vector built by :func:`nestmix.model.kernels.layout_vector` holds the integers indexed
below; for the built-in custom components computed in the kernels
(:func:`nestmix.model.kernels.component_table`) it goes on with their number and, for each,
``FIELDS`` integers: its code, the index in φ of its first parameter, its first row in the data
array ``extra`` (1, rows, N) and an option (Student-t: 1 to broaden by the errors; cluster:
number of scales; space density: quadrature nodes). :func:`prepare` builds φ (θ with the fixed
values inserted) and the log-weights from one θ row; :func:`variance` and :func:`n_compiled`
read φ and the vector.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

K, D, N_WEIGHTS, MEAN_OFF, SCALE_OFF, N_SETS, PER_SET, CORR_OFF, N_CORR, WITH_CORR, \
    IS_SIGMA, N_EXTRA, HAS_BG = range(13)
LAYOUT_SIZE = 13
LINE, OUTLIER, STUDENT_T, CLUSTER, SPACE_DENSITY = 1, 2, 3, 4, 5
FIELDS = 4

_INF = np.inf
_JIT: dict[str, Any] = {"cache": True, "error_model": "numpy"}


@njit(**_JIT)
def prepare(row, source, fixed, lay, phi, logw):
    """φ and the log-weights from one θ row; False for a non-finite θ or a negative weight."""
    for j in range(source.shape[0]):
        s = source[j]
        value = row[s] if s >= 0 else fixed[j]
        if not (value > -_INF and value < _INF):
            return False
        phi[j] = value
    n_free = lay[N_WEIGHTS]
    total = 0.0
    for j in range(n_free):
        w = phi[j]
        if w < 0.0:
            return False
        total += w
        logw[j] = math.log(w) if w > 0.0 else -_INF
    last = 1.0 - total
    logw[n_free] = math.log(last) if last > 0.0 else -_INF
    return True


@njit(**_JIT)
def variance(phi, lay, s, a):
    """Variance of axis ``a`` in scale set ``s``."""
    per_set = lay[PER_SET]
    value = phi[lay[SCALE_OFF] + s * per_set + (a if per_set > 1 else 0)]
    return value * value if lay[IS_SIGMA] else value


@njit(**_JIT)
def n_compiled(lay):
    """Number of custom components the kernel computes itself (see FIELDS)."""
    return lay[LAYOUT_SIZE] if lay.shape[0] > LAYOUT_SIZE else 0

