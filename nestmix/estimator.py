"""A scikit-learn-style estimator: Gaussian mixtures whose K and covariance model are chosen by
Bayesian evidence.

>>> from nestmix import NestedGaussianMixture
>>> gm = NestedGaussianMixture(k=range(1, 5)).fit(X)          # doctest: +SKIP
>>> gm.best_k_, gm.means_, gm.predict_proba(X)                # doctest: +SKIP
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import logsumexp

from nestmix.components.background import default_box
from nestmix.components.gaussian import gaussian_log_density
from nestmix.data import Measurements
from nestmix.errors import ConfigError, DataError
from nestmix.model import ModelSpec
from nestmix.store import open_sweep
from nestmix.store.grid import model_directory, model_label
from nestmix.sweep import SweepPlan, run_sweep
from nestmix.sweep.grid import GridPlan, run_grid

__all__ = ["NestedGaussianMixture"]

COVARIANCES_1D = ("full", "tied")  # in 1-D, full = diag = spherical
COVARIANCES_ND = ("full", "diag", "spherical", "tied")
BACKGROUNDS = ("none", "uniform")


class NestedGaussianMixture:
    """Gaussian mixture whose number of components and covariance model are chosen by evidence.

    Where :class:`sklearn.mixture.GaussianMixture` fits one K and one covariance model by
    maximum likelihood (and a user compares BIC over a loop), this estimator runs nested
    sampling for every (covariance model, background, K) in the grid, keeps every run on disk
    (resumable), and picks the pair with the highest Bayesian evidence. The fitted parameters
    are posterior means of the relabelled samples of the best model, with their posterior
    standard deviations; memberships and densities average over posterior draws. Measurement
    errors are deconvolved: pass each point's standard deviations (``errors``) or covariances,
    and the fitted covariances are the intrinsic ones.

    Parameters
    ----------
    k : int or iterable of int
        The numbers of Gaussian components to compare (default 1..6).
    covariance : str or sequence of str
        ``full``, ``diag``, ``spherical``, ``tied`` (scikit-learn's names), a list of them, or
        ``auto``: all four in D >= 2, ``full`` and ``tied`` in 1-D (where the first three are
        the same model).
    background : str or sequence of str
        ``none``, ``uniform`` (a flat population over the data's range padded by 10%), a list,
        or ``auto`` (both).
    sampler : str
        ``dynesty`` or ``polychord``.
    priors : mapping, optional
        Prior specifications as a config's ``[model.priors]``; default
        :func:`nestmix.priors.defaults.default_priors` of the data for each covariance model.
    sampler_settings : mapping, optional
        Settings for the sampler (e.g. ``{"nlive": 250}``).
    seed : int
        Master seed; every run's seed derives from it.
    n_jobs : int, optional
        Worker processes for the runs (default: the number of cores).
    directory : str or Path, optional
        Where the runs are kept: one models × K grid sweep (``model=<label>/`` per model,
        :func:`nestmix.sweep.grid.run_grid`), or a plain sweep for one model; a new temporary
        directory by default. Fitting again with the same data and settings reuses every
        finished run.
    n_draws : int
        Posterior draws behind the fitted parameters and predictions.

    Attributes
    ----------
    evidence_ : pandas.DataFrame
        One row per (model, K): ``model``, ``covariance``, ``background``, ``k``, ``logZ``,
        ``logZ_err``, ``ln_bf`` (against the best) and ``p`` (P(model, K | data) under a uniform
        prior over the grid), best first.
    best_k_ : int
    best_model_ : dict
        ``{"covariance": ..., "background": ...}`` of the best row.
    weights_, weights_std_ : ndarray, shape (n_components,)
        Component weights (the K Gaussians, then the background if any).
    means_, means_std_ : ndarray, shape (K, D)
    covariances_, covariances_std_ : ndarray, shape (K, D, D)
        Intrinsic (deconvolved) covariances.
    component_names_ : tuple of str
    feature_names_in_ : ndarray of str
        The column names of ``X`` (a DataFrame's, or ``x0``, ``x1``, ...).
    directory_ : Path
        Where the runs are.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs                     # doctest: +SKIP
    >>> X, _ = make_blobs(500, centers=3, random_state=0)            # doctest: +SKIP
    >>> gm = NestedGaussianMixture(k=range(1, 5)).fit(X)             # doctest: +SKIP
    >>> gm.best_k_, gm.best_model_["covariance"]                    # doctest: +SKIP
    (3, 'spherical')
    """

    def __init__(self, k: int | Iterable[int] = range(1, 7),
                 covariance: str | Sequence[str] = "auto",
                 background: str | Sequence[str] = "auto", sampler: str = "dynesty",
                 priors: dict | None = None, sampler_settings: dict | None = None,
                 seed: int = 1, n_jobs: int | None = None,
                 directory: str | Path | None = None, n_draws: int = 400) -> None:
        self.k = k
        self.covariance = covariance
        self.background = background
        self.sampler = sampler
        self.priors = priors
        self.sampler_settings = sampler_settings
        self.seed = seed
        self.n_jobs = n_jobs
        self.directory = directory
        self.n_draws = n_draws

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any = None, *, errors: Any = None,
            covariances: Any = None) -> NestedGaussianMixture:
        """Run the grid of sweeps and keep the best model's posterior.

        Parameters
        ----------
        X : array_like or pandas.DataFrame, shape (N, D) or (N,)
        y : ignored
            Present for scikit-learn's API.
        errors : array_like or pandas.DataFrame, optional
            Per-point standard deviations, the shape of ``X``.
        covariances : array_like, shape (N, D, D), optional
            Per-point measurement covariances (instead of ``errors``).

        Returns
        -------
        NestedGaussianMixture
            ``self``, fitted.
        """
        import pandas as pd

        data = self._measurements(X, errors, covariances, fitting=True)
        ks = self._k_values()
        covs, backgrounds = self._models(data.n_dims)
        box = tuple(tuple(float(v) for v in edge) for edge in default_box(data.values))
        self.directory_ = Path(self.directory if self.directory is not None
                               else tempfile.mkdtemp(prefix="nestmix-estimator-"))
        specs = tuple(ModelSpec(covariance=cov, background=bg,
                                priors=dict(self.priors) if self.priors is not None else {},
                                background_box=box if bg == "uniform" else None)
                      for cov in covs for bg in backgrounds)  # no priors: the data's defaults
        common = dict(name="estimator", data=data, k_values=ks, sampler=self.sampler,
                      settings=dict(self.sampler_settings or {}), seed=self.seed)
        n_jobs = self.n_jobs or os.cpu_count() or 1
        rows, where = [], {}
        if len(specs) == 1:  # one model: a plain sweep over K
            plan = SweepPlan(spec=specs[0], **common)  # type: ignore[arg-type]
            label = model_label(plan.spec.covariance, plan.spec.background)
            where[label] = (plan.spec, self.directory_)
            cells = [(label, plan.spec, row) for row in
                     run_sweep(plan, self.directory_, n_jobs=n_jobs).rows]
        else:  # every (model, K) in one grid sweep, one pool of workers
            grid = GridPlan(specs=specs, **common)  # type: ignore[arg-type]
            result = run_grid(grid, self.directory_, n_jobs=n_jobs)
            for label, sub in grid.plans:
                where[label] = (sub.spec, model_directory(self.directory_, label))
            cells = [(r.model, where[r.model][0], r.row) for r in result.rows]
        rows = [{"model": label, "covariance": spec.covariance, "background": spec.background,
                 "k": row.k, "logZ": row.logZ, "logZ_err": row.logZ_err}
                for label, spec, row in cells]
        table = pd.DataFrame(rows).sort_values("logZ", ascending=False, ignore_index=True)
        table["ln_bf"] = table["logZ"] - table["logZ"].iloc[0]
        table["p"] = np.exp(table["ln_bf"] - logsumexp(table["ln_bf"]))
        self.evidence_ = table
        best = table.iloc[0]
        self.best_k_ = int(best["k"])
        self.best_model_ = {"covariance": str(best["covariance"]),
                            "background": str(best["background"])}
        spec, directory = where[str(best["model"])]
        self._posterior(spec, directory, data)
        return self

    def _posterior(self, spec: ModelSpec, directory: Path, data: Measurements) -> None:
        archive = open_sweep(directory)
        run = archive.run(self.best_k_, self.sampler)
        stored = archive.analysis(self.best_k_, self.sampler)
        samples = run.samples if stored is None else stored[1]["relabelled_samples"]
        rng = np.random.default_rng(self.seed)
        draws = samples[rng.choice(len(samples), size=self.n_draws, p=run.weights)]
        model = spec.build(data, self.best_k_)
        params = model.expand(draws)
        self._spec = spec
        self._model = model
        self._params = params
        self._log_volume = (None if model.background is None
                            else float(np.sum(np.log(np.diff(_box(spec), axis=1)))))
        self.component_names_ = tuple(name.removeprefix("w_") for name in model.weight_names)
        self.weights_, self.weights_std_ = params.weights.mean(0), params.weights.std(0)
        self.means_, self.means_std_ = params.means.mean(0), params.means.std(0)
        self.covariances_ = params.covariances.mean(0)
        self.covariances_std_ = params.covariances.std(0)
        self.n_features_in_ = model.n_dims

    # --------------------------------------------------------------- prediction
    def predict_proba(self, X: Any, *, errors: Any = None, covariances: Any = None) -> np.ndarray:
        """Posterior membership probabilities, averaged over posterior draws.

        Returns
        -------
        ndarray, shape (N, n_components)
            Columns in the order of ``component_names_`` (Gaussians, then the background).
        """
        terms = self._log_terms(X, errors, covariances)
        norm = logsumexp(terms, axis=2, keepdims=True)
        with np.errstate(invalid="ignore"):
            shares = np.exp(terms - norm)
        shares = np.where(np.isfinite(norm), shares, 1.0 / terms.shape[2])
        return shares.mean(axis=0)

    def predict(self, X: Any, *, errors: Any = None, covariances: Any = None) -> np.ndarray:
        """The most probable component of each point (index into ``component_names_``)."""
        return np.argmax(self.predict_proba(X, errors=errors, covariances=covariances), axis=1)

    def score_samples(self, X: Any, *, errors: Any = None, covariances: Any = None) -> np.ndarray:
        """Log of the posterior predictive density of each point (errors convolved in)."""
        terms = self._log_terms(X, errors, covariances)
        per_draw = logsumexp(terms, axis=2)
        return logsumexp(per_draw, axis=0) - np.log(per_draw.shape[0])

    def score(self, X: Any, y: Any = None, *, errors: Any = None,
              covariances: Any = None) -> float:
        """Mean log posterior predictive density per point."""
        return float(np.mean(self.score_samples(X, errors=errors, covariances=covariances)))

    def sample(self, n_samples: int = 1, random_state: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Draw noise-free points from the posterior predictive distribution.

        Returns
        -------
        X : ndarray, shape (n_samples, D)
        labels : ndarray of int, shape (n_samples,)
            Index into ``component_names_``.
        """
        self._check_fitted()
        rng = np.random.default_rng(random_state)
        params = self._params
        draw = rng.integers(params.weights.shape[0], size=n_samples)
        weights = params.weights[draw]
        labels = (weights.cumsum(axis=1) > rng.random((n_samples, 1))).argmax(axis=1)
        out = np.empty((n_samples, self.n_features_in_))
        k = self.best_k_
        gauss = labels < k
        for i in np.flatnonzero(gauss):
            out[i] = rng.multivariate_normal(params.means[draw[i], labels[i]],
                                             params.covariances[draw[i], labels[i]])
        if np.any(~gauss):
            box = np.asarray(_box(self._spec))
            out[~gauss] = rng.uniform(box[:, 0], box[:, 1], size=(int(np.sum(~gauss)), len(box)))
        return out, labels

    # ------------------------------------------------------------------ helpers
    def _log_terms(self, X: Any, errors: Any, covariances: Any) -> np.ndarray:
        """log w_k p_k(x_i) for every draw, point and component: shape (m, N, n_components)."""
        self._check_fitted()
        data = self._measurements(X, errors, covariances, fitting=False)
        params = self._params
        dens = gaussian_log_density(np.asarray(data.values), data.covariances, params.means,
                                    params.covariances)
        if self._log_volume is not None:
            box = np.asarray(_box(self._spec))
            inside = np.all((data.values >= box[:, 0]) & (data.values <= box[:, 1]), axis=1)
            bg = np.where(inside, -self._log_volume, -np.inf)
            dens = np.concatenate([dens, np.broadcast_to(bg[None, :, None],
                                                         (dens.shape[0], len(bg), 1))], axis=2)
        with np.errstate(divide="ignore"):
            return dens + np.log(params.weights)[:, None, :]

    def _measurements(self, X: Any, errors: Any, covariances: Any,
                      fitting: bool) -> Measurements:
        columns = getattr(X, "columns", None)
        values = np.asarray(X, dtype=float)
        if values.ndim == 1:
            values = values[:, None]
        if fitting:
            names = ([str(c) for c in columns] if columns is not None else
                     ["x"] if values.shape[1] == 1 else [f"x{i}" for i in range(values.shape[1])])
            self.feature_names_in_ = np.asarray(names, dtype=object)
        elif values.ndim != 2 or values.shape[1] != self.n_features_in_:
            raise DataError(f"X has {values.shape[-1]} columns; the model was fitted on "
                            f"{self.n_features_in_}")
        err = None if errors is None else np.asarray(errors, dtype=float)
        if err is not None and err.ndim == 1:
            err = err[:, None]
        return Measurements.from_arrays(values, errors=err, covariances=covariances,
                                        columns=list(self.feature_names_in_),
                                        source="NestedGaussianMixture")

    def _k_values(self) -> tuple[int, ...]:
        ks = (self.k,) if isinstance(self.k, (int, np.integer)) else tuple(self.k)
        if not ks or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1
                         for k in ks):
            raise ConfigError("k", f"k must be integers >= 1, got {self.k!r}")
        return tuple(sorted({int(k) for k in ks}))

    def _models(self, n_dims: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        covs = _choices("covariance", self.covariance,
                        COVARIANCES_1D if n_dims == 1 else COVARIANCES_ND, COVARIANCES_ND)
        return covs, _choices("background", self.background, BACKGROUNDS, BACKGROUNDS)

    def _check_fitted(self) -> None:
        if not hasattr(self, "_params"):
            raise DataError("this NestedGaussianMixture is not fitted yet: call fit(X) first")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters (scikit-learn's estimator API)."""
        return {name: getattr(self, name) for name in (
            "k", "covariance", "background", "sampler", "priors", "sampler_settings", "seed",
            "n_jobs", "directory", "n_draws")}

    def set_params(self, **params: Any) -> NestedGaussianMixture:
        """Set constructor parameters (scikit-learn's estimator API)."""
        valid = self.get_params()
        for name, value in params.items():
            if name not in valid:
                raise ConfigError(name, f"unknown parameter {name!r}; valid: {', '.join(valid)}")
            setattr(self, name, value)
        return self


def _choices(key: str, value: str | Sequence[str], auto: tuple[str, ...],
             valid: tuple[str, ...]) -> tuple[str, ...]:
    chosen = auto if value == "auto" else (value,) if isinstance(value, str) else tuple(value)
    bad = [v for v in chosen if v not in valid]
    if not chosen or bad:
        raise ConfigError(key, f"{key} must be 'auto' or some of {', '.join(valid)}; got "
                               f"{value!r}")
    return tuple(dict.fromkeys(chosen))


def _box(spec: ModelSpec) -> tuple:
    assert spec.background_box is not None
    return spec.background_box

