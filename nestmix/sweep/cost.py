"""What a sweep will cost before it starts: :func:`estimate_cost`.

The estimate is (likelihood calls each run is expected to make) × (seconds one call takes here):

* **Calls per run**, an empirical rule fitted to 34 runs of nestmix's default dynesty sampling
  (compiled slice proposals, one ellipsoid, nlive 500 unless said): in ``benchmarks/README.md``
  the scaling table (the deconvolution problem, N = 100..10 000, K = 1..4), the calibration
  table (galaxies, acidity, deconvolution, 2-D full / full + background / diagonal models) and
  the 2-D end-to-end runs (N = 500, full covariance + background, K = 1..3); and the bundled
  galaxies example at K = 3 and 4 (nlive 250), 2 to 18 parameters::

      calls ≈ 51 × nlive × ndim^1.52 × N^0.10

  A least-squares fit in log space; every one of the 34 runs lies within a factor 1.7 of it, the
  typical one within a factor 1.22. PolyChord makes about 2.3 times dynesty's calls per live
  point on the calibration problems (within a factor 2 there too), at its own ``nlive``
  (25 × ndim by default). The rule is extrapolated beyond those N and ndim; N ≥ 10⁵ is an
  extrapolation of a weak trend (N^0.10).
* **Seconds per call**, from a pilot: each (model, K)'s likelihood on the actual data, at up
  to :data:`PILOT_CALLS` parameter vectors drawn from its prior, here in this process, after
  one call that compiles or warms the kernel; at most about :data:`PILOT_SECONDS` for the
  whole plan, at least one timed call per (model, K). The timing is of this machine as it is
  now: other work on it slows the pilot as it will slow the runs. The sampler's own work per
  call (prior transform, slice proposals, dynesty's work per iteration) adds about
  :data:`SAMPLER_SECONDS_PER_CALL`: in the scaling table a whole call of a run costs 4–20 µs at
  N ≤ 1 000, where one batched evaluation of the likelihood costs a few µs.
* **Load**: other work on the machine while the pilot ran (:mod:`nestmix.runtime.cpuload`, over at
  least :data:`LOAD_WINDOW` seconds) slowed the pilot's one process and will slow the sweep's
  ``n_jobs``: with B cores busy elsewhere out of C, a process gets min(1, C / (B + n)) of a
  core when n processes of ours run. The pilot's times are turned into CPU seconds at n = 1
  and back into wall seconds at n = ``n_jobs``; the sampler's own work is CPU time.
* **Wall time** on ``n_jobs`` workers: the runs, longest first, each given to the worker that
  frees first (the driver's order); a models × K grid runs one K after the other (its waves),
  and may stop raising K for a model, so its estimate of every cell is an upper bound ("up
  to 16 runs").
* **Runs the convergence check adds** (with ``sweep.escalate`` ≥ 1), as an expected share of
  each run (:func:`expected_extra`): a deeper run (twice the live points, so about twice the
  calls) for :data:`ESCALATION_RATE` of the rows at each step of the budget, and a second
  seed at the same settings (:func:`nestmix.sweep.convergence.needs_second_seed`) for
  :data:`SECOND_SEED_RATE` of the rows with
  :data:`~nestmix.sweep.convergence.SECOND_SEED_MIN_NDIM` parameters or more. Which rows they
  are is known only after the runs; these rates are modest guesses from the runs measured so
  far: on ``benchmarks/time_to_answer.py`` (16 rows) its runs got one deeper run, none or
  one (nlive 50 and 100, 2026-12-07); second seeds went only to hard rows of 12 or more
  parameters (enzyme K = 5). With the default budget of one deeper run, a row of fewer than
  12 parameters is expected to cost 1.2 times its run, one of 12 or more 1.3 times.

Not counted: the mode analysis and evidence checks after each run (0.1–2.5 s a run), the
report, and numba's compilation on a first sweep. The estimate is a guide within a factor of
about two, not a promise; it is what the command line prints before the first run and what
``--max-minutes`` (a config's ``sweep.max_minutes``) compares against, and what
:class:`nestmix.NestedGaussianMixture` (``max_minutes``) and the service
(:mod:`nestmix.service.costing`) check before they start.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DEFAULT_MAX_MINUTES", "ESCALATION_RATE", "LOAD_WINDOW", "PILOT_CALLS",
           "PILOT_SECONDS", "SAMPLER_SECONDS_PER_CALL", "SECOND_SEED_RATE", "CostEstimate",
           "RunCost", "check_max_minutes", "estimate_cost", "expected_calls", "expected_extra",
           "kernels_cached", "refusal"]

#: ``nestmix sweep data.csv``, :class:`nestmix.NestedGaussianMixture` and the service refuse
#: to start above this many estimated minutes (``--max-minutes``, ``max_minutes``) unless told
#: otherwise.
DEFAULT_MAX_MINUTES = 30.0
#: Most likelihood calls timed per (model, K).
PILOT_CALLS = 200
#: Seconds the whole pilot may take (each (model, K) gets its share, at least one call).
PILOT_SECONDS = 1.0
#: The sampler's own CPU seconds per likelihood call (compiled slice proposals, prior
#: transform, dynesty's work per iteration).
SAMPLER_SECONDS_PER_CALL = 1e-5
#: Seconds over which the pilot reads the machine's load (it waits out the rest after a
#: quicker pilot).
LOAD_WINDOW = 0.5

#: Share of rows the convergence check gives a deeper run, at each step of its budget
#: (:func:`expected_extra`).
ESCALATION_RATE = 0.1
#: Share of rows of :data:`~nestmix.sweep.convergence.SECOND_SEED_MIN_NDIM` parameters or more
#: that get a second seed (no usable check of their ln Z; :func:`expected_extra`).
SECOND_SEED_RATE = 0.1

# calls ≈ _A × nlive × ndim^_B × N^_C (module docstring), × the sampler's relative_calls
_A, _B, _C = 51.0, 1.52, 0.10


@dataclass(frozen=True)
class RunCost:
    """The expected cost of one run.

    Attributes
    ----------
    model : str
        The model's label ("" for a single-model sweep).
    k : int
    sampler : str
    repeat : int
    ndim : int
        Parameters of the model.
    calls : float
        Expected likelihood calls of the run itself (:func:`expected_calls`).
    seconds_per_call : float
        Expected wall seconds per likelihood call in the sweep: the measured likelihood plus
        the sampler's own work, on the share of a core the run will get.
    extra : float
        Expected calls of the runs the convergence check may add to this row (deeper runs,
        a second seed), as a share of ``calls`` (:func:`expected_extra`).
    """

    model: str
    k: int
    sampler: str
    repeat: int
    ndim: int
    calls: float
    seconds_per_call: float
    extra: float = 0.0

    @property
    def seconds(self) -> float:
        """Expected wall seconds of the run and of the share of added runs it expects."""
        return self.calls * (1.0 + self.extra) * self.seconds_per_call


@dataclass(frozen=True)
class CostEstimate:
    """What a sweep's runs still to make are expected to cost (:func:`estimate_cost`).

    Attributes
    ----------
    runs : tuple of RunCost
        The runs still to make (finished runs of the sweep's directory left out).
    cores : int
        Worker processes the runs are spread over.
    screened : bool
        A models × K grid, which runs K in waves and stops raising K for a model that has
        clearly stopped gaining (:mod:`nestmix.sweep.screening`): ``runs`` and ``minutes`` are
        then what every cell would cost, an upper bound.
    minutes : float
        Expected wall-clock minutes on ``cores`` workers.
    cpu_minutes : float
        Expected CPU minutes of all the runs together, with the runs the convergence check is
        expected to add (:attr:`RunCost.extra`).
    calls : float
        Expected likelihood calls of all the runs together, the same way.
    busy_elsewhere : float
        Cores other work kept busy while the pilot ran (:mod:`nestmix.runtime.cpuload`).
    pilot_seconds : float
        Seconds the pilot took.
    """

    runs: tuple[RunCost, ...]
    cores: int
    screened: bool
    minutes: float
    cpu_minutes: float
    calls: float
    busy_elsewhere: float
    pilot_seconds: float

    def line(self) -> str:
        """E.g. ``16 runs, about 12 minutes on 2 cores`` (or ``under a minute``; ``up to 16
        runs`` for a grid that may stop raising K)."""
        n = len(self.runs)
        cores = f"{self.cores} core{'s' if self.cores != 1 else ''}"
        runs = f"{'up to ' if self.screened else ''}{n} run{'s' if n != 1 else ''}"
        return f"{runs}, {_minutes(self.minutes)} on {cores}"

    def to_dict(self) -> dict[str, Any]:
        """The estimate as JSON-able numbers (for the service)."""
        return {"runs": len(self.runs), "cores": self.cores, "screened": self.screened,
                "minutes": self.minutes,
                "cpu_minutes": self.cpu_minutes, "calls": self.calls,
                "busy_elsewhere": self.busy_elsewhere, "line": self.line()}


def _minutes(minutes: float) -> str:
    if minutes < 1:
        return "under a minute"
    if minutes < 120:
        whole = round(minutes)
        return f"about {whole} minute{'s' if whole != 1 else ''}"
    return f"about {minutes / 60:.1f} hours"


def expected_calls(sampler: str, nlive: int, ndim: int, n_points: int) -> float:
    """Likelihood calls a run is expected to make (the empirical rule of the module
    docstring: ``51 × nlive × ndim^1.52 × N^0.10``, × the sampler's
    :attr:`~nestmix.samplers.base.SamplerAdapter.relative_calls`: 2.3 for PolyChord).

    Parameters
    ----------
    sampler : str
    nlive : int
        The run's live points.
    ndim : int
        Parameters of the model.
    n_points : int
        Data points.

    Returns
    -------
    float
    """
    from nestmix.samplers import get_sampler

    calls = _A * nlive * max(ndim, 1) ** _B * max(n_points, 1) ** _C
    return calls * get_sampler(sampler).relative_calls


def expected_extra(ndim: int, escalate: int, repeats: int = 1) -> float:
    """The expected calls of the runs the convergence check adds to a row, as a share of its
    first run's calls.

    Step j of the budget (j = 1..``escalate``) runs 2**j times the live points, for the rows
    still flagged: ``Σ (2 × ESCALATION_RATE)**j``; a row of
    :data:`~nestmix.sweep.convergence.SECOND_SEED_MIN_NDIM` parameters or more may get a
    second seed at its own settings: ``+ SECOND_SEED_RATE`` (not when the sweep runs several
    seeds already). Nothing is added without a budget (``escalate`` 0).

    Parameters
    ----------
    ndim : int
        Parameters of the row's model.
    escalate : int
        Deeper runs the check may add per row (``sweep.escalate``).
    repeats : int
        Seeds the sweep runs per row (``sweep.repeats``).

    Returns
    -------
    float
        0.2 for a row of fewer than 12 parameters at the default budget of 1, 0.3 from 12 on.
    """
    from nestmix.sweep.convergence import SECOND_SEED_MIN_NDIM

    if escalate < 1:
        return 0.0
    extra = sum((2 * ESCALATION_RATE) ** j for j in range(1, int(escalate) + 1))
    second = ndim >= SECOND_SEED_MIN_NDIM and repeats < 2
    return extra + (SECOND_SEED_RATE if second else 0.0)


def estimate_cost(plan: Any, n_jobs: int, directory: str | Path | None = None, *,
                  pilot_seconds: float = PILOT_SECONDS) -> CostEstimate:
    """The expected cost of a sweep's (or a models × K grid's) runs, from a short pilot.

    Parameters
    ----------
    plan : SweepPlan
    n_jobs : int
        Worker processes the runs will be spread over.
    directory : str or Path, optional
        The sweep's directory: its finished runs (same fingerprint) are not counted, so a
        resumed sweep is estimated by what is left.
    pilot_seconds : float
        Seconds the timing of the likelihood may take in all.

    Returns
    -------
    CostEstimate
    """
    from nestmix.runtime.cpuload import available_cores, other_busy_cores, read_counters

    start = time.perf_counter()
    cells = list(_runs_to_make(plan, directory))
    models = {(label, k): sub for label, sub, k, _, _ in cells}
    budget = pilot_seconds / max(1, len(models))
    before = read_counters()
    pilot = {key: _time_likelihood(sub.model(key[1]), budget) for key, sub in models.items()}
    if models:  # a window long enough for the machine's counters to tell its load
        time.sleep(max(0.0, before.wall + LOAD_WINDOW - time.monotonic()))
    machine = available_cores()
    others = other_busy_cores(before, read_counters(), machine)
    cores = max(1, min(int(n_jobs), len(cells) or 1))
    # the pilot ran with (others + 1) processes on the machine's cores, the runs will run
    # with (others + cores): CPU seconds, then wall seconds, per call
    share_pilot = min(1.0, machine / (others + 1))
    share_run = min(1.0, machine / (others + cores))
    runs, cpu = [], 0.0
    for label, sub, k, sampler, repeat in cells:
        model = sub.model(k)
        nlive = int(sub.run(k, sampler, repeat).resolved.get("nlive") or 25 * model.ndim)
        calls = expected_calls(sampler, nlive, model.ndim, plan.data.n_points)
        cpu_per_call = pilot[label, k] * share_pilot + SAMPLER_SECONDS_PER_CALL
        extra = (expected_extra(model.ndim, sub.escalate, sub.repeats)
                 if repeat == 1 else 0.0)  # added runs are per row, not per seed
        cpu += calls * (1.0 + extra) * cpu_per_call
        runs.append(RunCost(model=label, k=k, sampler=sampler, repeat=repeat,
                            ndim=model.ndim, calls=calls,
                            seconds_per_call=cpu_per_call / share_run, extra=extra))
    screened = bool(plan.is_grid)
    if screened:  # a grid runs K in waves, smallest first (nestmix.sweep.grid.run_grid)
        wall = sum(_wall_seconds([r.seconds for r in runs if r.k == k], cores)
                   for k in {r.k for r in runs})
    else:
        wall = _wall_seconds([r.seconds for r in runs], cores)
    return CostEstimate(runs=tuple(runs), cores=cores, screened=screened, minutes=wall / 60,
                        cpu_minutes=cpu / 60, calls=sum(r.calls * (1 + r.extra) for r in runs),
                        busy_elsewhere=others, pilot_seconds=time.perf_counter() - start)


def _runs_to_make(plan: Any, directory: str | Path | None
                  ) -> Iterator[tuple[str, Any, int, str, int]]:
    """(model label, the model's SweepPlan, K, sampler, repeat) of every run not yet made
    (the label "" for a plan of one model)."""
    from nestmix.store.runs import RunStore

    for label, sub, where in plan.model_sweeps(directory or "."):
        label = label if plan.is_grid else ""
        store = RunStore(where) if directory is not None and where.is_dir() else None
        for repeat in range(1, sub.repeats + 1):
            for sampler in sub.samplers:
                for k in sub.k_values:
                    if store is not None and _finished(store, sub, k, sampler, repeat):
                        continue
                    yield label, sub, k, sampler, repeat


def _finished(store: Any, plan: Any, k: int, sampler: str, repeat: int) -> bool:
    try:
        manifest = store.run_manifest(k, sampler, repeat)
    except (OSError, ValueError):
        return False
    return bool(manifest) and manifest.get("fingerprint") in plan.run_fingerprints(
        k, sampler, repeat)


def _time_likelihood(model: Any, budget: float) -> float:
    """Seconds of one evaluation of ``model``'s likelihood at parameters drawn from its prior:
    one batch of up to :data:`PILOT_CALLS` parameter vectors (so Python's cost of a call, which
    a run's compiled proposals do not pay, is spread over them), as many as ``budget`` allows
    by a first timed call, after an untimed one that compiles the kernel or finds it compiled."""
    rng = np.random.default_rng(0)
    thetas = model.prior_transform(rng.random((PILOT_CALLS, model.ndim)))
    model.log_likelihood_batch(thetas[:1])
    start = time.perf_counter()
    model.log_likelihood_batch(thetas[1:2])
    one = time.perf_counter() - start
    size = int(min(PILOT_CALLS, max(1.0, (budget - one) / max(one, 1e-9))))
    if size < 2:
        return one
    start = time.perf_counter()
    model.log_likelihood_batch(thetas[:size])
    return (time.perf_counter() - start) / size


def _wall_seconds(seconds: list[float], cores: int) -> float:
    """Wall time of runs of these lengths on ``cores`` workers, longest first, each to the
    worker that frees first."""
    free = [0.0] * cores
    for length in sorted(seconds, reverse=True):
        i = min(range(cores), key=free.__getitem__)
        free[i] += length
    return max(free) if seconds else 0.0


#: How to narrow a sweep, by who is told and whether it is the zero-configuration grid.
_NARROW = {
    ("cli", True): "narrow the grid (--kmax, --covariance, e.g. --kmax 2 --covariance full), "
                   "sweep a random subsample of the rows",
    ("cli", False): "narrow the sweep (fewer K in sweep.k, a smaller nlive), sweep a random "
                    "subsample of the data",
    ("estimator", True): "narrow the grid (k, covariance, e.g. k=[1, 2], covariance='full'), "
                         "fit a random subsample of the rows",
    ("service", True): "narrow the grid (the kmax and covariance fields, e.g. kmax 2 and "
                       "covariance full), submit a random subsample of the rows",
    ("service", False): "narrow the sweep (fewer K in sweep.k, a smaller nlive), submit a "
                        "random subsample of the data",
}
#: How to lift the limit, by who is told.
_RAISE = {"cli": "raise --max-minutes (0: no limit)",
          "estimator": "raise max_minutes (0: no limit)",
          "service": "raise max_minutes (0: no limit)"}


def check_max_minutes(value: Any, key: str) -> float:
    """A limit of minutes as given (a number >= 0; 0 means none) as a float, ``inf`` for none.

    Raises
    ------
    nestmix.errors.ConfigError
        Naming ``key``, for anything but a finite number >= 0 (booleans included).
    """
    from nestmix.errors import ConfigError

    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)) and math.isfinite(value) and value >= 0
    if not ok:
        shown = f"{value:g}" if isinstance(value, (int, float)) and not isinstance(
            value, bool) else repr(value)
        raise ConfigError(key, f"must be a number of minutes >= 0 (0: no limit), got {shown}")
    return math.inf if value == 0 else float(value)


def refusal(estimate: CostEstimate, max_minutes: float, *, zero_config: bool,
            who: str = "cli", lift: str | None = None) -> str | None:
    """The one-line refusal of a sweep expected to take longer than ``max_minutes`` (None when
    it fits), saying how to narrow it.

    Parameters
    ----------
    estimate : CostEstimate
    max_minutes : float
        The limit (``inf``: none).
    zero_config : bool
        Whether the sweep is the zero-configuration grid (narrowed by K and covariance models)
        rather than a config's.
    who : {"cli", "estimator", "service"}
        Who is told: the advice names its options (``--kmax``, ``k=``, the form's fields).
    lift : str, optional
        How to lift the limit, in place of the default of ``who`` (e.g. a service's cap).
    """
    if not math.isfinite(max_minutes) or estimate.minutes <= max_minutes:
        return None
    how = _NARROW.get((who, zero_config)) or _NARROW[who, True]
    return (f"{estimate.line()}, above the limit of {max_minutes:g} minutes: {how}, or "
            f"{lift or _RAISE[who]}")


def kernels_cached(places: Iterator[Path] | list[Path] | None = None) -> bool:
    """Whether numba's cache holds nestmix's compiled likelihood kernels already.

    The first sweep on a machine compiles them (tens of seconds, once: ``cache=True``), and
    the pilot of :func:`estimate_cost` is where that happens; the command line says so first
    rather than sit silent. numba keeps its cache beside the source (``__pycache__``) where it
    can write, else under ``NUMBA_CACHE_DIR`` or the user's cache directory; an index file
    (``.nbi``) of the kernels' module in any of them counts.

    Parameters
    ----------
    places : list of Path, optional
        Where to look (default: numba's places for the kernels' module).
    """
    import importlib.util
    import os

    if places is None:
        spec = importlib.util.find_spec("nestmix.model.kernels._numba_impl")
        if spec is None or spec.origin is None:
            return True
        places = [Path(spec.origin).parent / "__pycache__", Path.home() / ".cache" / "numba"]
        if os.environ.get("NUMBA_CACHE_DIR"):
            places.append(Path(os.environ["NUMBA_CACHE_DIR"]))
    for place in places:
        if place.is_dir() and next(place.rglob("_numba_impl.*.nbi"), None) is not None:
            return True
    return False
