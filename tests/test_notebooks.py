"""The science notebooks run top to bottom, reproduce their key numbers, and are committed with
outputs that show those same numbers.

The notebooks are committed executed (figures included) for readers of the repository and of the
documentation site; ``notebooks/execute.py`` executes them (``python notebooks/execute.py``
writes the outputs back). The slow tests here execute an in-memory copy of each with nbclient in
a ``python3`` kernel of this interpreter, assert on the ``RESULTS`` line each notebook prints, and
check that the committed outputs print the same numbers (wall times aside): a notebook edited
without being executed again, or code that changes the numbers, fails here. The quick checks
below them keep the committed notebooks complete and the harness honest.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
_spec = importlib.util.spec_from_file_location("notebook_executor", NOTEBOOKS / "execute.py")
executor = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(executor)
NOTEBOOK_FILES = executor.NOTEBOOK_FILES


def run_notebook(name: str, runs: Path) -> dict:
    """Execute ``notebooks/<name>`` in memory, check that the committed outputs show the same
    ``RESULTS``, and return them."""
    committed = nbformat.read(NOTEBOOKS / name, as_version=4)
    executed = executor.execute(nbformat.read(NOTEBOOKS / name, as_version=4), runs)
    results = executor.results_of(executed)
    stale = executor.differences(executor.results_of(committed), results)
    assert not stale, (f"{name}: the committed outputs are out of date (run "
                       f"`python notebooks/execute.py {name}`): " + "; ".join(stale))
    return results


def within(value: float, sd: float, reference: float, reference_sd: float = 0.0,
           n_sigma: float = 3.0) -> bool:
    return abs(value - reference) <= n_sigma * float(np.hypot(sd, reference_sd))


@pytest.mark.slow
def test_line_outliers_notebook_reproduces_the_published_fit(tmp_path):
    results = run_notebook("line_outliers.ipynb", tmp_path)
    for key in ("m", "b"):
        (mean, sd), (published, published_sd) = results[key], results[f"published_{key}"]
        assert within(mean, sd, published, published_sd), (key, results[key], published)
    assert results["n_true_outliers"] == 8
    assert results["outliers_found"] >= 7
    assert results["inliers_flagged"] <= 2
    assert results["ln_bf"] - 3 * results["ln_bf_err"] > 5  # decisive for the outlier population
    assert results["shrinkage_unchanged"]  # custom components: no shrinkage, as the notebook says


@pytest.mark.slow
def test_deconvolution_notebook_prefers_two_components_and_recovers_them(tmp_path):
    results = run_notebook("deconvolution.ipynb", tmp_path)
    assert any(tmp_path.glob("deconvolution/K=2/dynesty")), "the sweep ran outside tmp_path"
    assert results["noisy_density_modes"] == 1  # the noisy histogram shows one bump
    assert results["best_k"] == 2
    assert results["ln_bf_2_vs_1"] > 5
    for name in ("means", "widths", "weights"):
        for (value, sd), true in zip(results[name], results[f"true_{name}"], strict=True):
            assert within(value, sd, true), (name, value, sd, true)
    assert results["shrunk_rms_error"] < results["raw_rms_error"]


@pytest.mark.slow
def test_galaxies_notebook_needs_three_to_five_components_and_the_samplers_agree(tmp_path):
    results = run_notebook("galaxies.ipynb", tmp_path)
    assert any(tmp_path.glob("galaxies-unequal/K=4/polychord")), "the sweep ran outside tmp_path"
    assert len(results["logz_unequal"]) == len(results["logz_equal"]) == 6
    assert results["best_k_unequal"] in (3, 4, 5)  # Roeder & Wasserman; Richardson & Green: 3-6
    assert results["ln_bf_k1_vs_best_unequal"] < -10  # one component is decisively too few
    assert len(results["dynesty_polychord_sigma"]) == len(results["polychord_k"]) >= 3
    assert max(results["dynesty_polychord_sigma"]) < 3
    assert isinstance(results["bic_k"], int) and 1 <= results["bic_k"] <= 6


@pytest.mark.slow
def test_star_cluster_notebook_recovers_ngc6819(tmp_path):
    results = run_notebook("star_cluster.ipynb", tmp_path)
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
def test_committed_notebooks_are_executed_and_end_with_their_results(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1)), \
        f"{name} is not committed executed top to bottom: run `python notebooks/execute.py {name}`"
    assert not any(output.get("output_type") == "error" for cell in code for output in cell.outputs)
    figures = sum("image/png" in output.get("data", {}) for cell in code for output in cell.outputs)
    assert figures >= 2, f"{name} shows {figures} figures"
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    assert 'print("RESULTS:", json.dumps(RESULTS))' in code[-1].source
    assert executor.results_of(notebook)  # exactly one RESULTS line, valid JSON


def test_results_comparison_catches_a_changed_number_and_ignores_wall_time():
    committed = {"logz": [-1.0, -2.5], "best_k": 2, "seconds": 10.0, "ok": True}
    assert executor.differences(committed, {**committed, "seconds": 99.0}) == []
    assert executor.differences(committed, {**committed, "logz": [-1.0, -2.6]}) == [
        ".logz[1]: committed -2.5, now -2.6"]
    assert executor.differences(committed, {**committed, "ok": False})
    assert executor.differences(committed, {"logz": [-1.0]})


def test_notebook_kernel_is_this_interpreter(tmp_path):
    probe = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os, sys; print(sys.executable); print(os.getcwd()); "
        "print(os.environ['NESTMIX_NOTEBOOK_RUNS'])")])
    out = executor.stdout_of(executor.execute(probe, tmp_path)).splitlines()
    assert Path(out[0]).resolve() == Path(sys.executable).resolve()
    assert Path(out[1]).resolve() == NOTEBOOKS.resolve()
    assert Path(out[2]) == tmp_path
