"""Shared fixtures and helpers: seeded generators, the bundled galaxy data, the toy data set
of two Gaussian clusters, picklable test problems for the samplers, the service under test and
the browser the report is checked in. Test modules import helpers from here, never from each
other."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import httpx
import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from nestmix import load_measurements

NO_SKIPS = "NESTMIX_NO_SKIPS"
"""With ``NESTMIX_NO_SKIPS=1`` in the environment (CI sets it) a skipped test fails instead:
every skip here means a missing system package or platform feature, which CI must provide."""


def _skip_fails(report: pytest.CollectReport | pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail") and os.environ.get(NO_SKIPS) == "1":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped with {NO_SKIPS}=1 (CI provides everything): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    _skip_fails((yield).get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    _skip_fails((yield).get_result())


@pytest.fixture
def rng() -> np.random.Generator:
    """A fixed-seed generator; tests never touch numpy's global random state."""
    return np.random.default_rng(20261121)


@pytest.fixture(scope="session")
def galaxies():
    """Roeder's 82 galaxy velocities in 1000 km/s (the copy bundled with the package)."""
    path = resources.files("nestmix.examples") / "galaxies_roeder1990.txt"
    return load_measurements(str(path), scale=0.001)


GALAXY_PRIORS = {
    "mean": {"dist": "norm", "loc": 20, "scale": 10},
    "variance": {"dist": "invgamma", "a": 3, "scale": 20},
}


# --------------------------------------------------------------------- the toy data set
TOY_PRIORS = {"mean": {"dist": "norm", "loc": 0, "scale": 5},
              "sigma": {"dist": "halfnorm", "scale": 3}}
"""Priors of the toy model: one mean prior for every component, and a σ prior."""


def toy_values(per_cluster: int = 40) -> np.ndarray:
    """The toy data set: two Gaussian clusters in 1-D, N(−3, 0.6²) and N(2.5, 0.8²), with
    ``per_cluster`` points each (seeded)."""
    rng = np.random.default_rng(12)
    return np.concatenate([rng.normal(-3, 0.6, per_cluster), rng.normal(2.5, 0.8, per_cluster)])


def grid_logz(x: np.ndarray) -> float:
    """ln Z of one Gaussian (mean ~ N(0, 5), σ ~ HalfNormal(3)) by integration on a grid
    covering the posterior of these data (μ ≈ −0.2 ± 0.3, σ ≈ 2.9 ± 0.3; a grid over
    [−20, 20] × [0, 15] gives the same value to 1e-12)."""
    n, s1, s2 = x.size, x.sum(), (x**2).sum()
    mu = np.linspace(-4, 4, 801)[:, None]
    sigma = np.linspace(1, 8, 701)[None, :]
    logl = -0.5 * n * np.log(2 * np.pi * sigma**2) - (s2 - 2 * mu * s1 + n * mu**2) / (
        2 * sigma**2)
    log_prior = stats.norm.logpdf(mu, 0, 5) + stats.halfnorm.logpdf(sigma, scale=3)
    cell = (mu[1, 0] - mu[0, 0]) * (sigma[0, 1] - sigma[0, 0])
    return float(logsumexp(logl + log_prior) + np.log(cell))


# --------------------------------------------------------------------- problems (picklable)
@dataclass(frozen=True)
class BoxGaussian:
    """N(θ | c, s² I) in a uniform box [−a, a]^d: Z = (2a)^−d up to negligible tails."""

    ndim: int = 2
    half_width: float = 5.0
    scale: float = 1.0
    centre: float = 0.5

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(f"x_{i + 1}" for i in range(self.ndim))

    def prior_transform(self, u):
        return self.half_width * (2.0 * np.asarray(u) - 1.0)

    def log_likelihood(self, theta):
        z = (np.asarray(theta) - self.centre) / self.scale
        return float(-0.5 * z @ z - self.ndim * np.log(np.sqrt(2 * np.pi) * self.scale))

    @property
    def logz(self) -> float:
        return -self.ndim * np.log(2 * self.half_width)


@dataclass(frozen=True)
class RaisesAbove(BoxGaussian):
    """Raises once the first parameter exceeds a threshold (after some good calls)."""

    threshold: float = 1.5

    def log_likelihood(self, theta):
        if theta[0] > self.threshold:
            raise ValueError(f"x_1 = {theta[0]:.3f} is too large")
        return super().log_likelihood(theta)


@dataclass(frozen=True)
class KillsItself(BoxGaussian):
    """Ends its own process with SIGKILL: the child dies without reporting."""

    def log_likelihood(self, theta):
        if theta[0] > 4.0:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().log_likelihood(theta)


@dataclass(frozen=True)
class SlowGaussian(BoxGaussian):
    def log_likelihood(self, theta):
        time.sleep(0.001)
        return super().log_likelihood(theta)


def tolerance(*runs) -> float:
    return 3 * max(np.sqrt(sum(r.logz_err**2 for r in runs)), 0.05)


GALAXIES = (resources.files("nestmix.examples") / "galaxies_roeder1990.txt").read_text()


DATA = "\n".join(GALAXIES.split()[:30]).encode() + b"\n"


def config(name: str | None = None, k=(1, 2), nlive: int = 25, extra: str = "",
           sweep: str = "") -> str:
    """A small galaxy sweep config (TOML); the data file is the upload. ``extra`` goes into
    ``[data]``, ``sweep`` into ``[sweep]``."""
    head = f'name = "{name}"\n' if name else ""
    return (f"{head}[data]\nscale = 0.001\n{extra}"
            "[model.priors]\nmean = { dist = \"norm\", loc = 20, scale = 10 }\n"
            "variance = { dist = \"invgamma\", a = 3, scale = 20 }\n"
            f"[sweep]\nk = {list(k)}\nnlive = {nlive}\nseed = 1\n{sweep}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``python -m nestmix serve`` in a subprocess, with an httpx client."""

    def __init__(self, runs: Path, *options: str, token: str | None = None) -> None:
        self.runs = runs
        self.options = options
        self.token = token
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = runs.parent / f"server-{runs.name}.log"
        self.proc: subprocess.Popen | None = None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=self.url, timeout=60, headers=headers)

    def start(self) -> Server:
        command = [sys.executable, "-m", "nestmix", "serve", "--runs", str(self.runs),
                   "--port", str(self.port), *self.options]
        if self.token:
            command += ["--token", self.token]
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the server exited:\n{self.log.read_text()}"
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server did not start:\n{self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> bool:
        """Send ``sig``; True if the server then shut down cleanly."""
        assert self.proc is not None
        self.client.close()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        # uvicorn re-raises the signal it stopped on, after a graceful shutdown
        return code in (0, -sig) and "Application shutdown complete" in self.log.read_text()

    def submit(self, text: str, data: bytes = DATA, data_name: str = "galaxies.txt",
               config_name: str = "config.toml", **form: str) -> httpx.Response:
        return self.client.post("/jobs", files={"config": (config_name, text.encode()),
                                                "data": (data_name, data)}, data=form)

    def job(self, job_id: str) -> dict:
        response = self.client.get(f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait(self, job_id: str, until: Callable[[dict], bool], timeout: float = 180,
             seen: list | None = None) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if seen is not None:
                seen.append(job)
            if until(job):
                return job
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s:\n"
                             + self.client.get(f"/jobs/{job_id}/log").text)


def finished(job: dict) -> bool:
    return job["state"] in ("done", "failed", "cancelled")


# ---------------------------------------------------------------------------- a real browser
CHROMIUM = Path("/usr/bin/chromium")


def chromium() -> Path:
    """Debian's Chromium; the calling test is skipped where it is not installed (CI installs
    it: .ci/run)."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed ({CHROMIUM} missing; Debian package: chromium)")
    return CHROMIUM
