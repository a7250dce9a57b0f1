"""Likelihood kernel: nestmix against the plain numpy + scipy.special.logsumexp likelihood.

For N = 300, 3 000, 30 000 and 10⁶ points, K = 1, 4 and 8 components, 1-D data with per-point
errors and 2-D data with per-point correlated error covariances (deconvolved), both
likelihoods are evaluated at the same θ (a prior draw) in the same run; the script checks that
they agree and prints the time per call, the ratio plain / nestmix (above 1: nestmix is
faster) and the time per (point × component) pair. "nestmix" is the whole public call,
``MixtureModel.log_likelihood(theta)``, Python overhead included. The plain version is what a
user writes today: (N, K) arrays of log-densities — in 2-D the (N, K, 2, 2) total covariances
through ``np.linalg.slogdet`` and ``np.linalg.solve`` — reduced by ``logsumexp``.

Then the prior transform per call on a 2-D model with full covariances (LKJ correlations) and
a uniform background, K = 3 — the compiled plan against the numpy transforms of the same
blocks. Then, each in a fresh process at N = 10⁶ and K = 8: the peak memory (RSS) of one call
of each likelihood, including the numpy fallback (``NESTMIX_KERNEL=numpy``); and the first-call
cost of the numba kernels, once compiling into an empty cache and once loading the cache.

    python benchmarks/kernel.py [--repeat 3] [--sizes 300 3000 30000 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path

import numpy as np
from scipy.special import logsumexp

LOG_2PI = float(np.log(2.0 * np.pi))
SIZES = (300, 3_000, 30_000, 1_000_000)
KS = (1, 4, 8)
PRIORS = {"mean": {"dist": "norm", "loc": 0, "scale": 2},
          "variance": {"dist": "invgamma", "a": 3, "scale": 2}}


# ------------------------------------------------------------------ what users write
def plain_1d(theta: np.ndarray, y: np.ndarray, s2: np.ndarray, k: int) -> float:
    """1-D deconvolved mixture: weights, means, variances unpacked; (N, K) arrays."""
    w = np.append(theta[:k - 1], 1.0 - theta[:k - 1].sum())
    mu = theta[k - 1:2 * k - 1]
    var = theta[2 * k - 1:3 * k - 1]
    total = var[None, :] + s2[:, None]
    log_pdf = -0.5 * (np.log(2 * np.pi * total) + (y[:, None] - mu[None, :]) ** 2 / total)
    return float(logsumexp(log_pdf + np.log(w)[None, :], axis=1).sum())


def plain_2d(theta: np.ndarray, y: np.ndarray, s: np.ndarray, k: int) -> float:
    """2-D deconvolved mixture with full covariances: (N, K, 2, 2) totals through linalg."""
    w = np.append(theta[:k - 1], 1.0 - theta[:k - 1].sum())
    mu = theta[k - 1:3 * k - 1].reshape(k, 2)
    var = theta[3 * k - 1:5 * k - 1].reshape(k, 2)
    rho = theta[5 * k - 1:6 * k - 1]
    sd = np.sqrt(var)
    cov = np.empty((k, 2, 2))
    cov[:, 0, 0] = sd[:, 0] * sd[:, 0]
    cov[:, 1, 1] = sd[:, 1] * sd[:, 1]
    cov[:, 0, 1] = cov[:, 1, 0] = rho * sd[:, 0] * sd[:, 1]
    total = cov[None] + s[:, None]
    r = y[:, None, :] - mu[None]
    _, log_det = np.linalg.slogdet(total)
    maha = np.einsum("nki,nki->nk", r, np.linalg.solve(total, r[..., None])[..., 0])
    log_pdf = -0.5 * (2 * LOG_2PI + log_det + maha)
    return float(logsumexp(log_pdf + np.log(w)[None, :], axis=1).sum())


# ------------------------------------------------------------------------- data
def make_case(n: int, d: int, k: int, seed: int = 0):
    """Data, the nestmix model, θ and the plain likelihood bound to its arrays."""
    from nestmix import Measurements, ModelSpec

    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 2, size=(8, d))
    values = centres[rng.integers(0, 8, n)] + rng.normal(0, 0.5, size=(n, d))
    err = rng.uniform(0.05, 0.5, size=(n, d))
    if d == 1:
        data = Measurements.from_arrays(values[:, 0], errors=err[:, 0])
    else:
        data = Measurements.from_arrays(values, errors=err,
                                        correlations=rng.uniform(-0.5, 0.5, size=(n, 1)))
    model = ModelSpec(covariance="full", priors=PRIORS).build(data, k)
    theta = model.prior_transform(np.random.default_rng(seed + 1).uniform(size=model.ndim))
    if d == 1:
        args = (np.asarray(data.values)[:, 0], np.asarray(data.covariances)[:, 0, 0])
        return model, theta, lambda: plain_1d(theta, *args, k)
    args = (np.asarray(data.values), np.asarray(data.covariances))
    return model, theta, lambda: plain_2d(theta, *args, k)


def per_call(fn, repeat: int) -> float:
    """Best time of one call, in seconds."""
    timer = timeit.Timer(fn)
    number, elapsed = timer.autorange()
    if elapsed > 2.0:  # slow calls: a couple of single timings are enough
        return min(timer.repeat(repeat=min(repeat, 2), number=1))
    return min(timer.repeat(repeat=repeat, number=number)) / number


# --------------------------------------------------------------- child processes
def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_child(impl: str, n: int, d: int, k: int) -> None:
    """Print the peak RSS (MB) of one likelihood call and how far it rose above the RSS before.

    The high-water mark is reset just before the call (``/proc/self/clear_refs``), so the peak
    is that of the call with the data and model already in memory. (``ru_maxrss`` would not
    do: Linux carries it over from the parent process.)
    """
    model, theta, plain = make_case(300, d, k)
    model.log_likelihood(theta)  # warm up (loads the compiled kernel)
    plain()
    model, theta, plain = make_case(n, d, k)
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_mb("VmRSS")
    value = plain() if impl == "plain" else model.log_likelihood(theta)
    peak = _status_mb("VmHWM")
    print(json.dumps({"peak_mb": peak, "above_mb": peak - before, "value": value}))


def compile_child() -> None:
    """Print the first-call time of the 1-D and the N-D kernel (compile or cache load)."""
    import time

    from nestmix import Measurements, ModelSpec

    out = {}
    spec = ModelSpec(priors={"mean": {"dist": "uniform", "loc": 0, "scale": 1},
                             "sigma": {"dist": "loguniform",
                                                                    "a": 0.01, "b": 1}})
    model = spec.build(Measurements.from_arrays(np.linspace(0, 1, 50)), 2)
    start = time.perf_counter()
    model.prior_transform(np.full(model.ndim, 0.5))
    out["prior"] = time.perf_counter() - start
    for d in (1, 2):
        model, theta, _ = make_case(300, d, 4)
        start = time.perf_counter()
        model.log_likelihood(theta)
        out[f"{d}d"] = time.perf_counter() - start
    print(json.dumps(out))


def prior_per_call(repeat: int) -> list[tuple[str, float, float]]:
    """Per-call prior transform of 2-D full-covariance models with a background, K = 3:
    (priors, compiled, numpy) seconds; the numpy time applies the same blocks one by one."""
    from nestmix import Measurements, ModelSpec

    rng = np.random.default_rng(1)
    data = Measurements.from_arrays(rng.normal(size=(500, 2)), errors=np.full((500, 2), 0.1))
    norm = {"dist": "norm", "loc": 0, "scale": 5}
    out = []
    for label, scale in (("sigma halfnorm", {"sigma": {"dist": "halfnorm", "scale": 3}}),
                         ("variance invgamma", {"variance": {"dist": "invgamma", "a": 3,
                                                             "scale": 2}})):
        model = ModelSpec(background="uniform", priors={"mean": norm, **scale}).build(data, 3)
        u = rng.random(model.ndim)
        prior = model.prior

        def numpy_transform(u=u[None, :], prior=prior):
            theta = np.empty_like(u)
            start = 0
            for block in prior.blocks:
                theta[:, start:start + block.ndim] = block.transform(u[:, start:start + block.ndim])
                start += block.ndim
            return theta

        if not np.allclose(numpy_transform()[0], model.prior_transform(u), rtol=1e-10,
                           atol=1e-10):
            raise SystemExit(f"prior {label}: compiled and numpy transforms differ")
        out.append((label, per_call(lambda m=model, u=u: m.prior_transform(u), repeat),
                    per_call(numpy_transform, repeat)))
    return out


def run_child(args: list[str], env: dict[str, str] | None = None) -> dict:
    here = Path(__file__).resolve()
    result = subprocess.run([sys.executable, str(here), *args], capture_output=True,
                            text=True, check=True, env={**os.environ, **(env or {})})
    return json.loads(result.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--memory-child", nargs=4, metavar=("IMPL", "N", "D", "K"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--compile-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        impl, n, d, k = args.memory_child
        memory_child(impl, int(n), int(d), int(k))
        return
    if args.compile_child:
        compile_child()
        return

    from nestmix.model.kernels import resolve_backend

    print(f"likelihood backend: {resolve_backend()}; {os.cpu_count()} CPUs; "
          f"numpy {np.__version__}")
    rows = []
    header = (f"{'D':>2} {'N':>9} {'K':>2} {'plain':>11} {'nestmix':>11} {'ratio':>7} "
              f"{'plain ns/pair':>14} {'nestmix ns/pair':>16}")
    print(header)
    for d in (1, 2):
        for n in args.sizes:
            for k in KS:
                model, theta, plain = make_case(n, d, k)
                ours, reference = model.log_likelihood(theta), plain()
                if not np.isclose(ours, reference, rtol=1e-9, atol=1e-9):
                    raise SystemExit(f"D={d} N={n} K={k}: nestmix {ours} != plain {reference}")
                t_plain = per_call(plain, args.repeat)
                t_ours = per_call(lambda m=model, t=theta: m.log_likelihood(t), args.repeat)
                rows.append((d, n, k, t_plain, t_ours))
                print(f"{d:>2} {n:>9} {k:>2} {_fmt(t_plain):>11} {_fmt(t_ours):>11} "
                      f"{t_plain / t_ours:>7.1f} {t_plain / (n * k) * 1e9:>14.2f} "
                      f"{t_ours / (n * k) * 1e9:>16.2f}", flush=True)

    print("\nprior transform per call, D=2, full covariance (LKJ) + background, K=3")
    for label, compiled, plain in prior_per_call(args.repeat):
        print(f"  {label:>18}: compiled {_fmt(compiled)}, numpy {_fmt(plain)}, "
              f"ratio {plain / compiled:.0f}")

    n_big = max(args.sizes)
    print(f"\npeak memory of one call at N = {n_big}, K = 8 (fresh process each, data and "
          "model built; MB)")
    print(f"{'D':>2} {'likelihood':>24} {'peak RSS':>9} {'rise during the call':>21}")
    memory = []
    for d in (1, 2):
        for label, impl, env in (("plain numpy + scipy", "plain", None),
                                 ("nestmix (numba)", "nestmix", None),
                                 ("nestmix (numpy fallback)", "nestmix",
                                  {"NESTMIX_KERNEL": "numpy"})):
            m = run_child(["--memory-child", impl, str(n_big), str(d), "8"], env)
            memory.append((d, label, m))
            print(f"{d:>2} {label:>24} {m['peak_mb']:>9.0f} {m['above_mb']:>21.0f}")

    with tempfile.TemporaryDirectory() as cache:
        env = {"NUMBA_CACHE_DIR": cache}
        cold = run_child(["--compile-child"], env)
        warm = run_child(["--compile-child"], env)
    print("\nfirst call of the compiled code (s): compiling into an empty cache: likelihood "
          f"1-D {cold['1d']:.2f}, N-D {cold['2d']:.2f}, prior {cold['prior']:.2f}; loading "
          f"the cache: 1-D {warm['1d']:.2f}, N-D {warm['2d']:.2f}, prior {warm['prior']:.2f} "
          "(numba's import, 0.3 s, in the first)")

    print("\nsummary (ratio = plain time / nestmix time, same run)")
    for d in (1, 2):
        line = [f"D={d}"]
        for n in args.sizes:
            ratios = [f"{tp / to:.1f}" for dd, nn, _, tp, to in rows if dd == d and nn == n]
            line.append(f"N={n}: " + "/".join(ratios))
        print("  " + "; ".join(line) + "  (K = 1/4/8)")
    at = {(d, n, k): tp / to for d, n, k, tp, to in rows}
    for d in (1, 2):
        checks = []
        if (d, 300, 4) in at:
            checks.append(f"N=300,K=4: {at[(d, 300, 4)]:.1f}x (target >= 8)")
        if (d, 30_000, 4) in at:
            checks.append(f"N=30000,K=4: {at[(d, 30_000, 4)]:.1f}x (target >= 3)")
        print(f"  D={d} targets: " + "; ".join(checks))
    worst = max(m["peak_mb"] for _, label, m in memory if label.startswith("nestmix"))
    print(f"  nestmix peak RSS at N={n_big}, K=8: {worst:.0f} MB (target < 1024)")


def _fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


if __name__ == "__main__":
    main()
