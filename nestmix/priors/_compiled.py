"""Prior transforms compiled with numba: every block of the built-in models.

A sampler calls the prior transform once per likelihood call with a single point; done with
numpy that costs a few microseconds per block in call overhead alone (260 µs for a 2-D model
with full covariances), more than the fused likelihood itself. :class:`CompiledPlan` turns the
blocks into a table of operations that one compiled function applies to every row of u:

* independent priors with a closed-form quantile (``loc`` and ``scale`` included):
  ``uniform``, ``loguniform`` (``reciprocal``), ``norm``, ``halfnorm``, ``lognorm``, ``expon``,
  ``gamma``, ``invgamma``, ``beta``, ``t``, ``truncnorm``, ``cauchy`` and ``halfcauchy``;
* ordered blocks over any of these;
* the stick-breaking Dirichlet(α) weights, for any α (Beta(α_j, Σ_{i>j} α_i) breaks);
* LKJ(η) correlations in any dimension (the C-vine of
  :class:`~nestmix.priors.LKJCorrelation`), one block per covariance set (``full``, ``tied``).

Other blocks (scipy distributions without a closed form, user-defined transforms) are applied
by their numpy transforms afterwards, so the result is always complete.

The normal quantile is computed here without scipy: a starting value from Abramowitz & Stegun
26.2.23 (error below 4.5e-4) and three Halley steps on Φ(x) = p, written with ``erf`` around the
median (where p - ½ is exact) and ``erfc`` in the tails (where min(p, 1 - p) is exact), which
gives the quantile to a few units in the last place over all of (0, 1). The gamma, inverse
gamma, beta, Student-t and LKJ quantiles invert the regularised incomplete gamma and beta
functions (series and continued fractions as in Numerical Recipes 6.2 and 6.4) by Newton's
method in log x from Numerical Recipes' starting values, safeguarded by bisection; they agree
with scipy's Boost-based inverses to about 1e-13 relative over the whole cube (better than scipy
where its inverse is off, e.g. ``betaincinv(2.2, 2.2, 0.5)`` by 1e-10). The other formulas are
those of :mod:`nestmix.priors._fast`, and the cube is clipped to [U_MIN, U_MAX] exactly as
:meth:`nestmix.priors.Univariate.ppf` does.

A cached caller in another module (:mod:`nestmix.samplers.dynesty._slice_numba`) compiles
:func:`run_plan` into its own code; it carries a digest of this file
(:mod:`nestmix.model.kernels.numba_digest`), which ``tests/test_numba_digest.py`` checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

UNIFORM, LOGUNIFORM, NORM, HALFNORM, LOGNORM, EXPON, GAMMA, INVGAMMA, BETA, T = range(10)
STICK, ORDERED = 10, 11
TRUNCNORM, CAUCHY, HALFCAUCHY = 12, 13, 14
STICK_BETA, LKJ = 20, 21
MAX_SHAPE = 1e5
"""Largest gamma or beta shape parameter (Student-t: degrees of freedom) compiled; the quantiles
are checked to 1e-12 up to it, and larger ones go to scipy (whose asymptotic expansions keep
their precision there)."""
CODES = {"uniform": UNIFORM, "loguniform": LOGUNIFORM, "reciprocal": LOGUNIFORM,
         "norm": NORM, "halfnorm": HALFNORM, "lognorm": LOGNORM, "expon": EXPON,
         "gamma": GAMMA, "invgamma": INVGAMMA, "beta": BETA, "t": T, "truncnorm": TRUNCNORM,
         "cauchy": CAUCHY, "halfcauchy": HALFCAUCHY}
_U_MIN = float(np.finfo(float).tiny)
_U_MAX = 1.0 - 2.0**-53
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_EPS = 2.0**-52
_LN2 = math.log(2.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_TINY = 1e-300  # Lentz's floor for vanishing denominators
_MAX_TERMS = 100_000  # series and continued-fraction terms (O(√a) are needed)
_MAX_STEPS = 200  # Newton steps of the inverses (about five are needed)
_EDGE = 1.0 - 2.0**-52  # partial correlations are clipped into [-_EDGE, _EDGE], as in numpy
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


# ------------------------------------------------------------------ incomplete gamma and beta
# The regularised incomplete gamma function P(a, x) by its series below x = a + 1 and
# Q(a, x) = 1 - P by Legendre's continued fraction above (Numerical Recipes 6.2, modified
# Lentz); the regularised incomplete beta function I_x(a, b) by its continued fraction on the
# side of the mean where it converges fast (Numerical Recipes 6.4). Each returns the logarithms
# of the function and of its complement, the smaller one computed directly, so that both tails
# keep their relative precision, and the log of the prefactor, from which the derivative
# follows. Everything is a function of t = log x, so that quantiles far below the smallest
# normal number come out as 0 (as scipy's do) instead of stopping the iteration.
@njit(**_JIT)
def _stirling_tail(a):
    """log Γ(a) - ((a - ½) log a - a + log √(2π)) by Stirling's series, for a >= 10."""
    inv = 1.0 / a
    inv2 = inv * inv
    return inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 * (1.0 / 1260.0 - inv2 * (
        1.0 / 1680.0 - inv2 * (1.0 / 1188.0 - inv2 * (691.0 / 360360.0 - inv2 / 156.0))))))


@njit(**_JIT)
def _log1pmx(d):
    """log(1 + d) - d, accurate also for small d."""
    if abs(d) > 0.3:
        return math.log1p(d) - d
    total = 0.0
    term = d
    for k in range(2, 100):  # Σ (-1)^(k+1) d^k / k
        term *= -d
        step = term / k
        total += step
        if abs(step) < _EPS * abs(total):
            break
    return total


@njit(**_JIT)
def _log_beta(a, b):
    """log B(a, b); for a large parameter without the cancellation of log Γ's differences."""
    small, large = min(a, b), max(a, b)
    if large < 10.0:
        return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    # log Γ(large) - log Γ(small + large) by Stirling's series for both
    diff = -(large - 0.5) * math.log1p(small / large) - small * math.log(small + large) \
        + small + _stirling_tail(large) - _stirling_tail(small + large)
    if small < 10.0:
        return math.lgamma(small) + diff
    return (small - 0.5) * math.log(small) - small + _HALF_LOG_2PI + _stirling_tail(small) \
        + diff


@njit(**_JIT)
def _log_gamma_pq(a, t):
    """log P(a, x), log Q(a, x) and log(x^a e^-x / Γ(a)) at x = e^t."""
    x = math.exp(t)
    if a < 10.0:
        log_front = a * t - x - math.lgamma(a)
    else:  # a (log(x / a) + 1 - x / a) + log √(a / 2π) - Stirling's tail: no large terms
        d = (x - a) / a
        core = a * _log1pmx(d) if abs(d) < 0.5 else a * (t - math.log(a)) - (x - a)
        log_front = core + 0.5 * math.log(a) - _HALF_LOG_2PI - _stirling_tail(a)
    if x < a + 1.0:
        term = 1.0 / a
        total = term
        ap = a
        for _ in range(_MAX_TERMS):
            ap += 1.0
            term *= x / ap
            total += term
            if term < total * _EPS:
                break
        log_p = log_front + math.log(total)
        if a >= 1.0 or log_p < -_LN2:
            return log_p, math.log1p(-math.exp(log_p)), log_front
        # Q = 1 - P close to 0 loses digits when a < 1; instead, with Γ(a, x) = Γ(a) - γ(a, x),
        # Γ(a) - x^a / a = (Γ(1 + a) - 1 - (x^a - 1)) / a and the rest of γ's series:
        rest = 0.0
        term = 1.0
        for n in range(1, _MAX_TERMS):
            term *= -x / n
            rest += term / (a + n)
            if abs(term) < _EPS * abs(rest) * (a + n):
                break
        upper = (math.expm1(math.lgamma(1.0 + a)) - math.expm1(a * t)) / a \
            - math.exp(a * t) * rest
        log_q = math.log(upper * a) - math.lgamma(1.0 + a)
        return math.log1p(-math.exp(log_q)), log_q, log_front
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_TERMS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    log_q = log_front + math.log(h)
    return math.log1p(-math.exp(log_q)), log_q, log_front


@njit(**_JIT)
def _beta_fraction(a, b, x):
    """The continued fraction of I_x(a, b) (Numerical Recipes' ``betacf``)."""
    qab = a + b
    qap = a + 1.0
    qam = a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < _TINY:
        d = _TINY
    d = 1.0 / d
    h = d
    for m in range(1, _MAX_TERMS):
        m2 = 2.0 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        if abs(d) < _TINY:
            d = _TINY
        c = 1.0 + aa / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        if abs(d) < _TINY:
            d = _TINY
        c = 1.0 + aa / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


@njit(**_JIT)
def _log_beta_pq(a, b, t, log_beta):
    """log I_x(a, b), log(1 - I_x(a, b)) and log(x^a (1 - x)^(b - 1) / B(a, b)) at x = e^t."""
    x = math.exp(t)
    y = -math.expm1(t)
    log_y = math.log1p(-x) if x < 0.5 else math.log(y)
    log_front = a * t + b * log_y - log_beta
    if x < (a + 1.0) / (a + b + 2.0):
        log_i = log_front + math.log(_beta_fraction(a, b, x) / a)
        return log_i, math.log1p(-math.exp(log_i)), log_front - log_y
    log_c = log_front + math.log(_beta_fraction(b, a, y) / b)
    return math.log1p(-math.exp(log_c)), log_c, log_front - log_y


@njit(**_JIT)
def _newton_log(beta, a, b, p, q, t, hi):
    """t = log x solving F(x) = p (F the gamma or beta distribution function), from a guess.

    Newton's method in t on log F - log p when p <= q, else on log q - log(1 - F), both
    increasing in t, safeguarded by bisection on the bracket it keeps, and stopped once a step
    is below 1e-10 (the next would change t by about its square). ``hi`` is the upper end of t
    (0 for the beta, infinite for the gamma distribution).
    """
    lower = p <= q
    target = math.log(p) if lower else math.log(q)
    log_beta = _log_beta(a, b) if beta else 0.0
    lo = -math.inf
    for _ in range(_MAX_STEPS):
        if beta:
            log_f, log_c, log_slope = _log_beta_pq(a, b, t, log_beta)
        else:
            log_f, log_c, log_slope = _log_gamma_pq(a, t)
        if lower:
            g = log_f - target
            slope = math.exp(log_slope - log_f)
        else:
            g = target - log_c
            slope = math.exp(log_slope - log_c)
        if g == 0.0:
            return t
        if g > 0.0:
            hi = t
        else:
            lo = t
        step = g / slope
        t_new = t - step
        if t_new > lo and t_new < hi:
            if abs(step) < 1e-10:
                return t_new
        elif lo > -math.inf and hi < math.inf:
            t_new = 0.5 * (lo + hi)
            if hi - lo < 1e-15 * max(1.0, abs(t_new)):
                return t_new
        else:
            t_new = t - 2.0 if g > 0.0 else t + 2.0
        t = t_new
    return t


@njit(**_JIT)
def _gamma_quantile(a, p, q):
    """x with P(a, x) = p, given p and q = 1 - p (the smaller one exact); ∞ for q = 0."""
    if not p > 0.0 or not q > 0.0:
        return 0.0 if p == 0.0 else math.inf if q == 0.0 else math.nan
    lower = p <= q
    if a == 1.0:
        return -math.log1p(-p) if lower else -math.log(q)
    # A starting value (Numerical Recipes' invgammp): Wilson-Hilferty above a = 1, else
    # the leading terms of the two tails; log x directly, as x may underflow.
    if a > 1.0:
        s = math.sqrt(-2.0 * math.log(p if lower else q))
        z = (2.30753 + s * 0.27061) / (1.0 + s * (0.99229 + s * 0.04481)) - s
        if not lower:
            z = -z
        cube = 1.0 - 1.0 / (9.0 * a) + z / (3.0 * math.sqrt(a))
        t = math.log(max(1e-3, a * cube * cube * cube))
    else:
        edge = 1.0 - a * (0.253 + a * 0.12)
        if p < edge:
            t = (math.log(p) - math.log(edge)) / a
        else:
            t = math.log(1.0 - math.log(q / (1.0 - edge)))
    return math.exp(_newton_log(False, a, 1.0, p, q, t, math.inf))


@njit(**_JIT)
def _beta_quantile(a, b, p, q):
    """(x, 1 - x) with I_x(a, b) = p, given p and q = 1 - p (the smaller one exact)."""
    log_x, log_y = _beta_quantile_log(a, b, p, q)
    return math.exp(log_x), math.exp(log_y)


@njit(**_JIT)
def _beta_quantile_log(a, b, p, q):
    """(log x, log(1 - x)) with I_x(a, b) = p, given p and q = 1 - p (the smaller one exact).

    The smaller of x and 1 - x is solved for (by the symmetry I_x(a, b) = 1 - I_{1-x}(b, a)),
    so that both keep their relative precision; logs, as x may underflow.
    """
    if not p > 0.0 or not q > 0.0:
        if p == 0.0:
            return -math.inf, 0.0
        return (0.0, -math.inf) if q == 0.0 else (math.nan, math.nan)
    lower = p <= q
    if a == 1.0 or b == 1.0:  # I_x(1, b) = 1 - (1 - x)^b and I_x(a, 1) = x^a
        if a == 1.0:
            log_y = (math.log1p(-p) if lower else math.log(q)) / b
            return _log_complement(log_y), log_y
        log_x = (math.log(p) if lower else math.log1p(-q)) / a
        return log_x, _log_complement(log_x)
    # A starting value (Numerical Recipes' invbetai), as log x and log(1 - x).
    if a >= 1.0 and b >= 1.0:
        s = math.sqrt(-2.0 * math.log(p if lower else q))
        z = (2.30753 + s * 0.27061) / (1.0 + s * (0.99229 + s * 0.04481)) - s
        if lower:
            z = -z
        al = (z * z - 3.0) / 6.0
        h = 2.0 / (1.0 / (2.0 * a - 1.0) + 1.0 / (2.0 * b - 1.0))
        w = z * math.sqrt(al + h) / h - (1.0 / (2.0 * b - 1.0) - 1.0 / (2.0 * a - 1.0)) * (
            al + 5.0 / 6.0 - 2.0 / (3.0 * h))
        # x = a / (a + b e^{2w}), 1 - x = b e^{2w} / (a + b e^{2w})
        log_sum = math.log(a) + math.log1p(b / a * math.exp(2.0 * w)) if w < 300.0 \
            else math.log(b) + 2.0 * w
        log_x = math.log(a) - log_sum
        log_y = math.log(b) + 2.0 * w - log_sum
    else:
        ta = math.exp(a * math.log(a / (a + b))) / a
        tb = math.exp(b * math.log(b / (a + b))) / b
        w = ta + tb
        if p < ta / w:
            log_x = (math.log(a * w) + math.log(p)) / a
            log_y = math.log(-math.expm1(min(log_x, -1e-300)))
        else:
            log_y = (math.log(b * w) + math.log(q)) / b
            log_x = math.log(-math.expm1(min(log_y, -1e-300)))
    if log_x <= log_y:
        t = _newton_log(True, a, b, p, q, min(log_x, -_EPS), 0.0)
        return t, _log_complement(t)
    t = _newton_log(True, b, a, q, p, min(log_y, -_EPS), 0.0)
    return _log_complement(t), t


@njit(**_JIT)
def _log_complement(t):
    """log(1 - e^t) for t <= 0."""
    return math.log(-math.expm1(t)) if t > -_LN2 else math.log1p(-math.exp(t))


@njit(**_JIT)
def _log_add(a, b):
    """log(e^a + e^b)."""
    top = max(a, b)
    if top == -math.inf:
        return top
    return top + math.log1p(math.exp(-abs(a - b)))


@njit(**_JIT)
def _normal_quantile_log(log_p):
    """x <= 0 with log Φ(x) = log_p <= log ½ (scipy's ``ndtri_exp``).

    Above log_p = -680 through :func:`_normal_quantile`; below, where Φ(x) is no longer a
    normal number, by Newton's method on the asymptotic series
    log Φ(x) = -x²/2 - log(-x) - log √(2π) + log(1 - 1/x² + 3/x⁴ - ...), x < -36.
    """
    if log_p > -680.0:
        p = math.exp(log_p)
        return _normal_quantile(p - 0.5, p, False)
    if not log_p > -math.inf:
        return -math.inf if log_p == -math.inf else math.nan
    x = -math.sqrt(-2.0 * log_p)
    for _ in range(50):
        inv2 = 1.0 / (x * x)
        series = 1.0
        term = 1.0
        for n in range(1, 9):
            term *= -(2 * n - 1) * inv2
            series += term
        g = -0.5 * x * x - math.log(-x) - _HALF_LOG_2PI + math.log(series) - log_p
        step = g / (-x / series)
        x -= step
        if abs(step) < 1e-15 * abs(x):
            break
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
    elif code == EXPON:
        x = -math.log1p(-u)
    else:
        x = _other_quantile(code, u, params, off)
    return x * params[off + 1] + params[off]


@njit(**_JIT)
def _other_quantile(code, u, params, off):
    """Standardised quantiles of the distributions added after the first six (u clipped)."""
    if code == GAMMA:
        return _gamma_quantile(params[off + 2], u, 1.0 - u)
    if code == INVGAMMA:  # 1 / x with Q(a, x) = u
        return 1.0 / _gamma_quantile(params[off + 2], 1.0 - u, u)
    if code == BETA:
        return _beta_quantile(params[off + 2], params[off + 3], u, 1.0 - u)[0]
    if code == T:
        # P(|T| > x) = I_z(df / 2, 1 / 2) = p with z = df / (df + x^2): z and 1 - z together
        upper = u > 0.5
        p = 2.0 * (1.0 - u if upper else u)
        half_df = 0.5 * params[off + 2]
        log_z, log_y = _beta_quantile_log(half_df, 0.5, p, 1.0 - p)
        x = math.exp(0.5 * (math.log(2.0 * half_df) + log_y - log_z))  # z may underflow
        return x if upper else -x
    if code == CAUCHY:  # tan(π (u - ½)), with -cot(π u) and cot(π (1 - u)) in the tails
        if u < 0.25:
            return -1.0 / math.tan(math.pi * u)
        if u > 0.75:
            return 1.0 / math.tan(math.pi * (1.0 - u))
        return math.tan(math.pi * (u - 0.5))
    if code == HALFCAUCHY:
        if u > 0.5:
            return 1.0 / math.tan(math.pi / 2.0 * (1.0 - u))
        return math.tan(math.pi / 2.0 * u)
    # TRUNCNORM: log Φ(x) = log((1 - u) Φ(a) + u Φ(b)) below the median and the mirrored
    # equation for Q = 1 - Φ above it, in logs (as numpy does), so that no tail loses precision
    a, b = params[off + 2], params[off + 3]
    log_u, log_1mu = math.log(u), math.log1p(-u)
    below = _log_add(log_1mu + params[off + 4], log_u + params[off + 5])
    if below < -_LN2:
        x = _normal_quantile_log(below)
    else:
        x = -_normal_quantile_log(_log_add(log_1mu + params[off + 6], log_u + params[off + 7]))
    return min(max(x, a), b)


@njit(**_JIT)
def _lkj_upper_triangle(u, start, d, eta, out):
    """The upper triangle (row by row) of an LKJ(eta) correlation matrix from u[start:].

    The C-vine of :meth:`nestmix.priors.LKJCorrelation.cholesky`: the partial correlation of
    level l is 2 Beta(b_l, b_l) - 1, b_l = eta + (d - 2 - l) / 2, clipped into ±(1 - 2^-52);
    the rows of the Cholesky factor L are filled level by level and C = L L^T.
    """
    chol = np.zeros((d, d))
    left = np.ones(d)
    chol[0, 0] = 1.0
    c = start
    for level in range(d - 1):
        b = eta + (d - 2 - level) / 2.0
        for i in range(level + 1, d):
            x = u[c]
            partial = 2.0 * _beta_quantile(b, b, x, 1.0 - x)[0] - 1.0
            partial = min(max(partial, -_EDGE), _EDGE)
            chol[i, level] = partial * math.sqrt(left[i])
            left[i] = left[i] * (1.0 - partial * partial)
            c += 1
        chol[level + 1, level + 1] = math.sqrt(left[level + 1])
    c = start
    for i in range(d):
        for j in range(i + 1, d):
            total = 0.0
            for q in range(i + 1):
                total += chol[i, q] * chol[j, q]
            out[c] = total
            c += 1


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
            elif code == STICK_BETA:  # breaks v_j ~ Beta(a_j, b_j), u not clipped
                rest = 1.0
                for j in range(count):
                    x = u[r, start + j]
                    v = _beta_quantile(params[off + 2 * j], params[off + 2 * j + 1], x,
                                       1.0 - x)[0]
                    out[r, start + j] = v * rest
                    rest *= 1.0 - v
            elif code == LKJ:
                _lkj_upper_triangle(u[r], start, int(params[off]), params[off + 1], out[r])
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
    elif code in (GAMMA, INVGAMMA, BETA, T):
        shapes = [kw["df"]] if code == T else [kw["a"], kw["b"]] if code == BETA else [kw["a"]]
        if max(shapes) > MAX_SHAPE:
            return None
        params += shapes
    elif code == TRUNCNORM:
        from scipy import special

        a, b = kw["a"], kw["b"]
        params += [a, b, *(float(special.log_ndtr(v)) for v in (a, b, -a, -b))]
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
    from nestmix.priors.covariance import LKJCorrelation
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
        a, b, inv_b, unit = stick._breaks
        if unit:
            return STICK, [float(v) for v in inv_b], -1
        if max(b) > MAX_SHAPE:
            return None
        return STICK_BETA, [float(v) for pair in zip(a, b, strict=True) for v in pair], -1
    lkj = getattr(transform, "lkj", None)  # the correlations of an LKJ prior
    if isinstance(lkj, LKJCorrelation) and getattr(transform, "upper_triangle", False) \
            and lkj.eta + (lkj.d - 2) / 2.0 <= MAX_SHAPE:
        return LKJ, [float(lkj.d), float(lkj.eta)], -1
    return None
