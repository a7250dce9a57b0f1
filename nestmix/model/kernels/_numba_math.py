"""Arithmetic for the compiled likelihood kernels: exp, log, normal densities, Cholesky.

:func:`exp_nonpositive` and :func:`log_positive` are written out in arithmetic so that LLVM
vectorises the loops that call them: numba otherwise calls the C library's scalar exp and log
(about 7 ns each here), which keeps the inner loops scalar.

:func:`exp_nonpositive`, for x in [-inf, 0]: Cody-Waite reduction x = n ln 2 + r,
|r| <= ln 2 / 2, Taylor polynomial of degree 13 (truncation < 1e-17), scaled by 2^n in two
factors so that results down to the subnormals come out right; x < -746 gives 0.
:func:`log_positive`, for positive, finite, normal x: x = 2^e m with m in [sqrt(1/2), sqrt(2)),
then log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, by its series to s^23.
Both are accurate to about one unit in the last place; callers guarantee the domains.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit, types
from numba.extending import intrinsic, register_jitable

_LOG_2PI = math.log(2.0 * math.pi)
_INF = np.inf
_JIT: dict[str, Any] = {"cache": True, "error_model": "numpy"}
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 with its low 32 bits zero: n * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD  # the bits of √½
_MANTISSA = (1 << 52) - 1
_ONE_BITS = 1023 << 52
_E = tuple(1.0 / math.factorial(i) for i in range(14))
_A = tuple(2.0 / (2 * i + 1) for i in range(12))


@intrinsic
def _int_bits_as_float(typingctx, x):
    """Reinterpret the 64 bits of an int64 as a float64."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return sig, codegen


@intrinsic
def _float_bits_as_int(typingctx, x):
    """Reinterpret the 64 bits of a float64 as an int64."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return sig, codegen


@register_jitable(inline="always")
def exp_nonpositive(x):
    """exp(x) for x <= 0 (including -inf)."""
    x = max(x, -746.0)
    nf = math.floor(x * _LOG2E + 0.5)
    r = (x - nf * _LN2_HI) - nf * _LN2_LO
    p = _E[13]
    p = p * r + _E[12]
    p = p * r + _E[11]
    p = p * r + _E[10]
    p = p * r + _E[9]
    p = p * r + _E[8]
    p = p * r + _E[7]
    p = p * r + _E[6]
    p = p * r + _E[5]
    p = p * r + _E[4]
    p = p * r + _E[3]
    p = p * r + _E[2]
    p = p * r + _E[1]
    p = p * r + _E[0]
    n = np.int64(nf)
    half = n >> 1
    rest = n - half
    return (p * _int_bits_as_float((half + 1023) << 52)
            * _int_bits_as_float((rest + 1023) << 52))


@register_jitable(inline="always")
def log_positive(x):
    """log(x) for positive, finite, normal x."""
    # Shift the exponent boundary to √½ (musl's trick) so that no branch is needed.
    bits = _float_bits_as_int(x) + (_ONE_BITS - _SQRT_HALF_BITS)
    ef = np.float64((bits >> 52) - 1023)
    m = _int_bits_as_float((bits & _MANTISSA) + _SQRT_HALF_BITS)
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    q = _A[11]
    q = q * s2 + _A[10]
    q = q * s2 + _A[9]
    q = q * s2 + _A[8]
    q = q * s2 + _A[7]
    q = q * s2 + _A[6]
    q = q * s2 + _A[5]
    q = q * s2 + _A[4]
    q = q * s2 + _A[3]
    q = q * s2 + _A[2]
    q = q * s2 + _A[1]
    q = q * s2 + _A[0]
    return ef * _LN2_HI + (s * q + ef * _LN2_LO)


@njit(**_JIT)
def normal_log_density(residual, variance):
    """log N(residual | 0, variance), -inf unless variance > 0 (as in builtin.py)."""
    if not variance > 0.0:
        return -_INF
    return -0.5 * (_LOG_2PI + math.log(variance) + residual * residual / variance)


@njit(**_JIT)
def cholesky(a, low):
    """Lower Cholesky factor of ``a`` into ``low``; False when not positive definite."""
    d = a.shape[0]
    for i in range(d):
        for j in range(i + 1):
            acc = a[i, j]
            for q in range(j):
                acc -= low[i, q] * low[j, q]
            if i == j:
                if not (acc > 0.0 and acc < _INF):
                    return False
                low[i, i] = math.sqrt(acc)
            else:
                low[i, j] = acc / low[j, j]
    return True


@njit(**_JIT)
def solve_norm2(low, r, z):
    """|L^{-1} r|^2 by forward substitution."""
    d = low.shape[0]
    total = 0.0
    for i in range(d):
        acc = r[i]
        for j in range(i):
            acc -= low[i, j] * z[j]
        zi = acc / low[i, i]
        z[i] = zi
        total += zi * zi
    return total

