"""Prior transforms compiled with numba, for the blocks whose quantiles have simple forms.

A sampler calls the prior transform once per likelihood call with a single point; done with
numpy that costs a few microseconds per block in call overhead alone, more than the fused
likelihood itself. :class:`CompiledPlan` turns the blocks it knows into a table of operations
that one compiled function applies to every row of u:

* independent ``uniform``, ``loguniform`` (``reciprocal``), ``norm``, ``halfnorm``,
  ``lognorm`` and ``expon`` priors (with ``loc`` and ``scale``);
* the stick-breaking Dirichlet weights when every α_j is 1 (Beta(1, b) breaks);
* ordered blocks over any of the distributions above.

Every other block (inverse-gamma, Student-t, LKJ correlations, Dirichlet with α ≠ 1, ...) is
applied by its numpy transform afterwards, so the result is always complete.

The normal quantile is computed here without scipy: a starting value from Abramowitz & Stegun
26.2.23 (error below 4.5e-4) and three Halley steps on Φ(x) = p, written with ``erf`` around the
median (where p - ½ is exact) and ``erfc`` in the tails (where min(p, 1 - p) is exact), which
gives the quantile to a few units in the last place over all of (0, 1). The other formulas are
those of :mod:`nestmix.priors._fast`, and the cube is clipped to [U_MIN, U_MAX] exactly as
:meth:`nestmix.priors.Univariate.ppf` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

UNIFORM, LOGUNIFORM, NORM, HALFNORM, LOGNORM, EXPON = range(6)
STICK, ORDERED = 10, 11
CODES = {"uniform": UNIFORM, "loguniform": LOGUNIFORM, "reciprocal": LOGUNIFORM,
         "norm": NORM, "halfnorm": HALFNORM, "lognorm": LOGNORM, "expon": EXPON}
_U_MIN = float(np.finfo(float).tiny)
_U_MAX = 1.0 - 2.0**-53
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_JIT = {"cache": True, "error_model": "numpy"}


@njit(**_JIT)
def _normal_quantile(q, tail, upper):
    """x with Φ(x) = p, given q = p - ½ and tail = min(p, 1 - p), both exact."""
    t = math.sqrt(-2.0 * math.log(tail))
    x = t - (2.515517 + t * (0.802853 + t * 0.010328)) / (
        1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308)))
    if not upper:
        x = -x
    central = abs(q) < 0.25
    for _ in range(3):
        if central:
            f = 0.5 * math.erf(x * _SQRT_HALF) - q
        elif upper:
            f = tail - 0.5 * math.erfc(x * _SQRT_HALF)  # 1 - Φ(x) = tail
        else:
            f = 0.5 * math.erfc(-x * _SQRT_HALF) - tail
        density = _INV_SQRT_2PI * math.exp(-0.5 * x * x)
        step = f / density
        x -= step / (1.0 + 0.5 * x * step)
    return x


@njit(**_JIT)
def _quantile(code, u, params, off):
    """Quantile of one univariate prior at cube coordinate u (parameters from ``params``)."""
    if code == UNIFORM:
        return u * params[off + 1] + params[off]
    if code == LOGUNIFORM:
        return math.exp(params[off + 2] + u * params[off + 3]) * params[off + 1] + params[off]
    u = min(max(u, _U_MIN), _U_MAX)
    if code == NORM or code == LOGNORM:
        x = _normal_quantile(u - 0.5, u if u < 0.5 else 1.0 - u, u > 0.5)
        if code == LOGNORM:
            x = math.exp(params[off + 2] * x)
    elif code == HALFNORM:  # Φ(x) = (1 + u) / 2
        x = _normal_quantile(0.5 * u, 0.5 * (1.0 - u), True)
    else:  # EXPON
        x = -math.log1p(-u)
    return x * params[off + 1] + params[off]


@njit(**_JIT)
def run_plan(u, ops, params, out):
    """Apply the operations ``ops`` (code, start, count, offset, base) to every row of u."""
    for r in range(u.shape[0]):
        for o in range(ops.shape[0]):
            code, start, count, off, base = ops[o, 0], ops[o, 1], ops[o, 2], ops[o, 3], \
                ops[o, 4]
            if code == STICK:
                rest = 1.0
                for j in range(count):
                    x = u[r, start + j]
                    if x < 1.0:
                        v = -math.expm1(math.log1p(-x) * params[off + j])
                    else:
                        v = 1.0 if x >= 1.0 else x  # NaN stays NaN, as in numpy
                    out[r, start + j] = v * rest
                    rest *= 1.0 - v
            elif code == ORDERED:
                top = 1.0
                for j in range(count - 1, -1, -1):
                    top *= u[r, start + j] ** (1.0 / (j + 1))
                    out[r, start + j] = _quantile(base, top, params, off)
            else:
                for j in range(count):
                    out[r, start + j] = _quantile(code, u[r, start + j], params, off)


def univariate_op(prior: Any) -> tuple[int, list[float]] | None:
    """(code, parameters) of a Univariate the compiled plan supports, else None."""
    code = CODES.get(getattr(prior, "dist", None))
    if code is None:
        return None
    kw = dict(prior.params)
    params = [kw.get("loc", 0.0), kw.get("scale", 1.0)]
    if code == LOGUNIFORM:
        log_a, log_b = math.log(kw["a"]), math.log(kw["b"])
        params += [log_a, log_b - log_a]
    elif code == LOGNORM:
        params.append(kw["s"])
    return code, params


@dataclass(frozen=True)
class CompiledPlan:
    """The compiled part of a block prior and the blocks left to numpy.

    Attributes
    ----------
    ops : ndarray of int64, shape (n_ops, 5)
        Code, first cube column, number of columns, offset into ``params``, base code.
    params : ndarray of float64
    numpy_blocks : tuple of (int, int, Block)
        Cube columns [start, stop) and the block to apply with numpy.
    """

    ops: np.ndarray
    params: np.ndarray
    numpy_blocks: tuple

    def __call__(self, u: np.ndarray) -> np.ndarray:
        u = np.ascontiguousarray(u, dtype=float)
        if not u.flags.writeable:  # one compiled signature only
            u = u.copy()
        theta = np.empty_like(u)
        if self.ops.shape[0]:
            run_plan(u, self.ops, self.params, theta)
        for start, stop, block in self.numpy_blocks:
            theta[:, start:stop] = block.transform(u[:, start:stop])
        return theta


def compile_blocks(blocks) -> CompiledPlan | None:
    """The plan for ``blocks``, or None when no block can be compiled."""
    ops: list[list[int]] = []
    params: list[float] = []
    numpy_blocks = []
    start = 0
    for block in blocks:
        op = _block_op(block)
        if op is None:
            numpy_blocks.append((start, start + block.ndim, block))
        else:
            code, values, base = op
            ops.append([code, start, block.ndim, len(params), base])
            params += values
        start += block.ndim
    if not ops:
        return None
    return CompiledPlan(np.array(ops, dtype=np.int64).reshape(-1, 5),
                        np.array(params, dtype=float), tuple(numpy_blocks))


def _block_op(block) -> tuple[int, list[float], int] | None:
    from nestmix.priors.ordered import OrderedBlock
    from nestmix.priors.simplex import StickBreakingDirichlet
    from nestmix.priors.univariate import Univariate

    transform = block.transform
    owner = getattr(transform, "__self__", None)
    if isinstance(owner, Univariate) and transform == owner.ppf:
        op = univariate_op(owner)
        return None if op is None else (op[0], op[1], -1)
    if isinstance(owner, OrderedBlock) and transform == owner.transform:
        op = univariate_op(owner.base)
        return None if op is None else (ORDERED, op[1], op[0])
    stick = getattr(transform, "stick", None)  # the free weights of a stick-breaking prior
    if isinstance(stick, StickBreakingDirichlet) and stick.k > 1 \
            and getattr(transform, "drops_last", False):
        _, _, inv_b, unit = stick._breaks
        return (STICK, [float(v) for v in inv_b], -1) if unit else None
    return None
