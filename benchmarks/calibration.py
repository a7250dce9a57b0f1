"""Calibration of the evidence error bars: both samplers at their defaults against known answers.

For every (problem, K) case the reference ln Z is computed without any nested sampler, from the
model's own ``prior_transform`` and ``log_likelihood_batch`` only, in the unbounded coordinates
x = logit(u) of the unit cube (Z = ∫ L(T(u)) du = ∫ L(T(σ(x))) Π σ'(x_i) dx):

- two parameters: quadrature on a fine grid in x around the posterior (error: the difference
  between the grid and one twice as coarse);
- more: importance sampling from a mixture of multivariate Student-t (ν = 5) centred on the
  posterior's modes (found by optimisation from many starts), refined twice from weighted draws;
  the error is the standard error of the mean weight. Models with exchangeable labels get the
  reference of the same model with ordered means (its prior density is K! Π p(μ_k) on the
  ordered region, so its evidence is equal by construction), whose posterior has one copy of
  each mode instead of K!.

At K ≥ 4 (enzyme, acidity, a four-cluster 2-D set, galaxies) one Student-t mixture on the
optimiser's modes no longer covers the posterior (PSIS k̂ above 0.7, a few dozen effective
draws), so ``--long-runs`` adds a second reference from one long dynesty run of the ordered-means
model (nlive 2000): the run's own ln Z, and nestmix's bridge-sampling and importance-sampling
estimates from its samples (20 000 proposal draws each). The usable estimates (the first
importance-sampling reference only when k̂ ≤ 0.7; the bridge and the check by nestmix's own
rules) must agree pairwise within 3 combined errors; then the reference is their
inverse-variance mean, else the case is printed but not counted (``calibrated`` false in its
record).

References are cached in ``benchmarks/results/calibration_references.json``; every sampler run
is appended to ``benchmarks/results/calibration.jsonl`` as it finishes, and a rerun skips the
runs already there (stop it any time, start it again to continue). The table prints per case
the reference, per sampler the mean ln Z over seeds, the mean reported σ, the scatter over seeds
and the z-scores (ln Z − reference)/σ; then per sampler the rms of z and the cases beyond 3σ
that nothing marked, and the fraction of runs marked. Each run also gets what every sweep
computes from its own samples (:func:`nestmix.sweep.tasks.crosscheck`): the importance-sampling
check (:mod:`nestmix.evidence.check`) and the bridge-sampling estimate
(:mod:`nestmix.evidence.bridge`). As a sweep judges a row (:mod:`nestmix.store.summary`), the
row check is the bridge when it is usable, else the importance check; a run whose row check
disagrees by more than 3 combined errors is one a sweep marks "not converged" (``*`` in the
table). ``--recheck`` adds the checks to runs stored without a usable importance check or
without a bridge estimate (it reruns them with the same seed; a rerun whose ln Z differs
replaces the stored numbers, the old ones kept under ``previous``).

    python benchmarks/calibration.py                       # the benchmark (~1–2 h on 2 cores)
    python benchmarks/calibration.py --summary-only        # the table from the results file
    python benchmarks/calibration.py --cases enzyme:5 --long-runs --summary-only  # 2nd reference
    python benchmarks/calibration.py --quick --out /tmp/c.jsonl   # one tiny case, seconds
    python benchmarks/calibration.py --polychord '{"repeats_per_dim": 10}' --samplers polychord \\
        --cases galaxies:3 --seeds 6 --out benchmarks/results/calibration_polychord.jsonl

``--polychord`` / ``--dynesty`` pass settings to one sampler (JSON; for PolyChord
``repeats_per_dim`` and ``nlive_per_dim`` are multiplied by the model's ndim); without them
both samplers run at nestmix's defaults.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import (
    RESULTS,
    append_jsonl,
    find_modes,
    importance_reference,
    read_json,
    read_jsonl,
    write_json,
)

from nestmix.evidence.bridge import BridgeEstimate
from nestmix.evidence.check import (
    DISAGREE_Z,
    ImportanceCheck,
    LogitTarget,
    disagreement,
)

DEFAULT_OUT = RESULTS / "calibration.jsonl"
DEFAULT_REFERENCES = RESULTS / "calibration_references.json"
SAMPLERS = ("dynesty", "polychord")

# ----------------------------------------------------------------------------- problems

GALAXIES_PRIORS = {"mean": {"dist": "norm", "loc": 20, "scale": 10},
                   "variance": {"dist": "invgamma", "a": 3, "scale": 20},
                   "weights": {"dist": "dirichlet", "alpha": 1.0}}
DECONV_PRIORS = {"mean": {"dist": "uniform", "loc": 0, "scale": 1},
                 "sigma": {"dist": "loguniform", "a": 0.01, "b": 1}}
PLANE_PRIORS = {"mean": {"dist": "norm", "loc": 0, "scale": 5},
                "sigma": {"dist": "loguniform", "a": 0.05, "b": 10}}


def _acidity_priors(values: np.ndarray) -> dict:
    """Richardson & Green (1997): μ ~ N(midrange, R²), σ² ~ InvGamma(2, 0.02 R²)."""
    low, high = float(values.min()), float(values.max())
    r = high - low
    return {"mean": {"dist": "norm", "loc": (low + high) / 2, "scale": r},
            "variance": {"dist": "invgamma", "a": 2, "scale": 0.02 * r * r}}


def plane_data(n: int = 300, seed: int = 20261203, components: int = 2):
    """Simulated 2-D points with per-point errors and error correlations (fixed seed).

    ``components`` = 1: one correlated Gaussian; 2: two of them (weights 0.4 / 0.6); in both
    cases 10 % of the points are uniform over the box [−8, 8]² (the background's share).
    """
    import nestmix

    rng = np.random.default_rng(seed)
    means = np.array([[-2.0, 1.0], [2.5, -1.0]])[:components]
    covs = np.array([[[1.0, 0.6], [0.6, 1.5]], [[0.8, -0.3], [-0.3, 0.6]]])[:components]
    weights = np.array([0.4, 0.6])[:components]
    weights = weights / weights.sum()
    n_bg = n // 10
    labels = rng.choice(components, size=n - n_bg, p=weights)
    true = np.array([rng.multivariate_normal(means[k], covs[k]) for k in labels])
    true = np.vstack([true, rng.uniform(-8, 8, size=(n_bg, 2))])
    errors = rng.uniform(0.1, 0.6, size=(n, 2))
    corr = rng.uniform(-0.5, 0.5, size=n)
    values = np.empty_like(true)
    for i in range(n):
        c = np.array([[errors[i, 0] ** 2, corr[i] * errors[i, 0] * errors[i, 1]],
                      [corr[i] * errors[i, 0] * errors[i, 1], errors[i, 1] ** 2]])
        values[i] = rng.multivariate_normal(true[i], c)
    return nestmix.Measurements.from_arrays(values, errors=errors, correlations=corr,
                                            columns=["x", "y"], source="calibration plane")


def plane4_data(n: int = 200, seed: int = 20261207):
    """Simulated 2-D points from four well separated clusters (weights 0.3, 0.3, 0.2, 0.2,
    diagonal covariances, means with distinct x so that ordering by the first coordinate keeps
    each cluster's mode whole), with per-point errors of 0.05–0.3 (fixed seed)."""
    import nestmix

    rng = np.random.default_rng(seed)
    means = np.array([[-6.0, 1.0], [-2.0, -3.0], [2.0, 3.0], [6.0, -1.0]])
    sds = np.array([[0.8, 0.5], [0.6, 0.9], [0.7, 0.7], [0.5, 0.8]])
    labels = rng.choice(4, size=n, p=[0.3, 0.3, 0.2, 0.2])
    true = means[labels] + sds[labels] * rng.standard_normal((n, 2))
    errors = rng.uniform(0.05, 0.3, size=(n, 2))
    values = true + errors * rng.standard_normal((n, 2))
    return nestmix.Measurements.from_arrays(values, errors=errors, columns=["x", "y"],
                                            source="calibration plane, four clusters")


def line4_data(n: int = 200, seed: int = 20261207):
    """Simulated 1-D values from four separated Gaussians (means 0, 4, 8, 12, widths 0.7–1.0,
    equal weights) with per-point errors of 0.1–0.3 (fixed seed)."""
    import nestmix

    rng = np.random.default_rng(seed)
    means, sds = np.array([0.0, 4.0, 8.0, 12.0]), np.array([0.7, 0.9, 0.8, 1.0])
    labels = rng.choice(4, size=n)
    errors = rng.uniform(0.1, 0.3, size=n)
    values = means[labels] + sds[labels] * rng.standard_normal(n) + errors * rng.standard_normal(n)
    return nestmix.Measurements.from_arrays(values[:, None], errors=errors[:, None],
                                            columns=["x"], source="calibration line, four "
                                            "clusters")


@dataclass(frozen=True)
class Problem:
    """A data set and model family; ``build(k, order)`` returns the MixtureModel."""

    name: str
    dims: int
    description: str
    build: Callable


def _spec(order: str, **kw):
    import nestmix

    return nestmix.ModelSpec(order=order, **kw)


def _galaxies(k: int, order: str = "none"):
    import nestmix

    data = nestmix.datasets.load("galaxies").measurements(scale=1e-3)
    return _spec(order, covariance="full", priors=GALAXIES_PRIORS).build(data, k)


def _acidity(k: int, order: str = "none"):
    import nestmix

    data = nestmix.datasets.load("acidity").measurements()
    return _spec(order, priors=_acidity_priors(data.values[:, 0])).build(data, k)


def _enzyme(k: int, order: str = "none"):
    """Richardson & Green's enzyme priors: μ ~ N(1.4505, 2.859²), σ² ~ InvGamma(2, scale
    0.163478), Dirichlet(1) — the acidity rule applied to the enzyme data's range."""
    import nestmix

    data = nestmix.datasets.load("enzyme").measurements()
    return _spec(order, priors=_acidity_priors(data.values[:, 0])).build(data, k)


def _deconv(k: int, order: str = "means"):
    import nestmix

    data = nestmix.datasets.deconvolution_problem(300, seed=1).measurements()
    return _spec(order, priors=DECONV_PRIORS).build(data, k)


def _plane_full(k: int, order: str = "none"):
    return _spec(order, covariance="full", priors=PLANE_PRIORS).build(
        plane_data(200, components=1), k)


def _plane_full_bg(k: int, order: str = "none"):
    return _spec(order, covariance="full", background="uniform", priors=PLANE_PRIORS).build(
        plane_data(200, components=1), k)


def _plane_diag(k: int, order: str = "none"):
    return _spec(order, covariance="diag", priors=PLANE_PRIORS).build(
        plane_data(300, components=2), k)


def _plane4(k: int, order: str = "none"):
    return _spec(order, covariance="spherical", priors=PLANE_PRIORS).build(plane4_data(), k)


def _line4(k: int, order: str = "none"):
    data = line4_data()
    return _spec(order, priors=_acidity_priors(data.values[:, 0])).build(data, k)


def _tiny(k: int, order: str = "none"):
    import nestmix

    data = nestmix.datasets.deconvolution_problem(40, seed=3).measurements()
    return _spec(order, priors=DECONV_PRIORS).build(data, k)


PROBLEMS = {p.name: p for p in (
    Problem("galaxies", 1, "galaxies / 1000, exchangeable, R&G-like priors (examples toml)",
            _galaxies),
    Problem("acidity", 1, "acidity, exchangeable, R&G priors", _acidity),
    Problem("enzyme", 1, "enzyme, exchangeable, R&G priors", _enzyme),
    Problem("deconv", 1, "deconvolution problem N = 300 (per-point errors), ordered means",
            _deconv),
    Problem("plane-full", 2, "2-D N = 200, per-point correlated errors, full covariance",
            _plane_full),
    Problem("plane-full-bg", 2, "as plane-full with a uniform background", _plane_full_bg),
    Problem("plane-diag", 2, "2-D N = 300 (two clusters), per-point errors, diagonal "
            "covariance, exchangeable", _plane_diag),
    Problem("plane4-sph", 2, "2-D N = 200 (four clusters), per-point errors, spherical "
            "covariances, exchangeable", _plane4),
    Problem("line4", 1, "1-D N = 200 (four separated clusters), per-point errors, R&G-rule "
            "priors, exchangeable", _line4),
    Problem("tiny", 1, "deconvolution problem N = 40 (for --quick)", _tiny),
)}

CASES = [("galaxies", 1), ("galaxies", 2), ("galaxies", 3), ("acidity", 1), ("acidity", 2),
         ("deconv", 1), ("deconv", 2), ("plane-full", 1), ("plane-full-bg", 1),
         ("plane-diag", 1), ("plane-diag", 2),
         ("enzyme", 4), ("enzyme", 5), ("acidity", 4), ("plane4-sph", 4),
         ("galaxies", 4), ("acidity", 5), ("line4", 4)]
QUICK_CASES = [("tiny", 1)]


def build(problem: str, k: int, order: str | None = None):
    """The model a sampler runs (``order=None``) or the one for the reference."""
    p = PROBLEMS[problem]
    return p.build(k) if order is None else p.build(k, order)


# ---------------------------------------------------------------------------- references

Target = LogitTarget  # log L(T(σ(x))) + Σ log σ'(x) in x = logit(u)


def quadrature_reference(model, points: int = 801, seed: int = 0) -> dict:
    """ln Z of a two-parameter model by a grid in x around the posterior (±12 widths, or wider
    when the posterior reaches the edge); the error is the change from a grid half as fine."""
    rng = np.random.default_rng(seed)
    target = Target(model)
    start = time.perf_counter()
    modes = find_modes(target, rng, starts=8)
    centre = np.array([m for m, _, _ in modes])
    sd = np.array([np.sqrt(np.diag(c)) for _, c, _ in modes])
    def grid_logz(m: int, widths: float) -> float:
        low = (centre - widths * sd).min(axis=0)
        high = (centre + widths * sd).max(axis=0)
        a = np.linspace(low[0], high[0], m)
        b = np.linspace(low[1], high[1], m)
        xx, yy = np.meshgrid(a, b, indexing="ij")
        f = target(np.column_stack([xx.ravel(), yy.ravel()])).reshape(m, m)
        top = f.max()
        edge = max(f[0].max(), f[-1].max(), f[:, 0].max(), f[:, -1].max())
        if edge > top - 30:
            raise ValueError("the grid does not contain the posterior")
        inner = np.trapezoid(np.trapezoid(np.exp(f - top), b, axis=1), a)
        return top + math.log(inner)

    for widths in (12, 25, 50):
        try:
            fine = grid_logz(points, widths)
        except ValueError:
            continue
        break
    else:
        raise RuntimeError("quadrature grid does not contain the posterior at ±50 widths")
    coarse = grid_logz(points // 2 + 1, widths)
    return {"method": "quadrature", "logz": fine, "logz_err": max(abs(fine - coarse), 1e-3),
            "widths": widths,
            "grid": points, "calls": target.calls, "seconds": time.perf_counter() - start}


def compute_reference(problem: str, k: int, quick: bool = False) -> dict:
    """The reference of one case: quadrature (2 parameters, checked by importance sampling)
    or importance sampling; ``quick``: coarser grid and fewer draws."""
    model = build(problem, k)
    if model.ndim == 2:
        ref = quadrature_reference(model, points=201 if quick else 801)
        check = importance_reference(model, n=20_000 if quick else 100_000, rounds=1,
                                     starts=4 if quick else 24)
        ref["importance_check"] = [check["logz"], check["logz_err"]]
        return ref
    ordered = model.k > 1 and getattr(model.spec, "order", "none") == "none"
    ref_model = build(problem, k, "means") if ordered else model
    ref = importance_reference(ref_model)
    ref["model"] = "ordered means" if ordered else "as run"
    return ref


# Cases whose reference needs two methods that agree (issue 31, item 5): K ≥ 4, where one
# importance-sampling fit to the optimiser's modes no longer covers the posterior.
LONG_RUN_NLIVE = 2000
LONG_RUN_SEED = 1000
KHAT_RELIABLE = 0.7  # PSIS: above it an importance-sampling estimate is unreliable


def long_run_reference(problem: str, k: int, nlive: int = LONG_RUN_NLIVE,
                       seed: int = LONG_RUN_SEED, draws: int = 20_000) -> dict:
    """Second references from one long dynesty run (``nlive`` live points) of the model with
    ordered means (as many parameters, the same evidence, one copy of each mode): the run's
    own ln Z (nested sampling) and, from its samples, nestmix's bridge-sampling estimate
    (:func:`nestmix.evidence.bridge.bridge_evidence`) and importance-sampling check
    (:func:`nestmix.evidence.check.importance_check`), each with ``draws`` proposal draws."""
    import nestmix
    from nestmix.evidence.bridge import bridge_evidence
    from nestmix.evidence.check import importance_check

    model = build(problem, k, "means")
    start = time.process_time()
    run = nestmix.get_sampler("dynesty").run(model, {"nlive": nlive}, seed=seed)
    out = {"run": {"sampler": "dynesty", "order": "means", "nlive": nlive, "seed": seed,
                   "logz": float(run.logz), "logz_err": float(run.logz_err),
                   "ncall": int(run.ncall), "cpu_seconds": time.process_time() - start}}
    rng = np.random.default_rng(seed)
    try:
        bridge = bridge_evidence(model, run, rng, proposal_draws=draws, posterior_draws=draws,
                                 fit_points=4000)
        out["bridge"] = None if bridge is None else {**bridge.to_dict(),
                                                     "usable": bridge.usable}
    except Exception as exc:  # recorded: the case then has one method fewer
        out["bridge"] = {"error": f"{type(exc).__name__}: {exc}", "usable": False}
    try:
        check = importance_check(model, run, rng, draws=draws, fit_points=4000)
        out["importance_check"] = None if check is None else {**check.to_dict(),
                                                              "usable": check.usable}
    except Exception as exc:
        out["importance_check"] = {"error": f"{type(exc).__name__}: {exc}", "usable": False}
    out["cpu_seconds"] = time.process_time() - start
    return out


def reference_estimates(ref: dict) -> list[dict]:
    """The independent estimates of one case's ln Z in its reference record, each as
    ``{"method", "logz", "logz_err", "usable"}``: the reference's own (quadrature, or importance
    sampling usable when PSIS's k̂ ≤ :data:`KHAT_RELIABLE`), and where a long run was made its
    ln Z and its bridge and importance estimates (usable by nestmix's own rules)."""
    own = ref.get("primary", ref)
    khat = own.get("khat")
    out = [{"method": own["method"], "logz": own["logz"], "logz_err": own["logz_err"],
            "usable": own["method"] == "quadrature" or (khat is not None
                                                        and khat <= KHAT_RELIABLE)}]
    long = ref.get("long_run")
    if long:
        run = long["run"]
        out.append({"method": f"dynesty, ordered means, nlive {run['nlive']}",
                    "logz": run["logz"], "logz_err": run["logz_err"], "usable": True})
        for key, name in (("bridge", "bridge sampling"),
                          ("importance_check", "importance sampling from the long run")):
            est = long.get(key) or {}
            if "logZ" in est:
                out.append({"method": f"{name} (k̂ {est['khat']:.2f})" if "khat" in est
                            else name, "logz": est["logZ"], "logz_err": est["logZ_err"],
                            "usable": bool(est.get("usable"))})
    return out


def agreement(estimates: list[dict], z_max: float = DISAGREE_Z) -> dict:
    """Whether a case's usable estimates agree: at least two, every pair within ``z_max``
    combined errors. Returns ``agree``, the largest pairwise ``|z|`` (None with fewer than two),
    the number ``usable`` and their inverse-variance mean ``logz`` ± ``logz_err`` (None
    without any)."""
    usable = [e for e in estimates if e["usable"]]
    zs = [abs(a["logz"] - b["logz"]) / math.hypot(a["logz_err"], b["logz_err"])
          for i, a in enumerate(usable) for b in usable[i + 1:]]
    out: dict = {"usable": len(usable), "max_z": max(zs) if zs else None,
                 "agree": len(usable) >= 2 and max(zs) <= z_max, "logz": None,
                 "logz_err": None}
    if usable:
        w = np.array([1 / e["logz_err"] ** 2 for e in usable])
        out["logz"] = float(np.sum(w * [e["logz"] for e in usable]) / w.sum())
        out["logz_err"] = float(1 / math.sqrt(w.sum()))
    return out


def with_long_run(ref: dict, long: dict) -> dict:
    """A reference record with its long run's estimates added; where the usable estimates
    agree, the reference (``logz``, ``logz_err``) becomes their mean and the first record is
    kept as ``primary``; where not, ``calibrated`` is False and the first record stays."""
    primary = ref.get("primary", {k: v for k, v in ref.items() if k not in ("ndim",)})
    out = {**primary, "primary": primary, "long_run": long}
    if "ndim" in ref:
        out["ndim"] = ref["ndim"]
    agreed = agreement(reference_estimates(out))
    out["agreement"] = agreed
    out["calibrated"] = bool(agreed["agree"])
    if agreed["agree"]:
        out.update(method="mean of agreeing methods", logz=agreed["logz"],
                   logz_err=agreed["logz_err"])
    return out


def calibrated(ref: dict | None) -> bool:
    """False for a case whose reference two methods did not agree on (its runs are listed
    but not counted in rms z); True for the others."""
    return ref is not None and ref.get("calibrated", True)


def load_references(path: Path) -> dict:
    return read_json(path)


def reference_for(problem: str, k: int, path: Path, refs: dict, quick: bool = False) -> dict:
    key = f"{problem}:{k}"
    if key not in refs:
        refs[key] = compute_reference(problem, k, quick)
        _write_references(path, refs)
    return refs[key]


def _write_references(path: Path, refs: dict) -> None:
    """Write the reference cache atomically."""
    write_json(path, refs, sort_keys=True)


# ---------------------------------------------------------------------------------- runs

def sampler_settings(sampler: str, given: dict, ndim: int) -> dict:
    """Settings passed to the sampler: ``given`` with per-dimension keys expanded."""
    out = {k: v for k, v in given.items() if k not in ("repeats_per_dim", "nlive_per_dim")}
    if sampler == "polychord":
        if "repeats_per_dim" in given:
            out["num_repeats"] = round(given["repeats_per_dim"] * ndim)
        if "nlive_per_dim" in given:
            out["nlive"] = round(given["nlive_per_dim"] * ndim)
    return out


def _key(record: dict) -> str:
    return json.dumps([record["problem"], record["k"], record["sampler"], record["settings"],
                       record["seed"]], sort_keys=True)


def execute(problem: str, k: int, sampler: str, settings: dict, seed: int) -> dict:
    """One sampler run; a failure is recorded too."""
    import nestmix

    model = build(problem, k)
    passed = sampler_settings(sampler, settings, model.ndim)
    record = {"problem": problem, "k": k, "sampler": sampler, "settings": settings,
              "seed": seed, "ndim": int(model.ndim)}
    start = time.perf_counter()
    try:
        run = nestmix.get_sampler(sampler).run(model, passed, seed=seed)
    except Exception as exc:  # a failed run is a result
        return {**record, "error": f"{type(exc).__name__}: {exc}",
                "seconds": time.perf_counter() - start}
    record.update(logz=float(run.logz), logz_err=float(run.logz_err), ncall=int(run.ncall),
                  seconds=time.perf_counter() - start, load=os.getloadavg()[0],
                  nlive=int(run.settings.get("nlive") or 0))
    record.update(crosscheck_record(model, run, seed))
    if sampler == "polychord":
        record["num_repeats"] = int(run.settings.get("num_repeats") or 0)
        record["clusters"] = len(run.clusters or ())
    try:  # the prior-volume error simulated from the dead points (anesthetic)
        record["logz_sim"] = list(run.logz_simulated(200, seed=0))
    except Exception:  # anesthetic missing or the run too short
        pass
    return record


def crosscheck_record(model, run, seed: int) -> dict:
    """What a sweep stores of a run's independent estimates (:func:`nestmix.sweep.tasks.
    crosscheck`): the importance-sampling check under ``crosscheck`` and the bridge-sampling
    estimate under ``bridge``, each with the run's distance from it in combined errors
    (``z``, None when the estimate is not usable); empty when there is neither."""
    from nestmix.sweep.tasks import crosscheck

    found = crosscheck(model, run, seed) or {}
    out = {}
    bridge = found.pop("bridge", None)
    if found:
        check = ImportanceCheck.from_dict(found)
        out["crosscheck"] = {**found, "z": disagreement(run.logz, run.logz_err, check)}
    if bridge is not None:
        estimate = BridgeEstimate.from_dict(bridge)
        z = (None if estimate is None or not estimate.usable else
             float((run.logz - estimate.logZ) / math.hypot(run.logz_err, estimate.logZ_err)))
        out["bridge"] = {**bridge, "z": z}
    return out


def needs_recheck(record: dict) -> bool:
    """True for a run stored without what a sweep computes today: a usable importance check
    (missing, or made before the check refined its proposal), or a bridge estimate with its
    importance gap (``err_importance``, in the bridge's error since #31's K = 4 study)."""
    from nestmix.evidence.check import MIN_ESS

    old = record.get("crosscheck") or {}
    bridge = record.get("bridge") or {}
    return (("error" in old or old.get("ess", 0.0) < MIN_ESS) or "bridge" not in record
            or ("logZ" in bridge and "err_importance" not in bridge))


def recheck(path: Path, cases, settings: dict, samplers=("dynesty",)) -> int:
    """Rerun the runs of ``path`` that :func:`needs_recheck` with the same seed and settings
    and store their ``crosscheck`` and ``bridge``; returns how many. Both samplers are
    deterministic given the seed, but a sampler's code may have changed since: a rerun whose ln Z
    differs replaces the run's numbers (the checks must describe the run they came from) and
    the old ones are kept under ``previous``."""
    import nestmix

    records = read_jsonl(path)
    done = 0
    for i, record in enumerate(records):
        if (record["sampler"] not in samplers or "error" in record
                or not needs_recheck(record)
                or (record["problem"], record["k"]) not in cases
                or record["settings"] != settings.get(record["sampler"], {})):
            continue
        model = build(record["problem"], record["k"])
        start = time.perf_counter()
        run = nestmix.get_sampler(record["sampler"]).run(
            model, sampler_settings(record["sampler"], record["settings"], model.ndim),
            seed=record["seed"])
        if abs(run.logz - record["logz"]) > 1e-6:  # not the same run: it replaces the old
            record["previous"] = {key: record[key] for key in
                                  ("logz", "logz_err", "ncall", "seconds", "nlive")
                                  if key in record}
            record.update(logz=float(run.logz), logz_err=float(run.logz_err),
                          ncall=int(run.ncall), seconds=time.perf_counter() - start,
                          nlive=int(run.settings.get("nlive") or 0))
            if record["sampler"] == "polychord":
                record["num_repeats"] = int(run.settings.get("num_repeats") or 0)
        record.update(crosscheck_record(model, run, record["seed"]))
        record["rechecked"] = time.strftime("%Y-%m-%d", time.gmtime())
        done += 1
        # rewrite after every run, so that an interrupted recheck loses nothing
        current = read_jsonl(path)
        if len(current) >= len(records):  # runs appended meanwhile are kept
            current[i] = record
            records = current
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
        tmp.replace(path)
        check = row_check(record)
        print(f"rechecked {record['problem']} K={record['k']} {record['sampler']} seed "
              f"{record['seed']}: {'same run' if 'previous' not in record else 'new run'}, "
              f"row check {check}", flush=True)
    return done


def load_records(path: Path) -> list[dict]:
    """The records of a results file; a run recorded twice (two processes) counts once, and a
    failed run counts only until the same run succeeds (it is retried on the next start)."""
    if not path.exists():
        return []
    records: dict[str, dict] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            old = records.get(_key(record))
            if old is None or ("error" in old and "error" not in record):
                records[_key(record)] = record
    return list(records.values())


# ------------------------------------------------------------------------------- summary

def summarise(records: list[dict], refs: dict, cases, samplers, settings: dict) -> dict:
    """Per case and sampler: mean ln Z, mean σ, scatter, z-scores; per sampler rms z over the
    calibrated cases (:func:`calibrated`), the runs beyond 3σ (marked or not) and the runs
    marked by their row check (:func:`row_check`)."""
    rows = []
    zs: dict[str, list] = {s: [] for s in samplers}
    flags: dict[str, list] = {s: [] for s in samplers}
    methods: dict[str, dict] = {s: {"bridge": 0, "importance": 0, "none": 0} for s in samplers}
    excluded: dict[str, list] = {s: [] for s in samplers}
    for problem, k in cases:
        ref = refs.get(f"{problem}:{k}")
        row = {"problem": problem, "k": k, "ref": ref, "calibrated": calibrated(ref),
               "samplers": {}}
        for s in samplers:
            runs = sorted((r for r in records if r["problem"] == problem and r["k"] == k
                           and r["sampler"] == s and r["settings"] == settings.get(s, {})
                           and "error" not in r), key=lambda r: r["seed"])
            failed = sum(1 for r in records if r["problem"] == problem and r["k"] == k
                         and r["sampler"] == s and r["settings"] == settings.get(s, {})
                         and "error" in r)
            if not runs:
                row["samplers"][s] = {"runs": 0, "failed": failed}
                continue
            logz = np.array([r["logz"] for r in runs])
            err = np.array([r["logz_err"] for r in runs])
            z = (logz - ref["logz"]) / err if ref else np.full(len(runs), np.nan)
            marks = [_marked(r) for r in runs]
            for r in runs:
                methods[s][(row_check(r) or ("none",))[0]] += 1
            flags[s].extend(marks)
            entries = [(problem, k, r["seed"], float(zi), m)
                       for r, zi, m in zip(runs, z, marks, strict=True)]
            if ref and row["calibrated"]:
                zs[s].extend(entries)
            elif ref:
                excluded[s].extend(entries)
            row["samplers"][s] = {
                "runs": len(runs), "failed": failed, "logz": float(logz.mean()),
                "err": float(err.mean()),
                "scatter": float(logz.std(ddof=1)) if len(runs) > 1 else float("nan"),
                "z": [float(v) for v in z], "marked": marks,
                "ncall": float(np.mean([r["ncall"] for r in runs])),
                "seconds": float(np.mean([r["seconds"] for r in runs])),
                "sim_err": float(np.mean([r["logz_sim"][1] for r in runs if "logz_sim" in r]))
                if any("logz_sim" in r for r in runs) else float("nan")}
        rows.append(row)
    overall = {}
    for s, values in zs.items():
        z = np.array([v[3] for v in values])
        m, n, frac = marked_fraction(flags[s])
        overall[s] = {"n": len(z), "rms_z": float(np.sqrt(np.mean(z**2))) if len(z) else
                      float("nan"), "mean_z": float(z.mean()) if len(z) else float("nan"),
                      "beyond3": [v[:4] for v in values if abs(v[3]) > 3 and not v[4]],
                      "beyond3_marked": [v[:4] for v in values if abs(v[3]) > 3 and v[4]],
                      "marked": [v[:4] for v in values + excluded[s] if v[4]],
                      "marked_runs": m, "all_runs": n, "marked_fraction": frac,
                      "check_methods": methods[s],
                      "not_calibrated": [v[:4] for v in excluded[s]],
                      "checked": sum(1 for r in records if r["sampler"] == s
                                     and ("crosscheck" in r or "bridge" in r))}
    return {"rows": rows, "overall": overall}


def row_check(record: dict) -> tuple[str, float] | None:
    """The check a sweep judges a one-run row by (:mod:`nestmix.store.summary`): the
    bridge-sampling estimate when it is usable, else the importance-sampling check when it is;
    (method, z = the run's distance from it in combined errors), or None without either."""
    bridge = record.get("bridge") or {}
    if bridge.get("z") is not None:
        return "bridge", float(bridge["z"])
    z = (record.get("crosscheck") or {}).get("z")
    return None if z is None else ("importance", float(z))


def _marked(record: dict) -> bool:
    """True when the run's row check (:func:`row_check`) disagrees by more than
    :data:`~nestmix.evidence.check.DISAGREE_Z` combined errors: a sweep marks its row not
    converged."""
    check = row_check(record)
    return check is not None and abs(check[1]) > DISAGREE_Z


def marked_fraction(flags: list[bool]) -> tuple[int, int, float]:
    """(marked, runs, fraction marked); the fraction is NaN without runs."""
    n = len(flags)
    m = sum(bool(f) for f in flags)
    return m, n, (m / n if n else float("nan"))


def print_table(summary: dict, samplers, file=None) -> None:
    def p(*a):
        print(*a, file=file or sys.stdout)

    head = f"{'problem':<14}{'K':>2} {'ndim':>4} {'reference':>19}"
    for s in samplers:
        head += f" | {s + ' mean lnZ':>18} {'σ':>5} {'scat':>5} {'z (seeds)':>20} {'calls':>8}"
    p(head)
    p("-" * len(head))
    for row in summary["rows"]:
        ref = row["ref"]
        reftext = f"{ref['logz']:.3f} ± {ref['logz_err']:.3f}" if ref else "missing"
        ndim = ref.get("ndim", "") if ref else ""
        line = f"{row['problem']:<14}{row['k']:>2} {ndim!s:>4} {reftext:>19}"
        for s in samplers:
            r = row["samplers"][s]
            if not r["runs"]:
                line += f" | {'(no runs)':>18} {'':>5} {'':>5} {'':>20} {'':>8}"
                continue
            ztext = " ".join(f"{v:+.1f}" + ("*" if m else "")
                             for v, m in zip(r["z"], r["marked"], strict=True))
            line += (f" | {r['logz']:>18.3f} {r['err']:>5.3f} {r['scatter']:>5.3f} "
                     f"{ztext:>20} {r['ncall']:>8.0f}")
            if r["failed"]:
                line += f" ({r['failed']} failed)"
        if ref and not row["calibrated"]:
            line += "  [reference: methods disagree, not counted]"
        p(line)
    p("(* the run's row check disagrees: a sweep marks the row not converged)")
    p("")
    for s in samplers:
        o = summary["overall"][s]
        beyond = ", ".join(f"{pr} K={k} seed {sd}: z = {z:+.2f}" for pr, k, sd, z in
                           o["beyond3"]) or "none"
        beyond_marked = ", ".join(f"{pr} K={k} seed {sd}: z = {z:+.2f}" for pr, k, sd, z in
                                  o["beyond3_marked"]) or "none"
        verdict = "PASS" if o["n"] and o["rms_z"] <= 1.3 and not o["beyond3"] else "FAIL"
        p(f"{s:<10} runs {o['n']:>3}  rms z = {o['rms_z']:.2f} (target <= 1.3)  "
          f"mean z = {o['mean_z']:+.2f}  beyond 3σ, not marked: {beyond}  [{verdict}]")
        p(f"{'':<10} beyond 3σ and marked: {beyond_marked}")
        methods = o["check_methods"]
        p(f"{'':<10} rows marked not converged by their check: {o['marked_runs']} of "
          f"{o['all_runs']} ({100 * o['marked_fraction']:.1f} %, goal <= 10 %; checks: "
          f"{methods['bridge']} bridge, {methods['importance']} importance, "
          f"{methods['none']} none)")
        if o["not_calibrated"]:
            p(f"{'':<10} not counted (reference not agreed): " + ", ".join(
                f"{pr} K={k} seed {sd}: z = {z:+.2f}" for pr, k, sd, z in o["not_calibrated"]))


def print_references(refs: dict, cases, file=None) -> None:
    """The estimates behind each reference made from two methods, and their agreement."""
    def p(*a):
        print(*a, file=file or sys.stdout)

    for problem, k in cases:
        ref = refs.get(f"{problem}:{k}")
        if not ref or "long_run" not in ref:
            continue
        agreed = ref["agreement"]
        verdict = ("agree" if agreed["agree"] else "DO NOT AGREE (case not counted)")
        max_z = "" if agreed["max_z"] is None else f", largest pairwise |z| {agreed['max_z']:.1f}"
        p(f"reference {problem} K={k}: {verdict}{max_z}")
        for e in reference_estimates(ref):
            p(f"    {e['logz']:>10.3f} ± {e['logz_err']:.3f}  {e['method']}"
              + ("" if e["usable"] else "  (not usable)"))


def compare_settings(records: list[dict], refs: dict, file=None) -> list[dict]:
    """Every (case, sampler, settings) group in the results: bias, scatter over seeds against
    the mean reported σ, rms z, and the same for anesthetic's ln Z from the run's dead points
    (``logz_sim``: mean and standard deviation over simulated prior volumes)."""
    groups: dict[str, list[dict]] = {}
    for r in records:
        if "error" not in r and f"{r['problem']}:{r['k']}" in refs:
            key = json.dumps([r["problem"], r["k"], r["sampler"], r["settings"]])
            groups.setdefault(key, []).append(r)
    rows = []
    for key, runs in groups.items():
        problem, k, sampler, settings = json.loads(key)
        ref = refs[f"{problem}:{k}"]["logz"]
        logz = np.array([r["logz"] for r in runs])
        err = np.array([r["logz_err"] for r in runs])
        row = {"problem": problem, "k": k, "sampler": sampler, "settings": settings,
               "runs": len(runs), "bias": float(logz.mean() - ref),
               "scatter": float(logz.std(ddof=1)) if len(runs) > 1 else float("nan"),
               "err": float(err.mean()), "rms_z": float(np.sqrt(np.mean(((logz - ref) / err)
                                                                         ** 2))),
               "ncall": float(np.mean([r["ncall"] for r in runs])),
               "seconds": float(np.mean([r["seconds"] for r in runs]))}
        sim = [r["logz_sim"] for r in runs if "logz_sim" in r]
        if len(sim) == len(runs):
            zsim = np.array([(m - ref) / e for m, e in sim])
            row.update(sim_err=float(np.mean([e for _, e in sim])),
                       sim_rms_z=float(np.sqrt(np.mean(zsim**2))))
        rows.append(row)
    rows.sort(key=lambda r: (r["problem"], r["k"], r["sampler"], json.dumps(r["settings"])))

    def p(*a):
        print(*a, file=file or sys.stdout)

    p(f"{'case':<12} {'sampler':<9} {'settings':<28} {'runs':>4} {'bias':>7} {'scatter':>7} "
      f"{'mean σ':>6} {'scat/σ':>6} {'rms z':>6} {'σ dead':>6} {'rms z dead':>10} "
      f"{'calls':>9} {'s':>6}")
    for r in rows:
        p(f"{r['problem'] + ':' + str(r['k']):<12} {r['sampler']:<9} "
          f"{json.dumps(r['settings']) if r['settings'] else 'defaults':<28} {r['runs']:>4} "
          f"{r['bias']:>+7.3f} {r['scatter']:>7.3f} {r['err']:>6.3f} "
          f"{r['scatter'] / r['err']:>6.2f} {r['rms_z']:>6.2f} {r.get('sim_err', math.nan):>6.3f} "
          f"{r.get('sim_rms_z', math.nan):>10.2f} {r['ncall']:>9.0f} {r['seconds']:>6.0f}")
    return rows


# ---------------------------------------------------------------------------------- main

def _parse_cases(texts: list[str]) -> list[tuple[str, int]]:
    out = []
    for text in texts:
        name, _, k = text.partition(":")
        if name not in PROBLEMS or not k.isdigit():
            raise SystemExit(f"bad case {text!r}: PROBLEM:K with PROBLEM one of "
                             f"{', '.join(PROBLEMS)}")
        out.append((name, int(k)))
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--references", type=Path, default=None,
                        help="reference cache (default: next to --out)")
    parser.add_argument("--cases", nargs="+", default=None, help="PROBLEM:K ...")
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--reverse", action="store_true",
                        help="last seed and case first (a second process on the same file "
                        "meets the first in the middle)")
    parser.add_argument("--quick", action="store_true", help="one tiny case, one seed")
    parser.add_argument("--summary-only", action="store_true")
    parser.add_argument("--compare", nargs="*", type=Path, default=None,
                        help="print every (case, sampler, settings) group in these results "
                        "files (default --out) and stop")
    parser.add_argument("--references-only", action="store_true")
    parser.add_argument("--dynesty", type=json.loads, default={})
    parser.add_argument("--polychord", type=json.loads, default={})
    parser.add_argument("--long-runs", action="store_true",
                        help="add to each case's reference a long dynesty run with ordered "
                        f"means (nlive {LONG_RUN_NLIVE}) and the bridge and importance "
                        "estimates from it; the reference becomes the mean of the usable "
                        "estimates where they agree (else the case is not counted)")
    parser.add_argument("--recheck", action="store_true",
                        help="rerun the runs stored without a usable importance-sampling "
                             "check (same seeds: the same runs) and add it")
    args = parser.parse_args(argv)
    cases = QUICK_CASES if args.quick else (_parse_cases(args.cases) if args.cases else CASES)
    seeds = 1 if args.quick and args.seeds == 3 else args.seeds
    settings = {"dynesty": args.dynesty, "polychord": args.polychord}
    ref_path = args.references or (
        DEFAULT_REFERENCES if args.out == DEFAULT_OUT or args.out.parent == RESULTS
        else args.out.with_name(args.out.stem + "_references.json"))
    refs = load_references(ref_path)
    if args.compare is not None:
        records = [r for path in (args.compare or [args.out]) for r in load_records(path)]
        return {"groups": compare_settings(records, refs)}
    for problem, k in cases:
        if f"{problem}:{k}" not in refs and not args.summary_only:
            ref = reference_for(problem, k, ref_path, refs, args.quick)
            ref.setdefault("ndim", int(build(problem, k).ndim))
            print(f"reference {problem} K={k}: {ref['logz']:.3f} ± {ref['logz_err']:.4f} "
                  f"({ref['method']}, {ref['seconds']:.0f} s)", flush=True)
        if f"{problem}:{k}" in refs:
            refs[f"{problem}:{k}"].setdefault("ndim", int(build(problem, k).ndim))
    if args.long_runs:
        for problem, k in cases:
            key = f"{problem}:{k}"
            if key in refs and "long_run" not in refs[key]:
                long = long_run_reference(problem, k)
                refs = load_references(ref_path)  # another process may have added one
                refs[key] = with_long_run(refs[key], long)
                _write_references(ref_path, refs)
                print(f"long run {problem} K={k}: {long['cpu_seconds']:.0f} CPU s", flush=True)
                print_references(refs, [(problem, k)])
    if args.recheck and args.out.exists():
        print(f"rechecked {recheck(args.out, cases, settings, args.samplers)} runs", flush=True)
    if not (args.summary_only or args.references_only):
        args.out.parent.mkdir(parents=True, exist_ok=True)
        done = {_key(r) for r in load_records(args.out) if "error" not in r}
        todo = [(p, k, s, seed) for seed in range(args.first_seed, args.first_seed + seeds)
                for p, k in cases
                for s in args.samplers
                if _key({"problem": p, "k": k, "sampler": s, "settings": settings[s],
                         "seed": seed}) not in done]
        if args.reverse:
            todo.reverse()
        for i, (problem, k, s, seed) in enumerate(todo, 1):
            if _key({"problem": problem, "k": k, "sampler": s, "settings": settings[s],
                     "seed": seed}) in {_key(r) for r in load_records(args.out)
                                        if "error" not in r}:
                continue  # made meanwhile by another process
            record = execute(problem, k, s, settings[s], seed)
            append_jsonl(args.out, record)
            what = (f"FAILED {record['error']}" if "error" in record else
                    f"{record['logz']:.3f} ± {record['logz_err']:.3f}, {record['ncall']} calls")
            print(f"[{i}/{len(todo)}] {problem} K={k} {s} seed {seed}: {what}, "
                  f"{record['seconds']:.1f} s", flush=True)
    summary = summarise(load_records(args.out), refs, cases, args.samplers, settings)
    print_table(summary, args.samplers)
    print_references(refs, cases)
    return summary


if __name__ == "__main__":
    main()
