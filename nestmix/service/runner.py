"""The worker process of one job: ``python -m nestmix.service.runner JOB_DIR SWEEP_DIR``.

It runs (or resumes) the job's sweep in one process, then writes the report
(:func:`nestmix.report.sweep_and_report`, as ``nestmix sweep`` does), printing progress lines.
The supervisor starts it in a process group of its own, reads its progress from the run store,
and records how it ended: exit status 0 done, 2 an input error (its message is the last line),
anything else a crash.
"""

from __future__ import annotations

import argparse
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
    from nestmix.runtime.backend import limit_threads_in_environment

    limit_threads_in_environment()  # before the numerical libraries load
    from nestmix.errors import NestmixError
    from nestmix.report.build import sweep_and_report
    from nestmix.service.intake import load_job_plan

    try:
        plan = load_job_plan(args.job_dir)
        outcome = sweep_and_report(plan, args.sweep_dir, n_jobs=1,
                                   progress=lambda line: print(line, flush=True),
                                   dask=args.dask or False, figures=not args.no_figures)
    except NestmixError as exc:
        print(f"nestmix: error: {exc}", file=sys.stderr, flush=True)
        return 2
    if outcome.report_error is not None:
        print(f"{REPORT_WARNING} ({outcome.report_error})", file=sys.stderr, flush=True)
        return 0
    print("report written", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
