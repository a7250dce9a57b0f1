"""The prior density of a model's parameters θ, and unconstrained coordinates for them.

The unit-cube transforms of :mod:`nestmix.priors` define the prior only implicitly; what needs
π(θ) itself (bridge sampling in the natural parameters, :mod:`nestmix.evidence.bridge`) gets it
here, block by block: univariate priors (scipy's ``logpdf``), the ordered block
(K! Π base(x) on x₁ < … < x_K, 0 elsewhere), stick-breaking Dirichlet weights (the density of
all K weights, the last implied), and LKJ(η) correlations (det(C)^(η−1) over its normalising
constant, Lewandowski, Kurowicka & Joe 2009, eq. 16; 0 where C is not positive definite). The
test suite checks π(T(u)) |∂T/∂u| = 1 against the transforms themselves.

The coordinates z(θ) are unconstrained: the identity, a log or a logit after the support of
each univariate prior, additive log-ratios of the weights (against the last), and atanh of the
correlations; with ln |∂z/∂θ| a density fitted in z is one in θ.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special

from nestmix.priors.ordered import OrderedBlock
from nestmix.priors.univariate import Univariate

__all__ = ["PriorCoordinates", "prior_log_density"]


class PriorCoordinates:
    """The prior density π(θ) of a prior made of nestmix's blocks, and unconstrained
    coordinates z(θ) with ln |∂z/∂θ|, block by block in θ's order.

    Parameters
    ----------
    prior : BlockPrior
        A model's prior (``MixtureModel.prior``).

    Raises
    ------
    ValueError
        For a block whose density is not known here (a user-defined transform).
    """

    def __init__(self, prior: Any) -> None:
        self.parts: list[tuple[str, slice, Any]] = []
        start = 0
        for block in prior.blocks:
            part = slice(start, start + block.ndim)
            start += block.ndim
            transform = block.transform
            owner = getattr(transform, "__self__", None)
            if getattr(transform, "drops_last", False):  # stick-breaking free weights
                self.parts.append(("weights", part, transform.stick))
            elif getattr(transform, "upper_triangle", False):  # LKJ correlations
                self.parts.append(("correlation", part, transform.lkj))
            elif isinstance(owner, OrderedBlock):
                self.parts.append(("ordered", part, owner))
            elif isinstance(owner, Univariate):
                self.parts.append(("univariate", part, owner))
            else:
                raise ValueError(f"the prior density of block "
                                 f"{block.name!r}, which nestmix does not know")
        self.ndim = start

    def log_prior(self, theta: np.ndarray) -> np.ndarray:
        """ln π(θ) for θ of shape (n, ndim); −inf outside the support."""
        theta = np.atleast_2d(theta)
        out = np.zeros(theta.shape[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            for kind, part, prior in self.parts:
                x = theta[:, part]
                if kind == "univariate":
                    out += prior.logpdf(x).sum(axis=1)
                elif kind == "ordered":
                    ascending = np.all(np.diff(x, axis=1) > 0, axis=1)
                    value = prior.base.logpdf(x).sum(axis=1) + math.lgamma(prior.k + 1)
                    out += np.where(ascending, value, -np.inf)
                elif kind == "weights":
                    full = np.concatenate([x, 1.0 - x.sum(axis=1, keepdims=True)], axis=1)
                    alpha = np.asarray(prior.alpha)
                    value = (math.lgamma(alpha.sum()) - special.gammaln(alpha).sum()
                             + (np.log(full) * (alpha - 1.0)).sum(axis=1))
                    out += np.where(np.all(full > 0, axis=1), value, -np.inf)
                else:
                    out += _lkj_log_density(prior.d, prior.eta, x)
        return np.where(np.isnan(out), -np.inf, out)

    def to_z(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """z(θ) and ln |∂z/∂θ|, for θ of shape (n, ndim) inside the prior's support."""
        theta = np.atleast_2d(theta)
        z = np.empty_like(theta)
        log_jac = np.zeros(theta.shape[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            for kind, part, prior in self.parts:
                x = theta[:, part]
                if kind in ("univariate", "ordered"):
                    base = prior if kind == "univariate" else prior.base
                    z[:, part], jac = _bounded_to_z(x, *base.support())
                    log_jac += jac
                elif kind == "weights":
                    full = np.log(np.concatenate([x, 1.0 - x.sum(axis=1, keepdims=True)],
                                                 axis=1))
                    z[:, part] = full[:, :-1] - full[:, -1:]
                    log_jac -= full.sum(axis=1)
                else:
                    z[:, part] = np.arctanh(x)
                    log_jac -= np.log1p(-x * x).sum(axis=1)
        return z, log_jac

    def from_z(self, z: np.ndarray) -> np.ndarray:
        """θ(z), the inverse of :meth:`to_z`."""
        theta = np.empty_like(z)
        with np.errstate(over="ignore"):
            for kind, part, prior in self.parts:
                v = z[:, part]
                if kind in ("univariate", "ordered"):
                    base = prior if kind == "univariate" else prior.base
                    theta[:, part] = _bounded_from_z(v, *base.support())
                elif kind == "weights":
                    full = special.softmax(np.concatenate([v, np.zeros((len(v), 1))], axis=1),
                                           axis=1)
                    theta[:, part] = full[:, :-1]
                else:
                    theta[:, part] = np.tanh(v)
        return theta


def _bounded_to_z(x: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """Unconstrained coordinates of x in (low, high) and ln |dz/dx| summed over columns."""
    if math.isinf(low) and math.isinf(high):
        return x.copy(), np.zeros(x.shape[0])
    if math.isinf(high):
        gap = x - low
        return np.log(gap), -np.log(gap).sum(axis=1)
    if math.isinf(low):
        gap = high - x
        return np.log(gap), -np.log(gap).sum(axis=1)
    t = (x - low) / (high - low)
    return (special.logit(t),
            -(np.log(t) + np.log1p(-t) + math.log(high - low)).sum(axis=1))


def _bounded_from_z(z: np.ndarray, low: float, high: float) -> np.ndarray:
    if math.isinf(low) and math.isinf(high):
        return z.copy()
    if math.isinf(high):
        return low + np.exp(z)
    if math.isinf(low):
        return high - np.exp(z)
    return low + (high - low) * special.expit(z)


def _lkj_log_density(d: int, eta: float, upper: np.ndarray) -> np.ndarray:
    """ln LKJ(η) density of the correlation matrices with these upper triangles (row by row),
    det(C)^(η−1) / c_d(η) (Lewandowski, Kurowicka & Joe 2009, eq. 16); −inf where C is not
    positive definite."""
    n = upper.shape[0]
    corr = np.broadcast_to(np.eye(d), (n, d, d)).copy()
    iu = np.triu_indices(d, 1)
    corr[:, iu[0], iu[1]] = upper
    corr[:, iu[1], iu[0]] = upper
    finite = np.all(np.isfinite(upper), axis=1)
    corr[~finite] = np.eye(d)
    smallest = np.linalg.eigvalsh(corr)[:, 0]
    _, logdet = np.linalg.slogdet(corr)
    log_c = sum((2 * eta - 2 + d - k) * (d - k) * math.log(2.0)
                + (d - k) * special.betaln(eta + (d - k - 1) / 2, eta + (d - k - 1) / 2)
                for k in range(1, d))
    return np.where(finite & (smallest > 0), (eta - 1.0) * logdet - log_c, -np.inf)


def prior_log_density(model: Any, theta: np.ndarray) -> np.ndarray:
    """ln π(θ) of a :class:`nestmix.MixtureModel`'s prior at θ of shape (n, ndim).

    Raises
    ------
    ValueError
        For a prior block whose density is not known (a user-defined transform).
    """
    return PriorCoordinates(model.prior).log_prior(np.asarray(theta, dtype=float))
