"""Enzyme, K = 1..6: ordered means against exchangeable labels, at nestmix's default settings.

The acceptance case of issue #18. The two labellings are the same model (the ordered prior is
K! Π p(μ_k) on the ordered region, so both evidences are equal by construction); a nested
sampler that mixes poorly between the K! label copies of the exchangeable posterior, or between
its distinct modes, makes them differ. Priors (Richardson & Green 1997, the issue's):
μ ~ N(midrange, R²), σ² ~ InvGamma(2, 0.02 R²), Dirichlet(1) weights; dynesty at nestmix's
defaults (nlive 500, slice, one ellipsoid; the importance-sampling check and the convergence
check with its default budget of one extra seed), seed 1, K = 6 first.

It prints per K both rows (ln Z, the check, its distance, label copies found, seeds, whether
the row is marked not converged), their difference in combined errors, and the verdicts; then
whether the acceptance holds: every K within 2 combined errors, or the rows that are not are
marked not converged and were escalated (given more seeds); and the two verdicts name the same
K. The sweeps are kept in ``--out`` (resumable: a rerun reuses finished runs).

    python benchmarks/enzyme_labellings.py [--out DIR] [--jobs 2]    # about 8 min on 2 cores
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

ORDERS = ("means", "none")
KS = (6, 5, 4, 3, 2, 1)


def plan_for(order: str):
    """The sweep of one labelling."""
    import nestmix

    data = nestmix.datasets.load("enzyme").measurements()
    values = data.values[:, 0]
    lo, hi = float(values.min()), float(values.max())
    r = hi - lo
    spec = nestmix.ModelSpec(order=order, priors={
        "mean": {"dist": "norm", "loc": (lo + hi) / 2, "scale": r},
        "variance": {"dist": "invgamma", "a": 2, "scale": 0.02 * r * r},
        "weights": {"dist": "dirichlet", "alpha": 1.0}})
    return nestmix.SweepPlan(name=f"enzyme-{order}", data=data, spec=spec, k_values=KS, seed=1)


def run(out: Path, jobs: int) -> dict:
    """Both sweeps (resumed from ``out`` when there); their results by order."""
    import nestmix

    results = {}
    for order in ORDERS:
        start = time.perf_counter()
        results[order] = nestmix.run_sweep(plan_for(order), out / f"enzyme-{order}",
                                           n_jobs=jobs)
        print(f"{order}: {time.perf_counter() - start:.0f} s", flush=True)
    return results


def compare(results: dict) -> bool:
    """Print the table; True when the acceptance holds."""
    from nestmix.report.tables import verdict

    rows = {order: {r.k: r for r in results[order].rows} for order in ORDERS}
    print(f"\n{'K':>2} {'ordered ln Z':>17} {'check (z)':>17} {'exchangeable ln Z':>18} "
          f"{'check (z)':>17} {'copies':>7} {'seeds':>5} {'marked':>6} {'Δ/σ':>6}")
    ok = True
    for k in sorted(set(rows["means"]) & set(rows["none"])):
        a, b = rows["means"][k], rows["none"][k]
        delta = (b.logZ - a.logZ) / math.hypot(a.logZ_err, b.logZ_err)
        marked = [r for r in (a, b) if not r.converged]
        escalated = all(r.repeats > 1 for r in marked)
        fine = abs(delta) <= 2 or (marked and escalated)
        ok &= bool(fine)
        print(f"{k:>2} {a.logZ:>9.3f} ± {a.logZ_err:.3f} {_check(a):>17} "
              f"{b.logZ:>10.3f} ± {b.logZ_err:.3f} {_check(b):>17} "
              f"{b.label_copies or 0:>3}/{b.expected_copies or 1:<3} "
              f"{a.repeats}+{b.repeats:<3} {_marks(a, b):>6} {delta:>+6.2f}"
              f"{'' if fine else '  <- beyond 2σ, not marked'}")
    best = {order: results[order].best().k for order in ORDERS}
    for order in ORDERS:
        print(f"\n{order}: {verdict(results[order])[0]}")
    same = best["means"] == best["none"]
    print(f"\nbest K: ordered {best['means']}, exchangeable {best['none']} "
          f"({'the same' if same else 'DIFFERENT'})")
    ok &= same
    print(f"acceptance (#18): {'PASS' if ok else 'FAIL'} — every K within 2 combined errors or "
          "marked not converged and escalated; the verdicts name the same K")
    return ok


def _check(row) -> str:
    if row.crosscheck_logZ is None:
        return "none"
    return f"{row.crosscheck_logZ:.3f} ({row.crosscheck_z:+.1f})"


def _marks(a, b) -> str:
    return "".join("o" if not a.converged else "-") + ("x" if not b.converged else "-")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="where the two sweeps are kept (default: a "
                        "temporary directory)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    if args.out is None:
        with tempfile.TemporaryDirectory(prefix="nestmix-enzyme-") as tmp:
            compare(run(Path(tmp), args.jobs))
    else:
        compare(run(args.out, args.jobs))


if __name__ == "__main__":
    main()
