"""Time to relabel 100 000 posterior samples of a K = 6 mixture, for each method and solver.

Samples are scattered around a known truth (six 1-D Gaussians, N = 300 data points for the
classification probabilities Stephens' method needs) and their labels shuffled at random; each
method must recover the true labelling. Prints seconds per method and whether it was exact.

    python benchmarks/relabel_speed.py [--samples 100000] [--k 6]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from nestmix import Measurements, ModelSpec
from nestmix.modes import ThetaLayout, relabel, solve_assignments


def synthetic(n: int, k: int, rng: np.random.Generator):
    """A K-component 1-D model, n parameter samples near the truth, and shuffled copies."""
    means = 8.0 * np.arange(k)
    comp = rng.integers(k, size=300)
    data = Measurements.from_arrays(means[comp] + rng.normal(size=300))
    model = ModelSpec(priors={"mean": {"dist": "norm", "loc": 20, "scale": 20},
                              "sigma": {"dist": "halfnorm", "scale": 3}}).build(data, k)
    names = model.param_names
    clean = np.empty((n, len(names)))
    weights = rng.dirichlet(np.full(k, 500.0), size=n)
    for c, name in enumerate(names):
        kind, j = name.split("_")
        j = int(j) - 1
        if kind == "w":
            clean[:, c] = weights[:, j]
        elif kind == "mu":
            clean[:, c] = means[j] + 0.2 * rng.normal(size=n)
        else:
            clean[:, c] = np.exp(0.1 * rng.normal(size=n))
    perms = rng.permuted(np.tile(np.arange(k), (n, 1)), axis=1)
    return model, clean, ThetaLayout.from_model(model).permute(clean, perms)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=6)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(1)
    model, clean, theta = synthetic(args.samples, args.k, rng)
    params = model.expand(theta)
    truth = model.expand(clean)
    posterior = rng.uniform(0.5, 1.5, size=args.samples)
    print(f"relabelling {args.samples:,} samples, K = {args.k}, N = {model.data.n_points}")
    for method, solver in (("hungarian", "scipy"), ("hungarian", "brute"),
                           ("stephens", "scipy")):
        start = time.perf_counter()
        result = relabel(params, posterior, method=method, model=model, thetas=theta,
                         solver=solver)
        seconds = time.perf_counter() - start
        exact = np.allclose(result.apply(params).means, truth.means)
        print(f"  {method:10s} solver={solver:6s} {seconds:7.2f} s  {result.iterations} passes"
              f"  exact={exact}")
    cost = rng.normal(size=(args.samples, args.k, args.k))
    for solver in ("scipy", "brute"):
        start = time.perf_counter()
        solve_assignments(cost, solver)
        print(f"  one assignment pass, solver={solver:6s} {time.perf_counter() - start:7.2f} s")


if __name__ == "__main__":
    main()
