"""Which sampler settings give the most evidence accuracy per second on mixture posteriors?

Runs dynesty (``sample`` = rwalk / rslice / slice / unif, ``bound`` = multi / single / none,
``nlive`` = 250 / 500) and PolyChord (``num_repeats`` = 1, 2 and 5 × ndim) through nestmix's
adapters on

* ``deconv2``, ``deconv3``: the deconvolution problem of the science notebook
  (:func:`nestmix.data.datasets.deconvolution_problem`, N = 300, seed 1; ordered means, uniform
  means, log-uniform widths) with K = 2 and K = 3;
* ``galaxies3``: Roeder's galaxy velocities, K = 3 with unequal variances (normal means,
  inverse-gamma variances, exchangeable labels) — the posterior on which dynesty's default
  ``sample="auto"`` did not finish in 28 CPU-minutes (field notes);
* ``clusters2d2``, ``clusters2d3``: the 2-D case of ``end_to_end_2d.py`` (three correlated
  clusters plus a uniform background, per-point error covariances, full covariances with
  LKJ(1), ordered means) at N = 200 with K = 2 and 3 (ndim 12 and 18), for the settings in
  ``ND_CONFIGS`` only (slice with 3 or 1 rounds of slices, rwalk); their reference is computed
  without a nested sampler, by importance sampling from a Student-t mixture fitted to the
  posterior's modes (``common.importance_reference``, 200 000 draws, standard error
  0.002-0.004; cached in ``results/sampler_study_references.json``); PolyChord runs there too
  with ``num_repeats`` = 1, 2 and 5 × ndim (``ND_POLYCHORD``);
* beyond the default set (``--problems``, ``MORE_ND_PROBLEMS``): ``clusters2d1`` and
  ``clusters2d4`` (ndim 6 and 24), and ``clusters3d1``..``clusters3d3``: three correlated 3-D
  clusters plus a uniform background with per-point 3 × 3 error covariances (N = 200,
  ``common.make_problem_3d``; ndim 10, 20, 30), the same settings and references (importance
  sampling with ``IS_STARTS`` optimiser starts where its ESS reaches ``MIN_IS_ESS``; for
  ``clusters2d4`` importance sampling in parameter space with the spare component drawn from
  its prior, ``spare_reference.py``; deep dynesty runs, ``DEEP_REFERENCE_RUNS``, check it);

three seeds each and three more for the closest contenders (``FINALISTS``), plus a reference
evidence per problem: the mean of dynesty ``rslice`` runs with nlive = 2000 (two each for the
deconvolution problems, six for the galaxies, whose posterior is the hardest; there two
``slice`` runs with nlive = 2000 check that reference). For every setting it prints the mean
log-evidence, its bias against the reference, the scatter over seeds, the mean reported error,
the root-mean-square error (RMSE) against the reference, the mean likelihood calls and wall
seconds, and the efficiency
``seconds × RMSE² / 0.1²``: the time the setting needs for an RMSE of 0.1, if the error
shrinks like 1/sqrt(time) (more live points, or repeated runs). Lower is better. A last table
takes geometric means over the problems and the worst RMSE / reported error (near 1 or below:
the reported error can be trusted). With three seeds an RMSE is known to about ±40 %, so only
large differences mean anything; likelihood calls are the steadier measure of cost, seconds
depend on what else the machine is doing.

Every run is appended to a JSON-lines file as soon as it finishes, so the study can be
stopped and continued; runs already in the file are not repeated.

    python benchmarks/sampler_study.py [--out benchmarks/results/sampler_study.jsonl]
        [--problems deconv2 deconv3 galaxies3] [--seeds 3] [--reference-seeds 2 2 6]
        [--summary-only] [--samplers dynesty polychord] [--polychord-repeats 1 2 5]
        [--polychord-clustering on|off] [--polychord-nlive N] [--matrix]
        [--samplers ... ultranest] [--dynesty-nlive 50 100] [--merit]

``--samplers`` and ``--polychord-repeats`` narrow what is run (not what is summarised), e.g.
``--problems clusters2d3 --seeds 6 --samplers polychord --polychord-repeats 5`` adds three
seeds to one setting whose RMSE rests on one outlying run. ``--polychord-clustering off`` runs
PolyChord without its clustering on the ``clusters*`` problems (ordered means: nestmix's
default keeps it on there), a setting of its own in the tables.
``--matrix`` also prints the README's table of RMSE / reported error per setting and problem.
``--merit`` prints issue 32's figures of merit per problem: calls × σ² and CPU seconds × σ²
(σ the reported error; CPU recorded since 2026-12-07) beside the honesty RMSE / reported
(≤ 1.5). ``--samplers ultranest`` adds UltraNest at its defaults (``ND_ULTRANEST``) and
``--dynesty-nlive 50 100`` dynesty at nestmix's defaults with those live points, on the
``clusters*`` problems.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
from common import (
    RESULTS,
    STUDY_REFERENCES,
    append_jsonl,
    cpu_seconds,
    importance_reference,
    read_json,
    read_jsonl,
    spare_key,
    study_problem,
    write_json,
)

DYNESTY = [(sample, bound, nlive) for sample in ("rwalk", "rslice", "slice")
           for bound in ("multi", "single") for nlive in (250, 500)]
DYNESTY += [("rslice", "none", 500), ("unif", "multi", 500)]
FINALISTS = [("rslice", "multi", 500), ("slice", "single", 500), ("rwalk", "multi", 500)]
CROSS_CHECK = ("slice", "single", 2000)  # a second, differently made reference (galaxies)
POLYCHORD = [1, 2, 5]  # num_repeats / ndim
REFERENCE = ("rslice", "multi", 2000)
PROBLEMS = ("deconv2", "deconv3", "galaxies3", "clusters2d2", "clusters2d3")
# the multi-dimensional problems (issue #17): 2-D and 3-D full covariances + background,
# ndim = 6 K (2-D) and 10 K (3-D); fewer settings; references by importance sampling
# (``importance_references``). Beyond the default set: K = 1 and 4 in 2-D, K = 1..3 in 3-D.
MORE_ND_PROBLEMS = ("clusters2d1", "clusters2d4", "clusters3d1", "clusters3d2", "clusters3d3")
ALL_PROBLEMS = PROBLEMS + MORE_ND_PROBLEMS
ND_CONFIGS = [("slice", "single", 500, 1), ("rwalk", "multi", 500, None),
              ("slice", "single", 500, 3)]
ND_POLYCHORD = [1, 2, 5]  # PolyChord's num_repeats / ndim on the multi-dimensional problems
# UltraNest through nestmix's adapter (its own defaults: 400 live points, region sampling, slice
# steps 2 × ndim above 10 parameters) on the multi-dimensional problems (``--samplers ultranest``)
ND_ULTRANEST: list[dict] = [{}]
# An importance-sampling reference is used only when its effective sample size reaches
# MIN_IS_ESS. At K = 4 in 2-D (three clusters in the data) the spare component's posterior is
# close to its prior, which a Student-t mixture around the modes does not cover (ESS 44-64 of
# 200 000); there the reference is spare_reference.py's (importance sampling in parameter
# space, the spare component drawn from its prior; ESS 11 000), cached under ``spare_key``.
# The deep dynesty runs (ND_DEEP_REFERENCE, seeds 1000+) stay as a check, and the first of
# them shapes that proposal.
MIN_IS_ESS = 1000
# Local optimisations from the best prior draws that seed the importance-sampling proposal.
# 24 (calibration.py's default) missed the dominant mode of clusters3d2 (K = 2 in 3-D with three
# clusters in the data): its reference came out 26.9 nats below every run; with 96 it agrees
# with them. References cached with fewer starts are recomputed.
IS_STARTS = 96
ND_DEEP_REFERENCE = {"sample": "slice", "bound": "single", "nlive": 2000, "slices": 3}
DEEP_REFERENCE_RUNS = {"clusters2d4": 3}
DEFAULT_OUT = RESULTS / "sampler_study.jsonl"
IS_REFERENCES = STUDY_REFERENCES
build_problem = study_problem  # the model of a problem, by name


def plan(problems: list[str], seeds: int, reference_seeds: dict[str, int],
         finalist_seeds: int = 3,
         polychord_repeats: tuple[int, ...] = tuple(ND_POLYCHORD),
         polychord_clustering: bool | None = None,
         polychord_nlive: int | None = None,
         dynesty_nlive: tuple[int, ...] = ()) -> list[dict]:
    """Every run of the study: reference runs first (last on the ``clusters*`` problems, which
    have deep reference runs only where importance sampling is unusable).

    ``polychord_repeats`` narrows PolyChord's ``num_repeats / ndim`` on the ``clusters*``
    problems (a run at ndim 30 takes about half an hour); ``polychord_clustering`` given sets
    PolyChord's ``do_clustering`` there (otherwise nestmix's default: on, the means are ordered);
    ``polychord_nlive`` given sets its live points per dimension (otherwise nestmix's 25).
    ``dynesty_nlive`` adds, on the ``clusters*`` problems, dynesty at nestmix's defaults
    (``slice``, ``single``, rounds of slices by dimension) with these live points (the
    zero-config 50 and 100 of issue 32).
    """
    runs = []
    for problem in problems:
        if problem.startswith("clusters"):  # setting by setting, the cheapest first
            for sample, bound, nlive, slices in ND_CONFIGS:
                for seed in range(seeds):
                    settings = _dynesty_settings(sample, bound, nlive)
                    if slices is not None:
                        settings["slices"] = slices
                    runs.append({"problem": problem, "sampler": "dynesty", "reference": False,
                                 "settings": settings, "seed": seed + 1})
            for repeats in polychord_repeats:
                chord: dict = {"repeats_per_dim": repeats}
                if polychord_clustering is not None:
                    chord["do_clustering"] = polychord_clustering
                if polychord_nlive is not None:
                    chord["nlive_per_dim"] = polychord_nlive
                for seed in range(seeds):
                    runs.append({"problem": problem, "sampler": "polychord", "reference": False,
                                 "settings": dict(chord), "seed": seed + 1})
            for nlive in dynesty_nlive:  # nestmix's defaults, slices by dimension
                for seed in range(seeds):
                    runs.append({"problem": problem, "sampler": "dynesty", "reference": False,
                                 "settings": _dynesty_settings("slice", "single", nlive),
                                 "seed": seed + 1})
            for settings in ND_ULTRANEST:  # issue 32 item 2: calls × σ² beside UltraNest
                for seed in range(seeds):
                    runs.append({"problem": problem, "sampler": "ultranest", "reference": False,
                                 "settings": dict(settings), "seed": seed + 1})
            for seed in range(DEEP_REFERENCE_RUNS.get(problem, 0)):
                runs.append({"problem": problem, "sampler": "dynesty", "reference": True,
                             "settings": dict(ND_DEEP_REFERENCE), "seed": 1000 + seed})
            continue
        for seed in range(reference_seeds.get(problem, 2)):
            runs.append({"problem": problem, "sampler": "dynesty", "reference": True,
                         "settings": _dynesty_settings(*REFERENCE), "seed": 1000 + seed})
        # dynesty's "unif" (what sample="auto" picks below ten dimensions) takes 555k calls
        # and four times the time of rslice at K = 2, and did not finish within half an hour
        # at K = 3 here (nor on the galaxies in the field notes): measured on deconv2 only
        configs = DYNESTY if problem == "deconv2" else [c for c in DYNESTY if c[0] != "unif"]
        for seed in range(seeds):
            for config in configs:
                runs.append({"problem": problem, "sampler": "dynesty", "reference": False,
                             "settings": _dynesty_settings(*config), "seed": seed + 1})
            for repeats in POLYCHORD:
                runs.append({"problem": problem, "sampler": "polychord", "reference": False,
                             "settings": {"repeats_per_dim": repeats}, "seed": seed + 1})
        for seed in range(seeds, seeds + finalist_seeds):  # the closest contenders, more seeds
            for config in FINALISTS:
                runs.append({"problem": problem, "sampler": "dynesty", "reference": False,
                             "settings": _dynesty_settings(*config), "seed": seed + 1})
        if problem == "galaxies3":
            for seed in range(2):
                runs.append({"problem": problem, "sampler": "dynesty", "reference": False,
                             "settings": _dynesty_settings(*CROSS_CHECK), "seed": 2000 + seed})
    return runs


def _dynesty_settings(sample: str, bound: str, nlive: int) -> dict:
    return {"sample": sample, "bound": bound, "nlive": nlive}


def _key(run: dict) -> str:
    return json.dumps({k: run[k] for k in ("problem", "sampler", "settings", "seed")},
                      sort_keys=True)


def execute(run: dict) -> dict:
    """One sampler run; returns the record stored in the results file."""
    from nestmix import get_sampler

    model = build_problem(run["problem"])
    settings = dict(run["settings"])
    if run["sampler"] == "polychord":
        if "nlive_per_dim" in settings:
            settings["nlive"] = settings.pop("nlive_per_dim") * model.ndim
        settings = {"num_repeats": settings.pop("repeats_per_dim") * model.ndim,
                    "resume": False, **settings}
    start, cpu0 = time.perf_counter(), cpu_seconds()
    try:
        result = get_sampler(run["sampler"]).run(model, settings, run["seed"])
    except Exception as exc:  # a failed run is a result too: recorded and counted
        return {**run, "ndim": model.ndim, "error": f"{type(exc).__name__}: {exc}",
                "seconds": time.perf_counter() - start, "cpu": cpu_seconds() - cpu0,
                "load": os.getloadavg()[0]}
    wall = time.perf_counter() - start
    return {**run, "ndim": model.ndim, "logz": result.logz, "logz_err": result.logz_err,
            "ncall": int(result.ncall), "seconds": wall, "cpu": cpu_seconds() - cpu0,
            "load": os.getloadavg()[0]}


def _extra(run: dict, dynesty_nlive: list[int]) -> bool:
    """Whether ``run`` is one of those ``--dynesty-nlive`` and UltraNest add."""
    return run["sampler"] == "ultranest" or (
        run["sampler"] == "dynesty" and not run["reference"]
        and run["settings"] in [_dynesty_settings("slice", "single", n) for n in dynesty_nlive])


def label(record: dict) -> str:
    s = record["settings"]
    if record["sampler"] == "polychord":
        clustering = {True: " clustering on", False: " clustering off"}.get(
            s.get("do_clustering"), "")
        nlive = f" nlive={s['nlive_per_dim']}×ndim" if "nlive_per_dim" in s else ""
        return f"polychord num_repeats={s['repeats_per_dim']}×ndim{nlive}{clustering}"
    if record["sampler"] == "ultranest":
        return "ultranest " + (" ".join(f"{k}={v}" for k, v in sorted(s.items())) or "defaults")
    extra = f" slices={s['slices']}" if "slices" in s else ""
    return f"dynesty {s['sample']:<6} {s['bound']:<6} nlive={s['nlive']}{extra}"


def importance_references(problems: list[str], path: Path = IS_REFERENCES) -> dict:
    """ln Z of the ``clusters*`` problems by importance sampling, cached in ``path``."""
    cache = read_json(path)
    for problem in problems:
        if problem.startswith("clusters") and cache.get(problem, {}).get("starts", 24) < IS_STARTS:
            cache[problem] = importance_reference(build_problem(problem), seed=0, n=200_000,
                                                  rounds=3, starts=IS_STARTS)
            cache[problem]["starts"] = IS_STARTS
            write_json(path, cache)
    usable = {p: cache[p] for p in problems
              if p in cache and cache[p].get("ess", math.inf) >= MIN_IS_ESS}
    for problem in problems:  # where the modes' mixture falls short: spare_reference.py's
        spare = cache.get(spare_key(problem))
        if problem not in usable and spare and spare["ess"] >= MIN_IS_ESS:
            usable[problem] = spare
    return usable


def summarise(records: list[dict], references: dict | None = None) -> list[dict]:
    """Per problem and setting: bias, scatter, RMSE against the reference, cost.

    ``references`` (problem → record with ``logz``, ``logz_err``) overrides the reference runs.
    """
    rows = []
    references = references or {}
    for problem in dict.fromkeys(r["problem"] for r in records):
        mine = [r for r in records if r["problem"] == problem]
        ref_runs = [r["logz"] for r in mine if r["reference"] and "error" not in r]
        if problem in references:
            ref, ref_err = references[problem]["logz"], references[problem]["logz_err"]
            how = references[problem].get("method", "importance sampling")
            if "khat" in references[problem]:
                how += f", PSIS k̂ {references[problem]['khat']:.2f}"
            if ref_runs:  # deep runs made before a sampler-free reference existed: a check
                how += (f"; the {len(ref_runs)} reference runs' mean: "
                        f"{float(np.mean(ref_runs)):.3f}")
        elif ref_runs:
            how = f"mean of {len(ref_runs)} reference runs"
            ref = float(np.mean(ref_runs))
            ref_err = float(np.std(ref_runs, ddof=1) / math.sqrt(len(ref_runs))) \
                if len(ref_runs) > 1 else float("nan")
        else:  # no reference runs: the inverse-variance mean of every run on the problem
            ok = [r for r in mine if "error" not in r]
            if len(ok) < 2:
                continue
            weights = np.array([r["logz_err"] ** -2 for r in ok])
            ref = float(np.sum(weights * [r["logz"] for r in ok]) / weights.sum())
            ref_err = float(weights.sum() ** -0.5)
            how = "inverse-variance mean of every run"
        groups: dict[str, list[dict]] = {}
        failed: dict[str, int] = {}
        for r in mine:
            if "error" in r:
                failed[label(r)] = failed.get(label(r), 0) + 1
            elif not r["reference"]:
                groups.setdefault(label(r), []).append(r)
        for name, runs in groups.items():
            logz = np.array([r["logz"] for r in runs])
            rmse = float(np.sqrt(np.mean((logz - ref) ** 2)))
            seconds = float(np.mean([r["seconds"] for r in runs]))
            calls = float(np.mean([r["ncall"] for r in runs]))
            rows.append({
                "problem": problem, "setting": name, "runs": len(runs),
                "reference": ref, "reference_err": ref_err, "reference_method": how,
                "logz": float(logz.mean()), "bias": float(logz.mean() - ref),
                "scatter": float(logz.std(ddof=1)) if len(runs) > 1 else float("nan"),
                "reported": float(np.mean([r["logz_err"] for r in runs])),
                "rmse": rmse, "ncall": calls, "seconds": seconds,
                "seconds_to_0.1": seconds * rmse**2 / 0.01,
                "calls_to_0.1": calls * rmse**2 / 0.01,
                "failed": failed.get(name, 0),
                "ndim": int(runs[0].get("ndim", 0)),
                **_merit(runs),
            })
    return rows


def _merit(runs: list[dict]) -> dict:
    """Issue 32's figures of merit of one setting on one problem: mean calls × σ² and CPU
    seconds × σ² (σ the reported error: the cost of σ = 1 if σ² falls as 1 / cost; lower is
    better), CPU only where every run recorded it (runs since 2026-12-07)."""
    sigma2 = float(np.mean([r["logz_err"] ** 2 for r in runs]))
    cpu = [r["cpu"] for r in runs if "cpu" in r]
    return {"calls_sigma2": float(np.mean([r["ncall"] for r in runs])) * sigma2,
            "cpu_sigma2": float(np.mean(cpu)) * sigma2 if len(cpu) == len(runs) else None}


def print_merit(rows: list[dict], limit: float = 1.5) -> None:
    """Per problem, by ndim: calls × σ², CPU × σ² and RMSE / reported error (the honesty
    the issue asks: ≤ ``limit``); the settings ordered by calls × σ², honest ones first."""
    for problem in sorted(dict.fromkeys(r["problem"] for r in rows),
                          key=lambda p: (min(r["ndim"] for r in rows if r["problem"] == p), p)):
        mine = [r for r in rows if r["problem"] == problem]
        print(f"\n{problem} (ndim {mine[0]['ndim']}): figure of merit calls × σ² (σ reported), "
              f"honest when RMSE / reported ≤ {limit:g}")
        print(f"{'setting':<46} {'runs':>4} {'calls×σ²':>10} {'CPU s×σ²':>9} "
              f"{'RMSE/reported':>14}")
        for r in sorted(mine, key=lambda r: (r["rmse"] / r["reported"] > limit,
                                             r["calls_sigma2"])):
            cpu = f"{r['cpu_sigma2']:9.2f}" if r.get("cpu_sigma2") is not None else f"{'–':>9}"
            ratio = r["rmse"] / r["reported"]
            print(f"{r['setting']:<46} {r['runs']:>4} {r['calls_sigma2']:>10.0f} {cpu} "
                  f"{ratio:>14.2f}{'' if ratio <= limit else '  (not honest)'}")


def print_summary(rows: list[dict]) -> None:
    for problem in dict.fromkeys(r["problem"] for r in rows):
        mine = sorted((r for r in rows if r["problem"] == problem),
                      key=lambda r: r["seconds_to_0.1"])
        ref = mine[0]
        how = ref["reference_method"]
        print(f"\n{problem}: reference logZ = {ref['reference']:.3f} ± "
              f"{ref['reference_err']:.3f} ({how})")
        print(f"{'setting':<46} {'runs':>4} {'bias':>7} {'scatter':>8} {'reported':>8} "
              f"{'RMSE':>6} {'calls':>9} {'seconds':>8} {'s to 0.1':>9} {'calls to 0.1':>12}")
        for r in mine:
            failed = f"  ({r['failed']} failed)" if r["failed"] else ""
            print(f"{r['setting']:<46} {r['runs']:>4} {r['bias']:>+7.3f} {r['scatter']:>8.3f} "
                  f"{r['reported']:>8.3f} {r['rmse']:>6.3f} {r['ncall']:>9.0f} "
                  f"{r['seconds']:>8.1f} {r['seconds_to_0.1']:>9.1f} "
                  f"{r['calls_to_0.1']:>12.0f}{failed}")


def print_overall(rows: list[dict]) -> None:
    """Across problems: geometric means of the cost to RMSE 0.1, and RMSE / reported error."""
    problems = list(dict.fromkeys(r["problem"] for r in rows))
    settings = list(dict.fromkeys(r["setting"] for r in rows))
    table = []
    for name in settings:
        mine = [r for r in rows if r["setting"] == name]
        if len(mine) < len(problems):
            continue  # not run on every problem (dynesty's unif)
        table.append((name,
                      math.exp(np.mean([math.log(r["seconds_to_0.1"]) for r in mine])),
                      math.exp(np.mean([math.log(r["calls_to_0.1"]) for r in mine])),
                      max(r["rmse"] / r["reported"] for r in mine),
                      sum(r["runs"] for r in mine)))
    print(f"\nall problems ({', '.join(problems)}): geometric means, best first")
    print(f"{'setting':<46} {'runs':>4} {'s to 0.1':>9} {'calls to 0.1':>12} "
          f"{'worst RMSE/reported':>20}")
    for name, seconds, calls, worst, runs in sorted(table, key=lambda t: t[1]):
        print(f"{name:<46} {runs:>4} {seconds:>9.1f} {calls:>12.0f} {worst:>20.2f}")


def print_matrix(rows: list[dict]) -> None:
    """The README's table: per setting and problem "RMSE / reported (runs), bias", in the
    order of the problems' ndim (– where a setting was not run)."""
    problems = sorted(dict.fromkeys(r["problem"] for r in rows),
                      key=lambda p: (build_problem(p).ndim, p))
    short = [p.removeprefix("clusters") for p in problems]
    print("\n| setting | " + " | ".join(f"{s} ({build_problem(p).ndim})"
                                      for s, p in zip(short, problems, strict=True)) + " |")
    print("|---" * (len(problems) + 1) + "|")
    for name in dict.fromkeys(r["setting"] for r in rows):
        cells = []
        for problem in problems:
            mine = [r for r in rows if r["setting"] == name and r["problem"] == problem]
            cells.append(f"{mine[0]['rmse'] / mine[0]['reported']:.2f} ({mine[0]['runs']}), "
                         f"{mine[0]['bias']:+.2f}" if mine else "–")
        print(f"| {' '.join(name.split())} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=ALL_PROBLEMS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--summary-only", action="store_true")
    parser.add_argument("--matrix", action="store_true",
                        help="also print the README's RMSE / reported matrix (markdown)")
    parser.add_argument("--reference-seeds", type=int, nargs="+", default=[2, 2, 6],
                        help="reference runs per problem, in the order of --problems")
    parser.add_argument("--finalist-seeds", type=int, default=3,
                        help="extra seeds for the closest contenders (FINALISTS)")
    parser.add_argument("--dynesty-nlive", type=int, nargs="+", default=[],
                        help="clusters* problems: also dynesty at nestmix's defaults with these "
                             "live points (slices by dimension)")
    parser.add_argument("--extra-only", action="store_true",
                        help="run only what --dynesty-nlive and --samplers ultranest add")
    parser.add_argument("--merit", action="store_true",
                        help="also print calls × σ², CPU × σ² and RMSE / reported per problem")
    parser.add_argument("--samplers", nargs="+", default=["dynesty", "polychord"],
                        choices=["dynesty", "polychord", "ultranest"],
                        help="run only these samplers' settings (e.g. more PolyChord seeds)")
    parser.add_argument("--polychord-repeats", type=int, nargs="+", default=ND_POLYCHORD,
                        help="PolyChord's num_repeats / ndim on the clusters* problems")
    parser.add_argument("--polychord-clustering", choices=["on", "off"],
                        help="PolyChord's do_clustering on the clusters* problems (default: "
                             "nestmix's, on for ordered means)")
    parser.add_argument("--polychord-nlive", type=int,
                        help="PolyChord's nlive / ndim on the clusters* problems (default: "
                             "nestmix's, 25)")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = {_key(r) for r in read_jsonl(args.out)}
    if not args.summary_only:
        references = dict(zip(args.problems, args.reference_seeds, strict=False))
        todo = [r for r in plan(args.problems, args.seeds, references, args.finalist_seeds,
                                tuple(args.polychord_repeats),
                                None if args.polychord_clustering is None
                                else args.polychord_clustering == "on",
                                args.polychord_nlive, tuple(args.dynesty_nlive))
                if _key(r) not in done and r["sampler"] in args.samplers
                and (not args.extra_only or _extra(r, args.dynesty_nlive))]
        for i, run in enumerate(todo, 1):
            record = execute(run)
            append_jsonl(args.out, record)
            outcome = (f"FAILED ({record['error']})" if "error" in record else
                       f"logZ {record['logz']:.3f} ± {record['logz_err']:.3f}, "
                       f"{record['ncall']} calls")
            print(f"[{i}/{len(todo)}] {run['problem']} {label(record)} seed {run['seed']}: "
                  f"{outcome}, {record['seconds']:.1f} s", flush=True)
    records = [r for r in read_jsonl(args.out) if r["problem"] in args.problems]
    rows = summarise(records, importance_references(args.problems))
    print_summary(rows)
    print_overall(rows)
    if args.matrix:
        print_matrix(rows)
    if args.merit:
        print_merit(rows)


if __name__ == "__main__":
    main()
