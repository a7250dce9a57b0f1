"""The priors in the report: what each model used, in words, and how the verdict depends on them.

:func:`prior_table` lists the priors of the sweep's model (``μ ~ Normal(20, 10)``,
``σ ~ LogUniform(0.5, 20)``, ...). :func:`sensitivity_table` reweights each finished run's
posterior to mean and scale priors twice and half as wide (:mod:`nestmix.evidence.sensitivity`, no
new
runs) and compares the preferred K with the runner-up under each; :func:`sensitivity_verdict`
says it in one sentence per sampler, for the verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nestmix.evidence.sensitivity import MIN_EFFECTIVE, prior_sensitivity
from nestmix.report.document import Column, Table
from nestmix.results import rows_by_sampler

if TYPE_CHECKING:
    from nestmix.store.archive import SweepArchive

__all__ = ["FACTORS", "SensitivityRow", "describe_prior", "prior_table", "sensitivity_rows",
           "sensitivity_table", "sensitivity_verdict"]

FACTORS = (2.0, 0.5)  # prior widths compared with the run's
_WIDTH_WORDS = {2.0: "twice as wide", 0.5: "half as wide"}
_SYMBOLS = {"mean": "μ", "sigma": "σ", "variance": "σ²", "correlation": "correlation matrix",
            "weights": "weights w"}
_NAMES = {"norm": "Normal", "uniform": "Uniform", "loguniform": "LogUniform",
          "invgamma": "InvGamma", "gamma": "Gamma", "halfnorm": "HalfNormal",
          "lognorm": "LogNormal", "truncnorm": "TruncNormal", "halfcauchy": "HalfCauchy",
          "cauchy": "Cauchy", "t": "StudentT", "dirichlet": "Dirichlet", "lkj": "LKJ"}
_ALIASES = {"normal": "norm", "log-uniform": "loguniform", "reciprocal": "loguniform"}


def describe_prior(spec: Any) -> str:
    """A prior specification in words, e.g. ``Uniform(-3, 3)`` or ``InvGamma(a = 3, scale = 20)``.

    Parameters
    ----------
    spec : mapping, number or list
        As in a config's ``[model.priors]``: a number is a fixed value, a list one spec per
        dimension (joined with ``;``).

    Returns
    -------
    str
    """
    if isinstance(spec, (list, tuple)):
        return "; ".join(describe_prior(s) for s in spec)
    if not isinstance(spec, Mapping):
        return f"fixed at {_num(spec)}"
    dist = str(spec.get("dist", "?")).lower()
    dist = _ALIASES.get(dist, dist)
    params = {k: v for k, v in spec.items() if k != "dist"}
    name = _NAMES.get(dist, dist)
    if dist == "uniform":
        loc, scale = float(params.get("loc", 0.0)), float(params.get("scale", 1.0))
        return f"Uniform({_num(loc)}, {_num(loc + scale)})"
    if dist == "loguniform" and set(params) <= {"a", "b"}:
        return f"LogUniform({_num(params.get('a'))}, {_num(params.get('b'))})"
    if dist == "norm" and set(params) <= {"loc", "scale"}:
        return f"Normal({_num(params.get('loc', 0.0))}, {_num(params.get('scale', 1.0))})"
    if dist == "dirichlet":
        return f"Dirichlet(α = {_num(params.get('alpha', 1.0))})"
    if dist == "lkj":
        return f"LKJ(η = {_num(params.get('eta', 1.0))})"
    return f"{name}(" + ", ".join(f"{k} = {_num(v)}" for k, v in params.items()) + ")"


def _num(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_num(v) for v in value) + "]"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{float(value):.4g}"


PRIOR_COLUMNS = (
    Column("parameter", "parameter"),
    Column("applies_to", "applies to"),
    Column("prior", "prior"),
    Column("spec", "as in the config", show=False),
)


def prior_table(archive: SweepArchive) -> Table | None:
    """The priors of the sweep's model, one row per prior (per dimension where they differ).

    Parameters
    ----------
    archive : SweepArchive

    Returns
    -------
    Table or None
        Named ``priors``; None when the model specification cannot be rebuilt.
    """
    spec = archive.spec
    if spec is None:
        return None
    priors = dict(spec.priors)
    columns = _columns(archive)
    rows: list[tuple[Any, ...]] = []
    for key in ("mean", "sigma", "variance", "correlation", "weights"):
        if key not in priors and key not in ("weights", "correlation"):
            continue
        value = priors.get(key)
        if value is None:  # the model's built-in default
            if key == "correlation" and (spec.covariance not in ("full", "tied")
                                         or len(columns) < 2):
                continue
            value = {"dist": "dirichlet", "alpha": 1.0} if key == "weights" else {
                "dist": "lkj", "eta": 1.0}
        where = _applies_to(key, spec.covariance)
        if isinstance(value, (list, tuple)) and len(value) == len(columns) > 1:
            for column, one in zip(columns, value, strict=True):
                rows.append((f"{_SYMBOLS[key]} ({column})", where,
                             f"{_SYMBOLS[key]} ~ {describe_prior(one)}", repr(one)))
        else:
            rows.append((_SYMBOLS[key], where, f"{_SYMBOLS[key]} ~ {describe_prior(value)}",
                         repr(value)))
    for component in spec.extra_components:
        from nestmix.components import component_priors

        for param, one in component_priors(component).items():
            rows.append((f"{component.name}.{param}", f"component {component.name}",
                         f"{param} ~ {describe_prior(one)}", repr(one)))
    caption = ("The priors every K was run with. Every ln Z and Bayes factor depends on them: "
               "each extra component spends prior volume, so wider mean and scale priors "
               "penalise larger K (see the prior sensitivity below).")
    return Table("priors", "Priors", caption, PRIOR_COLUMNS, tuple(rows))


def _columns(archive: SweepArchive) -> list[str]:
    if archive.data is not None:
        return list(archive.data.columns) or [f"x{d + 1}" for d in range(archive.data.n_dims)]
    return list(archive.manifest.get("data", {}).get("columns") or ["x1"])


def _applies_to(key: str, covariance: str) -> str:
    return {"mean": "each component's mean",
            "sigma": "each component's standard deviation" + (
                " (shared)" if covariance == "tied" else ""),
            "variance": "each component's variance" + (
                " (shared)" if covariance == "tied" else ""),
            "correlation": "each component's correlations",
            "weights": "the mixture weights"}[key]


# ------------------------------------------------------------------------- sensitivity
@dataclass(frozen=True)
class SensitivityRow:
    """The preferred K against the runner-up under priors ``factor`` times as wide.

    Attributes
    ----------
    sampler : str
    factor : float
        Width of the mean and scale priors relative to the run's (1 for the run's own).
    best_k, runner_k : int
        The preferred K and the runner-up under the run's priors.
    ln_bf : float
        ln Bayes factor of ``best_k`` over ``runner_k`` under the scaled priors.
    ess_best, ess_runner : float
        Effective sample sizes of the reweighted posteriors of the two runs.
    reliable : bool
        Both at least :data:`nestmix.evidence.sensitivity.MIN_EFFECTIVE`.
    preferred_k : int
        The K with the highest reweighted ln Z among all finished K of the sampler.
    """

    sampler: str
    factor: float
    best_k: int
    runner_k: int
    ln_bf: float
    ess_best: float
    ess_runner: float
    reliable: bool
    preferred_k: int

    @property
    def survives(self) -> bool:
        """Whether ``best_k`` is still the preferred K under these priors."""
        return self.preferred_k == self.best_k


def sensitivity_rows(archive: SweepArchive, notes: list[str] | None = None
                     ) -> list[SensitivityRow]:
    """Reweight every finished run of each sampler to priors twice and half as wide.

    Parameters
    ----------
    archive : SweepArchive
    notes : list of str, optional
        Why a sampler is left out (model not rebuildable, a run unreadable) is appended here.

    Returns
    -------
    list of SensitivityRow
        For each sampler with at least two finished K: one row for the run's priors and one
        per factor in :data:`FACTORS`.
    """
    out: list[SensitivityRow] = []
    for sampler, rows in rows_by_sampler(archive.result.rows).items():
        if len(rows) < 2:
            continue
        ranked = sorted(rows, key=lambda r: r.logZ, reverse=True)
        best, runner = ranked[0], ranked[1]
        out.append(SensitivityRow(sampler, 1.0, best.k, runner.k, best.logZ - runner.logZ,
                                  best.n_effective, runner.n_effective, True, best.k))
        try:
            shifted = {}
            for row in rows:
                model = archive.model(row.k)
                if model is None:
                    raise LookupError(archive.spec_problem)
                run = archive.run(row.k, sampler)
                shifted[row.k] = [prior_sensitivity(model, run.samples, run.weights, row.logZ,
                                                    factor) for factor in FACTORS]
        except Exception as exc:  # the report goes on without this sampler's sensitivity
            if notes is not None:
                notes.append(f"prior sensitivity ({sampler}) not computed: "
                             f"{type(exc).__name__}: {exc}")
            out.pop()
            continue
        for i, factor in enumerate(FACTORS):
            b, r = shifted[best.k][i], shifted[runner.k][i]
            # only a K whose reweighted sample is reliable can be named preferred: an
            # unreliable estimate can be off by more than the margins it would decide
            trusted = [k for k in shifted if shifted[k][i].reliable]
            preferred = (max(trusted, key=lambda k: shifted[k][i].logz) if trusted
                         else best.k)
            out.append(SensitivityRow(sampler, factor, best.k, runner.k, b.logz - r.logz,
                                      b.n_effective, r.n_effective, b.reliable and r.reliable,
                                      preferred))
    return out


SENSITIVITY_COLUMNS = (
    Column("sampler", "sampler"),
    Column("width", "mean and scale priors"),
    Column("factor", "width factor", ".2g", show=False),
    Column("best_k", "preferred K", "d"),
    Column("runner_k", "runner-up K", "d"),
    Column("ln_bf", "ln BF", ".2f", help="ln Bayes factor of the preferred K over the runner-up"),
    Column("ess_best", "ESS preferred", ".0f",
           help="effective sample size of the reweighted posterior of the preferred K"),
    Column("ess_runner", "ESS runner-up", ".0f"),
    Column("reliable", "reliable", help=f"both ESS at least {MIN_EFFECTIVE:.0f}"),
    Column("preferred_k", "best K under these priors", "d",
           help="highest reweighted ln Z among all finished K"),
)


def sensitivity_table(rows: list[SensitivityRow]) -> Table | None:
    """The rows of :func:`sensitivity_rows` as a report table named ``prior_sensitivity``."""
    if not rows:
        return None
    body = tuple((r.sampler, "as run" if r.factor == 1 else _WIDTH_WORDS.get(r.factor,
                  f"× {r.factor:g}"), r.factor, r.best_k, r.runner_k, r.ln_bf, r.ess_best,
                  r.ess_runner, r.reliable, r.preferred_k) for r in rows)
    caption = ("The preferred K against the runner-up with the mean and scale priors twice and "
               "half as wide (uniform priors keep their centre; log-uniform priors their centre "
               "in ln; others scale their 'scale'), estimated by reweighting each run's "
               "posterior samples, without new runs: ln Z' = ln Z + ln E_post[p'/p]. Weight and "
               "correlation priors are unchanged. An estimate whose effective sample size falls "
               f"below {MIN_EFFECTIVE:.0f} is not to be trusted.")
    return Table("prior_sensitivity", "Prior sensitivity of the verdict", caption,
                 SENSITIVITY_COLUMNS, body, tuple(r.factor == 1 for r in rows))


def sensitivity_verdict(rows: list[SensitivityRow]) -> list[str]:
    """One sentence per sampler: does the preferred K survive priors twice and half as wide?"""
    out = []
    by_sampler: dict[str, list[SensitivityRow]] = {}
    for row in rows:
        by_sampler.setdefault(row.sampler, []).append(row)
    for sampler, mine in by_sampler.items():
        base = next((r for r in mine if r.factor == 1), None)
        scaled = [r for r in mine if r.factor != 1]
        if base is None or not scaled:
            continue
        parts = [f"{r.ln_bf:.2f} with mean and scale priors "
                 f"{_WIDTH_WORDS.get(r.factor, f'× {r.factor:g}')}" for r in scaled]
        text = (f"{sampler}, prior sensitivity: the ln Bayes factor of K = {base.best_k} over "
                f"K = {base.runner_k} is {base.ln_bf:.2f} with the priors as run, "
                f"{' and '.join(parts)}. ")
        shaky = [r for r in scaled if not r.reliable]
        judged = [r for r in scaled if r.reliable]
        lost = [r for r in judged if not r.survives]
        if not judged:
            text += ("Neither is within reweighting's reach, so nothing is said of a preferred "
                     "K under other priors (rerun with the priors changed to know).")
        elif not lost:
            words = " and ".join(_WIDTH_WORDS.get(r.factor, f"× {r.factor:g}") for r in judged)
            text += (f"K = {base.best_k} stays preferred under both." if not shaky else
                     f"K = {base.best_k} stays preferred with priors {words}.")
        else:
            said = "; ".join(f"with priors {_WIDTH_WORDS.get(r.factor, f'× {r.factor:g}')} "
                             f"K = {r.preferred_k} would be preferred" for r in lost)
            text += said[0].upper() + said[1:]
            text += f": the choice of K = {base.best_k} depends on the priors."
        if shaky:
            text += " Out of reweighting's reach: " + "; ".join(
                f"priors {_WIDTH_WORDS.get(r.factor, f'× {r.factor:g}')} leave "
                f"{_fmt_ess(min(r.ess_best, r.ess_runner))} effective samples (below "
                f"{MIN_EFFECTIVE:.0f}), so that factor's Bayes factor is not to be trusted"
                for r in shaky) + "."
        out.append(text)
    return out


def _fmt_ess(value: float) -> str:
    return "no" if not math.isfinite(value) or value <= 0 else f"only {value:.0f}"
