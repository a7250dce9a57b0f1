"""The parallel likelihood kernel against the serial one at large N, measured in one run.

The problem is the 2-D case of ``end_to_end_2d.py`` (three correlated clusters plus a uniform
background, per-point 2 × 2 error covariances) at N = 10⁴, 3·10⁴ and 10⁵ points, fitted with
K = 3 full-covariance Gaussians plus the background. For each N it measures

* **one likelihood call** (one θ row, as a sampler's proposal makes it): the serial kernel and
  the parallel kernel on every core this process may use, called alternately in rounds so that
  both see the same load (the median over rounds is printed);
* **one short sampler run**: dynesty with nestmix's defaults (the compiled slice proposals)
  stopped after ``--calls`` likelihood calls, once with ``NESTMIX_PARALLEL_KERNEL=0`` and once
  with the parallel kernel; the two runs must be the same run (same ln Z and calls);
* with ``--busy``, a third short run while another process (a busy loop started here) holds
  one core: the run should see that core taken (:mod:`nestmix.runtime.cpuload`) and fall back to the
  serial kernel (0 threads recorded), with the same ln Z and calls again.

and prints the times and the ratio serial / parallel. Other processes on the machine take cores
from the parallel kernel: the load average is printed before and after. The wait policy in
effect (``GOMP_SPINCOUNT``, ``OMP_WAIT_POLICY``) is printed too.

    python benchmarks/kernel_parallel.py [--sizes 10000 30000 100000] [--rounds 7]
        [--calls 2000] [--busy] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from common import make_problem, nestmix_spec

SIZES = (10_000, 30_000, 100_000)
K = 3


def per_call(function, theta: np.ndarray, arguments: tuple, seconds: float = 0.5) -> float:
    """Seconds per call of ``function`` on single rows of ``theta``, over about ``seconds``."""
    out = np.empty(1)
    function(theta[:1], *arguments, out)
    calls = 0
    start = time.perf_counter()
    while True:
        row = calls % len(theta)
        function(theta[row:row + 1], *arguments, out)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return elapsed / calls


def likelihood_times(model, threads: int, rounds: int) -> tuple[float, float]:
    """Median seconds per call of the serial and the parallel kernel, measured alternately."""
    import numba

    from nestmix.model.kernels import _numba_impl

    arguments = model._kernel.compiled_arguments()
    theta = model.prior_transform(np.random.default_rng(0).random((16, model.ndim)))
    serial, parallel = [], []
    numba.set_num_threads(threads)
    for _ in range(rounds):
        serial.append(per_call(_numba_impl.loglike_nd, theta, arguments))
        parallel.append(per_call(_numba_impl.loglike_nd_parallel, theta, arguments))
    return float(np.median(serial)), float(np.median(parallel))


def sampler_run(model, switch: str, calls: int) -> tuple[float, float, int, int]:
    """(seconds, ln Z, calls, most kernel threads) of a short dynesty run with the switch."""
    import warnings

    from nestmix.runtime.threads import parallel_record, run_share
    from nestmix.samplers import get_sampler

    os.environ["NESTMIX_PARALLEL_KERNEL"] = switch
    try:
        with run_share(None), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "stopped short": the budget is the point here
            start = time.perf_counter()
            run = get_sampler("dynesty").run(model, {"maxcall": calls}, seed=7)
            seconds = time.perf_counter() - start
            threads = parallel_record()["parallel_kernel_threads"]
    finally:
        os.environ.pop("NESTMIX_PARALLEL_KERNEL", None)
    return seconds, run.logz, run.ncall, threads


def busy_run(model, calls: int) -> tuple[float, float, int, int]:
    """:func:`sampler_run` (parallel kernel allowed) while a busy loop holds one core."""
    loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)  # the loop runs before the run's first count of free cores
        return sampler_run(model, "auto", calls)
    finally:
        loop.kill()
        loop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2000,
                        help="likelihood calls of each short sampler run")
    parser.add_argument("--busy", action="store_true",
                        help="also a short run while a busy loop holds one core")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)
    from nestmix.runtime.cpuload import available_cores

    threads = available_cores()
    policy = {name: os.environ.get(name) for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    print(f"cores: {threads}; wait policy: {policy}; "
          f"load average before: {os.getloadavg()[0]:.2f}")
    rows = []
    for n in args.sizes:
        model = nestmix_spec().build(make_problem(n, seed=1).measurements(), K)
        assert model.compiled_parts() is not None
        serial, parallel = likelihood_times(model, threads, args.rounds)
        sampler_run(model, "auto", 100)  # compile and warm both paths outside the timing
        off = sampler_run(model, "0", args.calls)
        on = sampler_run(model, "auto", args.calls)
        same = off[1] == on[1] and off[2] == on[2]
        row = {"n": n, "call_serial_ms": serial * 1e3, "call_parallel_ms": parallel * 1e3,
               "call_ratio": serial / parallel, "run_serial_s": off[0],
               "run_parallel_s": on[0], "run_ratio": off[0] / on[0],
               "run_calls": on[2], "threads": on[3], "same_run": same,
               "load": os.getloadavg()[0]}
        line = (f"N = {n:>7,}: one call {serial * 1e3:7.2f} ms serial, {parallel * 1e3:7.2f} ms "
                f"parallel ({threads} threads): {serial / parallel:4.2f}x; short run "
                f"({on[2]:,} calls) {off[0]:6.1f} s serial, {on[0]:6.1f} s parallel "
                f"({on[3]} threads): {off[0] / on[0]:4.2f}x; same run: {same}")
        if args.busy:
            busy = busy_run(model, args.calls)
            row.update(busy_run_s=busy[0], busy_threads=busy[3],
                       busy_same_run=busy[1] == off[1] and busy[2] == off[2])
            line += (f"; one core busy: {busy[0]:6.1f} s ({busy[3]} threads), same run: "
                     f"{row['busy_same_run']}")
        rows.append(row)
        print(f"{line}; load {row['load']:.2f}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"cores": threads, "rows": rows}, handle, indent=1)


if __name__ == "__main__":
    main()
