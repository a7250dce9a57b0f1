"""The service meets the command line halfway (issue 35, item 6) and shows no server path
(issue 33, N6): a CSV alone runs the zero-configuration sweep, the config that
``nestmix sweep points.csv`` writes is accepted with its CSV, every file a served report links
answers with the token, and redaction never eats markup. Real (small) sweeps through the real
server, with a token.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import numpy as np
import pytest

from nestmix.service.redact import redact_html, redact_json, redact_paths
from nestmix.sweep.zeroconf import config_for_data, config_toml
from tests.conftest import Server, finished

TOKEN = "uploads-token-1234"


def points_csv() -> bytes:
    """30 points in two clusters 6 standard deviations apart, with a header."""
    rng = np.random.default_rng(35)
    x = np.r_[rng.normal(-3.0, 0.5, 15), rng.normal(3.0, 0.5, 15)]
    return ("x\n" + "".join(f"{v:.5f}\n" for v in x)).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runs = tmp_path_factory.mktemp("uploads") / "runs"
    server = Server(runs, "--workers", "2", token=TOKEN).start()
    yield server
    assert server.stop()


def submit(server: Server, data: bytes, data_name: str, config: bytes | None = None,
           **form: str) -> httpx.Response:
    files = {"data": (data_name, data)}
    if config is not None:
        files["config"] = ("config.toml", config)
    return server.client.post("/jobs", files=files, data=form)


class Page(HTMLParser):
    """The links of a page, and its ``<dt>``/``<dd>`` facts as text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.facts: dict[str, str] = {}
        self._tag: str | None = None
        self._dt = ""
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.links += [value for name, value in attrs if name in ("href", "src") and value]
        if tag in ("dt", "dd"):
            self._tag = tag
            if tag == "dd":
                self.facts[self._dt] = ""
            else:
                self._dt = ""

    def handle_endtag(self, tag):
        if tag in ("dt", "dd"):
            self._tag = None

    def handle_data(self, data):
        if self._tag == "dt":
            self._dt += data
        elif self._tag == "dd":
            self.facts[self._dt] += data


def crawl(server: Server, start: str) -> dict[str, httpx.Response]:
    """Every page and file reachable from ``start`` by the links of its HTML pages (on this
    server; data: URIs and fragments left out), fetched with the token."""
    seen: dict[str, httpx.Response] = {}
    todo = [start]
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen[url] = response = server.client.get(url)
        if response.status_code == 200 and response.headers["content-type"].startswith(
                "text/html"):
            for link in Page(response.text).links:
                parts = urlsplit(urljoin(url, link))
                if parts.scheme in ("", "http") and parts.path and not link.startswith("#"):
                    todo.append(parts.path)
    return seen


@pytest.fixture(scope="module")
def points_job(server):
    """POST /jobs with only a CSV (and the zero-configuration options K <= 2, tied), done."""
    response = submit(server, points_csv(), "points.csv", kmax="2", covariance="tied",
                      figures="false")
    assert response.status_code == 201, response.text
    job = server.wait(response.json()["id"], finished)
    assert job["state"] == "done", server.client.get(f"/jobs/{job['id']}/log").text
    return job


# ------------------------------------------------------------------ a CSV alone, and its config
def test_a_csv_alone_runs_the_zero_configuration_sweep(server, points_job, tmp_path):
    data, job = points_csv(), points_job
    assert job["name"] == "points"  # named after the file, as `nestmix sweep points.csv`
    assert [(r["k"], r["sampler"], r["state"]) for r in job["runs"]] == [
        (1, "dynesty", "done"), (2, "dynesty", "done")]
    # the job runs what the command line would: the same config, the data as the upload
    (tmp_path / "points.csv").write_bytes(data)
    expected = config_for_data(tmp_path / "points.csv", base=tmp_path, kmax=2,
                               covariance=["tied"])
    stored = json.loads((server.runs / ".service" / "jobs" / job["id"] / "config.json")
                        .read_text())
    assert stored == {**expected, "data": {**expected["data"], "path": "data.csv"}}
    best = max(job["runs"], key=lambda r: r["row"]["logZ"])
    assert best["k"] == 2  # two clusters 6 sigma apart

    # the config `nestmix sweep points.csv` writes into runs/points/ (data.path
    # "../../points.csv") is accepted with its CSV: it is the same sweep, resumed
    directory = tmp_path / "runs" / "points"
    written = config_for_data(tmp_path / "points.csv", base=directory, kmax=2,
                              covariance=["tied"])
    assert written["data"]["path"] == "../../points.csv"
    again = submit(server, data, "points.csv", config=config_toml(written).encode(),
                   figures="false")
    assert again.status_code == 201, again.text
    again_job = server.wait(again.json()["id"], finished)
    assert again_job["state"] == "done"
    assert [r["row"]["logZ"] for r in again_job["runs"]] == [r["row"]["logZ"]
                                                              for r in job["runs"]]
    log = server.client.get(f"/jobs/{again_job['id']}/log").text
    assert log.count("reused finished run") == 2 and "running K" not in log


def test_a_csv_alone_without_options_queues_the_full_default_grid(server):
    response = submit(server, points_csv(), "wide.csv", figures="false")
    assert response.status_code == 201, response.text
    job = response.json()
    try:
        # 1-D data: the full and tied models, K = 1..4 (as `nestmix sweep wide.csv`)
        assert job["name"] == "wide"
        assert sorted((r["sampler"], r["k"]) for r in job["runs"]) == [
            (f"{model}/dynesty", k) for model in ("full", "tied") for k in (1, 2, 3, 4)]
    finally:
        assert server.client.delete(f"/jobs/{job['id']}").status_code == 200


def test_a_config_path_is_never_read_the_upload_is_the_data(server):
    text = (b'name = "elsewhere"\n[data]\npath = "/etc/passwd"\ncolumns = ["x"]\n'
            b"[sweep]\nk = [1]\nnlive = 25\nseed = 1\n")
    response = submit(server, points_csv(), "p.csv", config=text, figures="false")
    assert response.status_code == 201, response.text
    job = server.wait(response.json()["id"], finished)
    assert job["state"] == "done"
    stored = json.loads((server.runs / ".service" / "jobs" / job["id"] / "config.json")
                        .read_text())
    assert stored["data"]["path"] == "data.csv"


@pytest.mark.parametrize(("form", "config", "message"), [
    ({"kmax": "2"}, b"[sweep]\nk = [1]\n", "kmax: only for a data file sent without a config"),
    ({"covariance": "round"}, None, "covariance: give distinct models among"),
    ({"columns": "y"}, None, "columns: no numeric column 'y' in bad.csv"),
    ({"kmax": "0"}, None, "kmax: must be an integer >= 1"),
], ids=["option-with-config", "bad-covariance", "unknown-column", "kmax-zero"])
def test_zero_configuration_options_are_checked(server, form, config, message):
    response = submit(server, points_csv(), "bad.csv", config=config, **form)
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(message)
    assert str(server.runs) not in response.text


# ------------------------------------------------------------------- the report and its links
def test_every_link_of_a_served_report_answers_with_the_token(server, points_job):
    start = points_job["links"]["report"]
    fetched = crawl(server, start)
    files = [url for url in fetched if url != start]
    assert any(url.endswith("/evidence.csv") for url in files), sorted(fetched)
    assert any(url.endswith("/dynesty/posterior.csv") for url in files), sorted(fetched)
    failed = {url: r.status_code for url, r in fetched.items() if r.status_code != 200}
    assert failed == {}
    for url, response in fetched.items():  # no server path in any of them
        assert str(server.runs) not in response.text, url
        assert "/.service/" not in response.text, url
    # the same auth as the report: nothing without the token
    anonymous = httpx.Client(base_url=server.url, timeout=30)
    try:
        assert {anonymous.get(url).status_code for url in fetched} == {401}
    finally:
        anonymous.close()
    # a file the report does not link, or outside the sweep, is not served
    job_url = f"/jobs/{points_job['id']}"
    for path in ("manifest.json", "data.npz", "K%3D1/dynesty/manifest.json", "..%2Fpoints",
                 "..%2F.service%2Fjobs.sqlite", "%2Fetc%2Fpasswd", "report.md"):
        assert server.client.get(f"{job_url}/{path}").status_code == 404, path


def test_the_served_report_keeps_its_model_row(server, points_job):
    """Redaction replaces the server's paths and nothing else: the served page is the page on
    disk with the upload's path as ``<upload>`` and the runs directory as ``runs`` (the "model"
    fact after the "data" fact intact)."""
    on_disk = (server.runs / "points" / "report.html").read_text()
    found = re.search(re.escape(str(server.runs)) + r"/\.service/jobs/[0-9a-f]+/data\.csv",
                      on_disk)
    assert found is not None  # what there is to hide (the upload of the job that wrote it)
    upload = found.group()
    served = server.client.get(points_job["links"]["report"])
    assert served.status_code == 200
    assert served.text == on_disk.replace(upload, "&lt;upload&gt;").replace(str(server.runs),
                                                                             "runs")
    facts = Page(served.text).facts
    assert facts["data"].endswith("from <upload>")
    assert facts["model"].startswith("gaussian components, covariance tied")


# ------------------------------------------------------------------------------- no paths (N6)
def test_summary_json_over_http_shows_no_server_path(server, points_job):
    on_disk = (server.runs / "points" / "summary.json").read_text()
    assert str(server.runs) in on_disk  # the worker wrote the absolute sweep directory
    response = server.client.get(f"/jobs/{points_job['id']}/summary.json")
    assert response.status_code == 200
    assert str(server.runs) not in response.text and "/.service/" not in response.text
    table = response.json()
    assert table == redact_json(json.loads(on_disk), server.runs)
    for reply in (server.client.get(f"/jobs/{points_job['id']}"), server.client.get("/jobs"),
                  server.client.get(f"/jobs/{points_job['id']}/log")):
        assert reply.status_code == 200 and str(server.runs) not in reply.text


def test_redaction_never_spans_markup(tmp_path):
    runs = tmp_path / "runs"
    upload = f"{runs.resolve()}/.service/jobs/0123456789abcdef/data.csv"
    page = (f'<dl><dt>data</dt><dd>30 points from {upload}</dd><dt>model</dt>'
            f'<dd>gaussian components</dd></dl><a href="{runs.resolve()}/g/evidence.csv">'
            f"{runs.resolve()}/g/evidence.csv</a><p>{runs.resolve()}.</p>")
    assert redact_html(page, runs) == (
        '<dl><dt>data</dt><dd>30 points from &lt;upload&gt;</dd><dt>model</dt>'
        '<dd>gaussian components</dd></dl><a href="runs/g/evidence.csv">'
        "runs/g/evidence.csv</a><p>runs.</p>")
    assert redact_paths(f"cannot read {upload}: no such file; see {runs.resolve()}/g", runs) \
        == "cannot read <upload>: no such file; see runs/g"
    assert redact_paths(f"{runs.resolve()}-old/x {runs.resolve()}2", runs) == (
        f"{runs.resolve()}-old/x {runs.resolve()}2")  # other directories are not this one
    assert redact_json({"directory": str(runs.resolve()), "rows": [{"w": [upload]}]},
                       runs) == {"directory": "runs", "rows": [{"w": ["<upload>"]}]}

