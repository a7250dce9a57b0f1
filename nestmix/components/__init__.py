"""Component families: per-point log-densities of mixture components."""

from nestmix.components.background import UniformBox, default_box
from nestmix.components.gaussian import gaussian_log_density

__all__ = ["UniformBox", "default_box", "gaussian_log_density"]
