"""Old import path of :mod:`nestmix.posterior.shrinkage`, kept for notebooks and scripts."""

from nestmix.posterior.shrinkage import Shrinkage, shrinkage

__all__ = ["Shrinkage", "shrinkage"]
