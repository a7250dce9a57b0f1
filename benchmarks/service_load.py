"""The service under load (issue #20): concurrent submitters and pollers, large uploads, logs.

Starts ``nestmix serve`` (one worker, a token) in a scratch directory and measures

1. 20 concurrent submitters (one small galaxies sweep each), then 200 polls of ``GET /jobs/<id>``
   from 20 concurrent clients: the median and 95th percentile poll time;
2. four concurrent 43 MB uploads (whitespace text, under the 50 MB limit): the server's peak
   resident memory (VmHWM);
3. every line the server logged (uvicorn's access log included), after a browser login with
   ``/?token=``: none may hold the token.

Every job is cancelled at the end. Run: ``python benchmarks/service_load.py`` (about a minute).
Prints one line per measure and a final ``PASS``/``FAIL`` line; exit status 1 on FAIL.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from common import free_port, stop

TOKEN = "load-test-token-8c1f"
POLL_MEDIAN_LIMIT = 0.100
RSS_LIMIT = 2**30
CONFIG = """\
name = "{name}"
[data]
scale = 0.001
[model]
covariance = "full"
[model.priors]
mean = {{ dist = "norm", loc = 20, scale = 10 }}
variance = {{ dist = "invgamma", a = 3, scale = 20 }}
[sweep]
k = [1]
nlive = 20
seed = 1
"""


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> int:

    scratch = Path(tempfile.mkdtemp(prefix="nestmix-load-"))
    runs, log_path = scratch / "runs", scratch / "server.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = (Path(__file__).resolve().parents[1] / "nestmix" / "examples"
            / "galaxies_roeder1990.txt").read_bytes()
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "nestmix", "serve", "--runs", str(runs), "--port", str(port),
             "--workers", "1", "--token", TOKEN], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    ok = True
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"the server did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        client = httpx.Client(base_url=url, headers=headers, timeout=120)
        # a browser login: the token in a URL, which the access log would print
        login = httpx.get(f"{url}/?token={TOKEN}", follow_redirects=False, timeout=10)
        assert login.status_code == 303, login.text

        def submit(i: int) -> str:
            response = client.post("/jobs", files={
                "config": ("c.toml", CONFIG.format(name=f"load-{i}").encode()),
                "data": ("galaxies.txt", data)}, data={"figures": "false"})
            assert response.status_code == 201, response.text
            return response.json()["id"]

        start = time.perf_counter()
        with ThreadPoolExecutor(20) as pool:
            ids = list(pool.map(submit, range(20)))
        print(f"20 concurrent submissions: {time.perf_counter() - start:.2f} s")

        def poll(i: int) -> float:
            t0 = time.perf_counter()
            response = client.get(f"/jobs/{ids[i % len(ids)]}")
            assert response.status_code == 200, response.text
            return time.perf_counter() - t0

        alone = sorted(poll(i) for i in range(20))
        print(f"20 polls from one client: median {1000 * statistics.median(alone):.1f} ms")
        with ThreadPoolExecutor(20) as pool:
            times = sorted(pool.map(poll, range(200)))
        median, p95 = statistics.median(times), times[int(0.95 * len(times))]
        print(f"200 polls from 20 clients: median {1000 * median:.1f} ms, 95th percentile "
              f"{1000 * p95:.1f} ms (limit on the median {1000 * POLL_MEDIAN_LIMIT:.0f} ms)")
        ok &= median < POLL_MEDIAN_LIMIT

        big = scratch / "big.txt"
        rng = np.random.default_rng(1)
        with open(big, "w") as handle:
            while big.stat().st_size < 43 * 10**6:
                np.savetxt(handle, rng.normal(20, 5, 200_000), fmt="%.15f")
        payload = big.read_bytes()[: 43 * 10**6]
        payload = payload[: payload.rfind(b"\n") + 1]
        before = peak_rss(server.pid)

        def upload(i: int) -> int:
            response = client.post("/jobs", files={
                "config": ("c.toml", CONFIG.format(name=f"big-{i}").encode()),
                "data": ("big.txt", payload)}, data={"figures": "false"})
            if response.status_code == 201:
                ids.append(response.json()["id"])
            return response.status_code

        start = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            codes = list(pool.map(upload, range(4)))
        rss = peak_rss(server.pid)
        print(f"four concurrent {len(payload) / 1e6:.0f} MB uploads: status {codes}, "
              f"{time.perf_counter() - start:.1f} s; server peak RSS {before / 2**20:.0f} MiB "
              f"before, {rss / 2**20:.0f} MiB after (limit {RSS_LIMIT / 2**20:.0f} MiB)")
        ok &= rss < RSS_LIMIT and all(code == 201 for code in codes)

        for job_id in ids:
            client.delete(f"/jobs/{job_id}")
        client.close()
    finally:
        stop(server)
    lines = log_path.read_text().splitlines()
    leaked = [line for line in lines if TOKEN in line]
    print(f"server log: {len(lines)} lines, {len(leaked)} with the token"
          + (f" (first: {leaked[0]!r})" if leaked else ""))
    ok &= not leaked and any("GET /?token=" in line for line in lines)
    print("PASS" if ok else "FAIL")
    if os.environ.get("NESTMIX_KEEP_LOAD_DIR") is None:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
