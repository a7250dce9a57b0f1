"""Prior transforms from the unit cube, vectorised over points.

Each prior maps cube coordinates ``u`` of shape ``(n, ndim)`` (or any leading shape) to
parameter values, the form nested samplers need: :class:`Univariate` for any continuous
``scipy.stats`` distribution (closed forms for the common ones), :class:`Fixed` for held
parameters, :class:`StickBreakingDirichlet` for mixture weights, :class:`OrderedBlock` for
label-ordered component parameters and :class:`LKJCorrelation` for correlation matrices.
"""

from nestmix.priors.covariance import LKJCorrelation, covariance_from_scales
from nestmix.priors.ordered import OrderedBlock
from nestmix.priors.simplex import StickBreakingDirichlet
from nestmix.priors.univariate import Fixed, Univariate, univariate_from_spec

__all__ = [
    "Fixed",
    "LKJCorrelation",
    "OrderedBlock",
    "StickBreakingDirichlet",
    "Univariate",
    "covariance_from_scales",
    "univariate_from_spec",
]
