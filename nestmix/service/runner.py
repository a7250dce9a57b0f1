"""The worker process of one job: ``python -m nestmix.service.runner JOB_DIR SWEEP_DIR``.

It runs (or resumes) the job's sweep with :func:`nestmix.sweep.run_sweep` in one process, then
writes the report, printing progress lines as ``nestmix sweep`` does. The supervisor starts it
in a process group of its own, reads its progress from the run store, and records how it ended:
exit status 0 done, 2 an input error (its message is the last line), anything else a crash.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]

REPORT_WARNING = "nestmix: warning: the report could not be written"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one job; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m nestmix.service.runner")
    parser.add_argument("job_dir", type=Path)
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--no-figures", action="store_true")
    parser.add_argument("--dask", help="run the sweep's tasks on this Dask scheduler")
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")

    from nestmix.errors import NestmixError
    from nestmix.report.build import write_report
    from nestmix.service.intake import load_job_plan
    from nestmix.sweep.driver import run_sweep

    try:
        plan = load_job_plan(args.job_dir)
        run_sweep(plan, args.sweep_dir, n_jobs=1, progress=lambda line: print(line, flush=True),
                  dask=args.dask or False)
    except NestmixError as exc:
        print(f"nestmix: error: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        write_report(args.sweep_dir, figures=not args.no_figures)
    except Exception as exc:  # the runs are safe on disk; `nestmix report` can retry
        print(f"{REPORT_WARNING} ({type(exc).__name__}: {exc})", file=sys.stderr, flush=True)
        return 0
    print("report written", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
