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
Python) or, for the built-in families, computed here from φ and the per-point data rows that
``extra`` then holds (:func:`_components_1d`, :func:`_clusters_nd`). The block buffers (K_total ×
BLOCK doubles) are the only temporaries, so memory does not grow with N, and the block loops are
simple enough for LLVM to vectorise (exp and log are written out below; divisions follow
numpy's error model so that they do not branch).

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
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic, register_jitable

# Indices into the int64 layout vector built by nestmix.model.kernels.layout_vector.
K, D, N_WEIGHTS, MEAN_OFF, SCALE_OFF, N_SETS, PER_SET, CORR_OFF, N_CORR, WITH_CORR, \
    IS_SIGMA, N_EXTRA, HAS_BG = range(13)
LAYOUT_SIZE = 13
BLOCK = 256
# At most this many chunks of blocks in the parallel kernels (one task of a thread each, with
# its own block buffers; many, so that threads that finish early take another). The result does
# not depend on it, nor on the number of threads.
MAX_CHUNKS = 64
# Built-in custom components computed in the kernel (nestmix.model.kernels.component_table): the
# layout vector then goes on with their number and, for each, FIELDS integers: its code, the
# index in φ of its first parameter, its first row in the data array ``extra`` (1, rows, N)
# and an option (Student-t: 1 to broaden by the errors; cluster: number of scales;
# space density: quadrature nodes).
LINE, OUTLIER, STUDENT_T, CLUSTER, SPACE_DENSITY = 1, 2, 3, 4, 5
FIELDS = 4

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_2PI = math.log(2.0 * math.pi)
_INF = np.inf
_JIT = {"cache": True, "error_model": "numpy"}
_PARALLEL = {**_JIT, "parallel": True}


# ------------------------------------------------------------------------- exp and log
# Written out in arithmetic so that LLVM vectorises the loops that call them: numba otherwise
# calls the C library's scalar exp and log (about 7 ns each here), which keeps the inner loops
# scalar. They live in this file because numba's cache only notices edits to the file that
# defines the cached functions.
#
# exp_nonpositive, for x in [-inf, 0]: Cody-Waite reduction x = n ln 2 + r, |r| <= ln 2 / 2,
# Taylor polynomial of degree 13 (truncation < 1e-17), scaled by 2^n in two factors so that
# results down to the subnormals come out right; x < -746 gives 0.
# log_positive, for positive, finite, normal x: x = 2^e m with m in [sqrt(1/2), sqrt(2)), then
# log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, by its series to s^23.
# Both are accurate to about one unit in the last place; callers guarantee the domains.
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


# --------------------------------------------------------------------------- the kernels
@njit(**_JIT)
def _prepare(row, source, fixed, lay, phi, logw):
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
def _variance(phi, lay, s, a):
    """Variance of axis ``a`` in scale set ``s``."""
    per_set = lay[PER_SET]
    value = phi[lay[SCALE_OFF] + s * per_set + (a if per_set > 1 else 0)]
    return value * value if lay[IS_SIGMA] else value


@njit(**_JIT)
def _n_compiled(lay):
    """Number of custom components the kernel computes itself (see FIELDS)."""
    return lay[LAYOUT_SIZE] if lay.shape[0] > LAYOUT_SIZE else 0


@njit(**_JIT)
def _normal_log_density(residual, variance):
    """log N(residual | 0, variance), -inf unless variance > 0 (as in builtin.py)."""
    if not variance > 0.0:
        return -_INF
    return -0.5 * (_LOG_2PI + math.log(variance) + residual * residual / variance)


@njit(**_JIT)
def _components_1d(phi, lay, y, s2, data, i0, nb, logw, terms, factor, peak):
    """Log-terms of the compiled custom components (1-D data) for the block at ``i0``.

    The densities of :mod:`nestmix.components` (``line``, ``gaussian_outlier``, ``student_t``,
    ``gaussian_cluster``, ``exponential_space_density``), the same formulas in the same order.
    Returns False when one is NaN or +inf, where the numpy path makes the likelihood zero.
    """
    k = lay[K]
    errors = s2.shape[0] > 0
    for c in range(_n_compiled(lay)):
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
            if not _space_density(a, data, row, option, i0, nb, lw, out, fac, peak):
                return False
            continue
        for i in range(nb):
            v = s2[i0 + i] if errors else 0.0
            if code == LINE:  # a = m, b = b, e = scatter
                t = _normal_log_density(y[i0 + i] - (a * data[0, row, i0 + i] + b), v + e * e)
            elif code == OUTLIER:
                t = _normal_log_density(y[i0 + i] - a, v + const)
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
                t = _normal_log_density(y[i0 + i] - a, b * b + v)
                t = t if t == t else -_INF  # as gaussian_log_density
            if not t < _INF:  # NaN or +inf
                return False
            t = lw + t
            out[i] = t
            fac[i] = 1.0
            peak[i] = peak[i] if peak[i] >= t else t
    return True


@njit(**_JIT)
def _space_density(length, data, row, nodes, i0, nb, lw, out, fac, peak):
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
def _clusters_nd(phi, lay, y, point_cov, i0, nb, logw, terms, factor, peak, total, low, resid,
                 z):
    """Log-terms of compiled ``gaussian_cluster`` components (D >= 2) for the block at ``i0``:
    log N(y_i | μ, diag(σ²) + S_i), -inf where that covariance is not positive definite."""
    k = lay[K]
    d = lay[D]
    errors = point_cov.shape[2] > 0
    for c in range(_n_compiled(lay)):
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
            if _cholesky(total, low):
                t = -0.5 * (d * _LOG_2PI + _solve_norm2(low, resid, z))
                for a in range(d):
                    t -= math.log(low[a, a])
                t = t if t == t else -_INF
            t = lw + t
            out[i] = t
            fac[i] = 1.0
            peak[i] = peak[i] if peak[i] >= t else t


@njit(**_JIT)
def _extra_terms(r, i0, nb, lay, logw, extra, log_bg, terms, factor, peak):
    """Log-terms of the custom components given in ``extra`` and of the background for the
    block at ``i0`` (only the background when the kernel computes the components itself)."""
    k = lay[K]
    n_extra = lay[N_EXTRA]
    for e in range(n_extra if _n_compiled(lay) else 0, n_extra + lay[HAS_BG]):
        lw = logw[k + e]
        row = terms[k + e]
        for i in range(nb):
            t = lw + (extra[r, e, i0 + i] if e < n_extra else log_bg[i0 + i])
            row[i] = t
            factor[k + e, i] = 1.0
            peak[i] = peak[i] if peak[i] >= t else t


@njit(**_JIT)
def _block_value(nb, n_terms, terms, factor, peak, sums):
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
def _add_compensated(acc, value):
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
def _close_block(nb, n_terms, terms, factor, peak, sums, acc):
    """Add one block's sum (:func:`_block_value`) to the Neumaier sum ``acc``: blocks are
    summed with compensation, so that the total stays accurate for millions of points.

    Returns False when some point has no component that can produce it, or when the sum
    overflows to -inf.
    """
    ok, value = _block_value(nb, n_terms, terms, factor, peak, sums)
    return ok and _add_compensated(acc, value)


@njit(**_JIT)
def _combine_blocks(ok, values):
    """The compensated total of the block sums in block order, as the serial kernels form it
    (-inf at the first block that failed or where the total overflows); NaN is -inf too."""
    acc = np.zeros(2)
    for b in range(values.shape[0]):
        if not (ok[b] and _add_compensated(acc, values[b])):
            return -_INF
    value = acc[0] + acc[1]
    return value if value == value else -_INF


@njit(**_JIT)
def _theta_1d(row, source, fixed, lay, errors, phi, logw, mu, var, const, inv_sd, use):
    """What the 1-D kernels precompute for one θ row (φ, log-weights, per-component means,
    variances, constants); False for a θ whose likelihood is zero."""
    if not _prepare(row, source, fixed, lay, phi, logw):
        return False
    for j in range(lay[K]):
        mu[j] = phi[lay[MEAN_OFF] + j]
        v = _variance(phi, lay, 0 if lay[N_SETS] == 1 else j, 0)
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
    """One block of the 1-D likelihood for θ row ``r``, as (ok, sum) (:func:`_block_value`);
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
    if _n_compiled(lay) > 0 and not _components_1d(phi, lay, y, s2, extra, i0, nb, logw,
                                                    terms, factor, peak):
        return False, 0.0
    _extra_terms(r, i0, nb, lay, logw, extra, log_bg, terms, factor, peak)
    return _block_value(nb, lay[N_WEIGHTS] + 1, terms, factor, peak, sums)


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
            if not (ok and _add_compensated(acc, value)):
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
        out[r] = _combine_blocks(ok, values)


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
                sa = math.sqrt(_variance(phi, lay, s, a))
                cov[s, a, a] = sa * sa
                for b in range(a + 1, d):
                    sb = math.sqrt(_variance(phi, lay, s, b))
                    c = phi[lay[CORR_OFF] + s * n_corr + t] * sa * sb
                    cov[s, a, b] = c
                    cov[s, b, a] = c
                    t += 1
        else:
            for a in range(d):
                cov[s, a, a] = _variance(phi, lay, s, a)


@njit(**_JIT)
def _cholesky(a, low):
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
def _solve_norm2(low, r, z):
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


@njit(**_JIT)
def _theta_nd(row, source, fixed, lay, errors, phi, logw, mu, cov, chol, const, use):
    """What the N-D kernels precompute for one θ row (φ, log-weights, means, covariances,
    Cholesky factors without measurement errors); False for a θ whose likelihood is zero."""
    if not _prepare(row, source, fixed, lay, phi, logw):
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
            use[j] = _cholesky(cov[0 if lay[N_SETS] == 1 else j], chol[j])
            if use[j]:
                for a in range(d):
                    const[j] -= math.log(chol[j, a, a])
    return True


@njit(**_JIT)
def _block_nd(r, i0, nb, lay, y, point_cov, extra, log_bg, phi, logw, mu, cov, chol, const,
              use, terms, factor, peak, sums, total_cov, low, resid, z):
    """One block of the N-D likelihood for θ row ``r``, as (ok, sum) (:func:`_block_value`);
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
                t = c - 0.5 * _solve_norm2(chol[j], resid, z)
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
                if not _cholesky(total_cov, low):
                    continue
                t = c - 0.5 * _solve_norm2(low, resid, z)
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
    if _n_compiled(lay) > 0:
        _clusters_nd(phi, lay, y, point_cov, i0, nb, logw, terms, factor, peak, total_cov, low,
                     resid, z)
    _extra_terms(r, i0, nb, lay, logw, extra, log_bg, terms, factor, peak)
    return _block_value(nb, lay[N_WEIGHTS] + 1, terms, factor, peak, sums)


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
            if not (ok and _add_compensated(acc, value)):
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
        out[r] = _combine_blocks(ok, values)
