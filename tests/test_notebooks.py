"""The science notebooks run top to bottom and reproduce their key numbers.

Each notebook is read into memory and executed with nbclient in a ``python3`` kernel (this
interpreter: jupyter_client starts ``python`` kernelspecs with ``sys.executable``) with
``notebooks/`` as the working directory; the executed copy is never written back. Every notebook
ends by printing its key numbers as JSON on a line starting with ``RESULTS:``, and the tests
assert on those. The executions are ``slow`` (minutes each; CI runs them with ``pytest -m slow``);
the quick checks below them keep the committed notebooks clean and the harness honest.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbclient  # the test extra installs both
import nbformat
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SHARED_DATA = ROOT.parent / "shared" / "data"
CELL_TIMEOUT = 600  # seconds per cell; each notebook as a whole runs in well under 5 minutes
NOTEBOOK_FILES = ("line_outliers.ipynb", "deconvolution.ipynb", "galaxies.ipynb",
                  "star_cluster.ipynb")


def execute(notebook, monkeypatch: pytest.MonkeyPatch, runs: Path | None = None):
    """Execute an in-memory notebook in ``notebooks/`` and return the executed copy.

    ``runs`` is where the notebook may write sweep directories (``NESTMIX_NOTEBOOK_RUNS``).
    """
    monkeypatch.setenv("NESTMIX_SHARED_DATA", str(SHARED_DATA))
    if runs is not None:
        monkeypatch.setenv("NESTMIX_NOTEBOOK_RUNS", str(runs))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws figures
    client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    return client.execute()


def stdout_of(notebook) -> str:
    return "".join(output.get("text", "") for cell in notebook.cells
                   if cell.cell_type == "code" for output in cell.get("outputs", [])
                   if output.get("output_type") == "stream" and output.get("name") == "stdout")


def run_notebook(name: str, monkeypatch: pytest.MonkeyPatch, runs: Path) -> dict:
    """Execute ``notebooks/<name>`` (never writing it back) and return its ``RESULTS``."""
    notebook = execute(nbformat.read(NOTEBOOKS / name, as_version=4), monkeypatch, runs)
    lines = [line for line in stdout_of(notebook).splitlines() if line.startswith("RESULTS:")]
    assert len(lines) == 1, f"{name} printed {len(lines)} RESULTS lines"
    return json.loads(lines[0].removeprefix("RESULTS:"))


def within(value: float, sd: float, reference: float, reference_sd: float = 0.0,
           n_sigma: float = 3.0) -> bool:
    return abs(value - reference) <= n_sigma * float(np.hypot(sd, reference_sd))


@pytest.mark.slow
def test_line_outliers_notebook_reproduces_the_published_fit(monkeypatch, tmp_path):
    assert (SHARED_DATA / "line_outliers.csv").exists(), f"../shared/data missing: {SHARED_DATA}"
    results = run_notebook("line_outliers.ipynb", monkeypatch, tmp_path)
    for key in ("m", "b"):
        (mean, sd), (published, published_sd) = results[key], results[f"published_{key}"]
        assert within(mean, sd, published, published_sd), (key, results[key], published)
    assert results["n_true_outliers"] == 8
    assert results["outliers_found"] >= 7
    assert results["inliers_flagged"] <= 2
    assert results["ln_bf"] - 3 * results["ln_bf_err"] > 5  # decisive for the outlier population
    assert results["shrinkage_unchanged"]  # custom components: no shrinkage, as the notebook says
    assert results["seconds"] < 300


@pytest.mark.slow
def test_deconvolution_notebook_prefers_two_components_and_recovers_them(monkeypatch, tmp_path):
    results = run_notebook("deconvolution.ipynb", monkeypatch, tmp_path)
    assert any(tmp_path.glob("deconvolution/K=2/dynesty")), "the sweep ran outside tmp_path"
    assert results["noisy_density_modes"] == 1  # the noisy histogram shows one bump
    assert results["best_k"] == 2
    assert results["ln_bf_2_vs_1"] > 5
    for name in ("means", "widths", "weights"):
        for (value, sd), true in zip(results[name], results[f"true_{name}"], strict=True):
            assert within(value, sd, true), (name, value, sd, true)
    assert results["shrunk_rms_error"] < results["raw_rms_error"]
    assert results["seconds"] < 300


@pytest.mark.slow
def test_galaxies_notebook_needs_three_to_five_components_and_the_samplers_agree(monkeypatch,
                                                                                 tmp_path):
    results = run_notebook("galaxies.ipynb", monkeypatch, tmp_path)
    assert any(tmp_path.glob("galaxies-unequal/K=4/polychord")), "the sweep ran outside tmp_path"
    assert len(results["logz_unequal"]) == len(results["logz_equal"]) == 6
    assert results["best_k_unequal"] in (3, 4, 5)  # Roeder & Wasserman; Richardson & Green: 3-6
    assert results["ln_bf_k1_vs_best_unequal"] < -10  # one component is decisively too few
    assert len(results["dynesty_polychord_sigma"]) == len(results["polychord_k"]) >= 3
    assert max(results["dynesty_polychord_sigma"]) < 3
    assert isinstance(results["bic_k"], int) and 1 <= results["bic_k"] <= 6
    assert results["seconds"] < 300


@pytest.mark.slow
def test_star_cluster_notebook_recovers_ngc6819(monkeypatch, tmp_path):
    results = run_notebook("star_cluster.ipynb", monkeypatch, tmp_path)
    assert any(tmp_path.glob("star-cluster/K=4/dynesty")), "the sweep ran outside tmp_path"
    assert results["n_stars"] == 15_000 and results["k_field"] == [1, 2, 3, 4]
    # the cluster's proper motion, internal dispersion, weight and parallax: the simulator's truth
    for key, truth in [("cluster_pmra", results["true_pm"][0]),
                       ("cluster_pmdec", results["true_pm"][1]),
                       ("cluster_pm_dispersion", results["true_pm_dispersion"]),
                       ("w_cluster", results["member_fraction_fit"]),
                       ("cluster_parallax", results["true_parallax"])]:
        mean, sd = results[key]
        assert within(mean, sd, truth), (key, mean, sd, truth)
    assert results["cluster_pmra"][1] < 0.03 and results["cluster_parallax"][1] < 0.01
    for k, (pmra, pmdec) in results["cluster_pm_by_k"].items():  # whatever the field needs
        if int(k) >= 2:  # (one field Gaussian takes the narrow component for its core)
            assert within(*pmra, results["true_pm"][0]) and within(*pmdec, results["true_pm"][1])
    # K_field: the non-Gaussian field needs three or four Gaussians; one or two decisively fail
    assert results["best_k_field"] in (3, 4)
    assert max(results["logz"][:2]) < max(results["logz"]) - 10
    # memberships of all 15 000 stars against the simulation's truth
    assert results["purity"] > 0.8 and results["completeness"] > 0.9
    assert abs(results["expected_members"] / results["n_true_members"] - 1) < 0.15
    assert results["n_candidates"] == results["n_selected"]
    # shrinkage pulls the members' proper motions and parallaxes towards their true values
    assert results["pm_shrunk_rms_members"] < 0.6 * results["pm_raw_rms_members"]
    assert results["plx_shrunk_rms_members"] < 0.2 * results["plx_raw_rms_members"]
    assert results["pm_shrunk_rms_field"] < results["pm_raw_rms_field"]
    assert results["quadrature_error"] < 1e-3


@pytest.mark.parametrize("name", NOTEBOOK_FILES)
def test_committed_notebooks_are_clean_and_end_with_their_results(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code), \
        f"{name} is committed with outputs; clear them"
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    assert 'print("RESULTS:", json.dumps(RESULTS))' in code[-1].source


def test_notebook_kernel_is_this_interpreter(monkeypatch):
    probe = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os, sys; print(sys.executable); print(os.getcwd())")])
    out = stdout_of(execute(probe, monkeypatch)).splitlines()
    assert Path(out[0]).resolve() == Path(sys.executable).resolve()
    assert Path(out[1]).resolve() == NOTEBOOKS.resolve()
