"""The default priors on the real data sets: which K they prefer, against the literature.

Runs a dynesty sweep of K = 1..6 with ``nestmix.priors.defaults.default_priors`` (unequal
variances, exchangeable labels) on the bundled galaxies (in 1000 km/s), acidity and enzyme data,
and prints ln Z, P(K | data) and the preferred K beside the ranges the mixture literature reports
with its own priors (Roeder & Wasserman 1997; Richardson & Green 1997, reversible-jump MCMC, and
the analyses that followed them; the answer moves with the priors, which is the point).

    python benchmarks/default_priors.py [--nlive 250] [--kmax 6] [--jobs 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

import nestmix
from nestmix.priors.defaults import default_priors

LITERATURE = {"galaxies": "3-6", "acidity": "2-3", "enzyme": "2-4"}
SCALE = {"galaxies": 1e-3, "acidity": None, "enzyme": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nlive", type=int, default=250)
    parser.add_argument("--kmax", type=int, default=6)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nestmix-default-priors-") as out:
        for name in LITERATURE:
            data = nestmix.datasets.load(name).measurements(scale=SCALE[name])
            priors = default_priors(data)
            spec = nestmix.ModelSpec(covariance="full", priors=priors)
            plan = nestmix.SweepPlan(name=name, data=data, spec=spec,
                                     k_values=tuple(range(1, args.kmax + 1)),
                                     settings={"nlive": args.nlive}, seed=1)
            started = time.perf_counter()
            result = nestmix.run_sweep(plan, f"{out}/{name}", n_jobs=args.jobs)
            seconds = time.perf_counter() - started
            print(f"\n{name}: {data.n_points} points; priors {priors}")
            print("  K      ln Z     ±    P(K|data)")
            for row in result.rows:
                print(f"  {row.k}  {row.logZ:9.2f}  {row.logZ_err:4.2f}    {row.p_k:.3f}")
            p = np.array([row.p_k for row in result.rows])
            mean_k = float(np.sum(p * np.array([row.k for row in result.rows])))
            print(f"  preferred K = {result.best().k} (posterior mean K {mean_k:.2f}); "
                  f"literature: {LITERATURE[name]}; {seconds:.0f} s")


if __name__ == "__main__":
    main()
