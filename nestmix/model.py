"""Mixture models: K deconvolved Gaussian components, optionally over a uniform background.

The observed density of point i is

    p(y_i | θ) = Σ_k w_k N(y_i | μ_k, Σ_k + S_i)  [+ w_bg U(y_i | box)]

with S_i the point's measurement covariance (zero when the data have no errors). Weights get a
stick-breaking Dirichlet(α) prior; means, scales and correlations get unit-cube priors from
:mod:`nestmix.priors`. The same :class:`MixtureModel` answers ``prior_transform``,
``log_likelihood`` (one θ or a batch) and per-point per-component log-densities.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nestmix.components import UniformBox, default_box, gaussian_log_density
from nestmix.data import Measurements
from nestmix.errors import ModelError, PriorError
from nestmix.priors import (
    Fixed,
    LKJCorrelation,
    OrderedBlock,
    StickBreakingDirichlet,
    univariate_from_spec,
)
from nestmix.priors.blocks import Block, BlockPrior, group_by_prior

__all__ = ["COVARIANCE_TYPES", "MixtureModel", "ModelSpec", "Parameters"]

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")
BACKGROUNDS = ("none", "uniform")
ORDERS = ("none", "means")
PRIOR_KEYS = ("mean", "variance", "sigma", "correlation", "weights")
_CHUNK_ELEMENTS = 4_000_000  # bound on m × N × K × D² per batched likelihood chunk


@dataclass(frozen=True)
class Parameters:
    """Mixture parameters for a batch of m parameter vectors.

    Attributes
    ----------
    weights : ndarray, shape (m, K_total)
        Component weights, the background's last when there is one; rows sum to one.
    means : ndarray, shape (m, K, D)
    covariances : ndarray, shape (m, K, D, D)
        Intrinsic covariances of the Gaussian components.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray


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
        eta = 1}``) and ``weights`` (``{dist = "dirichlet", alpha = 1}``). Mean and scale priors
        are one spec for every dimension or a list with one spec per dimension; a number holds
        the parameter fixed.
    background_box : tuple or None
        (D, 2) edges of the uniform background; default the data's range padded by 10%.
    components : str
        The component family; ``gaussian``.
    """

    covariance: str = "full"
    background: str = "none"
    order: str = "none"
    priors: Mapping[str, Any] = field(default_factory=dict)
    background_box: tuple | None = None
    components: str = "gaussian"

    def __post_init__(self) -> None:
        _check_choice("model.components", self.components, ("gaussian",))
        _check_choice("model.covariance", self.covariance, COVARIANCE_TYPES)
        _check_choice("model.background", self.background, BACKGROUNDS)
        _check_choice("model.order", self.order, ORDERS)
        unknown = sorted(set(self.priors) - set(PRIOR_KEYS))
        if unknown:
            raise ModelError(
                f"model.priors: unknown prior {unknown[0]!r}; valid: {', '.join(PRIOR_KEYS)}"
            )
        if "mean" not in self.priors:
            raise ModelError("model.priors: missing 'mean' (the prior on component means)")
        if ("variance" in self.priors) == ("sigma" in self.priors):
            raise ModelError(
                "model.priors: give exactly one of 'variance' or 'sigma' "
                "(the prior on component variances or standard deviations)"
            )
        if self.background_box is not None and self.background != "uniform":
            raise ModelError("model.background_box is only used with background = 'uniform'")

    def build(self, data: Measurements, k: int) -> MixtureModel:
        """The model with ``k`` Gaussian components for ``data``."""
        return MixtureModel(data, k, self)

    def to_dict(self) -> dict:
        """JSON-able description (input to run fingerprints)."""
        return {
            "components": self.components,
            "covariance": self.covariance,
            "background": self.background,
            "order": self.order,
            "priors": _jsonable(dict(self.priors)),
            "background_box": None if self.background_box is None else _jsonable(
                self.background_box),
        }


class MixtureModel:
    """A K-component Gaussian mixture, optionally over a uniform background, for given data.

    Parameters
    ----------
    data : Measurements
        Values (N, D) with optional per-point covariances, deconvolved in the likelihood.
    k : int
        Number of Gaussian components, at least 1.
    spec : ModelSpec
        Covariance family, background, ordering and priors.

    Attributes
    ----------
    param_names : tuple of str
        Names of the sampled parameters θ, in order.
    ndim : int
        Length of θ and of the unit cube.
    """

    def __init__(self, data: Measurements, k: int, spec: ModelSpec) -> None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ModelError(f"the number of components K must be an integer >= 1, got {k!r}")
        self.data = data
        self.k = int(k)
        self.spec = spec
        self.n_dims = data.n_dims
        self.has_background = spec.background == "uniform"
        self.n_components = self.k + int(self.has_background)
        if self.has_background:
            edges = spec.background_box
            if edges is None:
                edges = default_box(np.asarray(data.values))
            self.background = UniformBox.create(edges, np.asarray(data.values))
            self._log_background = self.background.log_density_of(np.asarray(data.values))
        else:
            self.background = None
            self._log_background = None
        self.prior = _build_prior(spec, self.k, self.n_dims, self.n_components, data.columns)
        self._layout = _Layout.create(spec, self.k, self.n_dims, self.n_components)
        self.param_names = self.prior.free_names
        self.ndim = self.prior.ndim
        data.require_points(self.ndim, f"the model with K={self.k}")
        self._values = np.asarray(data.values)
        self._point_cov = None if data.covariances is None else np.asarray(data.covariances)
        self._chunk = max(1, _CHUNK_ELEMENTS // (data.n_points * self.n_components
                                                 * self.n_dims**2))

    # ----------------------------------------------------------------- prior
    def prior_transform(self, u: np.ndarray) -> np.ndarray:
        """Map unit-cube points to parameters θ.

        Parameters
        ----------
        u : ndarray, shape (ndim,) or (n, ndim)

        Returns
        -------
        ndarray, same shape as ``u``
        """
        u = np.asarray(u, dtype=float)
        if u.ndim == 1:
            return self.prior.transform(u[None, :])[0]
        return self.prior.transform(u)

    # ------------------------------------------------------------ parameters
    def expand(self, theta: np.ndarray) -> Parameters:
        """Weights, means and covariances for θ of shape (ndim,) or (m, ndim)."""
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        return self._layout.expand(self.prior.full(theta))

    # ------------------------------------------------------------ likelihood
    def component_log_densities(self, theta: np.ndarray) -> np.ndarray:
        """log p_k(y_i | θ) of every point under every component, weights not included.

        Parameters
        ----------
        theta : ndarray, shape (ndim,) or (m, ndim)

        Returns
        -------
        ndarray, shape (N, K_total) or (m, N, K_total)
            The background, when there is one, is the last column.
        """
        single = np.ndim(theta) == 1
        params = self.expand(theta)
        out = self._log_densities(params)
        return out[0] if single else out

    def _log_densities(self, params: Parameters) -> np.ndarray:
        dens = gaussian_log_density(self._values, self._point_cov, params.means,
                                    params.covariances)
        if self.has_background:
            bg = np.broadcast_to(self._log_background[None, :, None],
                                 (dens.shape[0], dens.shape[1], 1))
            dens = np.concatenate([dens, bg], axis=2)
        return dens

    def log_likelihood(self, theta: np.ndarray) -> float:
        """Log-likelihood of the data for one parameter vector θ of shape (ndim,)."""
        return float(self.log_likelihood_batch(np.asarray(theta, dtype=float)[None, :])[0])

    def log_likelihood_batch(self, thetas: np.ndarray) -> np.ndarray:
        """Log-likelihoods for many parameter vectors, shape (m, ndim) → (m,).

        Evaluated in chunks of θ so that memory stays bounded for large m × N × K.
        """
        thetas = np.atleast_2d(np.asarray(thetas, dtype=float))
        out = np.empty(thetas.shape[0])
        for start in range(0, thetas.shape[0], self._chunk):
            params = self.expand(thetas[start:start + self._chunk])
            with np.errstate(divide="ignore"):
                log_w = np.log(params.weights)[:, None, :]
            terms = self._log_densities(params) + log_w
            peak = terms.max(axis=2)
            safe = np.where(np.isfinite(peak), peak, 0.0)
            per_point = safe + np.log(np.exp(terms - safe[..., None]).sum(axis=2))
            out[start:start + self._chunk] = per_point.sum(axis=1)
        return np.where(np.isnan(out), -np.inf, out)

    def membership_log_probabilities(self, theta: np.ndarray) -> np.ndarray:
        """log of w_k p_k(y_i) / Σ_j w_j p_j(y_i), shape (N, K_total), for one θ."""
        params = self.expand(theta)
        with np.errstate(divide="ignore"):
            terms = self._log_densities(params)[0] + np.log(params.weights[0])[None, :]
        peak = terms.max(axis=1, keepdims=True)
        return terms - (peak + np.log(np.exp(terms - peak).sum(axis=1, keepdims=True)))

    # ---------------------------------------------------------- description
    def describe(self) -> dict:
        """JSON-able description of the model (without the data) for fingerprints."""
        return {
            **self.spec.to_dict(),
            "k": self.k,
            "ndim": self.ndim,
            "parameters": list(self.param_names),
            "prior_blocks": self.prior.describe(),
            "background_box": None if self.background is None else self.background.to_dict(),
        }

    def __repr__(self) -> str:
        bg = " + uniform background" if self.has_background else ""
        return (f"MixtureModel(K={self.k}{bg}, D={self.n_dims}, covariance="
                f"{self.spec.covariance!r}, order={self.spec.order!r}, ndim={self.ndim})")


# --------------------------------------------------------------------- layout
@dataclass(frozen=True)
class _Layout:
    """Where weights, means, scales and correlations sit in the full parameter vector φ."""

    k: int
    d: int
    n_components: int
    covariance: str
    scale_is_sigma: bool
    n_weights: int
    n_scale_sets: int  # K, or 1 when tied
    scales_per_set: int  # 1 (spherical) or D
    with_corr: bool

    @classmethod
    def create(cls, spec: ModelSpec, k: int, d: int, n_components: int) -> _Layout:
        cov = spec.covariance
        tied = cov == "tied"
        scales_per_set = 1 if (d == 1 or cov == "spherical") else d
        return cls(
            k=k, d=d, n_components=n_components, covariance=cov,
            scale_is_sigma="sigma" in spec.priors,
            n_weights=n_components - 1,
            n_scale_sets=1 if tied else k,
            scales_per_set=scales_per_set,
            with_corr=d >= 2 and cov in ("full", "tied"),
        )

    @property
    def mean_offset(self) -> int:
        return self.n_weights

    @property
    def scale_offset(self) -> int:
        return self.n_weights + self.k * self.d

    @property
    def corr_offset(self) -> int:
        return self.scale_offset + self.n_scale_sets * self.scales_per_set

    @property
    def n_corr(self) -> int:
        return self.d * (self.d - 1) // 2 if self.with_corr else 0

    def expand(self, phi: np.ndarray) -> Parameters:
        m = phi.shape[0]
        k, d = self.k, self.d
        free_w = phi[:, :self.n_weights]
        last = np.clip(1.0 - free_w.sum(axis=1, keepdims=True), 0.0, None)
        weights = np.concatenate([free_w, last], axis=1)
        means = phi[:, self.mean_offset:self.scale_offset].reshape(m, k, d)
        scales = phi[:, self.scale_offset:self.corr_offset].reshape(
            m, self.n_scale_sets, self.scales_per_set)
        variances = scales**2 if self.scale_is_sigma else scales
        if self.scales_per_set == 1:
            variances = np.repeat(variances, d, axis=2)
        if self.with_corr:
            corr = np.broadcast_to(np.eye(d), (m, self.n_scale_sets, d, d)).copy()
            iu = np.triu_indices(d, 1)
            values = phi[:, self.corr_offset:self.corr_offset
                         + self.n_scale_sets * self.n_corr].reshape(m, self.n_scale_sets, -1)
            corr[:, :, iu[0], iu[1]] = values
            corr[:, :, iu[1], iu[0]] = values
            std = np.sqrt(variances)
            covs = corr * std[..., :, None] * std[..., None, :]
        else:
            covs = variances[..., :, None] * np.eye(d)
        if self.n_scale_sets == 1 and k > 1:
            covs = np.broadcast_to(covs, (m, k, d, d))
        return Parameters(weights=weights, means=means, covariances=covs)


# ---------------------------------------------------------------------- prior
def _build_prior(spec: ModelSpec, k: int, d: int, n_components: int,
                 columns: tuple[str, ...]) -> BlockPrior:
    layout = _Layout.create(spec, k, d, n_components)
    priors = spec.priors
    names: list[str] = []
    blocks: list[Block] = []
    fixed: list[tuple[int, float]] = []
    axis = [""] if d == 1 else [f"_{c}" for c in columns]

    # weights: stick-breaking over all components, the last weight implied
    weight_spec = _weights_spec(priors.get("weights", {"dist": "dirichlet", "alpha": 1.0}))
    labels = [f"w_{j + 1}" for j in range(k)] + (["w_bg"] if n_components > k else [])
    names += labels[:-1]
    if n_components > 1:
        try:
            stick = StickBreakingDirichlet.create(n_components, weight_spec)
        except PriorError as exc:
            raise _rekeyed(exc, "model.priors.weights") from None
        blocks.append(Block("weights", tuple(range(n_components - 1)),
                            _FreeWeights(stick), stick.to_dict()))

    # means, K × D
    mean_priors = _per_axis(priors["mean"], d, "model.priors.mean")
    offset = layout.mean_offset
    names += [f"mu_{j + 1}{axis[a]}" for j in range(k) for a in range(d)]
    mean_index = [[offset + j * d + a for a in range(d)] for j in range(k)]
    first_axis_ordered = spec.order == "means" and k > 1
    if first_axis_ordered:
        base = mean_priors[0]
        if isinstance(base, Fixed):
            raise ModelError("model.order = 'means' needs a prior on the means, not a fixed value")
        ordered = OrderedBlock(base, k)
        blocks.append(Block("mean_ordered", tuple(mean_index[j][0] for j in range(k)),
                            ordered.transform, ordered.to_dict()))
    rest = [(mean_priors[a], mean_index[j][a]) for j in range(k) for a in range(d)
            if not (first_axis_ordered and a == 0)]
    _add_independent(blocks, fixed, "mean", rest)

    # scales: variances or standard deviations
    scale_key = "sigma" if layout.scale_is_sigma else "variance"
    scale_priors = _per_axis(priors[scale_key], layout.scales_per_set, f"model.priors.{scale_key}")
    symbol = "sigma" if layout.scale_is_sigma else "var"
    offset = layout.scale_offset
    set_labels = [""] if layout.n_scale_sets == 1 else [f"_{j + 1}" for j in range(k)]
    scale_axis = [""] if layout.scales_per_set == 1 else axis
    scale_entries = []
    for s in range(layout.n_scale_sets):
        for a in range(layout.scales_per_set):
            names.append(f"{symbol}{set_labels[s]}{scale_axis[a]}")
            scale_entries.append((scale_priors[a], offset + s * layout.scales_per_set + a))
    for prior, _ in scale_entries:
        low = prior.value if isinstance(prior, Fixed) else prior.support()[0]
        if low < 0:
            raise PriorError(f"model.priors.{scale_key}: the prior allows negative values "
                             f"(support starts at {low}); use a positive distribution")
    _add_independent(blocks, fixed, scale_key, scale_entries)

    # correlations: LKJ(eta) per covariance set
    if "correlation" in priors and not layout.with_corr:
        raise ModelError("model.priors.correlation is only used with covariance 'full' or "
                         "'tied' in two or more dimensions")
    if layout.with_corr:
        eta = _lkj_eta(priors.get("correlation", {"dist": "lkj", "eta": 1.0}))
        try:
            lkj = LKJCorrelation(d, eta)
        except PriorError as exc:
            raise _rekeyed(exc, "model.priors.correlation") from None
        iu = np.triu_indices(d, 1)
        offset = layout.corr_offset
        for s in range(layout.n_scale_sets):
            names += [f"rho{set_labels[s]}{axis[i]}{axis[j]}" for i, j in zip(*iu, strict=True)]
            targets = tuple(offset + s * layout.n_corr + t for t in range(layout.n_corr))
            blocks.append(Block("correlation", targets, _UpperTriangle(lkj), lkj.to_dict()))
    return BlockPrior(tuple(names), tuple(blocks), tuple(fixed))


@dataclass(frozen=True)
class _FreeWeights:
    """Stick-breaking weights without the last one, which is implied (picklable)."""

    stick: StickBreakingDirichlet

    def __call__(self, u: np.ndarray) -> np.ndarray:
        return self.stick.transform(u)[:, :-1]


@dataclass(frozen=True)
class _UpperTriangle:
    """The off-diagonal correlations of LKJ draws, upper triangle row by row (picklable)."""

    lkj: LKJCorrelation

    def __call__(self, u: np.ndarray) -> np.ndarray:
        iu = np.triu_indices(self.lkj.d, 1)
        return self.lkj.transform(u)[:, iu[0], iu[1]]


def _add_independent(blocks: list[Block], fixed: list[tuple[int, float]], name: str,
                     entries: list[tuple[Any, int]]) -> None:
    free = [(p, t) for p, t in entries if not isinstance(p, Fixed)]
    fixed += [(t, float(p.value)) for p, t in entries if isinstance(p, Fixed)]
    if not free:
        return
    for prior, targets in group_by_prior([p for p, _ in free], [t for _, t in free]):
        blocks.append(Block(name, tuple(targets), prior.ppf, prior.to_dict()))


def _per_axis(spec: Any, n: int, key: str) -> list:
    if isinstance(spec, (list, tuple)):
        if len(spec) != n:
            raise PriorError(f"{key}: a list of priors needs one per dimension ({n}), "
                             f"got {len(spec)}")
        return [univariate_from_spec(s, key=f"{key}[{i}]") for i, s in enumerate(spec)]
    return [univariate_from_spec(spec, key=key)] * n


def _weights_spec(spec: Any) -> Any:
    key = "model.priors.weights"
    if not isinstance(spec, Mapping) or spec.get("dist") != "dirichlet":
        raise PriorError(f"{key}: weights take a Dirichlet prior, "
                         "e.g. {{ dist = \"dirichlet\", alpha = 1.0 }}")
    unknown = sorted(set(spec) - {"dist", "alpha"})
    if unknown:
        raise PriorError(f"{key}: unknown parameter {unknown[0]!r}; valid: alpha")
    return spec.get("alpha", 1.0)


def _lkj_eta(spec: Any) -> float:
    key = "model.priors.correlation"
    if not isinstance(spec, Mapping) or spec.get("dist") != "lkj":
        raise PriorError(f"{key}: correlations take an LKJ prior, e.g. "
                         "{{ dist = \"lkj\", eta = 1.0 }}")
    unknown = sorted(set(spec) - {"dist", "eta"})
    if unknown:
        raise PriorError(f"{key}: unknown parameter {unknown[0]!r}; valid: eta")
    eta = spec.get("eta", 1.0)
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not math.isfinite(eta) \
            or eta <= 0:
        raise PriorError(f"{key}: eta must be a positive number, got {eta!r}")
    return float(eta)


def _rekeyed(exc: PriorError, key: str) -> PriorError:
    """The same message, prefixed with the configuration key instead of the block's name."""
    message = str(exc)
    head, sep, tail = message.partition(": ")
    if sep and " " not in head:
        message = tail
    return PriorError(f"{key}: {message}")


def _check_choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ModelError(f"{key}: unknown value {value!r}; valid: {', '.join(choices)}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
