"""The evidence report on a real galaxy sweep: tables agree with summary.json in every format,
figures are readable PNGs, partly finished sweeps are reported, and report.html opens in a real
browser (headless Chromium from Debian's packages) with no broken images and no console output.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import shutil
import subprocess
import sys
import types
from dataclasses import replace
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

import nestmix
from nestmix.cli import main
from nestmix.model import ModelSpec
from nestmix.report import build_report, write_report
from nestmix.results import EvidenceRow, SweepResult
from nestmix.store.archive import SweepArchive
from nestmix.sweep import SweepPlan, run_sweep
from tests.conftest import GALAXY_PRIORS, chromium

# summary.json key -> (header in HTML and Markdown, decimals printed; None: exact integer)
PRINTED = {
    "k": ("K", None), "logZ": ("ln Z", 3), "logZ_err": ("σ sampler", 3),
    "logZ_err_sim": ("σ sim", 3), "ln_bf": ("ln BF", 2), "ln_bf_err": ("σ ln BF", 2),
    "p_k": ("P(K|data)", 3), "p_k_err": ("σ P", 3), "information": ("H [nats]", 2),
    "n_effective": ("ESS", 0), "ncall": ("calls", None), "seconds": ("seconds", 1),
    "label_copies": ("relabellings found", None), "expected_copies": ("expected", None),
    "distinct_modes": ("modes", None),
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    """A real galaxy sweep (K = 1, 2, 3, dynesty, 60 live points) with its report written."""
    path = resources.files("nestmix.examples") / "galaxies_roeder1990.txt"
    data = nestmix.load_measurements(str(path), scale=0.001)
    plan = SweepPlan(name="galaxies", data=data, spec=ModelSpec(priors=GALAXY_PRIORS),
                     k_values=(1, 2, 3), settings={"nlive": 60}, seed=1)
    directory = tmp_path_factory.mktemp("report") / "galaxies"
    run_sweep(plan, directory, n_jobs=1)
    write_report(directory)
    return directory


@pytest.fixture(scope="module")
def summary(sweep_dir) -> dict:
    return json.loads((sweep_dir / "summary.json").read_text())


# ----------------------------------------------------------------------- parsing the report
class _Tables(HTMLParser):
    """Collects the cell texts of every <table id=...> and every <img src>."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[str] = []
        self.links: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href"):
            if name in attrs:
                self.links.append(attrs[name])
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "table" and attrs.get("id"):
            self._table = attrs["id"].removeprefix("table-")
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def html_tables(page: str) -> _Tables:
    parser = _Tables()
    parser.feed(page)
    return parser


def markdown_table(text: str, title: str) -> list[list[str]]:
    """The pipe table under ``### title`` (header first, separator dropped, bold removed)."""
    lines = text.split(f"### {title}\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    rows = [re.split(r"(?<!\\)\|", line.strip()[1:-1]) for line in lines]
    return [[re.sub(r"\\(.)", r"\1", cell.strip().replace("**", "")) for cell in row]
            for i, row in enumerate(rows) if i != 1]


def as_dicts(rows: list[list[str]]) -> list[dict[str, str]]:
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def assert_printed(text: str, value, decimals: int | None) -> None:
    if value is None:
        assert text == "–"
        return
    number = float(text.replace(",", ""))
    if decimals is None:
        assert number == value
    else:
        assert abs(number - value) <= 0.5 * 10.0**-decimals + 1e-9, (text, value)


# -------------------------------------------------------------------------------- the tables
def test_tables_carry_the_numbers_of_summary_json(sweep_dir, summary):
    rows = summary["rows"]
    assert [r["k"] for r in rows] == [1, 2, 3]
    page = html_tables((sweep_dir / "report.html").read_text())
    markdown = markdown_table((sweep_dir / "report.md").read_text(), "Evidence per K")
    with open(sweep_dir / "evidence.csv", newline="") as handle:
        from_csv = list(csv.DictReader(handle))
    for printed in (as_dicts(page.tables["evidence"]), as_dicts(markdown)):
        assert len(printed) == len(rows)
        for cells, row in zip(printed, rows, strict=True):
            assert cells["sampler"] == row["sampler"]
            for key, (title, decimals) in PRINTED.items():
                assert_printed(cells[title], row[key], decimals)
            assert cells["converged"] == ("yes" if row["converged"] else "no")
    assert len(from_csv) == len(rows)
    for cells, row in zip(from_csv, rows, strict=True):
        for key in PRINTED:  # full precision
            assert float(cells[key]) == pytest.approx(row[key], rel=1e-15, abs=1e-300)
        assert cells["warnings"] == " | ".join(row["warnings"])
        assert cells["converged"] == str(row["converged"]).lower()


def test_modes_table_matches_summary_json(sweep_dir, summary):
    with open(sweep_dir / "modes.csv", newline="") as handle:
        from_csv = list(csv.DictReader(handle))
    expected = []
    for entry in summary["modes"]:
        for mode in entry["distinct_modes"]["modes"]:
            for j, weight in enumerate(mode["weights"]["mean"]):
                expected.append((entry["k"], mode["index"] + 1, mode["mass"], weight,
                                 mode["means"]["mean"][j][0], mode["scales"]["mean"][j][0]))
    assert len(from_csv) == len(expected) == 1 + 2 + 3  # one mode per K for these runs
    for cells, (k, index, mass, weight, mean, scale) in zip(from_csv, expected, strict=True):
        assert (int(cells["k"]), int(cells["mode"])) == (k, index)
        assert float(cells["mass"]) == pytest.approx(mass, rel=1e-15)
        assert float(cells["weight"]) == pytest.approx(weight, rel=1e-15)
        assert float(cells["mean_x"]) == pytest.approx(mean, rel=1e-15)
        assert float(cells["scale_x"]) == pytest.approx(scale, rel=1e-15)
    html_rows = as_dicts(html_tables((sweep_dir / "report.html").read_text()).tables["modes"])
    for cells, (_, _, mass, weight, mean, _) in zip(html_rows, expected, strict=True):
        assert_printed(cells["mass"], mass, 3)
        assert_printed(cells["weight"], weight, 3)
        assert_printed(cells["mean x"], mean, 3)


def test_verdict_names_the_best_k(sweep_dir, summary):
    best = max(summary["rows"], key=lambda r: r["logZ"])
    runner_up = sorted(summary["rows"], key=lambda r: r["logZ"])[-2]
    headline = f"The data prefer K = {best['k']} components: "
    for name in ("report.html", "report.md"):
        text = (sweep_dir / name).read_text()
        assert headline in text
        assert f"over the runner-up K = {runner_up['k']}" in text
        assert f"{best['logZ'] - runner_up['logZ']:.2f}" in text
        for row in summary["rows"]:  # every row's warnings are in the verdict
            for warning in row["warnings"]:
                assert f"K={row['k']} {row['sampler']}: {warning}" in text.replace("&#x27;", "'")


def test_model_averaged_memberships_table(sweep_dir, summary):
    with open(sweep_dir / "memberships_dynesty.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 82
    for row in rows:
        assert float(row["p_gaussian"]) == pytest.approx(1.0)  # no background in this model
        top = float(row["p_top_gaussian"])
        assert 0.0 <= top <= 1.0 + 1e-12
        per_k = [float(row[f"top_gaussian_K{r['k']}"]) for r in summary["rows"]]
        weights = [r["p_k"] for r in summary["rows"]]
        assert top == pytest.approx(np.dot(weights, per_k) / sum(weights), abs=1e-9)
    text = (sweep_dir / "report.md").read_text()
    assert re.search(r"dynesty, averaged over K: \d+ of 82 points belong to one Gaussian", text)


# ------------------------------------------------------------------------------- the figures
def test_every_png_is_readable_and_expected_figures_are_there(sweep_dir, summary):
    pngs = sorted((sweep_dir / "report").glob("*.png"))
    best = max(summary["rows"], key=lambda r: r["logZ"])["k"]
    names = {p.stem for p in pngs}
    expected = {"evidence", "posterior_k", "predictive_dynesty", f"corner_dynesty_K{best}",
                f"memberships_dynesty_K{best}", "run_dynesty_K1", "run_dynesty_K2",
                "run_dynesty_K3"}
    assert expected <= names, f"missing figures: {sorted(expected - names)}"
    for png in pngs:
        assert png.stat().st_size > 1000
        image = matplotlib.image.imread(png)
        assert image.ndim == 3 and min(image.shape[:2]) > 50
        assert np.ptp(image[..., :3]) > 0  # not a blank canvas
    markdown = (sweep_dir / "report.md").read_text()
    for png in pngs:
        assert f"(report/{png.name})" in markdown
    assert not re.search(r"^- (figure .*|model-averaged memberships .*) failed", markdown, re.M)


def test_html_is_self_contained(sweep_dir):
    text = (sweep_dir / "report.html").read_text()
    parsed = html_tables(text)
    assert "<script" not in text.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert not re.search(r"url\(", text), "CSS must not load anything"
    from urllib.parse import unquote

    for link in parsed.links:  # embedded, or a file of the sweep to download (not loaded)
        assert link.startswith("data:") or (sweep_dir / unquote(link)).is_file(), link
    assert any(not link.startswith("data:") for link in parsed.links)
    assert len(parsed.images) == len(list((sweep_dir / "report").glob("*.png")))
    for src in parsed.images:
        assert src.startswith("data:image/png;base64,")
        payload = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert payload.startswith(PNG_MAGIC)
        assert matplotlib.image.imread(io.BytesIO(payload)).size > 0


# ---------------------------------------------------------------- partial sweeps and failures
def test_partly_finished_sweep_names_the_missing_k(sweep_dir, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(sweep_dir, partial)
    shutil.rmtree(partial / "K=2")
    files = write_report(partial, figures=False)
    assert any("missing K: K=2 (dynesty) not finished" in w for w in files.warnings)
    for name in ("report.html", "report.md"):
        text = (partial / name).read_text()
        assert "missing K: K=2 (dynesty) not finished" in text
        assert "1 missing" in text
    rows = json.loads((partial / "summary.json").read_text())["rows"]
    assert [r["k"] for r in rows] == [1, 3]  # summary.json agrees with the report
    with open(partial / "evidence.csv", newline="") as handle:
        assert [int(r["k"]) for r in csv.DictReader(handle)] == [1, 3]
    assert not list((partial / "report").glob("*.png"))  # no stale figures


def test_a_figure_that_fails_is_a_warning_not_a_crash(sweep_dir, tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    def fine(*args, **kwargs):
        fig = Figure(figsize=(2, 2))
        fig.add_subplot().plot([0, 1])
        return fig

    def broken(*args, **kwargs):
        raise RuntimeError("no ink")

    fake = types.ModuleType("nestmix.report.figures")
    for name in ("plot_evidence", "plot_posterior_k", "plot_predictive", "plot_components_2d",
                 "plot_memberships", "plot_run"):
        setattr(fake, name, fine)
    fake.plot_corner = broken
    monkeypatch.setitem(sys.modules, "nestmix.report.figures", fake)
    monkeypatch.setattr("nestmix.report.figures", fake, raising=False)
    copy = tmp_path / "copy"
    shutil.copytree(sweep_dir, copy)
    files = write_report(copy)
    failed = [w for w in files.warnings if "failed" in w]
    assert len(failed) == 1 and "RuntimeError: no ink" in failed[0] and "posterior" in failed[0]
    assert "no ink" in (copy / "report.html").read_text()
    assert len(files.figures) == 7  # everything else was drawn


def _row(k: int, sampler: str, logz: float, err: float) -> EvidenceRow:
    return EvidenceRow(k=k, sampler=sampler, logZ=logz, logZ_err=err, logZ_err_sim=err,
                       ln_bf=0.0, ln_bf_err=0.0, p_k=1.0, p_k_err=0.0, ncall=10, seconds=1.0,
                       ndim=2, information=1.0, n_effective=10.0, converged=sampler != "b")


def test_samplers_that_disagree_and_runs_stopped_early_are_warned_about(tmp_path):
    result = SweepResult(name="toy", rows=(_row(1, "a", -10.0, 0.1), _row(1, "b", -12.0, 0.2),
                                           _row(2, "a", -9.0, 0.1), _row(2, "b", -9.1, 0.2)))
    archive = SweepArchive(directory=tmp_path, result=result, manifest={"k_values": [1, 2, 3]},
                           data=None, spec=None, spec_problem="no data")
    report = build_report(archive, figures=False)
    warnings = "\n".join(report.warnings)
    assert "K=1: a and b disagree" in warnings and "8.9 times the combined error" in warnings
    assert "K=2: a and b disagree" not in warnings
    assert "K=1 b: the run stopped before converging" in warnings
    agreement = {t.name: t for t in report.tables}["agreement"]
    assert [row[-1] for row in agreement.rows] == [False, True]
    assert report.headline == ("The data prefer K = 2 components (all 2 samplers agree): "
                               "positive evidence over K = 1 (ln Bayes factor 1.00).")


# --------------------------------------------------------------------------- command line
def test_cli_report_prints_where_and_refuses_non_sweeps(sweep_dir, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(sweep_dir, copy)
    assert main(["report", str(copy), "--no-figures"]) == 0
    out = capsys.readouterr().out
    assert f"report: {copy / 'report.html'}" in out
    assert main(["report", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a nestmix sweep" in err


def test_cli_sweep_writes_the_report_unless_told_not_to(tmp_path, capsys):
    values = np.random.default_rng(4).normal(0.0, 1.0, 40)
    np.savetxt(tmp_path / "values.txt", values)
    config = tmp_path / "toy.toml"
    config.write_text('name = "toy"\n[data]\npath = "values.txt"\n[model.priors]\n'
                      'mean = { dist = "norm", loc = 0, scale = 5 }\n'
                      'variance = { dist = "invgamma", a = 3, scale = 2 }\n'
                      '[sweep]\nk = [1]\nnlive = 30\nseed = 1\n')
    out = tmp_path / "runs"
    assert main(["sweep", str(config), "--out", str(out), "--jobs", "1", "--quiet",
                 "--no-report"]) == 0
    assert not (out / "report.html").exists()
    capsys.readouterr()
    assert main(["sweep", str(config), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    assert f"report: {out / 'report.html'}" in capsys.readouterr().out
    assert (out / "report.md").exists() and (out / "evidence.csv").exists()


PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images].map(i => ({src: i.src.slice(0, 22), complete: i.complete,
                                                 width: i.naturalWidth, height: i.naturalHeight}));
  const requests = performance.getEntriesByType("resource").map(r => r.name);
  const tables = Object.fromEntries([...document.querySelectorAll("table.data")].map(
    t => [t.id, [t.getBoundingClientRect().right, t.parentElement.getBoundingClientRect().right]]));
  const page = window.innerWidth;
  const out = document.createElement("pre");
  out.id = "nestmix-probe";
  out.textContent = JSON.stringify({images, requests, tables, page});
  document.body.appendChild(out);
});
</script>"""




def run_chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [str(chromium()), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--disable-extensions", f"--user-data-dir={profile}",
               "--enable-logging=stderr", "--v=0", "--window-size=1280,4000", *extra,
               page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def console_lines(stderr: str) -> list[str]:
    """Console messages (any level) and failed loads from Chromium's log."""
    return [line for line in stderr.splitlines()
            if ":CONSOLE" in line or "Failed to load resource" in line
            or "Not allowed to load" in line or "net::ERR_" in line]


def browser_check(page: Path, workdir: Path, screenshot: Path | None = None) -> dict:
    """Open ``page`` in headless Chromium three times and say what a reader would see.

    1. The page as written (no scripts): a screenshot, and Chromium's log scanned
       for console messages and failed loads.
    2. ``--dump-dom``: the <img> sources of the DOM Chromium built.
    3. A copy with a probe script appended: after the load event it records, for every image,
       whether the browser finished and decoded it (``complete`` and ``naturalWidth`` > 0),
       and every resource the page requested (data: URIs are not requests).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    screenshot = screenshot or workdir / "screenshot.png"
    shown = run_chromium(page, workdir / "profile1", f"--screenshot={screenshot}")
    dumped = run_chromium(page, workdir / "profile2", "--dump-dom")
    probed_page = workdir / "probed.html"
    probed_page.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    probed = run_chromium(probed_page, workdir / "profile3", "--dump-dom")
    for done in (shown, dumped, probed):
        assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="nestmix-probe">(.*?)</pre>', probed.stdout, re.S)
    assert found, "the probe did not run"
    probe = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    return {"console": console_lines(shown.stderr) + console_lines(dumped.stderr),
            "dom_images": html_tables(dumped.stdout).images, "probe": probe}


def broken_images(probe: dict) -> list[dict]:
    return [i for i in probe["images"] if not i["complete"] or i["width"] == 0]


def test_report_opens_in_headless_chromium(sweep_dir, tmp_path):
    n_figures = len(list((sweep_dir / "report").glob("*.png")))
    assert n_figures > 0
    shot = tmp_path / "report.png"
    seen = browser_check(sweep_dir / "report.html", tmp_path, screenshot=shot)
    assert seen["console"] == []
    image = matplotlib.image.imread(shot)
    assert image.shape[:2] == (4000, 1280)
    assert np.ptp(image[:800, :, :3]) > 0  # the verdict and tables were drawn
    assert len(seen["dom_images"]) == n_figures
    for src in seen["dom_images"]:  # every <img> in the browser's DOM is an embedded PNG
        payload = base64.b64decode(src.removeprefix("data:image/png;base64,"), validate=True)
        assert payload.startswith(PNG_MAGIC)
        assert matplotlib.image.imread(io.BytesIO(payload)).size > 0
    assert len(seen["probe"]["images"]) == n_figures
    assert broken_images(seen["probe"]) == [], "images the browser could not show"
    assert seen["probe"]["requests"] == []
    right, container = seen["probe"]["tables"]["table-evidence"]
    assert right <= container <= 1280, "the evidence table does not fit a 1280 px page"


def test_the_browser_check_sees_broken_images(sweep_dir, tmp_path):
    page = tmp_path / "broken.html"
    text = (sweep_dir / "report.html").read_text()
    text = re.sub(r"data:image/png;base64,[^\"]+", "data:image/png;base64,iVBORw0KGgo=", text,
                  count=1)  # a PNG signature and nothing else
    page.write_text(text.replace("</main>", '<img src="missing.png" alt="gone"></main>'))
    seen = browser_check(page, tmp_path / "check")
    broken = broken_images(seen["probe"])
    assert len(broken) == 2
    assert any(i["src"].startswith("file:") for i in broken)


@pytest.mark.slow
def test_the_readme_galaxy_sweep_report_in_a_browser(tmp_path):
    """Acceptance: the README's own example command (the galaxy sweep) writes a report that
    opens in headless Chromium with every image shown and no console errors."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    first = re.search(r"```bash\n(.*?)\n", readme).group(1)
    example = first.split("&&", 1)[1].strip().split()  # nestmix sweep --example galaxies
    assert example[:2] == ["nestmix", "sweep"]
    done = subprocess.run([sys.executable, "-m", "nestmix.cli", *example[1:],
                           "--out", str(tmp_path / "galaxies")],
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    page = tmp_path / "galaxies" / "report.html"
    seen = browser_check(page, tmp_path / "check", screenshot=tmp_path / "shot.png")
    n_figures = len(list((tmp_path / "galaxies" / "report").glob("*.png")))
    assert n_figures >= 8  # evidence, P(K), predictive, corner, memberships, 4 run plots
    for png in (tmp_path / "galaxies" / "report").glob("*.png"):
        assert matplotlib.image.imread(png).size > 0
    assert seen["console"] == []
    assert len(seen["probe"]["images"]) == n_figures
    assert broken_images(seen["probe"]) == []
    assert seen["probe"]["requests"] == []
    # the priors and the prior sensitivity of the verdict (issue 19)
    text = page.read_text()
    assert "μ ~ Normal(20, 10)" in text and "σ² ~ InvGamma(a = 3, scale = 20)" in text
    assert re.search(r"dynesty, prior sensitivity: the ln Bayes factor of K = \d over K = \d",
                     text)
    assert "Prior sensitivity of the verdict" in text


def test_verdict_when_samplers_put_different_k_ahead(tmp_path):
    """Different best K within errors is a close call, not a disagreement; beyond errors it is."""
    from nestmix.evidence.arithmetic import bayes_factors
    from nestmix.report.tables import verdict

    def sweep(logz_a, logz_b):
        rows = []
        for sampler, logz in (("a", logz_a), ("b", logz_b)):
            ln_bf, ln_bf_err = bayes_factors(logz, [0.3] * len(logz))
            rows += [replace(_row(k, sampler, z, 0.3), ln_bf=float(b), ln_bf_err=float(e))
                     for k, z, b, e in zip((3, 4), logz, ln_bf, ln_bf_err, strict=True)]
        return SweepResult(name="toy", rows=tuple(rows))

    close, _ = verdict(sweep([-226.6, -226.4], [-226.2, -226.9]))
    assert close.startswith("K = 3 and K = 4 are about equally good")
    assert "a puts K = 4 ahead" in close and "b puts K = 3 ahead" in close
    apart, _ = verdict(sweep([-230.0, -226.0], [-224.0, -229.0]))
    assert apart.startswith("The samplers disagree on the best K")



def _census(visited: int, masses: dict[str, float] | None = None) -> dict:
    masses = masses or {c: 1 / visited for c in ("0-1-2", "1-0-2", "2-1-0", "0-2-1",
                                                 "1-2-0", "2-0-1")[:visited]}
    from nestmix.modes.census import _warning
    warning = _warning(3, 6, np.array(sorted(masses.values(), reverse=True)), visited, 600.0)
    return {"k": 3, "exchangeable": True, "expected_copies": 6, "copies_visited": visited,
            "masses": masses, "n_effective": 600.0, "warning": warning}


def test_the_verdict_is_uncertain_when_a_trailing_k_may_be_underestimated_by_more():
    """Issue 19: "K = 2 beats K = 3 by 1.53" above "K = 3: ... evidence low by up to ln K!"
    contradicted itself. A K = 3 that found 2 of its 6 relabellings may be ln 3 = 1.10 nats
    low: more than a ln BF of 0.8 (the verdict says the preference is uncertain, in plain
    words), less than 1.53 (the verdict names K = 2)."""
    from nestmix.evidence.arithmetic import bayes_factors
    from nestmix.report.tables import verdict

    def sweep(logz_k3: float, visited: int) -> SweepResult:
        logz = [-230.0, -226.0, logz_k3]
        ln_bf, ln_bf_err = bayes_factors(logz, [0.1] * 3)
        rows = tuple(replace(_row(k, "dynesty", z, 0.1), ln_bf=float(b), ln_bf_err=float(e),
                             converged=True)
                     for k, z, b, e in zip((1, 2, 3), logz, ln_bf, ln_bf_err, strict=True))
        modes = ({"k": 3, "sampler": "dynesty", "census": _census(visited)},)
        return SweepResult(name="toy", rows=rows, modes=modes)

    headline, details = verdict(sweep(-226.8, 2))
    assert headline.startswith("K = 2 is ahead (ln Bayes factor 0.80 over K = 3), but the "
                               "preference is uncertain: dynesty found only 2 of the 6 "
                               "equivalent relabellings of the K = 3 fit"), headline
    assert "may be too low by up to 1.10 nats (ln 6/2)" in headline
    assert "K = 3 may be as good or better" in headline
    assert "the preference is uncertain" in details[0]
    for text in (headline, *details):
        assert "ln K!" not in text and "census" not in text and "label cop" not in text
    # the terminal table's one-line verdict (what the CLI prints) says so too
    from nestmix.report.table import format_table

    line = next(x for x in format_table(sweep(-226.8, 2)).splitlines()
                if x.startswith("best K = 2"))
    assert "by ln BF = 0.80" in line and "but the preference is uncertain" in line, line
    assert "K = 3 may be as good or better" in line
    # the same shortfall behind a ln BF of 1.53 cannot change the ranking: a plain verdict
    headline, details = verdict(sweep(-227.53, 2))
    assert headline.startswith("The data prefer K = 2 components"), headline
    assert "uncertain" not in headline and "uncertain" not in details[0]
    assert "uncertain" not in format_table(sweep(-227.53, 2))
    # all six found with equal shares: nothing to say
    assert "uncertain" not in verdict(sweep(-226.8, 6))[0]


def test_the_relabelling_warning_is_in_plain_words_with_its_number():
    from nestmix.modes.census import possible_shortfall

    census = _census(2)
    assert census["warning"] == (
        "the sampler found only 2 of the 6 equivalent relabellings of the K = 3 fit (the same "
        "fit with the components' labels permuted, which must hold equal shares), so its ln Z "
        "may be too low by up to 1.10 nats (ln 6/2)")
    assert possible_shortfall(census) == pytest.approx(np.log(3))
    uneven = _census(5, {"0-1-2": 0.6, "1-0-2": 0.1, "2-1-0": 0.1, "0-2-1": 0.1, "1-2-0": 0.1})
    assert "too low by up to 1.28 nats (ln of 6 × 0.60, the largest share found)" in \
        uneven["warning"]
    assert possible_shortfall(uneven) == pytest.approx(np.log(3.6))
    assert possible_shortfall({**census, "warning": None}) == 0.0
    # all six found, in unequal shares: no warning and no shortfall (a nested sampler's copies
    # drift once they separate; ln Z stays right), also for a census an older nestmix stored
    # with a warning
    lopsided = _census(6, {"0-1-2": 0.5, "1-0-2": 0.1, "2-1-0": 0.1, "0-2-1": 0.1,
                           "1-2-0": 0.1, "2-0-1": 0.1})
    assert lopsided["warning"] is None
    assert possible_shortfall({**lopsided, "warning": "stored by nestmix 0.1"}) == 0.0


# ------------------------------------------------------------------ priors and sensitivity
def test_the_report_shows_the_priors_in_words(sweep_dir):
    with open(sweep_dir / "priors.csv", newline="") as handle:
        rows = {r["parameter"]: r for r in csv.DictReader(handle)}
    assert rows["μ"]["prior"] == "μ ~ Normal(20, 10)"
    assert rows["σ²"]["prior"] == "σ² ~ InvGamma(a = 3, scale = 20)"
    assert rows["weights w"]["prior"] == "weights w ~ Dirichlet(α = 1)"  # the model's default
    for name in ("report.md", "report.html"):
        text = (sweep_dir / name).read_text()
        assert "μ ~ Normal(20, 10)" in text and "Prior sensitivity of the verdict" in text


def test_no_best_k_is_named_when_a_row_deciding_the_verdict_could_not_be_checked():
    """Issue 31 item 4, for a sweep of one model as for a grid: the best K, or a contender
    close enough to change the verdict, without a second estimate of its ln Z makes the
    verdict say that no best K can be named and advise more seeds; an unchecked K far behind
    does not."""
    from nestmix.evidence.arithmetic import bayes_factors
    from nestmix.report.tables import verdict

    def sweep(unchecked: tuple[int, ...]) -> SweepResult:
        logz = [-260.0, -227.5, -226.0]
        ln_bf, ln_bf_err = bayes_factors(logz, [0.2] * 3)
        rows = tuple(replace(_row(k, "dynesty", z, 0.2), ln_bf=float(b), ln_bf_err=float(e),
                             converged=True, best_logl=-200.0,
                             crosscheck_z=None if k in unchecked else 0.4)
                     for k, z, b, e in zip((1, 2, 3), logz, ln_bf, ln_bf_err, strict=True))
        return SweepResult(name="toy", rows=rows)

    assert verdict(sweep(()))[0].startswith("The data prefer K = 3 components")
    assert verdict(sweep((1,)))[0].startswith("The data prefer K = 3 components")  # far behind
    for unchecked in ((3,), (2,)):  # the best; a contender 1.5 nats behind
        headline = verdict(sweep(unchecked))[0]
        assert headline.startswith(f"No best K can be named: the ln Z of K = {unchecked[0]} "
                                   "could not be checked"), headline
        assert "dynesty puts K = 3 ahead on the nested sampler's ln Z alone" in headline
        assert "more seeds (`sweep.repeats`" in headline


def test_prior_sensitivity_of_the_verdict_reweights_the_stored_runs(sweep_dir, summary):
    """The table's ln BF under scaled priors is the two runs' ln Z shifted by
    nestmix.evidence.sensitivity, and the verdict says whether the preferred K survives."""
    from nestmix.evidence.sensitivity import prior_sensitivity
    from nestmix.store.archive import open_sweep

    archive = open_sweep(sweep_dir)
    ranked = sorted(summary["rows"], key=lambda r: r["logZ"], reverse=True)
    best, runner = ranked[0], ranked[1]
    with open(sweep_dir / "prior_sensitivity.csv", newline="") as handle:
        table = {float(r["factor"]): r for r in csv.DictReader(handle)}
    assert set(table) == {1.0, 2.0, 0.5}
    assert float(table[1.0]["ln_bf"]) == pytest.approx(best["logZ"] - runner["logZ"])
    survives = []
    for factor in (2.0, 0.5):
        shifted = {}
        for row in summary["rows"]:
            run = archive.run(row["k"], "dynesty")
            shifted[row["k"]] = prior_sensitivity(archive.model(row["k"]), run.samples,
                                                  run.weights, row["logZ"], factor)
        line = table[factor]
        assert (int(line["best_k"]), int(line["runner_k"])) == (best["k"], runner["k"])
        assert float(line["ln_bf"]) == pytest.approx(
            shifted[best["k"]].logz - shifted[runner["k"]].logz)
        assert float(line["ess_best"]) == pytest.approx(shifted[best["k"]].n_effective)
        # the preferred K is named among the K whose reweighted sample is reliable only
        trusted = [k for k in shifted if shifted[k].reliable]
        assert int(line["preferred_k"]) == (
            max(trusted, key=lambda k: shifted[k].logz) if trusted else best["k"])
        if factor == 2.0:  # wider mean and scale priors cost each extra component volume
            assert float(line["ln_bf"]) < float(table[1.0]["ln_bf"]) - 1.0
        survives.append(int(line["preferred_k"]) == best["k"] and line["reliable"] == "true")
    text = (sweep_dir / "report.md").read_text()
    sentence = next(s for s in text.splitlines() if "prior sensitivity" in s)
    assert f"K = {best['k']} over K = {runner['k']}" in sentence
    assert ("stays preferred under both" in sentence) == all(survives)


def test_sensitivity_verdict_says_when_the_choice_depends_on_the_priors():
    from nestmix.report.priors import SensitivityRow, describe_prior, sensitivity_verdict

    rows = [SensitivityRow("dynesty", 1.0, 3, 2, 1.2, 500, 400, True, 3),
            SensitivityRow("dynesty", 2.0, 3, 2, -0.4, 300, 350, True, 2),
            SensitivityRow("dynesty", 0.5, 3, 2, 1.9, 40, 380, False, 3)]
    (line,) = sensitivity_verdict(rows)
    assert "With priors twice as wide K = 2 would be preferred" in line
    assert "the choice of K = 3 depends on the priors" in line
    assert "priors half as wide leave only 40 effective samples (below 100)" in line
    assert "Out of reweighting's reach" in line
    assert "stays preferred" not in line
    assert describe_prior({"dist": "uniform", "loc": -3, "scale": 6}) == "Uniform(-3, 3)"
    assert describe_prior({"dist": "loguniform", "a": 0.1, "b": 5}) == "LogUniform(0.1, 5)"
    assert describe_prior([{"dist": "norm", "loc": 0, "scale": 1}, 2.0]) == (
        "Normal(0, 1); fixed at 2")


def test_sensitivity_verdict_names_no_preferred_k_out_of_reweightings_reach():
    """When neither scaled prior leaves a reliable reweighted sample, no K is named as
    preferred under them: the sentence says the factors are out of reach."""
    from nestmix.report.priors import SensitivityRow, sensitivity_verdict

    rows = [SensitivityRow("dynesty", 1.0, 5, 4, 0.8, 500, 400, True, 5),
            SensitivityRow("dynesty", 2.0, 5, 4, -3.1, 12, 30, False, 5),
            SensitivityRow("dynesty", 0.5, 5, 4, 2.2, 8, 90, False, 5)]
    (line,) = sensitivity_verdict(rows)
    assert "Neither is within reweighting's reach" in line
    assert "would be preferred" not in line and "stays preferred" not in line
    assert "priors twice as wide leave only 12 effective samples" in line
    assert "priors half as wide leave only 8 effective samples" in line


# ----------------------------------------------------------------- outputs to take away
def test_memberships_csv_assigns_each_point_to_a_component_of_the_best_k(sweep_dir, summary):
    best = max(summary["rows"], key=lambda r: r["logZ"])["k"]
    with open(sweep_dir / "memberships_dynesty.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    names = [str(j) for j in range(1, best + 1)]
    from nestmix.store.archive import open_sweep

    stored = open_sweep(sweep_dir).analysis(best, "dynesty")[1]["membership_mean"]
    for i, row in enumerate(rows):
        p = np.array([float(row[f"K{best}_p_{n}"]) for n in names])
        assert p == pytest.approx(stored[i], abs=1e-12) and p.sum() == pytest.approx(1.0)
        assert row[f"K{best}_label"] == names[int(np.argmax(p))]
        assert float(row[f"K{best}_p_label"]) == pytest.approx(p.max())
    assert len({row[f"K{best}_label"] for row in rows}) > 1
    assert f"component (K={best})" in (sweep_dir / "report.html").read_text()


def test_relabelled_posterior_csv_per_run_linked_from_the_report(sweep_dir, summary):
    from nestmix.posterior.exports import relabelled
    from nestmix.store.archive import open_sweep

    archive = open_sweep(sweep_dir)
    page, markdown = ((sweep_dir / n).read_text() for n in ("report.html", "report.md"))
    for row in summary["rows"]:
        name = f"K={row['k']}/dynesty/posterior.csv"
        with open(sweep_dir / name, newline="") as handle:
            table = list(csv.DictReader(handle))
        posterior = relabelled(archive, row["k"], "dynesty")
        assert list(table[0]) == ["weight", "logL", *posterior.columns]
        weights = np.array([float(r["weight"]) for r in table])
        assert weights.sum() == pytest.approx(1.0)
        mean = {c: np.dot(weights, [float(r[c]) for r in table]) for c in posterior.columns}
        assert mean[f"mu_{row['k']}"] == pytest.approx(
            np.dot(posterior.weights, posterior.values[:, posterior.columns.index(
                f"mu_{row['k']}")]))
        assert f'href="K%3D{row["k"]}/dynesty/posterior.csv"' in page
        assert f"]({'K%3D'}{row['k']}/dynesty/posterior.csv)" in markdown
    for table in ("evidence", "modes", "priors", "prior_sensitivity", "memberships_dynesty"):
        assert f'href="{table}.csv"' in page


def test_to_anesthetic_is_relabelled_with_latex_labels(sweep_dir, summary):
    from nestmix.posterior.exports import to_anesthetic
    from nestmix.posterior.predictive import component_parameter_table
    from nestmix.store.archive import open_sweep

    archive = open_sweep(sweep_dir)
    k = max(summary["rows"], key=lambda r: r["logZ"])["k"]
    samples = to_anesthetic(sweep_dir, k, "dynesty")  # a directory or an opened sweep
    run = archive.run(k, "dynesty")
    assert dict(zip(samples.columns.get_level_values(0), samples.get_labels(), strict=True))[
        "mu_1"] == r"$\mu_{1}$"
    relabelled = archive.analysis(k, "dynesty")[1]["relabelled_samples"]
    values, names, _ = component_parameter_table(archive.model(k), relabelled)
    order = np.argsort(run.logl, kind="stable")
    assert samples["mu_1"].to_numpy() == pytest.approx(values[order, names.index("mu_1")])
    raw, _, _ = component_parameter_table(archive.model(k), run.samples)
    assert not np.allclose(values, raw)  # some samples were in another labelling
    logz = samples.logZ(200)
    assert abs(logz.mean() - run.logz) < 3 * max(logz.std(), run.logz_err)


def test_to_arviz_and_a_clear_error_without_arviz(sweep_dir, summary, monkeypatch):
    from nestmix.errors import NestmixError
    from nestmix.posterior.exports import relabelled, to_arviz
    from nestmix.store.archive import open_sweep

    archive = open_sweep(sweep_dir)
    k = max(summary["rows"], key=lambda r: r["logZ"])["k"]
    posterior = relabelled(archive, k, "dynesty")
    data = to_arviz(archive, k, "dynesty", draws=2000)
    assert set(data.posterior.data_vars) == set(posterior.columns)
    assert data.posterior["mu_1"].shape == (1, 2000)
    assert data.posterior["sigma_1"].attrs["label"] == r"$\sigma_{1}$"
    assert data.attrs["K"] == k and data.attrs["logZ"] == pytest.approx(posterior.logz)
    for j, name in enumerate(posterior.columns):
        mean = np.dot(posterior.weights, posterior.values[:, j])
        spread = np.sqrt(np.dot(posterior.weights, (posterior.values[:, j] - mean) ** 2))
        assert float(data.posterior[name].mean()) == pytest.approx(mean, abs=0.05 * spread)
    monkeypatch.setitem(sys.modules, "arviz", None)
    with pytest.raises(NestmixError, match=r"to_arviz needs ArviZ: pip install arviz"):
        to_arviz(archive, k, "dynesty")


@pytest.mark.slow  # a PolyChord sweep, K = 1, 2: ~30 s
def test_the_settings_line_shows_the_values_each_sampler_ran_with(tmp_path):
    """PolyChord's live points default to 25 × ndim: the report shows the numbers its runs
    used at each K (from their run.json), never ``nlive = None``."""
    from nestmix.samplers.polychord import install_polychord

    install_polychord(progress=lambda line: None)
    path = resources.files("nestmix.examples") / "galaxies_roeder1990.txt"
    data = nestmix.load_measurements(str(path), scale=0.001)
    plan = SweepPlan(name="galaxies", data=data, spec=ModelSpec(priors=GALAXY_PRIORS),
                     k_values=(1, 2), sampler="polychord",
                     settings={"polychord": {"num_repeats": 2}}, seed=1, escalate=0)
    run_sweep(plan, tmp_path / "g", n_jobs=1)
    write_report(tmp_path / "g")
    text = (tmp_path / "g" / "report.md").read_text()
    line = next(s for s in text.splitlines() if "sampler polychord" in s).replace("\\_", "_")
    assert "None" not in line
    ndims = {k: nestmix.ModelSpec(priors=GALAXY_PRIORS).build(data, k).ndim for k in (1, 2)}
    assert f"nlive = {25 * ndims[1]} (K = 1), {25 * ndims[2]} (K = 2)" in line
    assert "num_repeats = 2" in line
