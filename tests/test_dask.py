"""Sweeps on a real Dask cluster (``distributed.LocalCluster``: worker processes over loopback
TCP): the same runs and files as on this machine, resumable either way, a worker killed in the
middle of a task replaced without losing or doubling a run, one K spread over the cluster."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import threading
import time
from pathlib import Path

import distributed
import numpy as np
import pytest

from nestmix import Measurements, ModelSpec, SweepPlan, load_sweep, run_sweep
from nestmix.cli import main
from nestmix.errors import ClusterError
from nestmix.sweep.dask import check_shared_directory, check_worker_versions, connect
from tests.conftest import TOY_PRIORS, Server, config, finished, grid_logz, toy_values

PRIORS = TOY_PRIORS
CONFIG = """\
name = "toy"
[data]
path = "values.txt"
[model.priors]
mean = {{ dist = "norm", loc = 0, scale = 5 }}
sigma = {{ dist = "halfnorm", scale = 3 }}
[sweep]
k = {k}
nlive = {nlive}
seed = 2
"""


def local_cluster():
    """Two single-threaded worker processes on loopback TCP; the scheduler's web server on a
    free port (another cluster on this machine may hold the default 8787)."""
    return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                    host="127.0.0.1", dashboard_address=None,
                                    scheduler_kwargs={"dashboard_address": ":0"})


@pytest.fixture(scope="module")
def cluster():
    with local_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def values() -> np.ndarray:
    return toy_values(25)


def write_config(directory: Path, values: np.ndarray, k: str, nlive: int) -> Path:
    np.savetxt(directory / "values.txt", values)
    path = directory / "toy.toml"
    path.write_text(CONFIG.format(k=k, nlive=nlive))
    return path


def files(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*")}


@pytest.mark.slow  # 13-18 s in a cold clean clone; runs in CI's slow stage
def test_a_sweep_on_the_cluster_matches_one_made_here(cluster, values, tmp_path, capsys):
    config = write_config(tmp_path, values, k="[1, 2]", nlive=30)
    on_dask, here = tmp_path / "dask" / "toy", tmp_path / "here" / "toy"
    assert main(["sweep", str(config), "--out", str(on_dask), "--dask",
                 cluster.scheduler_address, "--no-report"]) == 0
    printed = capsys.readouterr().out
    assert f"on the Dask cluster at {cluster.scheduler_address} (2 workers, 2 threads)" \
        in printed
    workers = set(cluster.scheduler_info["workers"])
    for k in (1, 2):
        where = re.search(rf"K={k} dynesty: started \(seed \d+\) on (\S+)", printed)
        assert where and where.group(1) in workers
    assert main(["sweep", str(config), "--out", str(here), "--jobs", "2", "--no-report"]) == 0
    capsys.readouterr()
    assert files(on_dask) == files(here)
    a, b = load_sweep(on_dask), load_sweep(here)
    assert [r.k for r in a.rows] == [r.k for r in b.rows] == [1, 2]
    for ra, rb in zip(a.rows, b.rows, strict=True):
        assert abs(ra.logZ - rb.logZ) < 3 * np.hypot(ra.logZ_err, rb.logZ_err)
        assert ra.seed == rb.seed
    for k in (1, 2):  # the same runs: fingerprints (where they ran is not part of them)
        fa, fb = (json.loads((d / f"K={k}" / "dynesty" / "manifest.json").read_text())
                  for d in (on_dask, here))
        assert fa["fingerprint"] == fb["fingerprint"]
    assert json.loads((on_dask / "summary.json").read_text()).keys() == json.loads(
        (here / "summary.json").read_text()).keys()

    # resumed the other way round: here after the cluster, the cluster after here
    assert main(["sweep", str(config), "--out", str(on_dask), "--jobs", "1",
                 "--no-report"]) == 0
    assert capsys.readouterr().out.count("reused finished run") == 2
    shutil.rmtree(here / "K=1")
    lines: list[str] = []
    plan_text = config.read_text().replace("[sweep]", f'[sweep]\ndask = '
                                           f'"{cluster.scheduler_address}"')
    config.write_text(plan_text)
    from nestmix.sweep.config import load_config

    plan, _ = load_config(config)
    resumed = run_sweep(plan, here, progress=lines.append)  # [sweep] dask in the config
    assert sum("reused finished run" in line for line in lines) == 1
    assert [line.split(" on ")[0] for line in lines if "started" in line] == [
        f"K=1 dynesty: started (seed {plan.seed_for(1)})"]
    assert [r.logZ for r in resumed.rows] == [r.logZ for r in b.rows]  # same seed, same run


@pytest.mark.slow
def test_a_worker_killed_mid_task_is_replaced_and_no_run_is_lost_or_doubled(values, tmp_path):
    plan = SweepPlan(name="toy", data=Measurements.from_arrays(values),
                     spec=ModelSpec(priors=PRIORS), k_values=(1, 2), settings={"nlive": 400},
                     seed=5)  # nlive large enough that K = 2 is still running when killed
    out = tmp_path / "toy"
    lines: list[str] = []
    outcome: dict = {}
    with local_cluster() as cluster, distributed.Client(cluster) as client:
        def sweep() -> None:
            try:
                outcome["result"] = run_sweep(plan, out, progress=lines.append, dask=client)
            except BaseException as exc:  # reported by the test below
                outcome["error"] = exc

        thread = threading.Thread(target=sweep)
        thread.start()
        deadline = time.monotonic() + 120
        victim = None
        while victim is None:
            assert time.monotonic() < deadline and thread.is_alive(), (lines, outcome)
            started = [re.search(r"on (\S+)$", line) for line in list(lines)
                       if line.startswith("K=2 dynesty: started")]
            victim = started[0].group(1) if started else None
            time.sleep(0.05)
        time.sleep(0.2)  # into the run (K = 2 takes seconds even with the numba kernel)
        assert not (out / "K=2" / "dynesty").exists(), "K=2 finished before the kill"
        pids = client.run(os.getpid)
        os.kill(pids[victim], signal.SIGKILL)
        thread.join(timeout=300)
        assert not thread.is_alive()
    assert "error" not in outcome, outcome.get("error")
    restarts = [line for line in lines if line.startswith("K=2 dynesty: started")]
    assert len(restarts) == 2 and victim not in restarts[1]  # Dask ran it again elsewhere
    result = load_sweep(out)
    assert [(r.k, r.repeats) for r in result.rows] == [(1, 1), (2, 1)]
    assert result.missing == () and outcome["result"].rows == result.rows
    for k in (1, 2):  # one finished run per K, no half-written copy or work files left
        assert [p.name for p in (out / f"K={k}").iterdir()] == ["dynesty"]
        manifest = json.loads((out / f"K={k}" / "dynesty" / "manifest.json").read_text())
        assert manifest["fingerprint"] == plan.run_manifest(k, "dynesty")["fingerprint"]
    assert len(json.loads((out / "summary.json").read_text())["rows"]) == 2


def test_one_k_spread_over_the_cluster_gives_the_evidence(cluster, tmp_path):
    x = toy_values(40)
    plan = SweepPlan(name="pool", data=Measurements.from_arrays(x),
                     spec=ModelSpec(priors=PRIORS), k_values=(1,),
                     settings={"nlive": 30, "pool": "dask"}, seed=4)
    row = run_sweep(plan, tmp_path / "pool", dask=cluster).rows[0]  # a cluster object
    assert abs(row.logZ - grid_logz(x)) < 3 * max(row.logZ_err, row.logZ_err_sim)
    run = json.loads((tmp_path / "pool" / "K=1" / "dynesty" / "run.json").read_text())
    assert run["settings"]["pool"] == "dask"


def test_clear_errors_for_an_unusable_cluster(cluster, tmp_path):
    with connect(cluster.scheduler_address) as client:
        with pytest.raises(ClusterError, match=r"Dask workers .* cannot see the run directory"):
            check_shared_directory(client, tmp_path, "not-there.json")
        check_worker_versions(client)  # the same interpreter and packages: no complaint
    with pytest.raises(ClusterError, match=r"cannot reach the Dask scheduler at tcp://"):
        with connect("tcp://127.0.0.1:9", timeout=1):
            pass


def test_the_service_sends_its_jobs_to_the_cluster(cluster, tmp_path):
    """`nestmix serve --dask ADDRESS`: a job's runs are made by the cluster's workers; a client
    cannot choose a cluster itself."""

    server = Server(tmp_path / "runs", "--workers", "1", "--dask",
                    cluster.scheduler_address).start()
    try:
        refused = server.submit(config("chosen", k=(1,), extra="")
                                + f'dask = "{cluster.scheduler_address}"\n')
        assert refused.status_code == 400 and "sweep.dask" in refused.text
        response = server.submit(config("on-dask", k=(1, 2), nlive=25))
        assert response.status_code == 201, response.text
        job = server.wait(response.json()["id"], finished)
        log = server.client.get(f"/jobs/{job['id']}/log").text
    finally:
        assert server.stop()
    assert job["state"] == "done", log
    worker_addresses = set(cluster.scheduler_info["workers"])
    assert any(address in log for address in worker_addresses), log
    assert [row.k for row in load_sweep(tmp_path / "runs" / "on-dask").rows] == [1, 2]


def _pretend_nestmix_version(version: str) -> str:
    import nestmix

    old, nestmix.__version__ = nestmix.__version__, version
    return old


def test_a_worker_with_another_nestmix_version_is_refused_before_any_run(values, tmp_path):
    import nestmix

    with local_cluster() as cluster, connect(cluster.scheduler_address) as client:
        worker = sorted(client.nthreads())[0]
        client.run(_pretend_nestmix_version, "0.0.1-old", workers=[worker])
        with pytest.raises(ClusterError) as caught:
            run_sweep(SweepPlan(name="toy", data=Measurements.from_arrays(values),
                                spec=ModelSpec(priors=PRIORS), k_values=(1,),
                                settings={"nlive": 30}, seed=2),
                      tmp_path / "out", dask=client)
    message = str(caught.value)
    assert f"{worker} has nestmix 0.0.1-old" in message
    assert f"nestmix {nestmix.__version__}" in message
    assert not list((tmp_path / "out").glob("K=*/*/run.json"))
