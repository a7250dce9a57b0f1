"""The PolyChord adapter: the real Fortran PolyChord, run in a child process.

PolyChord comes from an official ``pypolychord`` with ``pypolychord.run`` (1.20 or newer) when
one is importable, otherwise from the library of the official 1.15.1 wheel installed by
``nestmix install-polychord`` (:func:`nestmix.samplers.polychord.install_polychord`). Either way
the run
happens in a child process (:mod:`nestmix.samplers.polychord.runner`) and the result is read back
from PolyChord's files with anesthetic. With the setting ``mpi = N`` (N > 1) that child is
``mpirun -np N …`` running the copy of the 1.15.1 library linked to Open MPI
(``nestmix install-polychord --mpi``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from nestmix.errors import SamplerError
from nestmix.results import NestedRun
from nestmix.runtime.cpuload import available_cores
from nestmix.samplers.base import (
    NLIVE_MAX,
    Capabilities,
    LikelihoodProblem,
    SamplerAdapter,
    SweepOption,
    check_bounds,
    check_settings,
    settings_checked_before,
    warn_large_nlive,
)
from nestmix.samplers.polychord.dimension import live_points

__all__ = ["PolyChordAdapter", "default_clustering", "polychord_seed"]

_NUMBER = (int, float)
FILE_ROOT = "polychord"
_RECORD = "nestmix-polychord.json"
#: What the derived parameters of nestmix's PolyChord runs hold. Resume files of runs made
#: without them (nestmix before 2026-12-04) have shorter points, which PolyChord cannot read.
DERIVED = "unit cube"


class PolyChordAdapter(SamplerAdapter):
    """Run PolyChord (slice sampling with clustering of modes) on a problem.

    Settings ``nlive`` (default 25 × ndim, 50 × ndim above 20 parameters:
    :mod:`nestmix.samplers.polychord.dimension`) and ``num_repeats`` (default 5 × ndim, as
    PolyChord recommends for evidences) are filled in from the problem at run time, and so is
    ``do_clustering`` (default: off for a mixture with exchangeable labels and K ≥ 2, on
    otherwise; :func:`default_clustering`). ``resume`` continues
    from the resume file in ``workdir`` when there is one. ``nprior``, ``nfail``,
    ``max_ndead``, ``boost_posterior``, ``feedback``, ``logzero`` and ``compression_factor``
    are passed to PolyChord; anything else is rejected.

    ``mpi`` (N ≥ 1, default 1) runs PolyChord on N processes under Open MPI's mpirun: rank 0
    coordinates and writes the files, ranks 1..N−1 make the likelihood calls. It is listed in
    ``execution_settings``: it changes how a run is made, not what it estimates (beyond
    sampler randomness), so it is not part of a sweep's fingerprint, and a run stopped with
    one process count resumes with another. ``resume`` and ``feedback`` (log verbosity) are
    execution settings too; nestmix 0.1.0 still fingerprinted them, and runs it stored are
    recognised by that fingerprint (``formerly_fingerprinted``).
    """

    name = "polychord"
    defaults: ClassVar[Mapping[str, Any]] = {
        "nlive": None, "num_repeats": None, "precision_criterion": 0.001,
        "do_clustering": None, "resume": True,
    }
    valid_settings: ClassVar[Mapping[str, Any]] = {
        "nlive": int, "num_repeats": int, "precision_criterion": _NUMBER,
        "do_clustering": bool, "resume": bool, "nprior": int, "nfail": int,
        "max_ndead": int, "boost_posterior": _NUMBER, "feedback": int, "logzero": _NUMBER,
        "compression_factor": _NUMBER, "mpi": int,
    }
    #: Settings that choose how a run is executed, left out of run fingerprints.
    execution_settings = frozenset({"mpi", "resume", "feedback"})
    formerly_fingerprinted = frozenset({"resume", "feedback"})
    capabilities = Capabilities(mpi=True)
    # nestmix's own build of PolyChord (`nestmix install-polychord`): matched with nestmix
    worker_packages = ()
    #: calls per live point against dynesty's on the calibration problems (within a factor 2;
    #: nestmix.sweep.cost's module docstring)
    relative_calls = 2.3
    sweep_options = (SweepOption(
        flag="--mpi", setting="mpi", metavar="N",
        help="run each PolyChord run on N processes with Open MPI's mpirun (sets "
             "[sweep.polychord] mpi; needs `nestmix install-polychord --mpi`); --jobs then "
             "defaults to cores // N",
        purpose="runs PolyChord on several processes",
        too_small="must be a positive number of processes"),)

    def default_nlive(self, ndim: int) -> int:
        """25 × ndim (PolyChord's own default) up to 20 parameters, 50 × ndim above
        (:func:`nestmix.samplers.polychord.dimension.live_points`)."""
        return live_points(ndim)

    def resolved(self, settings: Mapping[str, Any], problem: LikelihoodProblem) -> dict[str, Any]:
        """``settings`` with ``nlive`` (:meth:`default_nlive`), ``num_repeats`` (5 × ndim) and
        ``do_clustering`` (:func:`default_clustering`) filled in where left unset."""
        out = dict(settings)
        ndim = int(problem.ndim)
        if out.get("nlive") is None:
            out["nlive"] = self.default_nlive(ndim)
        if out.get("num_repeats") is None:
            out["num_repeats"] = 5 * ndim
        if out.get("do_clustering") is None:
            out["do_clustering"] = default_clustering(problem)
        return out

    def processes_per_run(self, settings: Mapping[str, Any]) -> int:
        """``mpi`` processes (1 without)."""
        return int(settings.get("mpi") or 1)

    def census_is_signal(self, settings: Mapping[str, Any]) -> bool:
        """Without clustering PolyChord's live points do not hop between well separated label
        copies, so the copies' masses drift at random (0.67 … 0.02 over six copies in
        tests/test_modes_acceptance.py) while ln Z stays right: no signal of a missed copy."""
        return settings.get("do_clustering") is not False

    def launch_problem(self) -> str | None:
        """nestmix must not itself be one of several ranks started by mpirun."""
        from nestmix.samplers.polychord.mpi import launched_by_mpirun

        if launched_by_mpirun():
            return ("nestmix itself was started by mpirun on several processes; run `nestmix "
                    "sweep CONFIG --mpi N` instead (it starts mpirun for each PolyChord run: "
                    "see the README, PolyChord under MPI)")
        return None

    def add_commands(self, commands: argparse._SubParsersAction) -> None:
        """``nestmix install-polychord``."""
        install = commands.add_parser(
            "install-polychord",
            help="fetch PolyChord's library from the official pypolychord 1.15.1 wheel (via "
                 "pip), build nestmix's single-process MPI for it, and check it on a 2-D "
                 "Gaussian")
        install.add_argument("--dir", help="where to install (default: "
                             "$NESTMIX_POLYCHORD_HOME, else "
                             "~/.local/share/nestmix/polychord-1.15.1)")
        install.add_argument("--force", action="store_true",
                             help="install again even if present")
        install.add_argument("--mpi", action="store_true",
                             help="also link it to the system's Open MPI (apt-get install "
                                  "openmpi-bin libopenmpi-dev) for `nestmix sweep --mpi N`")
        install.set_defaults(func=_install_command)

    def validate(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults merged with ``settings``; raises SamplerError on unknown or bad ones."""
        merged = check_settings(self.name, settings, self.valid_settings, self.defaults)
        for key, low in (("nlive", 2), ("num_repeats", 1)):
            if merged[key] is not None and merged[key] < low:
                raise SamplerError(f"polychord setting {key!r} must be at least {low}, got "
                                   f"{merged[key]}")
        if merged["precision_criterion"] <= 0:
            raise SamplerError("polychord setting 'precision_criterion' must be positive")
        if merged.get("max_ndead") is not None and merged["max_ndead"] == 0:
            raise SamplerError("polychord setting 'max_ndead' must be positive (or -1: none)")
        cf = merged.get("compression_factor")
        if cf is not None and not 0 < cf < 1:
            raise SamplerError("polychord setting 'compression_factor' must be in (0, 1)")
        if merged.get("feedback") is not None and merged["feedback"] not in (0, 1, 2, 3):
            raise SamplerError("polychord setting 'feedback' must be 0, 1, 2 or 3")
        if merged.get("mpi") is not None and merged["mpi"] < 1:
            raise SamplerError(f"polychord setting 'mpi' (processes) must be at least 1, got "
                               f"{merged['mpi']}")
        check_bounds(self.name, merged, {
            "nlive": (2, NLIVE_MAX, True), "num_repeats": (1, None, True),
            "nprior": (-1, None, True), "nfail": (-1, None, True),
            "boost_posterior": (0, None, True), "precision_criterion": (0, None, False),
            "mpi": (1, available_cores(), True)})
        warn_large_nlive(self.name, merged["nlive"])
        return merged

    def run(self, problem: LikelihoodProblem, settings: Mapping[str, Any], seed: int,
            workdir: str | None = None) -> NestedRun:
        """Run PolyChord on ``problem`` in a child process.

        Parameters
        ----------
        problem : LikelihoodProblem
            Prior transform, log-likelihood, ``ndim`` and ``param_names``; it must be
            picklable (it is sent to the child process).
        settings : mapping
            PolyChord settings (validated here).
        seed : int
            Seed of PolyChord's generator (non-negative). PolyChord takes a C ``int``, and
            a negative one makes it seed itself from the clock, so ``seed`` is folded into
            ``[0, 2**31)`` (:func:`polychord_seed`); the run records ``seed`` itself.
        workdir : str, optional
            Directory PolyChord writes to (created if needed); with ``resume`` a later run
            continues from it. Default: a temporary directory removed afterwards.

        Notes
        -----
        The run happens in a child interpreter (:mod:`nestmix.samplers.polychord.runner`); the
        problem is sent to it with cloudpickle, so it must be picklable by cloudpickle.

        PolyChord 1.15's slice sampler occasionally proposes points whose unit-cube
        coordinates are NaN (when a cluster of few live points has a degenerate covariance).
        Such a point is rejected as outside the prior (log-likelihood ``logzero``), which
        PolyChord recovers from; the count is in the run's ``warnings``. A run that keeps
        proposing them (more than a million) is stopped with a CallbackError.

        Returns
        -------
        NestedRun
            With ``clusters``: PolyChord's clusters with their local evidences and samples.
            ``ncall`` is PolyChord's count of likelihood calls over the whole run (a resumed
            run includes the calls made before it stopped, as dynesty's does); ``seconds`` is
            the wall time of this call only.

        Raises
        ------
        SamplerError
            If PolyChord (with ``mpi`` > 1: its Open MPI build, or mpirun) is not installed, a
            resume file belongs to a different problem, or the run ends abnormally.
        nestmix.samplers.polychord.CallbackError
            If the likelihood or prior transform raised or returned a bad value (a
            :class:`~nestmix.errors.ModelError` naming the values).
        """
        with settings_checked_before():  # the plan warned about them already
            s = self.validate(settings)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise SamplerError(f"polychord needs a non-negative integer seed, got {seed!r}")
        s = self.resolved(s, problem)
        library_dir = _library_dir(s.get("mpi") or 1)
        if workdir is None:
            with tempfile.TemporaryDirectory(prefix="nestmix-polychord-") as tmp:
                return self._run(problem, s, int(seed), Path(tmp), library_dir)
        return self._run(problem, s, int(seed), Path(workdir), library_dir)

    def _run(self, problem: LikelihoodProblem, s: dict[str, Any], seed: int, base: Path,
             library_dir: str | None) -> NestedRun:
        from anesthetic import read_chains

        from nestmix.samplers.polychord.binding import CSettings
        from nestmix.samplers.polychord.output import (
            read_clusters,
            read_stats,
            unit_cube_names,
            write_paramnames,
        )
        from nestmix.samplers.polychord.runner import RunRequest, run_in_child

        base = base.resolve()
        (base / "clusters").mkdir(parents=True, exist_ok=True)
        stale = _check_resume(base, problem, s, seed)
        root = base / FILE_ROOT
        resumed = bool(s["resume"]) and Path(f"{root}.resume").is_file()
        cube_names = unit_cube_names(int(problem.ndim))
        write_paramnames(root, tuple(problem.param_names), cube_names)
        optional: dict[str, Any] = {
            key: s[key] for key in ("nprior", "nfail", "max_ndead", "boost_posterior",
                                    "feedback", "logzero", "compression_factor")
            if s.get(key) is not None}
        csettings = CSettings(
            ndim=int(problem.ndim), nlive=s["nlive"], num_repeats=s["num_repeats"],
            base_dir=str(base), file_root=FILE_ROOT, seed=polychord_seed(seed),
            do_clustering=s["do_clustering"], precision_criterion=float(
                s["precision_criterion"]), read_resume=s["resume"], write_resume=True,
            cluster_posteriors=True, nderived=len(cube_names),
            **{k: (float(v) if k in ("boost_posterior", "logzero", "compression_factor")
                   else v) for k, v in optional.items()})  # type: ignore[arg-type]
        from nestmix.samplers.polychord.progress import watch

        start = time.perf_counter()
        with watch(root, csettings.nlive, csettings.precision_criterion):
            request = RunRequest(problem, csettings, library_dir, processes=s.get("mpi") or 1)
            restarted: tuple[str, ...] = ()
            try:
                report = run_in_child(request)
            except SamplerError:
                if not resumed:
                    raise
                # a resume file PolyChord cannot read (cut short, or not its own): keep it aside
                # and make the run from the start, once
                aside = Path(f"{root}.resume.broken")
                Path(f"{root}.resume").replace(aside)
                resumed = False
                restarted = (f"PolyChord could not continue from its resume file (moved aside to "
                             f"{aside.name}); the run was made from the start",)
                start = time.perf_counter()
                report = run_in_child(request)
        seconds = time.perf_counter() - start
        stats = read_stats(root)
        chains = read_chains(str(root))
        names = list(problem.param_names)
        logl = chains.logL.to_numpy(dtype=float)
        samples = chains[names].to_numpy(dtype=float)
        samples_u = chains[list(cube_names)].to_numpy(dtype=float)
        if not (np.all(np.isfinite(samples)) and np.all(np.isfinite(logl))):
            raise SamplerError(f"PolyChord wrote non-finite samples or log-likelihoods to "
                               f"{root}.txt; the run cannot be used")
        if not np.all((samples_u >= 0) & (samples_u <= 1)):
            samples_u = None  # not the unit cube (cannot happen in a run nestmix made)
        warnings: tuple[str, ...] = stale + restarted
        if report.nonfinite_proposals:
            warnings += (f"PolyChord proposed {report.nonfinite_proposals:,} points with "
                        "non-finite unit-cube coordinates (its slice sampler does so when a "
                        "small cluster's covariance degenerates); each was rejected as outside "
                        "the prior and the run went on",)
        return NestedRun(
            sampler=self.name,
            param_names=tuple(names),
            samples=samples,
            logl=logl,
            logwt=np.asarray(chains.logw(), dtype=float),
            nlive=chains["nlive"].to_numpy(dtype=int),
            logz=stats.logz,
            logz_err=stats.logz_err,
            ncall=stats.nlike if stats.nlike > 0 else report.ncall,
            seconds=seconds,
            seed=seed,
            settings=dict(s),
            converged=_converged(s, stats.ndead),
            clusters=read_clusters(base, FILE_ROOT, stats, int(problem.ndim)),
            resumed=resumed,
            warnings=warnings,
            samples_u=samples_u,
        )


def _install_command(args: argparse.Namespace) -> int:
    from nestmix.samplers.polychord.install import install_polychord

    path = install_polychord(Path(args.dir) if args.dir else None, force=args.force,
                             mpi=args.mpi, progress=lambda line: print(line, flush=True))
    print(f"PolyChord is ready: {path}")
    return 0


def polychord_seed(seed: int) -> int:
    """``seed`` folded into ``[0, 2**31)``, the non-negative range of PolyChord's C ``int``.

    Sweep seeds are 32-bit (``SeedSequence.generate_state``); passed unfolded, one above
    2**31 − 1 wrapped to a negative ``int``, which PolyChord takes as "seed from the clock",
    and the run could not be repeated.
    """
    return int(seed) % 2**31


def default_clustering(problem: LikelihoodProblem) -> bool:
    """PolyChord's ``do_clustering`` when the settings leave it out: False for a mixture with
    exchangeable labels (``order = "none"``) and K ≥ 2, True otherwise.

    On an exchangeable posterior every cluster PolyChord finds is a label copy of the same mode
    (nestmix relabels the samples itself), and its per-cluster evidences came out biased high:
    galaxies K = 3, +0.255 ± 0.082 above the reference with clustering, +0.017 ± 0.035 without,
    at the same number of likelihood calls (``benchmarks/README.md``, calibration).
    """
    spec = getattr(problem, "spec", None)
    exchangeable = getattr(spec, "order", None) == "none" and int(getattr(problem, "k", 0)) >= 2
    return not exchangeable


def _converged(settings: Mapping[str, Any], ndead: int) -> bool:
    """False when the run stopped on ``max_ndead`` instead of its precision criterion."""
    max_ndead = settings.get("max_ndead")
    return not (max_ndead is not None and 0 < max_ndead <= ndead)


def _library_dir(processes: int = 1) -> str | None:
    """None when an official pypolychord ≥ 1.20 is importable, else the installed library.

    With ``processes`` > 1, always nestmix's build linked to Open MPI.
    """
    from nestmix.samplers.polychord.install import find_library

    if processes > 1:
        return str(find_library(mpi=True).parent)
    try:
        import pypolychord
    except Exception:  # a broken or old pypolychord means "use ours"
        pypolychord = None
    if pypolychord is not None and hasattr(pypolychord, "run"):
        version = getattr(pypolychord, "__version__", "0")
        parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
        if parts >= (1, 20):
            return None
    return str(find_library().parent)


def _check_resume(base: Path, problem: LikelihoodProblem, s: Mapping[str, Any],
                  seed: int) -> tuple[str, ...]:
    """Refuse to resume a run made for another problem or with other settings.

    A resume file written by an older nestmix (points without the unit-cube derived
    parameters, :data:`DERIVED`) cannot be read: it is moved aside and the run starts over;
    the returned warning says so.
    """
    record = {"param_names": list(problem.param_names), "nlive": s["nlive"],
              "num_repeats": s["num_repeats"], "do_clustering": s["do_clustering"],
              "seed": seed, "derived": DERIVED}
    path = base / _RECORD
    resume_file = base / f"{FILE_ROOT}.resume"
    warnings: tuple[str, ...] = ()
    if s["resume"] and resume_file.exists() and path.exists():
        old = json.loads(path.read_text())
        changed = [f"{k}: was {old.get(k)!r}, now {v!r}" for k, v in record.items()
                   if old.get(k) != v and k != "derived"]
        if not changed and old.get("derived") != DERIVED:
            aside = base / f"{FILE_ROOT}.resume.older-nestmix"
            resume_file.replace(aside)
            warnings = (f"the PolyChord resume file was written by an older nestmix (points "
                        f"without unit-cube coordinates) and cannot be continued: moved aside "
                        f"to {aside.name}; the run was made from the start",)
        if changed:
            raise SamplerError(f"cannot resume the PolyChord run in {base}: it was made "
                               f"differently ({'; '.join(changed)}); use resume = false or "
                               "another directory")
    if not s["resume"]:
        shutil.rmtree(base / "clusters", ignore_errors=True)
        (base / "clusters").mkdir()
    path.write_text(json.dumps(record, indent=2) + "\n")
    return warnings
