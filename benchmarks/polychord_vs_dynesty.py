"""PolyChord against dynesty on the same mixture problem, a few seeds each, in one run.

The problem is a 1-D two-component Gaussian mixture (K = 2, exchangeable labels, five
parameters) fitted to simulated points from two unit Gaussians at ±3. For each sampler the
script prints the mean log-evidence over seeds, its spread (standard deviation over seeds), the
mean reported error, their ratio (spread / reported error: near 1 when the error bars are
honest), the mean number of likelihood calls and the mean wall time, plus the ratios
PolyChord / dynesty. Both use nestmix's defaults except ``nlive``.

    python benchmarks/polychord_vs_dynesty.py [--seeds 3] [--points 100]
        [--nlive-polychord 100] [--nlive-dynesty 200]

PolyChord must be installed first (``nestmix install-polychord``); every PolyChord run
happens in a child process.
"""

from __future__ import annotations

import argparse

import numpy as np

from nestmix import Measurements, ModelSpec, get_sampler

PRIORS = {"mean": {"dist": "norm", "loc": 0, "scale": 5},
          "sigma": {"dist": "loguniform", "a": 0.1, "b": 10}}


def mixture_model(points: int, seed: int = 20261121):
    """K = 2 model for ``points`` simulated values, half from N(−3, 1), half from N(3, 1)."""
    rng = np.random.default_rng(seed)
    half = points // 2
    y = np.concatenate([rng.normal(-3.0, 1.0, half), rng.normal(3.0, 1.0, points - half)])
    return ModelSpec(priors=PRIORS).build(Measurements.from_arrays(y), 2)


def summarise(runs) -> dict[str, float]:
    """Mean logZ, spread over seeds, mean reported error, calls and seconds."""
    logz = np.array([r.logz for r in runs])
    err = np.array([r.logz_err for r in runs])
    spread = float(logz.std(ddof=1)) if len(runs) > 1 else float("nan")
    return {"logz": float(logz.mean()), "spread": spread, "err": float(err.mean()),
            "ratio": spread / float(err.mean()),
            "ncall": float(np.mean([r.ncall for r in runs])),
            "seconds": float(np.mean([r.seconds for r in runs]))}


def main(argv: list[str] | None = None) -> None:
    """Run both samplers on the same problem and print the comparison table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--nlive-polychord", type=int, default=100)
    parser.add_argument("--nlive-dynesty", type=int, default=200)
    args = parser.parse_args(argv)
    model = mixture_model(args.points)
    samplers = {"polychord": {"nlive": args.nlive_polychord},
                "dynesty": {"nlive": args.nlive_dynesty}}
    print(f"{model!r}, N = {args.points}, seeds 1..{args.seeds}")
    results = {}
    for name, settings in samplers.items():
        runs = []
        for seed in range(1, args.seeds + 1):
            run = get_sampler(name).run(model, settings, seed=seed)
            print(f"  {name:<10} seed {seed}: logZ = {run.logz:.3f} ± {run.logz_err:.3f}, "
                  f"{run.ncall:,} calls, {run.seconds:.1f} s", flush=True)
            runs.append(run)
        results[name] = summarise(runs)
    header = (f"{'sampler':<10} {'nlive':>5} {'mean logZ':>10} {'spread':>7} {'mean err':>8} "
              f"{'spread/err':>10} {'calls':>10} {'seconds':>8}")
    print()
    print(header)
    print("-" * len(header))
    for name, row in results.items():
        print(f"{name:<10} {samplers[name]['nlive']:>5} {row['logz']:>10.3f} "
              f"{row['spread']:>7.3f} {row['err']:>8.3f} {row['ratio']:>10.2f} "
              f"{row['ncall']:>10,.0f} {row['seconds']:>8.1f}")
    pc, dy = results["polychord"], results["dynesty"]
    diff = pc["logz"] - dy["logz"]
    sigma = np.hypot(pc["err"], dy["err"])
    print(f"\nlogZ(polychord) - logZ(dynesty) = {diff:.3f} ({diff / sigma:.1f} combined σ); "
          f"PolyChord / dynesty: calls × {pc['ncall'] / dy['ncall']:.2f}, "
          f"time × {pc['seconds'] / dy['seconds']:.2f}")


if __name__ == "__main__":
    main()
