"""A scikit-learn estimator: Gaussian mixtures whose K and covariance model are chosen by
Bayesian evidence.

>>> from nestmix import NestedGaussianMixture
>>> gm = NestedGaussianMixture().fit(X)                       # doctest: +SKIP
>>> gm.best_k_, gm.means_, gm.predict_proba(X)                # doctest: +SKIP

scikit-learn is optional here: when it is installed the estimator is one of its own
(:class:`sklearn.base.BaseEstimator` and ``DensityMixin``: ``clone``, pipelines, grid searches,
its repr, ``NotFittedError``); without it the estimator keeps the same parameters, repr and
methods. This module imports scikit-learn when it is imported, so ``nestmix`` exposes the
estimator lazily and ``import nestmix`` does not load scikit-learn.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import logsumexp

from nestmix.errors import ConfigError, DataError
from nestmix.estimator_input import (
    BACKGROUNDS,
    COVARIANCES_1D,
    COVARIANCES_ND,
    InvalidParameterError,
    NoMixin,
    NotFittedFallback,
    ParamsBase,
    check_k,
    check_max_minutes,
    check_n_draws,
    check_parameters,
    choices,
    numbers,
    string_columns,
)
from nestmix.samplers.registry import DEFAULT_SAMPLER
from nestmix.sweep.cost import DEFAULT_MAX_MINUTES

__all__ = ["InvalidParameterError", "NestedGaussianMixture", "NotFittedError"]

try:  # scikit-learn is optional: with it, the estimator is one of its own
    from sklearn.base import BaseEstimator as _Base
    from sklearn.base import DensityMixin as _Density
    from sklearn.exceptions import NotFittedError
except ImportError:  # pragma: no cover - tested in a subprocess that hides scikit-learn
    _Base, _Density, NotFittedError = ParamsBase, NoMixin, NotFittedFallback


class NestedGaussianMixture(_Density, _Base):  # type: ignore[valid-type,misc]
    """Gaussian mixture whose number of components and covariance model are chosen by evidence.

    Where :class:`sklearn.mixture.GaussianMixture` fits one K and one covariance model by
    maximum likelihood (and a user compares BIC over a loop), this estimator runs nested
    sampling for every (covariance model, background, K) in the grid and picks the pair with
    the highest Bayesian evidence. The fitted parameters are posterior means of the
    relabelled samples of the best model, with their posterior standard deviations;
    memberships and densities average over posterior draws. Measurement errors are
    deconvolved: pass each point's standard deviations (``errors``) or covariances, and the
    fitted covariances are the intrinsic ones.

    The defaults are the grid of ``nestmix sweep points.csv`` (zero-config): K = 1..4, every
    covariance model, no background, dynesty with the zero-config live points (50, more when
    the largest model has more than 24 parameters), seed 1.

    Parameters
    ----------
    k : int or iterable of int, default=(1, 2, 3, 4)
        The numbers of Gaussian components to compare.
    covariance : str or sequence of str, default="auto"
        ``full``, ``diag``, ``spherical``, ``tied`` (scikit-learn's names), a list of them, or
        ``auto``: all four in D >= 2, ``full`` and ``tied`` in 1-D (where the first three are
        the same model).
    background : str or sequence of str, default="none"
        ``none``, ``uniform`` (a flat population over the data's range padded by 10%), a
        list, or ``auto`` (both: twice the runs).
    sampler : str, default="dynesty"
        ``dynesty`` or ``polychord``.
    priors : mapping, optional
        Prior specifications as a config's ``[model.priors]``; default
        :func:`nestmix.priors.defaults.default_priors` of the data for each covariance model.
    sampler_settings : mapping, optional
        Settings for the sampler (e.g. ``{"nlive": 250}``); dynesty runs with the zero-config
        live points (:func:`nestmix.sweep.zeroconf.zero_config_nlive`: 50, more for models of
        more than 24 parameters) unless they say otherwise, PolyChord with its own defaults.
    seed : int, default=1
        Master seed; every run's seed derives from it, so a fit is reproducible.
    n_jobs : int, optional
        Worker processes for the runs: None, the number of cores (divided by the processes
        one run takes); -1 every core, -2 all but one (joblib's convention); 1 runs here.
    directory : str or Path, optional
        Where the runs are kept: one models × K grid sweep (``model=<label>/`` per model,
        :func:`nestmix.run_sweep`), or a plain sweep for one model, as ``nestmix
        sweep --out`` makes them (``nestmix show``, ``nestmix report`` and
        :func:`nestmix.open_sweep` read it). Fitting again with the same data and settings
        reuses every finished run, and an interrupted fit resumes; one made from other data or
        settings is refused (give each its own, and leave it None under cross-validation). By
        default (None) the runs go to a temporary directory that is removed when ``fit``
        returns: nothing is left on disk, and every fit starts over.
    n_draws : int, default=400
        Posterior draws behind the fitted parameters and predictions.
    max_minutes : float, default=30
        ``fit`` estimates what the runs will cost before the first one, from a short pilot of
        the likelihood on this machine (:func:`nestmix.sweep.cost.estimate_cost`: "16 runs,
        about 12 minutes on 2 cores"), and refuses to start above this many minutes, as
        ``nestmix sweep points.csv`` does (its ``--max-minutes``), with a one-line
        :class:`~nestmix.errors.ConfigError` saying how to narrow the grid. 0: no limit.
        Runs already finished in ``directory`` are not counted. The limit does not change
        the runs: a fit with another limit reuses them.
    verbose : int, default=0
        0 prints nothing; 1 or more prints the cost estimate first, then shows the runs'
        progress as ``nestmix sweep`` does (a live table of the running runs on a terminal, a
        line per running run every minute elsewhere, and a line as each run starts and
        finishes).

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
    n_features_in_ : int
        D, the number of columns of ``X``.
    feature_names_in_ : ndarray of str
        The column names of ``X``, only when it had string column names (a DataFrame's).
    directory_ : Path or None
        Where the runs are; None when they were made in a temporary directory.

    Notes
    -----
    Unlike scikit-learn's estimators, a 1-D ``X`` is taken as N points of one feature (as
    the galaxy velocities are), not refused.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs                     # doctest: +SKIP
    >>> X, _ = make_blobs(500, centers=3, random_state=0)            # doctest: +SKIP
    >>> gm = NestedGaussianMixture(verbose=1).fit(X)                 # doctest: +SKIP
    >>> gm.best_k_, gm.best_model_["covariance"]                    # doctest: +SKIP
    (3, 'spherical')
    """

    def __init__(self, k: int | Iterable[int] = (1, 2, 3, 4),
                 covariance: str | Sequence[str] = "auto",
                 background: str | Sequence[str] = "none", sampler: str = DEFAULT_SAMPLER,
                 priors: Mapping[str, Any] | None = None,
                 sampler_settings: Mapping[str, Any] | None = None,
                 seed: int = 1, n_jobs: int | None = None,
                 directory: str | Path | None = None, n_draws: int = 400,
                 max_minutes: float = DEFAULT_MAX_MINUTES, verbose: int = 0) -> None:
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
        self.max_minutes = max_minutes
        self.verbose = verbose

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "_params")

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

        Raises
        ------
        InvalidParameterError
            For a constructor parameter of a bad type or value, before anything runs.
        nestmix.errors.ConfigError
            Keyed ``max_minutes``, when the cost estimate is above it (nothing runs, nothing
            is written).
        nestmix.errors.NestmixError
            For unusable data, priors or settings (a ``ValueError``), before anything runs.
        """

        check_parameters(self.get_params())
        ks, n_draws = check_k(self.k), check_n_draws(self.n_draws)
        data = self._measurements(X, errors, covariances, fitting=True)
        plan = self._plan(data, ks)
        n_jobs = self._workers(plan)
        self._check_cost(plan, n_jobs)
        with ExitStack() as stack:
            if self.directory is None:
                directory = Path(stack.enter_context(tempfile.TemporaryDirectory(
                    prefix="nestmix-estimator-", ignore_cleanup_errors=True)))
            else:
                directory = Path(self.directory)
            say = None
            if self.verbose:
                from nestmix.cli_progress import LiveProgress

                stack.enter_context(LiveProgress(directory))
                say = _print
            cells, where = self._run(plan, directory, n_jobs, say)
            self._evidence(cells)
            spec, model_directory = where[str(self.evidence_["model"].iloc[0])]
            self._posterior(spec, model_directory, data, n_draws)
        self.directory_ = None if self.directory is None else directory
        self._columns = list(data.columns)
        self.n_features_in_ = data.n_dims
        names = string_columns(X)
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(self, "feature_names_in_"):  # fitted before on a DataFrame
            del self.feature_names_in_
        if self.verbose:
            best = self.evidence_.iloc[0]
            _print(f"best: K = {self.best_k_}, {best['model']} (P = {best['p']:.3g})")
        return self

    def fit_predict(self, X: Any, y: Any = None, *, errors: Any = None,
                    covariances: Any = None) -> np.ndarray:
        """:meth:`fit`, then :meth:`predict` on the same points."""
        return self.fit(X, errors=errors, covariances=covariances).predict(
            X, errors=errors, covariances=covariances)

    def _plan(self, data: Any, ks: tuple[int, ...]) -> Any:
        """The SweepPlan of the fit (one model or several), checked (priors, settings)."""
        from nestmix.components.background import default_box
        from nestmix.model import ModelSpec
        from nestmix.sweep.plan import SweepPlan

        covs, backgrounds = self._models(data.n_dims)
        box = tuple(tuple(float(v) for v in edge) for edge in default_box(data.values))
        specs = tuple(ModelSpec(covariance=cov, background=bg,
                                priors=dict(self.priors) if self.priors is not None else {},
                                background_box=box if bg == "uniform" else None)
                      for cov in covs for bg in backgrounds)  # no priors: the data's defaults
        common = dict(name="estimator", data=data, k_values=ks, sampler=self.sampler,
                      settings=self._settings(data.n_dims, max(ks), backgrounds),
                      seed=int(self.seed))
        return SweepPlan(specs=specs, **common)  # type: ignore[arg-type]

    def _check_cost(self, plan: Any, n_jobs: int) -> None:
        """Estimate the runs' cost (printed when verbose); refuse above ``max_minutes``."""
        import math
        import sys

        from nestmix.sweep.cost import estimate_cost, kernels_cached, refusal

        limit = check_max_minutes(self.max_minutes)
        if not self.verbose and math.isinf(limit):
            return
        if self.verbose and not kernels_cached():
            print("nestmix: compiling the likelihood kernels for this machine (once, about a "
                  "minute; cached afterwards)", file=sys.stderr, flush=True)
        where = None if self.directory is None else Path(self.directory)
        estimate = estimate_cost(plan, n_jobs, where if where and where.is_dir() else None)
        if not estimate.runs:
            return
        problem = refusal(estimate, limit, zero_config=True, who="estimator")
        if problem is not None:
            raise ConfigError("max_minutes", problem)
        if self.verbose:
            _print(f"cost: {estimate.line()} (estimated from a pilot of the likelihood)")

    def _run(self, plan: Any, directory: Path, n_jobs: int, say: Any) -> tuple[list, dict]:
        """Run the plan; (label, spec, row) of every row, and each model's (spec, directory)."""
        from nestmix.sweep import run_sweep

        result = run_sweep(plan, directory, n_jobs=n_jobs, progress=say)
        where = {label: (sub.spec, place) for label, sub, place in plan.model_sweeps(directory)}
        if result.is_grid:
            return [(c.model, where[c.model][0], c.row) for c in result.cells], where
        (label, (spec, _)), = where.items()
        return [(label, spec, row) for row in result.rows], where

    def _evidence(self, cells: list) -> None:
        import pandas as pd

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

    def _posterior(self, spec: Any, directory: Path, data: Any, n_draws: int) -> None:
        from nestmix.store import open_sweep

        archive = open_sweep(directory)
        run = archive.run(self.best_k_, self.sampler)
        stored = archive.analysis(self.best_k_, self.sampler)
        samples = run.samples if stored is None else stored[1]["relabelled_samples"]
        rng = np.random.default_rng(self.seed)
        draws = samples[rng.choice(len(samples), size=n_draws, p=run.weights)]
        model = spec.build(data, self.best_k_)
        params = model.expand(draws)
        self._spec = spec
        self._params = params
        self._log_volume = (None if model.background is None
                            else float(np.sum(np.log(np.diff(_box(spec), axis=1)))))
        self.component_names_ = tuple(name.removeprefix("w_") for name in model.weight_names)
        self.weights_, self.weights_std_ = params.weights.mean(0), params.weights.std(0)
        self.means_, self.means_std_ = params.means.mean(0), params.means.std(0)
        self.covariances_ = params.covariances.mean(0)
        self.covariances_std_ = params.covariances.std(0)

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
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
                or n_samples < 1:
            raise InvalidParameterError("n_samples", f"must be an integer >= 1, got "
                                                     f"{n_samples!r}")
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
        from nestmix.components.gaussian import gaussian_log_density

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

    def _measurements(self, X: Any, errors: Any, covariances: Any, fitting: bool) -> Any:
        """``X`` (and its errors) as Measurements, checked as scikit-learn checks its input."""
        from nestmix.data.measurements import Measurements

        names = string_columns(X)
        values = numbers(X)
        if values.ndim == 1 and not fitting and self.n_features_in_ > 1:
            raise DataError(f"X is 1-D ({values.size} values) but the model was fitted on "
                            f"{self.n_features_in_} features. Reshape your data: "
                            "X.reshape(1, -1) for one point")
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2:
            raise DataError(f"X has shape {values.shape}; expected (N, D) or (N,)")
        n, d = values.shape
        if d == 0 or n == 0:  # scikit-learn's wording, which its checks look for
            what = "0 feature(s)" if d == 0 else "0 sample(s)"
            raise DataError(f"Found array with {what} (shape={values.shape}) while a "
                            "minimum of 1 is required.")
        if fitting:
            if n == 1:
                raise DataError("X has 1 sample; a mixture needs at least 2 points")
            columns = names or (["x"] if d == 1 else [f"x{i}" for i in range(d)])
        elif d != self.n_features_in_:
            raise DataError(f"X has {d} features, but {type(self).__name__} is expecting "
                            f"{self.n_features_in_} features as input")
        elif names is not None and hasattr(self, "feature_names_in_") \
                and list(names) != list(self.feature_names_in_):
            raise DataError(f"X has the columns {names}; the model was fitted on "
                            f"{list(self.feature_names_in_)}")
        err = None if errors is None else numbers(errors, "errors")
        if err is not None and err.ndim == 1:
            err = err[:, None]
        return Measurements.from_arrays(values, errors=err, covariances=covariances,
                                        columns=columns if fitting else list(self._columns),
                                        source="NestedGaussianMixture")

    # ---------------------------------------------------------------- parameters
    def _models(self, n_dims: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        covs = choices("covariance", self.covariance,
                       COVARIANCES_1D if n_dims == 1 else COVARIANCES_ND, COVARIANCES_ND)
        return covs, choices("background", self.background, BACKGROUNDS, BACKGROUNDS)

    def _settings(self, n_dims: int, kmax: int, backgrounds: tuple[str, ...]) -> dict[str, Any]:
        """The sampler settings, with the zero-config number of live points for the default
        sampler, as ``nestmix sweep points.csv`` sets it
        (:func:`nestmix.sweep.zeroconf.zero_config_nlive` of the grid's largest model)."""
        from nestmix.sweep.zeroconf import zero_config_nlive

        settings = dict(self.sampler_settings or {})
        own = settings.get(self.sampler)
        if self.sampler == DEFAULT_SAMPLER and "nlive" not in settings \
                and not (isinstance(own, Mapping) and "nlive" in own):
            settings["nlive"] = zero_config_nlive(n_dims, kmax, backgrounds)
        return settings

    def _workers(self, plan: Any) -> int:
        cores = os.cpu_count() or 1
        if self.n_jobs is None:
            from nestmix.samplers import get_sampler

            per_run = max(get_sampler(name).processes_per_run(plan.settings_for(name))
                          for name in plan.samplers)
            return max(1, cores // per_run)
        return int(self.n_jobs) if self.n_jobs > 0 else max(1, cores + 1 + int(self.n_jobs))

    def _check_fitted(self) -> None:
        if not hasattr(self, "_params"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(X) "
                                 "first")


def _print(line: str) -> None:
    print(line, flush=True)


def _box(spec: Any) -> tuple:
    assert spec.background_box is not None
    return spec.background_box
