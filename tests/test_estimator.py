"""nestmix.NestedGaussianMixture: the scikit-learn-style estimator, on real sampler runs."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nestmix import NestedGaussianMixture
from nestmix.errors import ConfigError, DataError, ModelError, SamplerError
from nestmix.estimator import InvalidParameterError
from nestmix.estimator_input import check_k


def two_groups(seed: int = 0, n: int = 80) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(-3.0, 0.5, n // 2), rng.normal(3.0, 0.5, n - n // 2)])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    directory = tmp_path_factory.mktemp("estimator")
    x = two_groups()
    gm = NestedGaussianMixture(k=[1, 2], covariance="full", background="none",
                               sampler_settings={"nlive": 80}, n_jobs=2, directory=directory)
    return gm.fit(x), x


def test_one_dimensional_groups_give_two_components_at_the_true_means(fitted):
    gm, x = fitted
    assert gm.best_k_ == 2 and gm.best_model_ == {"covariance": "full", "background": "none"}
    table = gm.evidence_
    assert list(table["k"]) == [2, 1] and table["ln_bf"].iloc[1] < -20
    np.testing.assert_allclose(table["p"].sum(), 1.0)
    assert gm.means_.shape == (2, 1) and gm.covariances_.shape == (2, 1, 1)
    # relabelled: component 1 is the lower mean; each within 4 posterior sd of the sample mean
    for mean, sd, group in zip(gm.means_[:, 0], gm.means_std_[:, 0], (x[:40], x[40:]),
                               strict=True):
        assert abs(mean - group.mean()) < 4 * sd + 0.05
    np.testing.assert_allclose(gm.weights_, [0.5, 0.5], atol=0.15)
    np.testing.assert_allclose(np.sqrt(gm.covariances_[:, 0, 0]), [0.5, 0.5], rtol=0.4)
    assert gm.component_names_ == ("1", "2")
    assert gm.n_features_in_ == 1 and not hasattr(gm, "feature_names_in_")  # as sklearn's


def test_predictions_follow_the_fitted_mixture(fitted):
    gm, x = fitted
    proba = gm.predict_proba(x)
    assert proba.shape == (80, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.all(gm.predict(x) == (x > 0))
    # score_samples is the mixture density averaged over the posterior draws (scipy here)
    draws = gm._params
    dens = np.mean([sum(w * stats.norm.pdf(x, m, np.sqrt(c)) for w, m, c in zip(
        draws.weights[s], draws.means[s, :, 0], draws.covariances[s, :, 0, 0], strict=True))
        for s in range(len(draws.weights))], axis=0)
    np.testing.assert_allclose(gm.score_samples(x), np.log(dens), rtol=1e-9)
    assert gm.score_samples(np.array([0.0]))[0] < gm.score_samples(np.array([3.0]))[0]
    points, labels = gm.sample(2000, random_state=0)
    assert points.shape == (2000, 1) and set(labels) == {0, 1}
    assert abs(np.mean(points[labels == 1]) - gm.means_[1, 0]) < 0.1


def test_fitting_again_reuses_the_runs(fitted, capsys):
    gm, x = fitted
    again = NestedGaussianMixture(**{**gm.get_params(), "verbose": 1}).fit(x)
    pd.testing.assert_frame_equal(again.evidence_, gm.evidence_)
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if "reused finished run" in line] \
        and not [line for line in lines if "started" in line], lines
    assert lines[-1] == f"best: K = 2, full (P = {gm.evidence_['p'].iloc[0]:.3g})"
    assert again.directory_ == gm.directory_ == gm.directory


def test_default_directory_leaves_nothing_behind_and_prints_nothing(tmp_path, monkeypatch,
                                                                    capfd):
    """directory=None: the runs go to a temporary directory, removed when fit returns (the
    fitted estimator keeps what it needs); verbose=0 prints nothing, workers included."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    x = two_groups(seed=1)
    gm = NestedGaussianMixture(k=[1, 2], covariance=["full", "tied"],
                               sampler_settings={"nlive": 30}, n_jobs=2, n_draws=50).fit(x)
    assert list(tmp_path.iterdir()) == [] and gm.directory_ is None
    assert len(gm.evidence_) == 4 and gm.predict_proba(x).shape == (80, gm.best_k_)
    assert capfd.readouterr() == ("", "")


def test_verbose_shows_the_runs_as_the_cli_does(capsys):
    gm = NestedGaussianMixture(k=1, covariance="full", sampler_settings={"nlive": 20},
                               n_jobs=1, n_draws=20, verbose=1).fit(two_groups())
    lines = capsys.readouterr().out.splitlines()
    # the cost estimate first, as `nestmix sweep` prints it (issue 32 item 3)
    assert lines[0] == ("cost: 1 run, under a minute on 1 core (estimated from a pilot of the "
                        "likelihood)"), lines
    assert "K=1 dynesty: started (seed " in lines[2], lines
    assert re.fullmatch(r"K=1 dynesty: logZ = -\d+\.\d\d ± \d\.\d\d .*\[1/1 to run done\]",
                        lines[3]), lines
    assert lines[-1] == "best: K = 1, full (P = 1)" and gm.best_k_ == 1


def test_above_max_minutes_the_fit_refuses_in_one_line_before_anything_runs(tmp_path):
    """The default grid (4 covariance models × K = 1..4) on 2-D points, with a limit below its
    estimate: refused with the estimate and how to narrow the grid, nothing written; the same
    estimator with max_minutes=0 (no limit) passes the check (checked without running it)."""
    x = np.random.default_rng(3).normal(size=(200, 2))
    runs = tmp_path / "runs"
    gm = NestedGaussianMixture(max_minutes=0.0001, n_jobs=2, directory=runs)
    with pytest.raises(ConfigError) as caught:
        gm.fit(x)
    error = caught.value
    assert error.key == "max_minutes" and "\n" not in str(error)
    assert re.match(r"^max_minutes: up to 16 runs, (under a minute|about [\d.]+ (minutes?|hours))"
                    r" on 2 cores, above the limit of 0.0001 minutes: narrow the grid \(k, "
                    r"covariance, ", str(error)), str(error)
    assert str(error).endswith("fit a random subsample of the rows, or raise max_minutes "
                               "(0: no limit)")
    assert not runs.exists() and not hasattr(gm, "evidence_")
    from nestmix.estimator_input import check_k

    unlimited = gm.set_params(max_minutes=0)
    plan = unlimited._plan(unlimited._measurements(x, None, None, fitting=True),
                           check_k(unlimited.k))
    unlimited._check_cost(plan, 2)  # no limit, not verbose: nothing estimated, nothing raised


def test_defaults_are_the_zero_config_grid(tmp_path):
    """The estimator's default grid and settings are those of `nestmix sweep points.csv`."""
    from nestmix.data.measurements import Measurements
    from nestmix.sweep.config import plan_from_mapping
    from nestmix.sweep.zeroconf import config_for_data

    rng = np.random.default_rng(2)
    for values in (two_groups(), rng.normal(size=(60, 2)), rng.normal(size=(60, 3))):
        table = pd.DataFrame(values.reshape(len(values), -1))
        table.columns = [f"c{i}" for i in range(table.shape[1])]
        table.to_csv(tmp_path / "points.csv", index=False)
        cli, _ = plan_from_mapping(config_for_data(tmp_path / "points.csv", base=tmp_path),
                                   base=tmp_path)
        gm = NestedGaussianMixture()
        ours = gm._plan(Measurements.from_arrays(values, columns=list(table.columns)),
                        check_k(gm.k))
        assert ours.k_values == cli.k_values == (1, 2, 3, 4)
        assert [(s.covariance, s.background) for s in ours.specs] == \
            [(s.covariance, s.background) for s in cli.specs]
        assert [s.priors for s in ours.specs] == [s.priors for s in cli.specs]
        assert ours.settings_for("dynesty") == cli.settings_for("dynesty")
        # 50 live points, 80 where K = 4 full covariances in 3-D have 39 parameters
        three_d = values.ndim == 2 and values.shape[1] == 3
        assert ours.settings_for("dynesty")["nlive"] == (80 if three_d else 50)
        assert (ours.seed, ours.escalate, ours.repeats) == (cli.seed, cli.escalate, cli.repeats)


@pytest.mark.parametrize("params, key, what", [
    ({"n_jobs": 0}, "n_jobs", "must be a positive integer"),
    ({"n_jobs": 1.5}, "n_jobs", "must be a positive integer"),
    ({"n_draws": 0}, "n_draws", "must be an integer >= 1"),
    ({"n_draws": -5}, "n_draws", "must be an integer >= 1"),
    ({"k": 2.5}, "k", "must be an integer >= 1 or a list of them, got 2.5"),
    ({"k": [0, 1]}, "k", "must be an integer >= 1"),
    ({"k": "3"}, "k", "must be an integer >= 1"),
    ({"priors": "x"}, "priors", "must be a mapping"),
    ({"sampler_settings": 100}, "sampler_settings", "must be a mapping"),
    ({"covariance": "banana"}, "covariance", "must be 'auto' or some of"),
    ({"background": 1}, "background", "must be 'auto' or some of"),
    ({"seed": -1}, "seed", "must be an integer >= 0"),
    ({"verbose": "yes"}, "verbose", "must be an integer >= 0"),
    ({"directory": 3}, "directory", "must be a path"),
    ({"max_minutes": -1}, "max_minutes", "must be a number of minutes >= 0 (0: no limit)"),
    ({"max_minutes": "30"}, "max_minutes", "must be a number of minutes >= 0"),
    ({"max_minutes": True}, "max_minutes", "must be a number of minutes >= 0"),
    ({"max_minutes": float("inf")}, "max_minutes", "got inf"),
])
def test_bad_parameters_are_one_line_before_anything_runs(tmp_path, params, key, what):
    runs = tmp_path / "runs"
    with pytest.raises(InvalidParameterError) as caught:
        NestedGaussianMixture(**{"directory": runs, **params}).fit(two_groups())
    error = caught.value
    assert isinstance(error, ValueError) and isinstance(error, TypeError)  # as sklearn's
    assert isinstance(error, ConfigError) and error.key == key
    assert str(error).startswith(f"{key}: ") and what in str(error) and "\n" not in str(error)
    assert not runs.exists()  # refused before the fit made anything


def test_unknown_sampler_priors_and_settings_are_refused_before_the_runs(tmp_path):
    runs = tmp_path / "runs"
    for params, kind, what in [({"sampler": "emcee"}, SamplerError, "unknown sampler 'emcee'"),
                               ({"priors": {"bogus": 1}}, ModelError, "unknown prior 'bogus'"),
                               ({"sampler_settings": {"nlive": -3}}, SamplerError, "nlive")]:
        with pytest.raises(kind, match=what):
            NestedGaussianMixture(directory=runs, **params).fit(two_groups())
        assert not runs.exists()


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score", "score_samples"])
def test_unfitted_is_sklearns_not_fitted_error(method):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="not fitted yet: call fit"):
        getattr(NestedGaussianMixture(), method)(np.zeros(3))


def test_bad_data_is_one_clear_error(fitted):
    from scipy import sparse

    gm, _ = fitted
    with pytest.raises(DataError, match="X has 2 features, but NestedGaussianMixture is "
                                        "expecting 1 features as input"):
        gm.predict_proba(np.zeros((3, 2)))
    with pytest.raises(DataError, match=r"NaN|finite"):
        NestedGaussianMixture(k=1).fit(np.array([0.0, np.nan, 1.0]))
    with pytest.raises(DataError, match="X has 1 sample"):
        NestedGaussianMixture(k=1).fit(np.zeros((1, 3)))
    with pytest.raises(DataError, match="sparse"):
        NestedGaussianMixture(k=1).fit(sparse.csr_matrix(np.eye(3)))
    with pytest.raises(DataError, match="Complex data not supported"):
        NestedGaussianMixture(k=1).fit(np.ones(4) * 1j)
    with pytest.raises(TypeError, match="X must be numbers"):
        NestedGaussianMixture(k=1).fit(np.array([1.0, {"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="n_components"):
        NestedGaussianMixture().set_params(n_components=3)


@pytest.mark.slow
def test_blobs_with_errors_from_a_dataframe(tmp_path):
    """Three 2-D blobs measured with per-point errors: K = 3 wins, the deconvolved widths are
    the intrinsic ones, and the column names survive."""
    rng = np.random.default_rng(5)
    centres = np.array([[-4.0, 0.0], [0.0, 4.0], [4.0, 0.0]])
    truth = rng.integers(3, size=300)
    intrinsic = centres[truth] + rng.normal(0.0, 0.6, size=(300, 2))
    errors = rng.uniform(0.2, 0.6, size=(300, 2))
    X = pd.DataFrame(intrinsic + rng.normal(0.0, errors), columns=["pmra", "pmdec"])
    E = pd.DataFrame(errors, columns=["pmra_error", "pmdec_error"])
    gm = NestedGaussianMixture(k=[2, 3, 4], covariance="spherical", background="none",
                               sampler_settings={"nlive": 150}, directory=tmp_path)
    gm.fit(X, errors=E)
    assert gm.best_k_ == 3
    assert list(gm.feature_names_in_) == ["pmra", "pmdec"]
    order = np.argsort(gm.means_[:, 0])
    np.testing.assert_allclose(gm.means_[order], centres, atol=0.3)
    np.testing.assert_allclose(np.sqrt(gm.covariances_[:, 0, 0]), 0.6, rtol=0.25)
    labels = gm.predict(X, errors=E)
    agreement = max(np.mean(order[labels] == truth), np.mean(labels == truth))
    assert np.mean(order.argsort()[labels] == truth) > 0.95 or agreement > 0.95
