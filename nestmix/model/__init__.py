"""The mixture model: what the user chose (:class:`ModelSpec`), the parameter layout and
priors (:mod:`nestmix.model.layout`), the likelihood kernels (:mod:`nestmix.model.kernels`) and
the model a sampler runs (:class:`MixtureModel`)."""

from nestmix.model.mixture import MixtureModel, Parameters
from nestmix.model.spec import COVARIANCE_TYPES, ModelSpec

__all__ = ["COVARIANCE_TYPES", "MixtureModel", "ModelSpec", "Parameters"]
