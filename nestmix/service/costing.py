"""The cost of a submitted job, estimated before it is queued (issue 32, item 3).

Every job (a CSV alone, the zero-configuration sweep, or a config with its data) is estimated
as ``nestmix sweep`` estimates a sweep (:func:`nestmix.sweep.cost.estimate_cost`, a short pilot
of its likelihood in the server's process) on the one worker process a job runs in, counting
only the runs its sweep directory has not finished. Above the job's limit it is refused with
the estimate and how to narrow it, one line; otherwise the estimate is kept with the job and
shown by the API (``cost``) and the page.

The limit is the form field ``max_minutes``, else the config's ``sweep.max_minutes``, else
:data:`~nestmix.sweep.cost.DEFAULT_MAX_MINUTES` (the zero-configuration default of the command
line); 0 is no limit. ``nestmix serve --max-minutes`` caps it for every job. Jobs sent to a
Dask cluster are not estimated (its cores are not known here), as on the command line.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from nestmix.errors import ConfigError
from nestmix.sweep.cost import (
    DEFAULT_MAX_MINUTES,
    CostEstimate,
    check_max_minutes,
    estimate_cost,
    refusal,
)

__all__ = ["job_cost", "job_limit"]

#: Worker processes one job's runs share (the runner sweeps with ``n_jobs=1``).
JOB_CORES = 1


def job_limit(asked: float | None, configured: float | None,
              cap: float | None) -> tuple[float, str]:
    """The minutes a job may be estimated at, and how its refusal says to lift it.

    Parameters
    ----------
    asked : float or None
        The form field ``max_minutes`` as sent (checked here; 0: no limit).
    configured : float or None
        The config's ``sweep.max_minutes``, already checked (``inf``: no limit).
    cap : float or None
        The service's own limit (``nestmix serve --max-minutes``; None or ``inf``: none).

    Returns
    -------
    limit : float
        ``inf`` for none.
    lift : str

    Raises
    ------
    ConfigError
        Keyed ``max_minutes``, for a form value that is not a number >= 0.
    """
    if asked is not None:
        limit = check_max_minutes(asked, "max_minutes")
    elif configured is not None:
        limit = configured
    else:
        limit = DEFAULT_MAX_MINUTES
    cap = math.inf if cap is None else cap
    if cap <= limit:
        return cap, ("ask for this service's limit to be raised (nestmix serve "
                     "--max-minutes)")
    if math.isfinite(cap):
        return limit, f"raise max_minutes (at most {cap:g} on this service)"
    return limit, "raise max_minutes (0: no limit)"


def job_cost(plan: Any, directory: Path, limit: float, lift: str,
             zero_config: bool) -> CostEstimate | None:
    """Estimate a job's runs still to make; refuse it above ``limit``.

    Parameters
    ----------
    plan : SweepPlan
    directory : Path
        The job's sweep directory (its finished runs are not counted).
    limit : float
        Minutes (``inf``: none), from :func:`job_limit`.
    lift : str
        How the refusal says to lift the limit.
    zero_config : bool
        Whether the job is the zero-configuration sweep of a CSV sent alone (the refusal
        names the form's ``kmax`` and ``covariance``; else the config's keys).

    Returns
    -------
    CostEstimate or None
        None when every run is finished already.

    Raises
    ------
    ConfigError
        Keyed ``max_minutes``: the estimate is above the limit.
    """
    estimate = estimate_cost(plan, JOB_CORES, directory if directory.is_dir() else None)
    if not estimate.runs:
        return None
    problem = refusal(estimate, limit, zero_config=zero_config, who="service", lift=lift)
    if problem is not None:
        raise ConfigError("max_minutes", problem)
    return estimate
