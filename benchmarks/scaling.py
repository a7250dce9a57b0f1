"""Scaling: time per nestmix sweep against the number of points N and of components K.

For each N, the deconvolution problem (:func:`nestmix.data.datasets.deconvolution_problem`, seed 1,
the notebook's model) is swept over K = 1..4 with ``run_sweep`` (nestmix's dynesty defaults,
``--jobs`` workers). The script prints, per N and K, the run's seconds, likelihood calls and
microseconds per call, and the sweep's wall time, and writes ``benchmarks/scaling.png``: wall
time per sweep against N, seconds per run against N for each K, and the cost per likelihood
call against N (flat while sampler overhead dominates, then growing like N·K). The same run
also times one likelihood call of each model, so the split between likelihood and the rest is
visible.

    python benchmarks/scaling.py [--sizes 100 300 1000 3000 10000] [--ks 1 2 3 4] [--jobs 2]
        [--nlive 500] [--out benchmarks/scaling.png]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def sweep_once(n: int, ks: list[int], jobs: int, nlive: int) -> dict:
    import nestmix
    from nestmix.data.datasets import deconvolution_problem
    from nestmix.sweep import SweepPlan, run_sweep

    data = deconvolution_problem(n=n, seed=1).measurements()
    spec = nestmix.ModelSpec(order="means", priors={
        "mean": {"dist": "uniform", "loc": 0, "scale": 1},
        "sigma": {"dist": "loguniform", "a": 0.01, "b": 1}})
    plan = SweepPlan(name=f"scaling-{n}", data=data, spec=spec, k_values=tuple(ks),
                     sampler="dynesty", settings={"nlive": nlive}, seed=1)
    per_call = {}
    for k in ks:
        model = spec.build(data, k)
        theta = model.prior_transform(np.full(model.ndim, 0.5))
        timer = timeit.Timer(lambda m=model, t=theta: m.log_likelihood(t))
        number, _ = timer.autorange()
        per_call[k] = min(timer.repeat(3, number)) / number
    with tempfile.TemporaryDirectory(prefix="nestmix-scaling-") as tmp:
        start = time.perf_counter()
        result = run_sweep(plan, tmp, n_jobs=jobs)
        wall = time.perf_counter() - start
    rows = {r.k: r for r in result.rows}
    return {"wall": wall, "runs": {k: {"seconds": rows[k].seconds, "ncall": rows[k].ncall,
                                       "likelihood": per_call[k]} for k in ks}}


def plot(results: dict[int, dict], ks: list[int], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(results)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    axes[0].plot(sizes, [results[n]["wall"] for n in sizes], "o-k")
    axes[0].set(xscale="log", yscale="log", xlabel="N points",
                ylabel="wall time per sweep [s]", title=f"sweep K = {ks[0]}..{ks[-1]}")
    for k in ks:
        runs = [results[n]["runs"][k] for n in sizes]
        axes[1].plot(sizes, [r["seconds"] for r in runs], "o-", label=f"K = {k}")
        axes[2].plot(sizes, [r["seconds"] / r["ncall"] * 1e6 for r in runs], "o-",
                     label=f"K = {k}, whole call")
        axes[2].plot(sizes, [r["likelihood"] * 1e6 for r in runs], "x:", color=f"C{k - 1}",
                     label=f"K = {k}, likelihood")
    axes[1].set(xscale="log", yscale="log", xlabel="N points", ylabel="seconds per run",
                title="one K")
    axes[2].set(xscale="log", yscale="log", xlabel="N points", ylabel="µs per likelihood call",
                title="per call: sampler + prior + likelihood")
    axes[1].legend(fontsize=8)
    axes[2].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000, 3000, 10000])
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--nlive", type=int, default=500)
    parser.add_argument("--out", type=Path, default=HERE / "scaling.png")
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; dynesty nlive "
          f"{args.nlive}, jobs {args.jobs}")
    print(f"{'N':>6} {'K':>2} {'seconds':>8} {'calls':>9} {'µs/call':>8} "
          f"{'likelihood µs':>14} {'sweep wall s':>13}")
    sweep_once(min(args.sizes), args.ks[:1], args.jobs, 20)  # start the workers, load the cache
    results = {}
    for n in args.sizes:
        results[n] = sweep_once(n, args.ks, args.jobs, args.nlive)
        for k in args.ks:
            r = results[n]["runs"][k]
            wall = f"{results[n]['wall']:.1f}" if k == args.ks[-1] else ""
            print(f"{n:>6} {k:>2} {r['seconds']:>8.1f} {r['ncall']:>9} "
                  f"{r['seconds'] / r['ncall'] * 1e6:>8.1f} {r['likelihood'] * 1e6:>14.1f} "
                  f"{wall:>13}", flush=True)
    plot(results, args.ks, args.out)
    print(f"\nplot written to {args.out}")
    sizes = sorted(results)
    if len(sizes) > 1:
        first, last = results[sizes[0]]["wall"], results[sizes[-1]]["wall"]
        print(f"sweep wall time grows {last / first:.1f}x from N={sizes[0]} to N={sizes[-1]} "
              f"({sizes[-1] / sizes[0]:.0f}x the points)")


if __name__ == "__main__":
    main()
