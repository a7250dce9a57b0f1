"""Prior sensitivity of an evidence, without new runs: reweight the posterior to another prior.

For a prior p'(θ) that differs from the run's p(θ) only in the widths of the mean and scale
priors, Z' = ∫ L p' dθ = Z · E_post[p'/p], so

    ln Z' = ln Z + ln Σ_i w_i p'(θ_i) / p(θ_i)

over the run's weighted posterior samples. The estimate is only as good as the samples cover
the new prior's posterior: it holds while the effective sample size of the reweighted samples
stays large (:attr:`PriorSensitivity.reliable`), which is the case for priors wider than the run's
(the new posterior is the old one, slightly reweighted) and fails for priors so narrow that they
cut into the posterior.

"Twice as wide" (``factor = 2``) means: a uniform prior keeps its centre and doubles its width; a
log-uniform prior keeps its centre in ln and doubles its width in ln; any other distribution
doubles its ``scale`` (location priors: its spread; scale priors such as the inverse-gamma: the
typical scale). Weight (Dirichlet) and correlation (LKJ) priors, fixed parameters and custom
components' priors are left as they are.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from scipy.special import logsumexp

from nestmix.errors import PriorError
from nestmix.priors import Univariate, univariate_from_spec

__all__ = ["PriorSensitivity", "prior_sensitivity", "scaled_prior"]

MIN_EFFECTIVE = 100.0  # reweighted effective samples below this make the estimate unreliable
SCALED_KEYS = ("mean", "variance", "sigma")
_PARAMETER = re.compile(r"^(mu|sigma|var)(?:_(\d+))?(?:_(.+))?$")


@dataclass(frozen=True)
class PriorSensitivity:
    """The evidence under a prior whose widths are scaled by ``factor``.

    Attributes
    ----------
    factor : float
        Width of the new mean and scale priors relative to the run's.
    logz : float
        ln Z' estimated by reweighting (the run's ln Z plus ``shift``).
    shift : float
        ln Z' − ln Z = ln E_post[p'/p].
    n_effective : float
        Effective sample size of the reweighted posterior samples.
    reliable : bool
        Whether ``n_effective`` is at least :data:`MIN_EFFECTIVE` (else ``shift`` may be off).
    """

    factor: float
    logz: float
    shift: float
    n_effective: float
    reliable: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"factor": self.factor, "logZ": self.logz, "shift": self.shift,
                "n_effective": self.n_effective, "reliable": self.reliable}


def scaled_prior(spec: Any, factor: float, key: str = "prior") -> Any:
    """A prior specification ``factor`` times as wide (see the module docstring).

    Parameters
    ----------
    spec : mapping, number or list of them
        A prior specification as in a config (a number, i.e. a fixed value, is returned as it is;
        a list is one spec per dimension).
    factor : float
        Positive width factor.
    key : str
        Name of the setting, for error messages.
    """
    if not (isinstance(factor, (int, float)) and math.isfinite(factor) and factor > 0):
        raise PriorError(f"{key}: the width factor must be a positive number, got {factor!r}")
    if isinstance(spec, (list, tuple)):
        return [scaled_prior(s, factor, f"{key}[{i}]") for i, s in enumerate(spec)]
    if not isinstance(spec, Mapping):
        return spec
    prior = univariate_from_spec(spec, key=key)
    params = dict(getattr(prior, "params", ()))
    dist = getattr(prior, "dist", None)
    if dist == "uniform":
        loc, scale = params.get("loc", 0.0), params.get("scale", 1.0)
        return {"dist": "uniform", "loc": loc + scale * (1 - factor) / 2, "scale": scale * factor}
    if dist == "loguniform":
        centre = 0.5 * (math.log(params["a"]) + math.log(params["b"]))
        half = 0.5 * factor * (math.log(params["b"]) - math.log(params["a"]))
        return {"dist": "loguniform", "a": math.exp(centre - half), "b": math.exp(centre + half)}
    return {"dist": dist, **params, "scale": params.get("scale", 1.0) * factor}


def prior_sensitivity(model: Any, samples: np.ndarray, weights: np.ndarray, logz: float,
                      factor: float) -> PriorSensitivity:
    """The evidence of ``model`` under mean and scale priors ``factor`` times as wide.

    Parameters
    ----------
    model : MixtureModel
        The model the run sampled (its ``spec.priors`` and ``param_names``).
    samples : ndarray, shape (n, ndim)
        The run's posterior samples θ (in any labelling: the priors are exchangeable).
    weights : ndarray, shape (n,)
        Their normalised posterior weights.
    logz : float
        The run's ln Z.
    factor : float
        Width factor of the new priors (2: twice as wide; 0.5: half as wide).

    Returns
    -------
    PriorSensitivity
    """
    priors = model.spec.priors
    columns = list(model.data.columns)
    custom = tuple(f"{c.name}_" for c in model.extra_components)
    log_ratio = np.zeros(len(samples))
    for j, name in enumerate(model.param_names):
        spec = None if name.startswith(custom) else _spec_of(name, priors, columns)
        if spec is None:
            continue
        old, new = _frozen(spec), _frozen(scaled_prior(spec, factor))
        with np.errstate(divide="ignore", invalid="ignore"):
            log_ratio += new.logpdf(samples[:, j]) - old.logpdf(samples[:, j])
    with np.errstate(divide="ignore"):
        terms = np.log(weights) + log_ratio
    shift = float(logsumexp(terms))
    if not math.isfinite(shift):
        return PriorSensitivity(factor, -math.inf, -math.inf, 0.0, False)
    reweighted = np.exp(terms - shift)
    n_effective = float(1.0 / np.sum(reweighted**2))
    return PriorSensitivity(factor=float(factor), logz=logz + shift, shift=shift,
                            n_effective=n_effective, reliable=n_effective >= MIN_EFFECTIVE)


def _frozen(spec: Mapping[str, Any]) -> Any:
    """The frozen scipy distribution of a (non-fixed) prior specification."""
    return cast(Univariate, univariate_from_spec(spec)).frozen()


def _spec_of(name: str, priors: Mapping[str, Any], columns: list[str]) -> Any:
    """The prior spec of one mean or scale parameter (None for any other parameter)."""
    match = _PARAMETER.match(name)
    if match is None:
        return None
    kind, _, column = match.groups()
    key = {"mu": "mean", "sigma": "sigma", "var": "variance"}[kind]
    spec = priors.get(key)
    if isinstance(spec, (list, tuple)):
        spec = spec[columns.index(column)] if column in columns else spec[0]
    return spec if isinstance(spec, Mapping) else None
