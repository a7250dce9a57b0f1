"""What the benchmark scripts share: result files, problems, the plain dynesty script, references.

A script imports it as ``common``: Python puts a script's own folder first on ``sys.path``, so
``python benchmarks/x.py`` from the repository and ``python x.py`` inside ``benchmarks/`` both
find it. Tests that load a script as a module put ``benchmarks/`` on ``sys.path`` first
(``tests/benchmark_scripts.py``).

* result files: :func:`read_jsonl`, :func:`append_jsonl` (one record a line, written as each
  run finishes), :func:`read_json`, :func:`write_json` (atomic), :func:`cpu_seconds`
  (``getrusage``: CPU, not wall time, on a shared machine), :func:`free_port`, :func:`stop`;
* the 2-D problem of issue #17 (three correlated clusters plus a uniform background, per-point
  error covariances): :func:`make_problem`, :func:`nestmix_spec`, :class:`PlainMixture2D`;
  the 3-D one: :func:`make_problem_3d`, :func:`spec_3d`; the sampler study's problems by name:
  :func:`study_problem`;
* the plain dynesty loop a user writes, with checkpoints: :func:`run_plain_once`;
* references without a nested sampler: :func:`importance_reference` (a Student-t mixture
  fitted to the posterior's modes), :func:`pareto_khat`, and its cache for the 2-D problem,
  :func:`clusters_reference`.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize, special
from scipy.special import logsumexp

RESULTS = Path(__file__).resolve().parent / "results"
#: the sampler study's reference evidences (``sampler_study.py``, ``spare_reference.py``)
STUDY_REFERENCES = RESULTS / "sampler_study_references.json"
#: the 2-D problem's reference evidences (``end_to_end_2d.py``, ``rwalk_walks_2d.py``)
CLUSTERS_REFERENCES = RESULTS / "end_to_end_2d_references.json"


# --------------------------------------------------------------------------- result files
def read_jsonl(path: str | Path) -> list[dict]:
    """The records of a JSON-lines file (none when it does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_jsonl(path: str | Path, record: dict) -> None:
    """Append ``record`` as one line, so that an interrupted run loses nothing finished."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def read_json(path: str | Path) -> dict:
    """A JSON cache (empty when it does not exist)."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else {}


def write_json(path: str | Path, data: dict, sort_keys: bool = False) -> None:
    """Write a JSON cache atomically (a temporary file renamed over the old one)."""
    from nestmix.runtime.atomic import write_text_atomic

    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=sort_keys) + "\n")


def cpu_seconds(children: bool = True) -> float:
    """CPU seconds of this process (all its threads) and, with ``children``, of its
    waited-for child processes (worker processes, PolyChord's MPI ranks, a CLI run)."""
    who = [resource.RUSAGE_SELF] + ([resource.RUSAGE_CHILDREN] if children else [])
    return sum(u.ru_utime + u.ru_stime for u in map(resource.getrusage, who))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(server: subprocess.Popen) -> None:
    """Ask a server process to stop (SIGTERM); kill it after a minute."""
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()


# ------------------------------------------------------------------------- the 2-D problem
BOX = ((-1.0, 11.0), (-1.0, 11.0))
SIGMA_RANGE = (0.05, 5.0)
#: three correlated clusters: mean, standard deviations, correlation, share of the points
CLUSTERS = (((2.5, 3.0), (0.6, 1.0), 0.6, 0.35),
            ((6.5, 7.0), (1.0, 0.5), -0.5, 0.30),
            ((7.0, 2.5), (0.5, 0.5), 0.3, 0.20))
BACKGROUND_SHARE = 0.15


def cluster_covariance(sd: tuple[float, float], rho: float) -> np.ndarray:
    """The 2 × 2 covariance of standard deviations ``sd`` and correlation ``rho``."""
    return np.array([[sd[0] ** 2, rho * sd[0] * sd[1]], [rho * sd[0] * sd[1], sd[1] ** 2]])


def point_errors(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """Per-point 2-D errors: standard deviations (n, 2) uniform on [0.1, 0.4], correlations
    (n,) uniform on [−0.5, 0.5], their covariances (n, 2, 2) and one draw of each (n, 2)."""
    sd = rng.uniform(0.1, 0.4, size=(n, 2))
    rho = rng.uniform(-0.5, 0.5, size=n)
    cov = np.empty((n, 2, 2))
    cov[:, 0, 0], cov[:, 1, 1] = sd[:, 0] ** 2, sd[:, 1] ** 2
    cov[:, 0, 1] = cov[:, 1, 0] = rho * sd[:, 0] * sd[:, 1]
    noise = np.einsum("nij,nj->ni", np.linalg.cholesky(cov), rng.standard_normal((n, 2)))
    return sd, rho, cov, noise


@dataclass(frozen=True)
class Problem2D:
    """The seeded 2-D data: ``values`` (N, 2) and per-point error covariances (N, 2, 2)."""

    values: np.ndarray
    covariances: np.ndarray

    def measurements(self):
        from nestmix.data.measurements import Measurements

        return Measurements.from_arrays(self.values, covariances=self.covariances,
                                       columns=("x", "y"))


def make_problem(n: int = 500, seed: int = 1) -> Problem2D:
    """Three correlated clusters plus a uniform background on :data:`BOX`, with errors.

    Each point's error is :func:`point_errors`'; the observed value is the true one plus that
    error (clipped to the box).
    """
    rng = np.random.default_rng(seed)
    shares = np.array([c[3] for c in CLUSTERS] + [BACKGROUND_SHARE])
    labels = rng.choice(len(shares), size=n, p=shares / shares.sum())
    truth = np.empty((n, 2))
    for j, (mean, sd, rho, _) in enumerate(CLUSTERS):
        hit = labels == j
        truth[hit] = rng.multivariate_normal(mean, cluster_covariance(sd, rho),
                                             size=int(hit.sum()))
    bg = labels == len(CLUSTERS)
    lo, hi = np.array(BOX).T
    truth[bg] = lo + (hi - lo) * rng.random((int(bg.sum()), 2))
    _, _, cov, noise = point_errors(rng, n)
    values = np.clip(truth + noise, lo, hi)  # a background point's error may leave the box
    return Problem2D(values=values, covariances=cov)


def nestmix_spec():
    """The nestmix model of the 2-D problem: K full-covariance Gaussians plus the uniform
    background; weights Dirichlet(1), means uniform on the box (ordered along x), standard
    deviations log-uniform on :data:`SIGMA_RANGE`, correlation LKJ(1)."""
    import nestmix

    return nestmix.ModelSpec(
        covariance="full", background="uniform", background_box=BOX, order="means",
        priors={"mean": [{"dist": "uniform", "loc": lo, "scale": hi - lo} for lo, hi in BOX],
                "sigma": {"dist": "loguniform", "a": SIGMA_RANGE[0], "b": SIGMA_RANGE[1]},
                "correlation": {"dist": "lkj", "eta": 1},
                "weights": {"dist": "dirichlet", "alpha": 1}})


def nestmix_theta(plain_theta: np.ndarray, k: int) -> np.ndarray:
    """nestmix's parameter order (weights, x means, y means, σx σy per component, ρ) from
    the plain script's (weights, then mean x, mean y, σx, σy, ρ per component)."""
    p = plain_theta[k:].reshape(k, 5)
    return np.concatenate([plain_theta[:k], p[:, 0], p[:, 1], p[:, 2:4].ravel(), p[:, 4]])


class PlainMixture2D:
    """Likelihood and prior transform of K full-covariance Gaussians plus a uniform background,
    written the plain way (numpy's batched ``slogdet`` and ``solve``).

    Parameters, in order: K weights (the background's is implied), then per component the
    mean (x, y), the standard deviations (x, y) and the correlation. A class so that dynesty
    can pickle a checkpoint.
    """

    def __init__(self, x: np.ndarray, cov: np.ndarray, k: int) -> None:
        self.x, self.cov, self.k, self.ndim = x, cov, k, 6 * k
        lo, hi = np.array(BOX).T
        self.lo, self.width = lo, hi - lo
        self.log_bg = -float(np.log(np.prod(hi - lo)))
        self.tails = np.arange(k, 0, -1, dtype=float)  # Beta(1, K + 1 - j): Dirichlet(1)
        self.log_a, self.log_b = np.log(SIGMA_RANGE[0]), np.log(SIGMA_RANGE[1])

    def prior_transform(self, u):
        k = self.k
        x = np.empty_like(u)
        rest = 1.0
        for j in range(k):  # stick-breaking weights of K + 1 (the background's is implied)
            v = 1.0 - (1.0 - u[j]) ** (1.0 / self.tails[j])
            x[j] = v * rest
            rest *= 1.0 - v
        c = u[k:].reshape(k, 5)
        p = x[k:].reshape(k, 5)
        p[:, 0:2] = self.lo + self.width * c[:, 0:2]  # means uniform on the box
        p[:, 2:4] = np.exp(self.log_a + (self.log_b - self.log_a) * c[:, 2:4])  # log-uniform
        p[:, 4] = 2.0 * c[:, 4] - 1.0  # LKJ(1) in 2-D: the correlation is uniform
        return x

    def log_likelihood(self, theta):
        k = self.k
        w = theta[:k]
        w_bg = 1.0 - w.sum()
        if w_bg < 0:
            return -np.inf
        p = theta[k:].reshape(k, 5)
        terms = [np.full(len(self.x), np.log(w_bg) + self.log_bg)] if w_bg > 0 else []
        for j in range(k):
            total = self.cov + cluster_covariance(p[j, 2:4], p[j, 4])  # deconvolved
            _, logdet = np.linalg.slogdet(total)
            r = self.x - p[j, 0:2]
            maha = np.einsum("ni,ni->n", r, np.linalg.solve(total, r[..., None])[..., 0])
            terms.append(np.log(w[j]) - 0.5 * (2 * np.log(2 * np.pi) + logdet + maha))
        return float(logsumexp(np.array(terms), axis=0).sum())


# ------------------------------------------------------------ the 3-D problem, the study's
BOX_3D = ((-1.0, 11.0),) * 3
#: three correlated 3-D clusters: mean, standard deviations, correlations (xy, xz, yz), share
CLUSTERS_3D = (((2.5, 3.0, 4.0), (0.6, 1.0, 0.8), (0.6, 0.2, 0.1), 0.35),
               ((6.5, 7.0, 6.0), (1.0, 0.5, 0.7), (-0.5, 0.3, 0.0), 0.30),
               ((7.0, 2.5, 8.0), (0.5, 0.5, 0.6), (0.3, 0.0, -0.4), 0.20))
#: points of the sampler study's ``clusters*`` problems
STUDY_POINTS = 200
STUDY_PROBLEMS = ("deconv", "galaxies", "clusters2d", "clusters3d")


def make_problem_3d(n: int, seed: int):
    """Three correlated 3-D clusters plus a uniform background on :data:`BOX_3D` (15 % of the
    points), each point with its own 3 × 3 error covariance (standard deviations uniform on
    [0.1, 0.4], correlations uniform on [−0.3, 0.3]); returns :class:`nestmix.Measurements`."""
    from nestmix.data.measurements import Measurements

    rng = np.random.default_rng(seed)
    shares = np.array([c[3] for c in CLUSTERS_3D] + [0.15])
    labels = rng.choice(len(shares), size=n, p=shares / shares.sum())
    truth = np.empty((n, 3))
    for j, (mean, sd, (rxy, rxz, ryz), _) in enumerate(CLUSTERS_3D):
        corr = np.array([[1.0, rxy, rxz], [rxy, 1.0, ryz], [rxz, ryz, 1.0]])
        hit = labels == j
        truth[hit] = rng.multivariate_normal(mean, corr * np.outer(sd, sd), size=int(hit.sum()))
    lo, hi = np.array(BOX_3D).T
    bg = labels == len(CLUSTERS_3D)
    truth[bg] = lo + (hi - lo) * rng.random((int(bg.sum()), 3))
    sd = rng.uniform(0.1, 0.4, size=(n, 3))
    rho = rng.uniform(-0.3, 0.3, size=(n, 3))
    corr = np.repeat(np.eye(3)[None], n, axis=0)
    corr[:, 0, 1] = corr[:, 1, 0] = rho[:, 0]
    corr[:, 0, 2] = corr[:, 2, 0] = rho[:, 1]
    corr[:, 1, 2] = corr[:, 2, 1] = rho[:, 2]
    cov = corr * sd[:, :, None] * sd[:, None, :]
    noise = np.einsum("nij,nj->ni", np.linalg.cholesky(cov), rng.standard_normal((n, 3)))
    values = np.clip(truth + noise, lo, hi)
    return Measurements.from_arrays(values, covariances=cov, columns=("x", "y", "z"))


def spec_3d():
    """The 3-D model: full covariances with LKJ(1), a uniform background on the box, ordered
    means, uniform means on the box, log-uniform standard deviations on [0.05, 5]."""
    import nestmix

    return nestmix.ModelSpec(
        covariance="full", background="uniform", background_box=BOX_3D, order="means",
        priors={"mean": [{"dist": "uniform", "loc": lo, "scale": hi - lo} for lo, hi in BOX_3D],
                "sigma": {"dist": "loguniform", "a": 0.05, "b": 5.0},
                "correlation": {"dist": "lkj", "eta": 1},
                "weights": {"dist": "dirichlet", "alpha": 1}})


def study_problem(name: str):
    """The model of a sampler-study problem: ``deconv<K>`` (1-D deconvolution, N = 300),
    ``galaxies<K>`` (full covariances), ``clusters2d<K>``, ``clusters3d<K>`` (N = 200)."""
    import nestmix
    from nestmix.data.datasets import deconvolution_problem

    family = name.rstrip("0123456789")
    if family not in STUDY_PROBLEMS or family == name:
        raise SystemExit(f"unknown problem {name!r}; valid: "
                         f"{', '.join(p + '<K>' for p in STUDY_PROBLEMS)}")
    k = int(name[len(family):])
    if family == "deconv":
        data = deconvolution_problem(n=300, seed=1).measurements()
        spec = nestmix.ModelSpec(order="means", priors={
            "mean": {"dist": "uniform", "loc": 0, "scale": 1},
            "sigma": {"dist": "loguniform", "a": 0.01, "b": 1}})
        return spec.build(data, k)
    if family == "galaxies":
        path = resources.files("nestmix.examples") / "galaxies_roeder1990.txt"
        data = nestmix.load_measurements(str(path), scale=0.001)
        spec = nestmix.ModelSpec(covariance="full", priors={
            "mean": {"dist": "norm", "loc": 20, "scale": 10},
            "variance": {"dist": "invgamma", "a": 3, "scale": 20}})
        return spec.build(data, k)
    if family == "clusters2d":
        return nestmix_spec().build(make_problem(STUDY_POINTS, seed=1).measurements(), k)
    return spec_3d().build(make_problem_3d(STUDY_POINTS, seed=1), k)


def spare_key(problem: str) -> str:
    """Key of ``spare_reference.py``'s reference of ``problem`` in :data:`STUDY_REFERENCES`."""
    return f"{problem} (parameter space, spare from prior)"


# ------------------------------------------------------------------ the plain user script
SHOW_EVERY = float(os.environ.get("END_TO_END_SHOW_EVERY", 300))  # seconds between progress lines


class _OutOfTime(Exception):
    pass


def run_plain_once(model, seed: int, timeout: float, dlogz: float | None,
                   sample: str, path: str | None, nlive: int = 500,
                   walks: int | None = None) -> dict[str, Any]:
    """One plain dynesty ``NestedSampler`` run of ``model`` (``k``, ``ndim``,
    ``log_likelihood``, ``prior_transform``), stopped after ``timeout`` seconds.

    With ``path`` it saves dynesty's state (and the seconds run so far) there once a minute and
    when stopped, and continues from there when the file exists: a run that needs hours can be
    finished in several sittings. Returns ``logz``, ``err``, ``ncall``, ``seconds``,
    ``finished``.
    """
    import dynesty

    k = model.k
    sampler = None
    if path is not None and os.path.exists(path):
        sampler = dynesty.NestedSampler.restore(path)
        if sampler.added_live and getattr(sampler, "plain_dlogz", "?") != dlogz:
            print(f"  plain   K={k}: {path} finished with another dlogz; starting again",
                  flush=True)
            sampler = None
        else:
            before, resume = sampler.plain_seconds, True
            print(f"  plain   K={k}: continuing from {path} ({before:.0f} s, "
                  f"{sampler.ncall} calls so far)", flush=True)
    if sampler is None:
        sampler = dynesty.NestedSampler(model.log_likelihood, model.prior_transform,
                                        model.ndim, nlive=nlive, sample=sample, walks=walks,
                                        rstate=np.random.default_rng(seed + k))
        before, resume = 0.0, False
    start = time.perf_counter()
    clock = {"saved": start, "shown": start}

    def save(now):
        if path is not None:
            sampler.plain_seconds, sampler.plain_dlogz = before + now - start, dlogz
            sampler.save(path)  # dynesty writes a temporary file and renames it
        clock["saved"] = now

    def watch(results, it, ncall, *args, add_live_it=None, **kwargs):
        now = time.perf_counter()  # run_nested calls this after every iteration
        if add_live_it is not None:
            return
        if now - clock["shown"] > SHOW_EVERY:
            clock["shown"] = now
            print(f"  plain   K={k}: {before + now - start:7.0f} s, iteration {it}, "
                  f"{ncall} calls, efficiency {results.eff:.3f} %, logZ "
                  f"{results.logz:.2f}, dlogz {results.delta_logz:.3f}", flush=True)
        if now - clock["saved"] > 60:
            save(now)
        if now - start > timeout:
            save(now)
            raise _OutOfTime

    try:
        sampler.run_nested(dlogz=dlogz, print_progress=True, print_func=watch, resume=resume)
    except _OutOfTime:
        out = {"logz": float("nan"), "err": float("nan"), "ncall": int(sampler.ncall),
               "seconds": before + time.perf_counter() - start, "finished": False}
        print(f"  plain   K={k}: did not finish in {out['seconds']:.0f} s "
              f"({out['ncall']} calls so far)", flush=True)
        return out
    res = sampler.results
    out = {"logz": float(res["logz"][-1]), "err": float(res["logzerr"][-1]),
           "ncall": int(np.sum(res["ncall"])),
           "seconds": before + time.perf_counter() - start, "finished": True}
    if path is not None:
        save(time.perf_counter())
    print(f"  plain   K={k}: logZ {out['logz']:.2f} ± {out['err']:.2f}, "
          f"{out['ncall']} calls, {out['seconds']:.1f} s", flush=True)
    return out


# ------------------------------------------------------------------------------ references
def _hessian(f: Callable, x0: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """Finite-difference Hessian of a scalar function (central differences)."""
    d = x0.size
    hess = np.empty((d, d))
    points = []
    for i in range(d):
        for j in range(i, d):
            for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                x = x0.copy()
                x[i] += si * h
                x[j] += sj * h
                points.append(x)
    values = iter(f(np.array(points)))
    for i in range(d):
        for j in range(i, d):
            pp, pm, mp, mm = (next(values) for _ in range(4))
            hess[i, j] = hess[j, i] = (pp - pm - mp + mm) / (4 * h * h)
    return hess


def find_modes(target, rng: np.random.Generator, starts: int = 24,
               draws: int = 20_000) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Local maxima of the target (``nestmix.evidence.check.LogitTarget``) from the best of
    ``draws`` prior draws: (x, covariance, f)."""
    d = target.ndim
    x0 = special.logit(rng.uniform(1e-6, 1 - 1e-6, size=(draws, d)))
    f0 = target(x0)
    best = x0[np.argsort(-f0)[:starts]]
    modes: list[tuple[np.ndarray, np.ndarray, float]] = []

    def neg(x):
        return -float(target(x)[0])

    for start in best:
        res = optimize.minimize(neg, start, method="Nelder-Mead",
                                options={"maxiter": 4000 * d, "xatol": 1e-6, "fatol": 1e-8})
        res = optimize.minimize(neg, res.x, method="BFGS", options={"gtol": 1e-6})
        x, fx = res.x, -res.fun
        hess = -_hessian(target, x)
        try:
            cov = np.linalg.inv(hess)
            np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            cov = np.asarray(res.hess_inv) if hasattr(res, "hess_inv") else np.eye(d)
            cov = (cov + cov.T) / 2 + 1e-9 * np.eye(d)
        prec = np.linalg.inv(cov)
        if any((x - m) @ prec @ (x - m) < 1.0 for m, _, _ in modes):
            continue
        modes.append((x, cov, fx))
    top = max(f for _, _, f in modes)
    return [m for m in modes if m[2] > top - 25]


def pareto_khat(log_weights: np.ndarray) -> float:
    """PSIS's k̂ of the importance weights (arviz's ``psislw``; Vehtari et al. 2024): the
    shape of the generalised Pareto fitted to the largest weights. Below 0.5 the weights'
    variance is finite and the standard error means what it says; from 0.5 to 0.7 the estimate
    converges slowly and its error may be too small (the heaviest weights not seen yet); above
    0.7 it is unreliable."""
    import warnings

    finite = np.asarray(log_weights, dtype=float)
    finite = finite[np.isfinite(finite)]
    with warnings.catch_warnings():  # arviz's FutureWarning about its refactor (on its first
        warnings.simplefilter("ignore")  # import of each day), k̂ warnings
        import arviz

        _, khat = arviz.psislw(finite.copy())
    return float(khat)


def importance_reference(model, seed: int = 0, n: int = 200_000, rounds: int = 2,
                         starts: int = 24) -> dict:
    """ln Z by importance sampling from a Student-t mixture fitted to the posterior's modes."""
    from nestmix.evidence.check import LogitTarget, StudentTMixture, importance_estimate

    rng = np.random.default_rng(seed)
    target = LogitTarget(model)  # log L(T(σ(x))) + Σ log σ'(x) in x = logit(u)
    start = time.perf_counter()
    modes = find_modes(target, rng, starts=starts)
    # proposal weights from the Laplace evidences of the modes; widths inflated by 1.2²
    log_laplace = np.array([f + 0.5 * np.linalg.slogdet(c)[1] for _, c, f in modes])
    weights = np.exp(log_laplace - log_laplace.max())
    proposal = StudentTMixture([m for m, _, _ in modes], [1.44 * c for _, c, _ in modes],
                               weights)
    for _ in range(rounds):  # refit each component's mean and covariance from weighted draws
        x, w, *_ = importance_estimate(target, proposal, max(n // 4, 20_000), rng)
        resp = proposal.responsibilities(x) * w[None, :]
        means, covs, ws = [], [], []
        for j in range(len(proposal.dists)):
            r = resp[j]
            if r.sum() <= 0 or (r.sum() ** 2 / np.sum(r * r)) < 10 * target.ndim:
                means.append(proposal.means[j])
                covs.append(proposal.covs[j])
                ws.append(max(r.sum(), 1e-3 * resp.sum()))
                continue
            mu = (r[:, None] * x).sum(axis=0) / r.sum()
            dx = x - mu
            cov = (r[:, None, None] * dx[:, :, None] * dx[:, None, :]).sum(axis=0) / r.sum()
            means.append(mu)
            covs.append(1.44 * cov)
            ws.append(r.sum())
        proposal = StudentTMixture(means, covs, ws)
    _, w, logz, err, ess = importance_estimate(target, proposal, n, rng)
    with np.errstate(divide="ignore"):
        khat = pareto_khat(np.log(w))
    return {"method": "importance sampling", "logz": logz, "logz_err": err, "ess": ess,
            "khat": khat,
            "n": n, "modes": len(modes), "calls": target.calls,
            "seconds": time.perf_counter() - start}


def clusters_reference(problem: Problem2D, k: int, seed: int,
                       path: str | Path = CLUSTERS_REFERENCES) -> dict:
    """ln Z of the 2-D problem's K model by :func:`importance_reference`, cached in ``path``.

    The key holds N, the data seed and K; the model is :func:`nestmix_spec`'s (ordered means:
    the same evidence as the plain script's exchangeable labels).
    """
    key = f"N={len(problem.values)} seed={seed} K={k}"
    cache = read_json(path)
    if key not in cache:
        model = nestmix_spec().build(problem.measurements(), k)
        cache[key] = importance_reference(model, seed=0, n=200_000, rounds=3)
        write_json(path, cache)
    return cache[key]
