"""Component families: per-point log-densities of mixture components.

The deconvolved Gaussian (the family a sweep counts) and the uniform background are built in;
custom families follow the interface of :mod:`nestmix.components.base`, and the built-in ones
(``line``, ``gaussian_outlier``, ``student_t``, ``exponential_space_density``,
``gaussian_cluster``) are registered
by name.
"""

from nestmix.components.background import UniformBox, default_box
from nestmix.components.base import (
    COMPONENT_FAMILIES,
    Component,
    component_priors,
    describe_component,
    make_component,
    probe_component,
    register_component,
)
from nestmix.components.builtin import GaussianOutlier, Line, StudentT
from nestmix.components.cluster import GaussianCluster
from nestmix.components.gaussian import gaussian_log_density
from nestmix.components.space_density import ExponentialSpaceDensity

__all__ = [
    "COMPONENT_FAMILIES",
    "Component",
    "ExponentialSpaceDensity",
    "GaussianCluster",
    "GaussianOutlier",
    "Line",
    "StudentT",
    "UniformBox",
    "component_priors",
    "default_box",
    "describe_component",
    "gaussian_log_density",
    "make_component",
    "probe_component",
    "register_component",
]
