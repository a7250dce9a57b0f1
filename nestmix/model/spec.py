"""What defines a mixture model apart from the data and K: :class:`ModelSpec`.

It is checked when made and is JSON-able (:meth:`ModelSpec.to_dict`, the input to run
fingerprints); :meth:`ModelSpec.build` makes the :class:`~nestmix.model.mixture.MixtureModel`
for given data and K.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from nestmix.components import component_priors, describe_component
from nestmix.errors import ModelError
from nestmix.priors.explicit import check_explicit

if TYPE_CHECKING:
    from nestmix.data.measurements import Measurements
    from nestmix.model.mixture import MixtureModel

__all__ = ["BACKGROUNDS", "COVARIANCE_TYPES", "ORDERS", "PRIOR_KEYS", "ModelSpec"]

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")
BACKGROUNDS = ("none", "uniform")
ORDERS = ("none", "means")
PRIOR_KEYS = ("mean", "variance", "sigma", "correlation", "weights")


@dataclass(frozen=True)
class ModelSpec:
    """Everything that defines a mixture model except the data and K.

    Attributes
    ----------
    covariance : str
        ``full``, ``diag``, ``spherical`` or ``tied`` (scikit-learn's names; in 1-D the first
        three coincide and ``tied`` means one variance shared by all components).
    background : str
        ``none`` or ``uniform`` (a flat density over ``background_box``).
    order : str
        ``none`` (exchangeable labels) or ``means`` (means ordered along the first axis).
    priors : mapping
        ``mean``, one of ``variance`` / ``sigma``, optional ``correlation`` (``{dist = "lkj",
        eta = 1}``) and ``weights`` (``{dist = "dirichlet", alpha = 1}``; α a number or one per
        component: Gaussians, custom components, background). Mean and scale priors are one
        spec for every dimension or a list with one spec per dimension; a number holds the
        parameter fixed. ``mean`` and the scale may be left out when there are custom
        components, for models with K = 0 Gaussians. Left empty (no custom components), the
        priors come from the data (:func:`nestmix.priors.defaults.default_priors`, see
        :meth:`with_data_priors`). A distribution must state its ``scale`` (and a prior on the
        means its ``loc``): scipy's silent ``scale = 1`` is refused.
    background_box : tuple or None
        (D, 2) edges of the uniform background; default the data's range padded by 10%.
    components : str
        The family counted by K; ``gaussian``.
    extra_components : tuple
        Custom components (:class:`nestmix.components.Component` or any object with ``name``,
        ``parameters``, ``priors``, ``columns`` and ``log_density``), mixed in after the K
        Gaussians and before the background and never relabelled. With any, K may be 0.
    """

    covariance: str = "full"
    background: str = "none"
    order: str = "none"
    priors: Mapping[str, Any] = field(default_factory=dict)
    background_box: tuple | None = None
    components: str = "gaussian"
    extra_components: tuple = ()

    def __post_init__(self) -> None:
        extra = self.extra_components
        if isinstance(extra, (str, Mapping)) or not isinstance(extra, (tuple, list)):
            raise ModelError("must be a sequence of components", key="model.extra_components")
        object.__setattr__(self, "extra_components", tuple(extra))
        seen: set[str] = set()
        for component in self.extra_components:
            component_priors(component)
            if component.name in seen:
                raise ModelError("two components "
                                 "have this name; names must be unique",
                                 key=f"model.extra_components.{component.name}")
            seen.add(component.name)
        _check_choice("model.components", self.components, ("gaussian",))
        _check_choice("model.covariance", self.covariance, COVARIANCE_TYPES)
        _check_choice("model.background", self.background, BACKGROUNDS)
        _check_choice("model.order", self.order, ORDERS)
        unknown = sorted(set(self.priors) - set(PRIOR_KEYS))
        if unknown:
            raise ModelError(f"unknown prior {unknown[0]!r}; valid: {', '.join(PRIOR_KEYS)}",
                             key="model.priors")
        gaussians_optional = bool(self.extra_components) or self.uses_default_priors
        for name in ("mean", "variance", "sigma"):
            if name in self.priors:
                check_explicit(name, self.priors[name])
        if "mean" not in self.priors and not gaussians_optional:
            raise ModelError("missing 'mean' (the prior on component means)", key="model.priors")
        if ("variance" in self.priors and "sigma" in self.priors) or not (
                gaussians_optional or "variance" in self.priors or "sigma" in self.priors):
            raise ModelError("give exactly one of 'variance' or 'sigma' (the prior on component "
                             "variances or standard deviations)", key="model.priors")
        if self.background_box is not None and self.background != "uniform":
            raise ModelError("model.background_box is only used with background = 'uniform'")

    @property
    def uses_default_priors(self) -> bool:
        """True when no priors were given for a mixture of Gaussians only: they come from the
        data (:meth:`with_data_priors`)."""
        return not self.priors and not self.extra_components

    def with_data_priors(self, data: Measurements) -> ModelSpec:
        """This spec, with :func:`nestmix.priors.defaults.default_priors` of ``data`` when no
        priors were given (else itself)."""
        if not self.uses_default_priors:
            return self
        from nestmix.priors.defaults import default_priors

        return replace(self, priors=default_priors(data, self.covariance))

    def build(self, data: Measurements, k: int) -> MixtureModel:
        """The model with ``k`` Gaussian components for ``data`` (default priors from ``data``
        when none were given)."""
        from nestmix.model.mixture import MixtureModel

        return MixtureModel(data, k, self.with_data_priors(data))

    @classmethod
    def from_dict(cls, description: Mapping[str, Any]) -> ModelSpec:
        """Rebuild a spec from :meth:`to_dict` (as stored in a sweep's manifest).

        Raises
        ------
        ModelError
            If a custom component is a user's Python class rather than a built-in family
            (its code is not stored, only its fingerprint).
        """
        from nestmix.components import COMPONENT_FAMILIES, make_component

        extra = []
        for entry in description.get("extra_components", []):
            family = entry.get("family", "")
            if family not in COMPONENT_FAMILIES:
                raise ModelError(f"the component {entry.get('name')!r} is a user class "
                                 f"({family}); it cannot be rebuilt from the stored description")
            extra.append(make_component(family, entry["name"], entry.get("priors"),
                                        **entry.get("options", {})))
        box = description.get("background_box")
        return cls(covariance=description["covariance"], background=description["background"],
                   order=description["order"], priors=dict(description.get("priors", {})),
                   background_box=None if box is None else tuple(tuple(e) for e in box),
                   components=description.get("components", "gaussian"),
                   extra_components=tuple(extra))

    def to_dict(self) -> dict:
        """JSON-able description (input to run fingerprints)."""
        out = {
            "components": self.components,
            "covariance": self.covariance,
            "background": self.background,
            "order": self.order,
            "priors": _jsonable(dict(self.priors)),
            "background_box": None if self.background_box is None else _jsonable(
                self.background_box),
        }
        if self.extra_components:  # only then, so that existing fingerprints stay as they were
            out["extra_components"] = [_jsonable(describe_component(c))
                                       for c in self.extra_components]
        return out


def _check_choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ModelError(f"unknown value {value!r}; valid: {', '.join(choices)}", key=key)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
