"""Poll latency of ``nestmix serve`` under 20 concurrent pollers, against one poller (issue #33 L9).

Starts ``nestmix serve --workers 2`` in a scratch directory and submits 20 small galaxies
sweeps: the first runs long (its polls read live progress from disk), the others take a few
seconds each on the second worker, one after another (their state changes while polled), the
rest wait in the queue. Then, each time with one poller as the baseline and with ``--pollers``
(default 20) at once, ``--polls`` polls each, back to back:

1. ``GET /jobs/<id>`` (the poll of a script or ``curl``), over the 20 jobs;
2. ``GET /jobs`` (what the web page polls every second).

Each poller is a thread of this process with its own connection (its own ``httpx.Client``;
``--shared-client``: one client for all, whose connection pool then serialises them); the
latency printed is what the client saw, request sent to reply parsed. The pollers are
closed-loop (the next poll leaves when the last reply arrived), so 20 of them keep about 20
requests in flight: the median is bounded below by the server's time per poll (also printed,
as its CPU time per poll) times the requests queued before it, divided by the cores it gets,
plus the client's own time. On a shared machine the medians follow its load: the load average
is printed before and after.

Every job is cancelled at the end. About 30 s:
``python benchmarks/service_polls.py [--pollers 20] [--polls 50] [--shared-client]``; with
``PYTHONPATH=<another checkout>`` (run from outside this one) the server is that version.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from common import free_port, stop

CONFIG = """\
name = "{name}"
[data]
scale = 0.001
[model.priors]
mean = {{ dist = "norm", loc = 20, scale = 10 }}
variance = {{ dist = "invgamma", a = 3, scale = 20 }}
[sweep]
k = {k}
nlive = {nlive}
seed = 1
escalate = 0
"""
LONG = {"k": [1, 2, 3, 4], "nlive": 300}  # the first job: runs long, shows live progress
SHORT = {"k": [1], "nlive": 20}  # the others: a few seconds each, one after another


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def start_server(runs: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "nestmix", "serve", "--runs", str(runs), "--port", str(port),
             "--workers", "2"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return server, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit(f"the server did not start:\n{log_path.read_text()}")
        time.sleep(0.2)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def poll_times(url: str, paths: list[str], pollers: int, polls: int,
               shared: bool = False) -> list[float]:
    """Seconds per poll of ``pollers`` closed-loop pollers, ``polls`` each, started together
    (``shared``: all through one ``httpx.Client``, as threads of one program would)."""
    times: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(pollers)
    common = httpx.Client(base_url=url, timeout=120, limits=httpx.Limits(
        max_connections=pollers, max_keepalive_connections=pollers)) if shared else None

    def poller(index: int) -> None:
        mine = []
        client = common or httpx.Client(base_url=url, timeout=120)
        client.get("/health")  # a connection is open before the clock starts
        barrier.wait()
        for i in range(polls):
            t0 = time.perf_counter()
            response = client.get(paths[(index + i) % len(paths)])
            response.json()
            mine.append(time.perf_counter() - t0)
            assert response.status_code == 200, response.text
        if common is None:
            client.close()
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=poller, args=(i,)) for i in range(pollers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if common is not None:
        common.close()
    return sorted(times)


def describe(times: list[float]) -> str:
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    return (f"median {1000 * statistics.median(times):6.1f} ms, 95th percentile "
            f"{1000 * p95:6.1f} ms ({len(times)} polls)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pollers", type=int, default=20)
    parser.add_argument("--polls", type=int, default=50, help="polls per poller")
    parser.add_argument("--shared-client", action="store_true",
                        help="the pollers share one httpx.Client (its connection pool)")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="nestmix-polls-"))
    data = (Path(__file__).resolve().parents[1] / "nestmix" / "examples"
            / "galaxies_roeder1990.txt").read_bytes()
    print(f"load average before: {load()} ({os.cpu_count()} cores)")
    server, url = start_server(scratch / "runs", scratch / "server.log")
    lines = []
    try:
        with httpx.Client(base_url=url, timeout=120) as client:
            ids = []
            for i in range(20):
                response = client.post("/jobs", files={
                    "config": ("c.toml", CONFIG.format(name=f"poll-{i:02d}",
                                                       **(SHORT if i else LONG)).encode()),
                    "data": ("galaxies.txt", data)}, data={"figures": "false"})
                assert response.status_code == 201, response.text
                ids.append(response.json()["id"])
            deadline = time.monotonic() + 60  # until the first job's runs report progress
            while not client.get(f"/jobs/{ids[0]}").json()["live"]:
                if time.monotonic() > deadline:
                    raise SystemExit("the first job shows no live progress after 60 s")
                time.sleep(0.2)
            one_job = [f"/jobs/{job_id}" for job_id in ids]
            poll_times(url, one_job, 1, 10)  # warm up: every job's reply built once
            for name, paths in (("GET /jobs/<id>", one_job), ("GET /jobs", ["/jobs"])):
                results = []
                for pollers in (1, args.pollers):
                    cpu = cpu_seconds(server.pid)
                    times = poll_times(url, paths, pollers, args.polls,
                                       shared=args.shared_client)
                    cpu = cpu_seconds(server.pid) - cpu
                    results.append(times)
                    lines.append(f"{name:15s} {pollers:3d} poller{'s' if pollers > 1 else ' '}:"
                                 f" {describe(times)}; server CPU "
                                 f"{1000 * cpu / len(times):.2f} ms per poll")
                ratio = statistics.median(results[1]) / statistics.median(results[0])
                lines.append(f"{name:15s} median ratio {ratio:.1f}")
            states = [client.get(f"/jobs/{i}").json()["state"] for i in ids]
            for job_id in ids:
                client.delete(f"/jobs/{job_id}")
    finally:
        stop(server)
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"jobs at the end: {states.count('running')} running, {states.count('queued')} "
          f"queued, {states.count('done')} done; pollers "
          f"{'share one client' if args.shared_client else 'have a client each'}")
    print("\n".join(lines))
    print(f"load average after: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
