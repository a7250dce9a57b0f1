"""Cost per log-likelihood call: nestmix against a plain numpy + scipy.special.logsumexp version.

Both are measured in the same run on the same data and parameters, for N = 300, 3 000 and 30 000
points, K = 4 components, 1-D data with per-point errors (deconvolved). Prints µs per call and the
ratio plain / nestmix (above 1 means nestmix is faster), after checking both give the same value.

    python benchmarks/likelihood_cost.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import timeit
from functools import partial

import numpy as np
from scipy.special import logsumexp

from nestmix import Measurements, ModelSpec

K = 4
SIZES = (300, 3_000, 30_000)


def plain_loglike(theta: np.ndarray, y: np.ndarray, s2: np.ndarray, k: int) -> float:
    """What a user writes today: weights, means, variances unpacked, (N, K) arrays, logsumexp."""
    w = np.append(theta[:k - 1], 1.0 - theta[:k - 1].sum())
    mu = theta[k - 1:2 * k - 1]
    var = theta[2 * k - 1:3 * k - 1]
    total = var[None, :] + s2[:, None]
    log_pdf = -0.5 * (np.log(2 * np.pi * total) + (y[:, None] - mu[None, :]) ** 2 / total)
    return float(logsumexp(log_pdf + np.log(w)[None, :], axis=1).sum())


def per_call(fn, repeat: int) -> float:
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=repeat, number=number)) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    spec = ModelSpec(covariance="full", priors={"mean": {"dist": "norm", "loc": 0, "scale": 5},
                                                "variance": {"dist": "invgamma", "a": 3,
                                                             "scale": 2}})
    print(f"{'N':>7} {'K':>3} {'plain µs':>10} {'nestmix µs':>11} {'ratio':>7} "
          f"{'ns/(point×comp)':>16}")
    for n in SIZES:
        s = rng.uniform(0.05, 0.5, n)
        y = rng.normal(rng.choice([-3.0, -1.0, 1.0, 3.0], n), 0.5) + rng.normal(0, s)
        model = spec.build(Measurements.from_arrays(y, errors=s), K)
        theta = model.prior_transform(rng.uniform(size=model.ndim))
        s2 = s**2
        reference = plain_loglike(theta, y, s2, K)
        ours = model.log_likelihood(theta)
        if not np.isclose(reference, ours, rtol=1e-10, atol=1e-8):
            raise SystemExit(f"disagreement at N={n}: plain {reference} vs nestmix {ours}")
        t_plain = per_call(partial(plain_loglike, theta, y, s2, K), args.repeat)
        t_ours = per_call(partial(model.log_likelihood, theta), args.repeat)
        print(f"{n:>7} {K:>3} {t_plain * 1e6:>10.1f} {t_ours * 1e6:>11.1f} "
              f"{t_plain / t_ours:>7.2f} {t_ours / (n * K) * 1e9:>16.2f}")


if __name__ == "__main__":
    main()
