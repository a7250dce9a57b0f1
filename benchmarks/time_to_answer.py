"""Time to an answer (issue 32): zero-config nestmix against scikit-learn's BIC grid, one run.

The data are what a user brings: N points in 2-D (default 500), each with its own error
standard deviations and error correlation, drawn from three correlated Gaussian clusters plus a
uniform background (:func:`make_points`; at N = 350: 150 + 100 + 60 cluster points and 40
background points, the case of the issue; other N in the same shares). They are written to
``points.csv`` with columns ``x, y, x_error, y_error, x_y_corr``, as the README's zero-config
quick start reads them.

* **nestmix**: ``nestmix sweep points.csv --out DIR --jobs J`` (``--jobs 2`` by default), the
  zero-config entry point of the README, run as a subprocess: its CPU seconds are the
  ``getrusage`` deltas of this process and of its waited-for children (the CLI and its worker
  processes), wall seconds around the call. The first lines it prints (the cost estimate) are
  shown. Its verdict is the best (model, K) of the sweep's ``summary.json`` (the grid's evidence
  table), with whether that row converged (``converged``; the bridge/importance-sampling check
  ``crosscheck_z``).
* **scikit-learn**: ``GaussianMixture`` for K = 1..6 × the four covariance types, ``n_init=3``,
  the lowest BIC wins; on the values only (scikit-learn has no per-point errors). CPU seconds
  of the fits (``getrusage`` of this process, all its threads); importing scikit-learn is
  printed apart and not counted (which makes the ratio larger, not smaller).

Acceptance (issue 32): CPU nestmix / scikit-learn ≤ 20 (goal 10); nestmix's best (model, K)
right — K = 3 with a background model or K = 4 without (the background taking a component),
with full covariances (the clusters are correlated, each differently); and its row converged.
The wall time is printed against "under 5 minutes on 2 idle cores for 500 points" with the load
averages before and after (the target is for idle cores; on a shared machine it is indicative).

Each finished measurement is appended to ``results/time_to_answer.jsonl``.

    python benchmarks/time_to_answer.py [--points 500] [--seed 1] [--jobs 2] [--keep DIR]
        [--timeout 1800] [--max-minutes M] [--dry-run] [--phases]

``--phases`` then runs the same sweep again in one process (``--jobs 1``, a fresh directory)
with the CPU seconds of each phase timed (:func:`phase_breakdown`: imports and the cost pilot,
the sampler's runs, the per-run checks — bridge and importance sampling, the optimiser, the mode
analysis — and the report, each figure kind apart) and records them under ``phases``.

``--dry-run`` writes the data and runs the scikit-learn side only (seconds), printing the
nestmix command it would run; nothing is appended to the results.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common
import numpy as np

RESULTS = common.RESULTS / "time_to_answer.jsonl"
BOX = common.BOX
#: ``common.CLUSTERS``' three correlated clusters: mean, standard deviations, correlation,
#: points out of 350 (this script's shares, not ``end_to_end_2d.py``'s)
CLUSTERS = tuple((mean, sd, rho, size) for (mean, sd, rho, _), size
                 in zip(common.CLUSTERS, (150, 100, 60), strict=True))
BACKGROUND = 40  # uniform background points out of 350
SKLEARN_KS = tuple(range(1, 7))
SKLEARN_TYPES = ("full", "tied", "diag", "spherical")
HEAD_LINES = 8  # of the CLI's output, shown (the cost estimate comes first)
TARGET_RATIO, GOAL_RATIO, TARGET_WALL = 20.0, 10.0, 300.0


# ------------------------------------------------------------------------------ the data
def counts(n: int) -> tuple[int, ...]:
    """Points per cluster and in the background for ``n`` points (the shares of 150:100:60:40)."""
    shares = np.array([c[3] for c in CLUSTERS] + [BACKGROUND], dtype=float)
    raw = n * shares / shares.sum()
    out = np.floor(raw).astype(int)
    out[np.argsort(out - raw)[: n - out.sum()]] += 1  # largest remainders first
    return tuple(int(c) for c in out)


def make_points(n: int = 500, seed: int = 1) -> dict[str, np.ndarray]:
    """Seeded 2-D points with per-point errors: three correlated clusters and a background.

    Each point's error has standard deviations uniform on [0.1, 0.4] and a correlation uniform
    on [−0.5, 0.5]; the observed value is the true one plus a draw of that error (clipped to
    :data:`BOX`).

    Parameters
    ----------
    n : int
        Number of points (at least 10).
    seed : int
        Seed of the one generator used.

    Returns
    -------
    dict
        ``values`` (n, 2), ``errors`` (n, 2) standard deviations, ``corr`` (n,) error
        correlations, ``labels`` (n,) the true source: 0, 1, 2 a cluster, 3 the background.
    """
    if n < 10:
        raise ValueError(f"--points must be at least 10, got {n}")
    rng = np.random.default_rng(seed)
    sizes = counts(n)
    labels = np.repeat(np.arange(len(sizes)), sizes)
    truth = np.empty((n, 2))
    for j, (mean, sd, rho, _) in enumerate(CLUSTERS):
        truth[labels == j] = rng.multivariate_normal(mean, common.cluster_covariance(sd, rho),
                                                     size=sizes[j])
    lo, hi = np.array(BOX).T
    truth[labels == len(CLUSTERS)] = lo + (hi - lo) * rng.random((sizes[-1], 2))
    errors, corr, _, noise = common.point_errors(rng, n)
    order = rng.permutation(n)  # a file is not sorted by source
    return {"values": np.clip(truth + noise, lo, hi)[order], "errors": errors[order],
            "corr": corr[order], "labels": labels[order]}


def write_csv(points: dict[str, np.ndarray], path: str | Path) -> Path:
    """``points`` as the CSV a user gives the CLI: x, y, x_error, y_error, x_y_corr."""
    path = Path(path)
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["x", "y", "x_error", "y_error", "x_y_corr"])
        for (x, y), (ex, ey), r in zip(points["values"], points["errors"], points["corr"],
                                          strict=True):
            out.writerow([repr(float(x)), repr(float(y)), repr(float(ex)), repr(float(ey)),
                          repr(float(r))])
    return path


# ------------------------------------------------------------------------- scikit-learn
def sklearn_grid(values: np.ndarray, seed: int = 1, n_init: int = 3,
                 ks: tuple[int, ...] = SKLEARN_KS,
                 types: tuple[str, ...] = SKLEARN_TYPES) -> dict[str, Any]:
    """scikit-learn's BIC grid: K = 1..6 × four covariance types, ``n_init`` starts each.

    ``ks`` and ``types`` narrow the grid (the tests use a small one).

    Returns
    -------
    dict
        ``covariance`` and ``k`` of the lowest BIC, ``bic`` per ``"<type> K=<k>"``, ``cpu``
        (seconds of the fits, every thread of this process), ``wall``, ``import_cpu``.
    """
    cpu0 = common.cpu_seconds(children=False)
    from sklearn.mixture import GaussianMixture

    import_cpu = common.cpu_seconds(children=False) - cpu0
    cpu0, wall0 = common.cpu_seconds(children=False), time.perf_counter()
    bic = {}
    for cov_type in types:
        for k in ks:
            gm = GaussianMixture(n_components=k, covariance_type=cov_type, n_init=n_init,
                                 random_state=seed).fit(values)
            bic[f"{cov_type} K={k}"] = float(gm.bic(values))
    cpu, wall = common.cpu_seconds(children=False) - cpu0, time.perf_counter() - wall0
    best = min(bic, key=bic.__getitem__)
    cov_type, k = best.split(" K=")
    return {"covariance": cov_type, "k": int(k), "bic": bic, "cpu": cpu, "wall": wall,
            "import_cpu": import_cpu}


def sklearn_one_thread(values: np.ndarray, seed: int = 1, **kwargs: Any) -> dict[str, Any]:
    """:func:`sklearn_grid` with BLAS and OpenMP limited to one thread (threadpoolctl), as
    nestmix's workers run their kernels: CPU seconds that idle threads spinning on a loaded
    machine do not inflate. On this benchmark's data the grid is 0.3–0.4 CPU s of work so,
    against 2.7 (quiet machine) to 12.8 CPU s (loaded) with scikit-learn's default threads.
    scikit-learn is imported first: a limit set before its OpenMP runtime is loaded does not
    reach it."""
    from sklearn.mixture import GaussianMixture  # noqa: F401  (loads the thread pools)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return sklearn_grid(values, seed=seed, **kwargs)


# ------------------------------------------------------------------------------ nestmix
def nestmix_command(csv_path: str | Path, out: str | Path, jobs: int,
                    max_minutes: float | None = None) -> list[str]:
    """The zero-config command line: ``nestmix sweep points.csv --out DIR --jobs J``."""
    exe = shutil.which("nestmix")
    cmd = [exe] if exe else [sys.executable, "-m", "nestmix"]
    cmd += ["sweep", str(csv_path), "--out", str(out), "--jobs", str(jobs)]
    if max_minutes is not None:
        cmd += ["--max-minutes", f"{max_minutes:g}"]
    return cmd


def run_nestmix(cmd: list[str], log: Path, timeout: float) -> dict[str, Any]:
    """Run the CLI; CPU of this process and its children, wall seconds, output in ``log``.

    A run still going after ``timeout`` seconds gets SIGINT (the CLI ends its workers and keeps
    the finished runs), then SIGKILL of its process group 30 s later.
    """
    cpu0 = common.cpu_seconds()
    wall0 = time.perf_counter()
    timed_out = False
    with open(log, "w") as handle:
        proc = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True, env={**os.environ,
                                                             "PYTHONUNBUFFERED": "1"})
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    wall = time.perf_counter() - wall0
    cpu = common.cpu_seconds() - cpu0
    return {"returncode": proc.returncode, "timed_out": timed_out, "cpu": cpu, "wall": wall,
            "output": log.read_text(errors="replace")}


def nestmix_verdict(directory: str | Path) -> dict[str, Any] | None:
    """The best (model, K) of a grid sweep's ``summary.json`` and how far it can be trusted.

    Returns None when there is no summary or no finished row.
    """
    path = Path(directory) / "summary.json"
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    rows = summary.get("rows", [])
    if not rows:
        return None
    best = max(rows, key=lambda r: r["logZ"])
    runs = run_manifests(directory)
    return {
        "model": best.get("model", best.get("covariance", "?")),
        "covariance": best.get("covariance"), "background": best.get("background", "none"),
        "k": best["k"], "logZ": best["logZ"], "logZ_err": best["logZ_err"],
        "p": best.get("p_model_k"), "converged": bool(best.get("converged", True)),
        "crosscheck_z": best.get("crosscheck_z"), "escalations": best.get("escalations", 0),
        "nlive": best.get("nlive"), "warnings": list(best.get("warnings", [])),
        "rows": len(rows), "runs": len(runs), "calls": sum(r["ncall"] for r in runs),
        "run_seconds": sum(r["seconds"] for r in runs), "run_list": runs,
        "screened": len(summary.get("screened", [])),
        "missing": len(summary.get("missing", [])),
        "table": [{k: r.get(k) for k in ("model", "k", "logZ", "logZ_err", "ncall", "seconds",
                                         "repeats", "nlive", "converged", "crosscheck_z")}
                  for r in sorted(rows, key=lambda r: (r.get("model", ""), r["k"]))],
    }


def run_manifests(directory: str | Path) -> list[dict[str, Any]]:
    """Every run the sweep made, from its manifests (deeper runs set aside included).

    Returns
    -------
    list of dict
        ``model``, ``k``, ``run`` (the run's directory name), ``nlive`` (None: the sweep's),
        ``ncall``, ``seconds``, ``logZ``, ``logZ_err``.
    """
    out = []
    for path in sorted(Path(directory).glob("model=*/K=*/*/manifest.json")):
        manifest = json.loads(path.read_text())
        summary = manifest.get("summary", {})
        out.append({"model": path.parts[-4].removeprefix("model="), "k": manifest.get("k"),
                    "run": path.parent.name, "nlive": manifest.get("nlive"),
                    "ncall": int(summary.get("ncall", 0)),
                    "seconds": float(summary.get("seconds", 0.0)),
                    "logZ": summary.get("logZ"), "logZ_err": summary.get("logZ_err")})
    return out


def verdict_right(covariance: str | None, background: str, k: int) -> bool:
    """Full covariances with K = 3 and a background model, or K = 4 without one."""
    return covariance == "full" and k == (3 if background != "none" else 4)


# ----------------------------------------------------------------------- CPU by phase
#: (module, attribute, phase) timed by :func:`phase_breakdown` (the sampler's ``run`` apart).
PHASE_HOOKS = (("nestmix.sweep.tasks", "crosscheck", "checks: bridge + importance sampling"),
               ("nestmix.sweep.tasks", "optimum_record", "checks: optimiser"),
               ("nestmix.sweep.tasks", "analyse", "mode analysis"),
               ("nestmix.sweep.cost", "estimate_cost", "cost pilot"),
               ("nestmix.report.build", "write_report", "report"))
PHASES_MARK = "PHASES "


def phase_breakdown(csv_path: str, out: str, *more: str) -> dict[str, float]:
    """CPU seconds of each phase of ``nestmix sweep CSV --out OUT --jobs 1 [MORE]`` in this
    process (``more``: further options of the command, e.g. ``--kmax 1`` in the tests).

    Each function of :data:`PHASE_HOOKS`, the sampler's ``run`` and each figure of the report
    (``figure: <kind>``, by the figure's name up to its first ``_``) is wrapped to add its
    ``time.process_time`` to its phase; ``imports`` is the CLI's import, ``total`` all of it,
    ``other`` what no phase holds (summaries, screening, the driver). Run in a child process
    (``--phases-child``) so that nothing is imported before it starts.
    """
    import importlib
    from collections import defaultdict

    start = time.process_time()
    acc: dict[str, float] = defaultdict(float)

    def timed(func: Any, phase: str) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.process_time()
            try:
                return func(*args, **kwargs)
            finally:
                acc[phase] += time.process_time() - t
        return wrapper

    from nestmix.cli import main as cli

    acc["imports"] = time.process_time() - start
    for module, name, phase in PHASE_HOOKS:
        mod = importlib.import_module(module)
        setattr(mod, name, timed(getattr(mod, name), phase))
    tasks = importlib.import_module("nestmix.sweep.tasks")
    sampler_of = tasks.get_sampler

    class Timed:  # the adapter with its run timed
        def __init__(self, adapter: Any) -> None:
            self.adapter = adapter

        def __getattr__(self, name: str) -> Any:
            value = getattr(self.adapter, name)
            return timed(value, "sampling") if name == "run" else value

    tasks.get_sampler = lambda name: Timed(sampler_of(name))
    for module in ("nestmix.report.build", "nestmix.report.grid"):
        mod = importlib.import_module(module)

        def figure(name: str, *args: Any, _render: Any = mod._render, **kwargs: Any) -> Any:
            t = time.process_time()
            try:
                return _render(name, *args, **kwargs)
            finally:
                acc[f"figure: {name.split('_')[0]}"] += time.process_time() - t
        mod._render = figure
    code = cli(["sweep", csv_path, "--out", out, "--jobs", "1", *more])
    acc["total"] = time.process_time() - start
    figures = sum(v for k, v in acc.items() if k.startswith("figure: "))
    acc["report: tables, CSVs"] = acc.pop("report", 0.0) - figures
    acc["other"] = acc["total"] - sum(v for k, v in acc.items() if k != "total")
    return {**acc, "returncode": float(code or 0)}


def run_phases(csv_path: Path, out: Path, log: Path, timeout: float,
               more: tuple[str, ...] = ()) -> dict[str, float] | None:
    """:func:`phase_breakdown` in a child process; None when it failed (its output in ``log``)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--phases-child", str(csv_path),
           str(out), *more]
    with open(log, "w") as handle:
        done = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, timeout=timeout,
                              check=False)
    marked = [line for line in log.read_text(errors="replace").splitlines()
              if line.startswith(PHASES_MARK)]
    if done.returncode != 0 or not marked:
        return None
    phases: dict[str, float] = json.loads(marked[-1][len(PHASES_MARK):])
    return phases


# --------------------------------------------------------------------------------- main
def _show(directory: Path) -> str:
    """``nestmix show DIR`` (the sweep's table, finished or not)."""
    exe = shutil.which("nestmix")
    cmd = ([exe] if exe else [sys.executable, "-m", "nestmix"]) + ["show", str(directory)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    return (done.stdout + done.stderr).rstrip()


def _load() -> tuple[float, float, float]:
    return os.getloadavg()


def _numba_cache_files(since: float = 0.0) -> int:
    """Compiled-kernel cache files beside nestmix's sources written after ``since`` (a time).

    Files written during the sweep mean its workers compiled (a cold or invalidated cache).
    """
    root = Path(__file__).resolve().parents[1] / "nestmix"
    return sum(1 for f in root.rglob("*.nbc") if f.stat().st_mtime > since)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--points", type=int, default=500, help="number of points (default 500)")
    p.add_argument("--seed", type=int, default=1, help="seed of the data and of scikit-learn")
    p.add_argument("--jobs", type=int, default=2, help="nestmix sweep --jobs (default 2)")
    p.add_argument("--keep", metavar="DIR", help="write points.csv and the sweep (sweep/) "
                   "into DIR (new or empty) and keep them; default a temporary directory")
    p.add_argument("--timeout", type=float, default=1800.0,
                   help="stop the nestmix sweep after this many seconds (default 1800)")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="pass --max-minutes to nestmix (default: the CLI's own default)")
    p.add_argument("--dry-run", action="store_true",
                   help="data and the scikit-learn grid only; print the nestmix command")
    p.add_argument("--results", default=str(RESULTS), help="JSON-lines file to append to")
    p.add_argument("--phases", action="store_true",
                   help="then run the sweep again in one process (--jobs 1) with the CPU "
                        "seconds of each phase timed, recorded under 'phases'")
    args = p.parse_args(argv)
    if args.points < 10:
        p.error(f"--points must be at least 10, got {args.points}")
    if args.jobs < 1:
        p.error(f"--jobs must be at least 1, got {args.jobs}")
    if args.keep and Path(args.keep).exists() and any(Path(args.keep).iterdir()):
        p.error(f"--keep {args.keep} is not empty: give a new or empty directory")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print the comparison; append it to the results (not with --dry-run).

    Returns
    -------
    dict
        The record appended (also in a dry run, with ``nestmix`` None).
    """
    args = parse_args(argv)
    scratch = None
    if args.keep:
        work = Path(args.keep)
        work.mkdir(parents=True, exist_ok=True)
    else:
        scratch = tempfile.TemporaryDirectory(prefix="time_to_answer_")
        work = Path(scratch.name)
    try:
        return _run(args, work)
    finally:
        if scratch is not None:
            scratch.cleanup()


def _run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    points = make_points(args.points, args.seed)
    csv_path = write_csv(points, work / "points.csv")
    sizes = counts(args.points)
    print(f"data: {args.points} 2-D points with per-point errors (seed {args.seed}): clusters "
          f"{sizes[0]} + {sizes[1]} + {sizes[2]}, background {sizes[3]}; {csv_path}", flush=True)
    record: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "points": args.points,
        "seed": args.seed, "jobs": args.jobs, "cores": os.cpu_count(),
        "numba_cache_files": _numba_cache_files()}

    load0 = _load()
    print(f"load average before: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} "
          f"({os.cpu_count()} cores)", flush=True)
    sk = sklearn_grid(points["values"], seed=args.seed)
    print(f"scikit-learn BIC grid (K = 1..6 × {len(SKLEARN_TYPES)} types, n_init 3): "
          f"{sk['cpu']:.1f} CPU s, {sk['wall']:.1f} s wall (import {sk['import_cpu']:.1f} CPU s "
          f"not counted); best {sk['covariance']} K = {sk['k']}", flush=True)
    record["sklearn"] = {k: v for k, v in sk.items() if k != "bic"}
    record["sklearn"]["right"] = sk["covariance"] == "full" and sk["k"] == 4
    one = sklearn_one_thread(points["values"], seed=args.seed)
    print(f"the same with one BLAS/OpenMP thread (nestmix's workers run so): {one['cpu']:.2f} "
          f"CPU s, {one['wall']:.1f} s wall (the first figure is mostly scikit-learn's threads "
          "waiting, more so on a loaded machine)", flush=True)
    record["sklearn_one_thread"] = {k: v for k, v in one.items() if k != "bic"}

    out = work / "sweep"
    cmd = nestmix_command(csv_path, out, args.jobs, args.max_minutes)
    record["command"] = " ".join(["nestmix", *cmd[cmd.index("sweep"):]])
    if args.dry_run:
        print(f"dry run: would run {' '.join(cmd)}")
        record.update(nestmix=None, load_before=load0, load_after=_load())
        return record

    print(f"running: {' '.join(cmd)}  (timeout {args.timeout:.0f} s)", flush=True)
    started = time.time()
    nm = run_nestmix(cmd, work / "nestmix.log", args.timeout)
    load1 = _load()
    record["numba_cache_written"] = _numba_cache_files(started)
    lines = nm["output"].splitlines()
    print(f"--- the first {HEAD_LINES} lines nestmix printed ---")
    print("\n".join(lines[:HEAD_LINES]))
    print("--- its last 5 lines ---")
    print("\n".join(lines[-5:]))
    print("---")
    verdict = nestmix_verdict(out)
    if verdict is None or nm["timed_out"] or nm["returncode"] != 0:
        table = _show(out) if out.exists() else "(no sweep directory)"
        print(f"nestmix sweep {'timed out' if nm['timed_out'] else 'failed'} "
              f"(exit {nm['returncode']}) after {nm['wall']:.0f} s wall, {nm['cpu']:.0f} CPU s; "
              f"nestmix show:\n{table}")
    record["nestmix"] = {
        "returncode": nm["returncode"], "timed_out": nm["timed_out"], "cpu": nm["cpu"],
        "wall": nm["wall"], "first_lines": lines[:HEAD_LINES], "verdict": verdict}
    record.update(load_before=load0, load_after=load1)
    print(f"load average after: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}; numba cache files "
          f"before {record['numba_cache_files']}, written during the sweep "
          f"{record['numba_cache_written']} (0: no compilation)")

    ratio = nm["cpu"] / sk["cpu"] if sk["cpu"] > 0 else math.inf
    record["ratio_cpu"] = ratio
    record["ratio_cpu_one_thread"] = nm["cpu"] / one["cpu"] if one["cpu"] > 0 else math.inf
    print(f"\n{'':12}{'CPU s':>9}{'wall s':>9}  verdict")
    print(f"{'scikit-learn':12}{sk['cpu']:9.1f}{sk['wall']:9.1f}  "
          f"{sk['covariance']} K = {sk['k']} (lowest BIC)")
    if verdict:
        state = "converged" if verdict["converged"] else "NOT converged"
        cz = verdict["crosscheck_z"]
        check = f"check z {cz:+.2f}" if cz is not None else "no independent check"
        print(f"{'nestmix':12}{nm['cpu']:9.1f}{nm['wall']:9.1f}  {verdict['model']} K = "
              f"{verdict['k']}, ln Z {verdict['logZ']:.2f} ± {verdict['logZ_err']:.2f}, "
              f"P {verdict['p'] if verdict['p'] is None else round(verdict['p'], 2)}; "
              f"{state}, {check}")
        for note in verdict["warnings"]:
            if note.startswith("not converged"):
                print(f"  (best row: {note})")
        print(f"nestmix made {verdict['runs']} runs over {verdict['rows']} (model, K) rows, "
              f"{verdict['calls']:,} likelihood calls, {verdict['run_seconds']:.0f} run-seconds; "
              f"{verdict['screened']} (model, K) screened out, {verdict['missing']} missing")
    else:
        print(f"{'nestmix':12}{nm['cpu']:9.1f}{nm['wall']:9.1f}  no verdict")
    right = bool(verdict) and verdict_right(verdict["covariance"], verdict["background"],
                                            verdict["k"])
    converged = bool(verdict) and verdict["converged"]
    checks = {"ratio ≤ 20": ratio <= TARGET_RATIO, "best (model, K) right": right,
              "best row converged": converged,
              "wall < 5 min (for 2 idle cores)": nm["wall"] < TARGET_WALL}
    record["checks"] = checks
    print(f"\nCPU ratio nestmix / scikit-learn: {ratio:.1f}× (target ≤ {TARGET_RATIO:g}, goal "
          f"≤ {GOAL_RATIO:g}: {'met' if ratio <= GOAL_RATIO else 'not met'}); against "
          f"scikit-learn on one thread {record['ratio_cpu_one_thread']:.1f}×")
    print(f"wall time {nm['wall'] / 60:.1f} min on {args.jobs} jobs, {args.points} points, load "
          f"{load0[0]:.1f} → {load1[0]:.1f}: target under 5 minutes on 2 idle cores")
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    if args.phases:
        print("\nthe same sweep in one process (--jobs 1), CPU seconds by phase:", flush=True)
        phases = run_phases(csv_path, work / "phases", work / "phases.log", args.timeout)
        record["phases"] = phases
        if phases is None:
            print(f"  failed: see {work / 'phases.log'}")
        else:
            for name, cpu in sorted(phases.items(), key=lambda kv: -kv[1]):
                if name != "returncode":
                    print(f"  {name:40}{cpu:8.1f}")
    common.append_jsonl(args.results, record)
    print(f"appended to {args.results}")
    return record


if __name__ == "__main__":
    if sys.argv[1:2] == ["--phases-child"]:
        print(PHASES_MARK + json.dumps(phase_breakdown(*sys.argv[2:])), flush=True)
    else:
        main()
