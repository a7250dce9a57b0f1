"""What the posteriors of a sweep say about the data: predictive densities and memberships
(:mod:`~nestmix.posterior.predictive`) and per-object shrinkage
(:mod:`~nestmix.posterior.shrinkage`)."""

from nestmix.posterior.shrinkage import Shrinkage, shrinkage

__all__ = ["Shrinkage", "shrinkage"]
