"""Where each mixture parameter sits in the parameter vector, and the prior that fills it.

The full parameter vector φ of a K-component model holds, in order: the free weights (all but
the last, which is implied; Gaussians ``w_1 … w_K``, then custom components ``w_<name>``, then
the background ``w_bg``), the K × D means, the scales (variances or standard deviations; one
set per component, or one shared set when tied), the correlations (upper triangles, for
``full`` and ``tied`` covariances in D >= 2) and the custom components' parameters
``<name>_<param>`` in component order. :func:`build_prior` assembles the unit-cube prior
over φ from the user's prior specifications; :class:`Layout` turns φ back into weights, means and
covariance matrices.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from nestmix.components.base import component_priors
from nestmix.errors import ModelError, PriorError, keyed
from nestmix.priors import (
    Fixed,
    LKJCorrelation,
    OrderedBlock,
    StickBreakingDirichlet,
    Univariate,
    univariate_from_spec,
)
from nestmix.priors.blocks import Block, BlockPrior, group_by_prior

__all__ = ["Layout", "ModelChoices", "Parameters", "build_prior", "weight_labels"]


class ModelChoices(Protocol):
    """What the layout, the priors and :class:`~nestmix.model.mixture.MixtureModel` read of a
    model's description: :class:`~nestmix.model.spec.ModelSpec` is one (typed by its fields
    here, so that the layout needs not import the module that builds models from it)."""

    @property
    def covariance(self) -> str: ...

    @property
    def background(self) -> str: ...

    @property
    def order(self) -> str: ...

    @property
    def priors(self) -> Mapping[str, Any]: ...

    @property
    def background_box(self) -> tuple | None: ...

    @property
    def extra_components(self) -> tuple: ...

    def to_dict(self) -> dict: ...


@dataclass(frozen=True)
class Parameters:
    """Mixture parameters for a batch of m parameter vectors.

    Attributes
    ----------
    weights : ndarray, shape (m, K_total)
        Component weights: the K Gaussians, then the custom components, then the background
        when there is one; rows sum to one.
    means : ndarray, shape (m, K, D)
    covariances : ndarray, shape (m, K, D, D)
        Intrinsic covariances of the Gaussian components.
    extra : mapping of str to ndarray, shape (m,)
        The custom components' parameters by full name ``<name>_<param>`` (fixed ones too);
        empty without custom components.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    extra: Mapping[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Layout:
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
    extra_names: tuple[str, ...] = ()  # custom components' parameters, <name>_<param>

    @classmethod
    def create(cls, spec: ModelChoices, k: int, d: int, n_components: int) -> Layout:
        cov = spec.covariance
        tied = cov == "tied"
        scales_per_set = 1 if (d == 1 or cov == "spherical") else d
        return cls(
            k=k, d=d, n_components=n_components, covariance=cov,
            scale_is_sigma="sigma" in spec.priors,
            n_weights=n_components - 1,
            n_scale_sets=0 if k == 0 else 1 if tied else k,
            scales_per_set=scales_per_set,
            with_corr=k > 0 and d >= 2 and cov in ("full", "tied"),
            extra_names=tuple(f"{c.name}_{p}" for c in spec.extra_components
                              for p in c.parameters),
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

    @property
    def extra_offset(self) -> int:
        return self.corr_offset + self.n_scale_sets * self.n_corr

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
        extra = {name: phi[:, self.extra_offset + i] for i, name in enumerate(self.extra_names)}
        return Parameters(weights=weights, means=means, covariances=covs, extra=extra)


# ---------------------------------------------------------------------- prior
def weight_labels(spec: ModelChoices, k: int, background: bool) -> tuple[str, ...]:
    """Names of all K_total weights: ``w_1 … w_K``, ``w_<name>`` per custom component, ``w_bg``."""
    return (tuple(f"w_{j + 1}" for j in range(k))
            + tuple(f"w_{c.name}" for c in spec.extra_components)
            + (("w_bg",) if background else ()))


def build_prior(spec: ModelChoices, k: int, d: int, n_components: int,
                 columns: tuple[str, ...]) -> BlockPrior:
    layout = Layout.create(spec, k, d, n_components)
    priors = spec.priors
    names: list[str] = []
    blocks: list[Block] = []
    fixed: list[tuple[int, float]] = []
    axis = [""] if d == 1 else [f"_{c}" for c in columns]

    # weights: stick-breaking over all components, the last weight implied
    weight_spec = _weights_spec(priors.get("weights", {"dist": "dirichlet", "alpha": 1.0}))
    labels = weight_labels(spec, k, n_components > k + len(spec.extra_components))
    names += labels[:-1]
    if n_components > 1:
        try:
            stick = StickBreakingDirichlet.create(n_components, weight_spec)
        except PriorError as exc:
            raise _rekeyed(exc, "model.priors.weights") from None
        blocks.append(Block("weights", tuple(range(n_components - 1)),
                            _FreeWeights(stick), stick.to_dict()))
    if k > 0:
        _gaussian_blocks(spec, layout, names, blocks, fixed, axis)
    _custom_blocks(spec, layout, names, blocks, fixed)
    return BlockPrior(tuple(names), tuple(blocks), tuple(fixed))


def _gaussian_blocks(spec: ModelChoices, layout: Layout, names: list[str], blocks: list[Block],
                     fixed: list[tuple[int, float]], axis: list[str]) -> None:
    """Means, scales and correlations of the K Gaussian components."""
    priors = spec.priors
    k, d = layout.k, layout.d
    missing = [key for key in ("mean", "variance | sigma")
               if not any(p in priors for p in key.split(" | "))]
    if missing:
        raise ModelError(f"K = {k} Gaussian components need a prior "
                         f"{' and a prior '.join(repr(m) for m in missing)}", key="model.priors")

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
            raise PriorError(f"the prior allows negative values "
                             f"(support starts at {low}); use a positive distribution",
                             key=f"model.priors.{scale_key}")
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


def _custom_blocks(spec: ModelChoices, layout: Layout, names: list[str], blocks: list[Block],
                   fixed: list[tuple[int, float]]) -> None:
    """Independent priors of the custom components' parameters, one block name per component."""
    offset = layout.extra_offset
    for component in spec.extra_components:
        key = f"model.extra_components.{component.name}.priors"
        entries = []
        for param, prior_spec in component_priors(component).items():
            names.append(f"{component.name}_{param}")
            entries.append((_prior(prior_spec, f"{key}.{param}"), offset))
            offset += 1
        _add_independent(blocks, fixed, component.name, entries)


@dataclass(frozen=True)
class _FreeWeights:
    """Stick-breaking weights without the last one, which is implied (picklable)."""

    stick: StickBreakingDirichlet
    drops_last = True  # tells the compiled prior (nestmix.priors._compiled) what this is

    def __call__(self, u: np.ndarray) -> np.ndarray:
        return self.stick.transform(u)[:, :-1]


@dataclass(frozen=True)
class _UpperTriangle:
    """The off-diagonal correlations of LKJ draws, upper triangle row by row (picklable)."""

    lkj: LKJCorrelation
    upper_triangle = True  # tells the compiled prior (nestmix.priors._compiled) what this is

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
        univariate: Any = prior  # one of the Univariate priors in ``entries``
        blocks.append(Block(name, tuple(targets), univariate.ppf, univariate.to_dict()))


def _per_axis(spec: Any, n: int, key: str) -> list:
    if isinstance(spec, (list, tuple)):
        if len(spec) != n:
            raise PriorError(f"a list of priors needs one per dimension ({n}), "
                             f"got {len(spec)}", key=key)
        return [_prior(s, f"{key}[{i}]") for i, s in enumerate(spec)]
    return [_prior(spec, key)] * n


def _special_spec(spec: Any, key: str, dist: str, parameter: str, what: str) -> Any:
    """The one parameter of a ``{dist = "dirichlet" | "lkj", ...}`` spec, checked."""
    if not isinstance(spec, Mapping) or spec.get("dist") != dist:
        name = {"dirichlet": "Dirichlet", "lkj": "LKJ"}[dist]
        raise PriorError(f'{what} take a {name} prior, e.g. '
                         f'{{ dist = "{dist}", {parameter} = 1.0 }}', key=key)
    unknown = sorted(set(spec) - {"dist", parameter})
    if unknown:
        raise PriorError(f"unknown parameter {unknown[0]!r}; valid: {parameter}", key=key)
    return spec.get(parameter, 1.0)


def _weights_spec(spec: Any) -> Any:
    return _special_spec(spec, "model.priors.weights", "dirichlet", "alpha", "weights")


def _lkj_eta(spec: Any) -> float:
    key = "model.priors.correlation"
    eta = _special_spec(spec, key, "lkj", "eta", "correlations")
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not math.isfinite(eta) \
            or eta <= 0:
        raise PriorError(f"eta must be a positive number, got {eta!r}", key=key)
    return float(eta)


def _prior(spec: Any, key: str) -> Univariate | Fixed:
    """The prior ``spec`` read from configuration key ``key``; its errors carry the key."""
    try:
        return univariate_from_spec(spec, key=key)
    except PriorError as exc:
        raise keyed(exc, key) from None


def _rekeyed(exc: PriorError, key: str) -> PriorError:
    """The same message, with the configuration key instead of the block's name."""
    message = str(exc)
    head, sep, tail = message.partition(": ")
    if sep and " " not in head:
        message = tail
    return PriorError(message, key=key)
