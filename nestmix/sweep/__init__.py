"""The K sweep: what to run (:mod:`~nestmix.sweep.plan`, read from TOML by
:mod:`~nestmix.sweep.config`), one task per run (:mod:`~nestmix.sweep.tasks`) executed here
(:mod:`~nestmix.sweep.local`) or on a Dask cluster (:mod:`~nestmix.sweep.dask`), driven by
:func:`run_sweep` (:mod:`~nestmix.sweep.run`: one model by :mod:`~nestmix.sweep.driver`, several
as a models × K grid by :mod:`~nestmix.sweep.grid`)."""

from nestmix.store.summary import load_sweep
from nestmix.sweep.config import load_config, plan_from_mapping
from nestmix.sweep.plan import SweepPlan
from nestmix.sweep.run import run_sweep

__all__ = ["SweepPlan", "load_config", "load_sweep", "plan_from_mapping", "run_sweep"]
