"""PolyChord on 1 process against mpirun -np N, on a likelihood with a fixed cost per call.

The problem is a 2-D Gaussian in a box whose likelihood waits ``--cost`` milliseconds per call
(a stand-in for an expensive model that leaves the CPU free; a CPU-bound likelihood is also
limited by the number of cores). Each process count runs once with the same seed; the script
prints log-evidence ± error, likelihood calls, wall time and the speed-up (serial wall time /
this wall time), all measured in the same run. Under MPI rank 0 only coordinates, so N
processes have N − 1 workers.

    python benchmarks/polychord_mpi.py [--processes 2 3] [--cost 2] [--nlive 50]

Needs ``nestmix install-polychord --mpi`` (and Debian's openmpi-bin, libopenmpi-dev).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from nestmix import get_sampler


@dataclass(frozen=True)
class CostlyGaussian:
    """N(θ | 0, I) on [−5, 5]², each call taking ``cost`` seconds: Z = 1/100."""

    cost: float
    ndim: int = 2
    param_names: tuple[str, ...] = ("x_1", "x_2")

    def prior_transform(self, u):
        return 10.0 * np.asarray(u) - 5.0

    def log_likelihood(self, theta):
        time.sleep(self.cost)
        theta = np.asarray(theta)
        return float(-0.5 * theta @ theta - np.log(2 * np.pi))


def main(argv: list[str] | None = None) -> None:
    """Time one serial run and one run per process count; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--cost", type=float, default=2.0, help="milliseconds per call")
    parser.add_argument("--nlive", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    problem = CostlyGaussian(cost=args.cost / 1000)
    settings = {"nlive": args.nlive, "num_repeats": 4, "do_clustering": False}
    print(f"2-D Gaussian, {args.cost:g} ms per call, nlive = {args.nlive}, analytic "
          f"logZ = {np.log(0.01):.3f}")
    print(f"{'processes':>9} {'logZ':>16} {'calls':>8} {'seconds':>8} {'speed-up':>8}")
    serial = None
    for n in [1, *args.processes]:
        start = time.perf_counter()
        run = get_sampler("polychord").run(problem, {**settings, "mpi": n}, seed=args.seed)
        seconds = time.perf_counter() - start
        serial = seconds if serial is None else serial
        print(f"{n:>9} {run.logz:>8.3f} ± {run.logz_err:.3f} {run.ncall:>8} {seconds:>8.1f} "
              f"{serial / seconds:>7.2f}×", flush=True)


if __name__ == "__main__":
    main()
