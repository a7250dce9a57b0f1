"""End to end in 2-D: a nestmix sweep against the plain script a user would write, one run.

The problem is the realistic case users bring (issue #17): N = 500 points in 2-D, each with its
own 2 × 2 error covariance, drawn from three correlated Gaussian clusters plus a uniform
background on the box [−1, 11]² (seeded, ``common.make_problem``). It is fitted with K = 1, 2, 3
full-covariance Gaussians plus the uniform background, with the same priors on both sides:

* weights of the K Gaussians and the background: Dirichlet(1);
* means: uniform on the box in each coordinate;
* standard deviations: log-uniform on [0.05, 5] in each coordinate;
* correlation: LKJ(1), which in 2-D is ρ uniform on (−1, 1).

* **plain**: what a user writes — the deconvolved likelihood (component covariance plus each
  point's error covariance) with numpy's batched ``slogdet`` and ``solve`` and
  ``scipy.special.logsumexp``, a closed-form prior transform (stick-breaking weights,
  exchangeable labels), dynesty's ``NestedSampler`` with ``sample="rwalk"`` (dynesty's
  ``auto`` picks ``unif`` below ten dimensions, which stalls on these posteriors), nlive 500
  and ``dlogz=0.1`` (nestmix's stopping rule), K in a Python loop, one after the other.
* **nestmix**: ``run_sweep`` with nestmix's default sampler settings and the same priors
  (means ordered along x, which leaves the evidence unchanged), ``--jobs`` worker processes
  (default 2) — what ``nestmix sweep --jobs 2`` runs, mode analysis included.

It prints per K the two evidences with their reported errors, their difference in units of the
combined error, the likelihood calls and seconds, then the wall-time ratio plain / nestmix
(target ≥ 10×) and whether the evidences agree within 2 combined errors at every K.

Which side is right when they disagree: each K's evidence is also computed without a nested
sampler, by importance sampling from a Student-t mixture fitted to the posterior's modes
(``common.importance_reference``: 200 000 draws, standard error ~0.003, about a minute at
K = 3), and each side's distance from it is printed in units of that side's reported error.
References are cached in ``results/end_to_end_2d_references.json`` (``--no-reference`` skips).

The plain runs are slow (minutes to tens of minutes each). ``--plain-checkpoint DIR`` saves
them there and continues them in a later sitting (as in ``end_to_end.py``); the acceptance
ratio is the one of a run in which both sides ran start to finish. ``--quick`` runs a small
version (N = 150, K = 1, 2, nlive 150 on both sides) in about a minute.

    python benchmarks/end_to_end_2d.py [--jobs 2] [--ks 1 2 3] [--points 500] [--seed 1]
        [--quick] [--plain-timeout 7200] [--plain-checkpoint DIR] [--no-reference]
        [--references FILE]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time

from common import (
    CLUSTERS_REFERENCES,
    PlainMixture2D,
    Problem2D,
    append_jsonl,
    clusters_reference,
    make_problem,
    nestmix_spec,
    read_jsonl,
    run_plain_once,
)

REFERENCES = str(CLUSTERS_REFERENCES)
reference_logz = clusters_reference  # the importance-sampling reference, cached in REFERENCES


# ------------------------------------------------------------ the plain user script
def run_plain(problem: Problem2D, ks: list[int], seed: int, timeout: float, nlive: int = 500,
              checkpoint_dir: str | None = None, cache: str | None = None,
              walks: int | None = None) -> dict:
    """The plain loop over K (dynesty ``rwalk``, ``dlogz=0.1``); see :func:`common.run_plain_once`.

    ``walks`` is rwalk's number of steps (None: dynesty's default, 20 + ndim). With ``cache``
    (a JSON-lines file) finished runs are appended there and a K found there for the same N,
    seed, nlive and walks is read instead of run (marked ``"cached": True``).
    """
    out = {}
    cached = _read_cache(cache, len(problem.values), seed, nlive, walks)
    for k in ks:
        if k in cached:
            out[k] = {**cached[k], "cached": True}
            print(f"  plain   K={k}: from {cache} (measured {out[k]['when']}, load average "
                  f"{out[k]['load']:.1f})", flush=True)
            continue
        path = None
        if checkpoint_dir is not None:
            path = os.path.join(checkpoint_dir, f"plain2d-K{k}-N{len(problem.values)}-"
                                                f"seed{seed}-nlive{nlive}"
                                                + ("" if walks is None else f"-walks{walks}")
                                                + ".pkl")
        model = PlainMixture2D(problem.values, problem.covariances, k)
        out[k] = run_plain_once(model, seed, timeout, 0.1, "rwalk", path, nlive, walks)
        if cache is not None and out[k]["finished"]:
            record = {"n": len(problem.values), "seed": seed, "nlive": nlive, "walks": walks,
                      "k": k,
                      **out[k], "load": os.getloadavg()[0],
                      "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
            append_jsonl(cache, record)
    return out


def _read_cache(cache: str | None, n: int, seed: int, nlive: int, walks: int | None) -> dict:
    records = [] if cache is None else read_jsonl(cache)
    return {r["k"]: r for r in records
            if (r["n"], r["seed"], r["nlive"], r.get("walks")) == (n, seed, nlive, walks)}


# ---------------------------------------------------------------------- nestmix
def run_nestmix(problem: Problem2D, ks: list[int], seed: int, jobs: int, directory: str,
                settings: dict | None = None) -> dict:
    from nestmix.sweep import SweepPlan, run_sweep

    plan = SweepPlan(name="clusters2d", data=problem.measurements(), spec=nestmix_spec(),
                     k_values=tuple(ks), sampler="dynesty", seed=seed, settings=settings or {})
    result = run_sweep(plan, directory, n_jobs=jobs,
                       progress=lambda line: print("  " + line, flush=True))
    rows = {r.k: r for r in result.rows}
    return {k: {"logz": rows[k].logZ, "err": rows[k].logZ_err, "ncall": rows[k].ncall,
                "seconds": rows[k].seconds} for k in ks}


def compare(plain: dict, ours: dict, ks: list[int],
            references: dict | None = None) -> tuple[list[str], float]:
    """Table lines and the largest |Δ logZ| / combined σ over the finished plain runs.

    With ``references`` (K → :func:`reference_logz` record) each side's (ln Z − reference) / σ
    is added (columns ``plain z``, ``nestmix z``).
    """
    references = references or {}
    lines = [f"{'K':>2} {'plain logZ':>17} {'nestmix logZ':>17} {'Δ/σ':>6} {'plain calls':>12} "
             f"{'nestmix calls':>14} {'plain s':>8} {'nestmix s':>10}"
             + (f" {'reference logZ':>19} {'plain z':>8} {'nestmix z':>9}" if references else "")]
    worst = 0.0
    for k in ks:
        p, o = plain[k], ours[k]
        if p["finished"]:
            z = (o["logz"] - p["logz"]) / math.hypot(o["err"], p["err"])
            worst = max(worst, abs(z))
            text, zs = f"{p['logz']:>10.2f} ± {p['err']:.2f}", f"{z:>+6.2f}"
        else:
            text, zs = f"{'not finished':>17}", f"{'':>6}"
        line = (f"{k:>2} {text} {o['logz']:>10.2f} ± {o['err']:.2f} {zs} "
                f"{p['ncall']:>12} {o['ncall']:>14} {p['seconds']:>8.1f} {o['seconds']:>10.1f}")
        if k in references:
            ref = references[k]
            plain_z = (f"{(p['logz'] - ref['logz']) / p['err']:>+8.2f}" if p["finished"]
                       else f"{'':>8}")
            line += (f" {ref['logz']:>10.3f} ± {ref['logz_err']:.3f} {plain_z} "
                     f"{(o['logz'] - ref['logz']) / o['err']:>+9.2f}")
        lines.append(line)
    return lines, worst


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--ks", type=int, nargs="+")
    parser.add_argument("--points", type=int)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--nlive", type=int, help="live points on both sides (default 500)")
    parser.add_argument("--quick", action="store_true",
                        help="N = 150, K = 1 2, nlive 150: a minute, not the acceptance run")
    parser.add_argument("--plain-timeout", type=float, default=7200.0,
                        help="seconds (in this sitting) after which a plain run is stopped")
    parser.add_argument("--plain-checkpoint", metavar="DIR",
                        help="save the plain runs there and continue them from there")
    parser.add_argument("--plain-cache", metavar="FILE",
                        help="JSON lines of finished plain runs: read (not rerun) and appended")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the importance-sampling reference evidences")
    parser.add_argument("--references", default=REFERENCES, metavar="FILE",
                        help="cache of the reference evidences (JSON; default in results/)")
    parser.add_argument("--plain-walks", type=int, metavar="W",
                        help="rwalk steps of the plain script (default dynesty's, 20 + ndim)")
    parser.add_argument("--plain-only", action="store_true",
                        help="run only the plain side (to fill --plain-cache)")
    args = parser.parse_args(argv)
    ks = args.ks or ([1, 2] if args.quick else [1, 2, 3])
    n = args.points or (150 if args.quick else 500)
    nlive = args.nlive or (150 if args.quick else 500)
    problem = make_problem(n, args.seed)
    from nestmix.samplers.dynesty import DynestyAdapter

    ours_settings = {} if nlive == 500 else {"nlive": nlive}
    print(f"2-D clusters + background, N = {n}, K = {ks}; {os.cpu_count()} CPUs, load "
          f"average {os.getloadavg()[0]:.1f}; nestmix's dynesty settings "
          f"{dict(DynestyAdapter.defaults) | ours_settings}; plain script: dynesty rwalk, "
          f"nlive {nlive}, dlogz 0.1, walks "
          f"{'20 + ndim' if args.plain_walks is None else args.plain_walks}")
    if args.plain_only:
        print("plain script:")
        run_plain(problem, ks, args.seed, args.plain_timeout, nlive, args.plain_checkpoint,
                  args.plain_cache, args.plain_walks)
        return
    print("nestmix sweep:")
    with tempfile.TemporaryDirectory(prefix="nestmix-bench-") as tmp:
        start = time.perf_counter()
        ours = run_nestmix(problem, ks, args.seed, args.jobs, tmp, ours_settings)
        t_ours = time.perf_counter() - start
    print("plain script:")
    start = time.perf_counter()
    plain = run_plain(problem, ks, args.seed, args.plain_timeout, nlive, args.plain_checkpoint,
                      args.plain_cache, args.plain_walks)
    t_plain = max(time.perf_counter() - start, sum(r["seconds"] for r in plain.values()))
    if any(r.get("cached") for r in plain.values()):
        print("NOTE: plain runs read from the cache were measured in another run (see their "
              "load average); the ratio below is not a same-run measurement")

    references = {}
    if not args.no_reference:
        print("reference evidences (importance sampling, no nested sampler):")
        for k in ks:
            references[k] = reference_logz(problem, k, args.seed, args.references)
            print(f"  K={k}: {references[k]['logz']:.3f} ± {references[k]['logz_err']:.3f} "
                  f"({references[k]['seconds']:.0f} s when computed)", flush=True)
    lines, worst = compare(plain, ours, ks, references)
    print("\n" + "\n".join(lines))
    done = [r for r in plain.values() if r["finished"]]
    bound = "" if len(done) == len(plain) else (
        f" — a lower bound: {len(plain) - len(done)} plain run(s) stopped unfinished")
    print(f"\nwall time: plain {t_plain:.1f} s, nestmix {t_ours:.1f} s (jobs={args.jobs}); "
          f"ratio {t_plain / t_ours:.1f}x (target >= 10){bound}; load average now "
          f"{os.getloadavg()[0]:.1f}")
    print(f"largest |Δ|/σ {worst:.2f} ({'agree' if worst <= 2 else 'DISAGREE'} within 2 "
          "combined errors)")


if __name__ == "__main__":
    main()
