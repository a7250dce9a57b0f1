"""A sweep of 8 tasks on a Dask cluster with 1 worker and with 2 workers, in one run.

The sweep is K = 2, 3 on simulated points from two Gaussians at −3 and +2.5, four seeds per K
(``repeats = 4``): eight (K, seed) tasks. Each cluster is a ``distributed.LocalCluster`` of
single-threaded worker processes over loopback TCP, started before the clock starts; each sweep
writes into a fresh directory. The script prints the wall time of each sweep, the speed-up
(1 worker / 2 workers; at most 2, less when the tasks' lengths do not divide evenly between the
workers or the machine is shared), and checks that both sweeps made the same runs.

    python benchmarks/dask_workers.py [--points 80] [--nlive 50] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from nestmix import Measurements, ModelSpec, SweepPlan, run_sweep

PRIORS = {"mean": {"dist": "norm", "loc": 0, "scale": 5},
          "sigma": {"dist": "halfnorm", "scale": 3}}


def make_plan(points: int, nlive: int) -> SweepPlan:
    """The 8-task sweep: K = 2, 3 with four seeds each."""
    rng = np.random.default_rng(12)
    half = points // 2
    y = np.concatenate([rng.normal(-3.0, 0.6, half), rng.normal(2.5, 0.8, points - half)])
    return SweepPlan(name="bench", data=Measurements.from_arrays(y),
                     spec=ModelSpec(priors=PRIORS), k_values=(2, 3),
                     settings={"nlive": nlive}, seed=1, repeats=4)


def timed_sweep(plan: SweepPlan, workers: int, directory: Path) -> tuple[float, list[float]]:
    """Wall time of the sweep on a fresh cluster of ``workers`` workers, and its ln Z values."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": ":0"}) as cluster, \
            Client(cluster) as client:
        client.wait_for_workers(workers)
        start = time.perf_counter()
        result = run_sweep(plan, directory, dask=client)
        seconds = time.perf_counter() - start
    return seconds, [value for row in result.rows for value in row.logZ_runs]


def main(argv: list[str] | None = None) -> None:
    """Time the sweep on 1 worker and on ``--workers`` workers; print both and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=80)
    parser.add_argument("--nlive", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    plan = make_plan(args.points, args.nlive)
    print(f"sweep: K = 2, 3 x 4 seeds = 8 tasks, N = {args.points}, nlive = {args.nlive}")
    with tempfile.TemporaryDirectory() as tmp:
        one, logz_one = timed_sweep(plan, 1, Path(tmp) / "one")
        print(f"1 worker:  {one:8.1f} s")
        many, logz_many = timed_sweep(plan, args.workers, Path(tmp) / "many")
        print(f"{args.workers} workers: {many:8.1f} s")
    print(f"speed-up (1 worker / {args.workers} workers): {one / many:.2f}x")
    same = np.allclose(logz_one, logz_many, rtol=0, atol=1e-9)
    print(f"same runs (ln Z of all 8 tasks equal): {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
