"""How many ``rwalk`` steps does the plain script of ``end_to_end_2d.py`` need to be right?

``end_to_end_2d.py``'s plain script (dynesty ``rwalk``, nlive 500, dynesty's default 20 + ndim
steps) comes out 3σ and 7σ above the importance-sampling references at K = 2 and 3, so the
acceptance point "the two evidences agree within 2σ" of issue #17 fails on the plain side. This
script asks whether more steps would make that baseline right, and at what cost.

It runs exactly the plain script's sampler — dynesty ``NestedSampler``, ``sample="rwalk"``,
nlive 500, ``dlogz = 0.1``, the plain prior transform (so the same unit-cube geometry the
random walk moves in) and the same seeds (``seed + K``) — with one change: the likelihood
is nestmix's compiled one, evaluated at the plain parameters translated to nestmix's order
(``common.nestmix_theta``; the two likelihoods agree to 1e-10, tested in
``tests/test_benchmark_2d.py``). A call costs ~60 µs instead of ~0.8 ms, so a run with
hundreds of steps takes minutes instead of hours; the estimates are the plain script's up to
floating-point rounding (with the default steps and seed 1 at K = 3 it reproduces the plain
run's ln Z, see benchmarks/README.md).

Each run is compared with ``common.clusters_reference`` (importance sampling, no nested
sampler). Results are appended to ``results/rwalk_walks_2d.jsonl`` and not rerun.

    python benchmarks/rwalk_walks_2d.py [--ks 2 3] [--walks 0 150 600] [--seeds 1 2]
        [--out FILE] [--summary-only]

``--walks 0`` means dynesty's default (20 + ndim).
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import numpy as np
from common import (
    RESULTS,
    PlainMixture2D,
    Problem2D,
    append_jsonl,
    clusters_reference,
    make_problem,
    nestmix_spec,
    nestmix_theta,
    read_jsonl,
    run_plain_once,
)

DEFAULT_OUT = RESULTS / "rwalk_walks_2d.jsonl"


class CompiledPlainMixture2D(PlainMixture2D):
    """The plain script's model with nestmix's compiled likelihood (same values, faster)."""

    def __init__(self, problem: Problem2D, k: int) -> None:
        super().__init__(problem.values, problem.covariances, k)
        self.model = nestmix_spec().build(problem.measurements(), k)

    def log_likelihood(self, theta):
        return self.model.log_likelihood(nestmix_theta(theta, self.k))


def run(problem: Problem2D, k: int, walks: int | None, seed: int) -> dict:
    """One plain-script run at K with ``walks`` steps (None: dynesty's default)."""
    out = run_plain_once(CompiledPlainMixture2D(problem, k), seed, math.inf, 0.1, "rwalk",
                          None, 500, walks)
    return {"k": k, "walks": walks, "seed": seed, "logz": out["logz"], "err": out["err"],
            "ncall": out["ncall"], "seconds": out["seconds"], "load": os.getloadavg()[0]}


def summarise(records: list[dict], references: dict[int, float]) -> list[str]:
    """One line per (K, walks): runs, mean (ln Z − reference), RMSE / mean reported error."""
    lines = [f"{'K':>2} {'walks':>12} {'runs':>4} {'mean bias':>10} {'RMSE/σ':>7} "
             f"{'z of each run':<28} {'calls':>10} {'seconds':>8}"]
    groups: dict[tuple[int, int | None], list[dict]] = {}
    for r in records:
        groups.setdefault((r["k"], r["walks"]), []).append(r)
    for (k, walks), runs in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1] or 0)):
        ref = references[k]
        d = np.array([r["logz"] - ref for r in runs])
        sigma = float(np.mean([r["err"] for r in runs]))
        zs = " ".join(f"{(r['logz'] - ref) / r['err']:+.1f}" for r in runs)
        name = f"{walks}" if walks is not None else f"default {20 + 6 * k}"
        lines.append(f"{k:>2} {name:>12} {len(runs):>4} {d.mean():>+10.2f} "
                     f"{math.sqrt(float(np.mean(d ** 2))) / sigma:>7.2f} {zs:<28} "
                     f"{np.mean([r['ncall'] for r in runs]):>10.0f} "
                     f"{np.mean([r['seconds'] for r in runs]):>8.0f}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", type=int, nargs="+", default=[3])
    parser.add_argument("--walks", type=int, nargs="+", default=[0, 150, 600],
                        help="rwalk steps (0: dynesty's default, 20 + ndim)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--summary-only", action="store_true")
    args = parser.parse_args(argv)
    problem = make_problem(500, 1)
    records = read_jsonl(args.out)
    done = {(r["k"], r["walks"], r["seed"]) for r in records}
    if not args.summary_only:
        for k in args.ks:
            for walks in [w or None for w in args.walks]:
                for seed in args.seeds:
                    if (k, walks, seed) in done:
                        continue
                    record = run(problem, k, walks, seed)
                    records.append(record)
                    append_jsonl(args.out, record)
    ks = sorted({r["k"] for r in records})
    references = {k: clusters_reference(problem, k, 1)["logz"] for k in ks}
    print("\n".join(summarise(records, references)))


if __name__ == "__main__":
    main()
