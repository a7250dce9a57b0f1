"""Custom component families: built-in densities, mixing, probes, configs, and real runs."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

import nestmix
from nestmix.components import Component, make_component
from nestmix.errors import ConfigError, DataError, ModelError, PriorError
from nestmix.modes import ThetaLayout, analyse_run
from nestmix.sweep.config import plan_from_mapping

LINE_CSV = nestmix.datasets.load("line_outliers").path
M_PUB, M_ERR, B_PUB, B_ERR = 3.137, 0.074, -11.979, 0.449

LINE_PRIORS = {"m": {"dist": "uniform", "loc": 0, "scale": 10},
               "b": {"dist": "norm", "loc": 0, "scale": 25}}
OUTLIER_PRIORS = {"mu": 0, "ln_s": {"dist": "uniform", "loc": -3, "scale": 7}}


@dataclass(frozen=True)
class Laplace(Component):
    """A user's own family: Laplace(loc, exp(ln_b)), errors ignored."""

    parameters: ClassVar[tuple[str, ...]] = ("loc", "ln_b")

    def log_density(self, params: Mapping[str, np.ndarray], data) -> np.ndarray:
        b = np.exp(params["ln_b"])[:, None]
        return -np.log(2.0 * b) - np.abs(data.values[None, :, 0] - params["loc"][:, None]) / b


class Flat:
    """Duck-typed (no base class): a flat density over [lo, hi] with lo a parameter."""

    name = "flat"
    parameters = ("lo",)
    columns = ()

    def __init__(self, priors, mode="ok"):
        self.priors = priors
        self.mode = mode

    def log_density(self, params, data):
        lo = params["lo"][:, None]
        y = data.values[None, :, 0]
        out = np.where(y >= lo, -np.log(50.0), -np.inf) + 0.0 * y
        if self.mode == "shape":
            return out[:, :-1]
        if self.mode == "nan":
            return out * np.nan
        if self.mode == "modify":
            params["lo"][:] = 0.0
        if self.mode == "raise":
            raise RuntimeError("boom")
        return out


def line_data(extra=("x",)):
    return nestmix.load_measurements(LINE_CSV, columns=["y"], errors=["y_err"], extra=list(extra))


def line_model(data=None):
    spec = nestmix.ModelSpec(extra_components=(
        make_component("line", priors=LINE_PRIORS),
        make_component("gaussian_outlier", name="outliers", priors=OUTLIER_PRIORS)))
    return spec.build(line_data() if data is None else data, 0)


# ------------------------------------------------------------------- densities
def test_builtin_densities_match_scipy():
    rng = np.random.default_rng(3)
    x, y, err = rng.uniform(0, 5, 40), rng.normal(0, 3, 40), rng.uniform(0.1, 2, 40)
    data = nestmix.Measurements.from_arrays(y, errors=err, columns=["y"], extra={"x": x})
    p = {"m": np.array([1.5, -0.3]), "b": np.array([0.2, 2.0]), "scatter": np.array([0.0, 0.7])}
    got = make_component("line", priors=LINE_PRIORS).log_density(p, data)
    for s in range(2):
        want = stats.norm.logpdf(y, p["m"][s] * x + p["b"][s], np.hypot(err, p["scatter"][s]))
        np.testing.assert_allclose(got[s], want, rtol=1e-12)

    p = {"mu": np.array([0.0, 1.0]), "ln_s": np.array([2.3, -1.0])}
    got = make_component("gaussian_outlier", priors=OUTLIER_PRIORS).log_density(p, data)
    for s in range(2):
        want = stats.norm.logpdf(y, p["mu"][s], np.hypot(err, np.exp(p["ln_s"][s])))
        np.testing.assert_allclose(got[s], want, rtol=1e-12)

    p = {"mu": np.array([0.5, -1.0]), "sigma": np.array([1.2, 0.3]), "nu": np.array([1.0, 7.5])}
    priors = {"mu": 0, "sigma": 1, "nu": 3}
    exact = nestmix.Measurements.from_arrays(y)
    for data_, errors, scale2 in [(exact, "broaden", 0.0), (data, "broaden", err**2),
                                  (data, "ignore", 0.0)]:
        got = make_component("student_t", priors=priors, errors=errors).log_density(p, data_)
        for s in range(2):
            scale = np.sqrt(p["sigma"][s] ** 2 + scale2)
            want = stats.t.logpdf(y, p["nu"][s], p["mu"][s], scale)
            np.testing.assert_allclose(got[s], want, rtol=1e-10)


def test_exponential_space_density_matches_quadrature():
    plx = np.array([0.36, 0.36, 0.05, -0.2, 2.0, 0.5, 0.001])
    err = np.array([0.01, 0.2, 0.3, 0.25, 0.02, 0.5, 0.05])
    data = nestmix.Measurements.from_arrays(plx, errors=err)
    field = make_component("exponential_space_density", name="field",
                           priors={"L": {"dist": "uniform", "loc": 0.2, "scale": 3}})
    lengths = np.array([0.3, 1.35, 3.1])
    got = field.log_density({"L": lengths}, data)
    for length, row in zip(lengths, got, strict=True):
        r = np.linspace(1e-5, 60 * length, 1_000_001)[:, None]
        prior = r**2 * np.exp(-r / length) / (2 * length**3)
        want = np.log(np.trapezoid(stats.norm.pdf(plx, 1 / r, err) * prior, r, axis=0))
        np.testing.assert_allclose(row, want, rtol=1e-6, atol=1e-6)
    with pytest.raises(ModelError, match="parallaxes with errors"):
        field.check_data(nestmix.Measurements.from_arrays(plx))


def test_exponential_space_density_recovers_length_scale():
    rng = np.random.default_rng(8)
    distance = rng.gamma(3.0, 1.2, 400)  # P(r | L) = r² exp(−r/L) / (2 L³), L = 1.2
    err = rng.uniform(0.05, 0.5, 400)
    data = nestmix.Measurements.from_arrays(1 / distance + err * rng.normal(size=400),
                                            errors=err)
    spec = nestmix.ModelSpec(extra_components=(make_component(
        "exponential_space_density", name="field",
        priors={"L": {"dist": "loguniform", "a": 0.1, "b": 10}}),))
    model = spec.build(data, 0)
    run = nestmix.get_sampler("dynesty").run(model, {"nlive": 100}, seed=2)
    w = run.weights / run.weights.sum()
    length = np.asarray(run.samples)[:, 0]
    mean = w @ length
    assert abs(mean - 1.2) < 3 * np.sqrt(w @ (length - mean) ** 2)


def test_model_densities_likelihood_and_memberships_brute_force():
    rng = np.random.default_rng(5)
    y = np.concatenate([rng.normal(0, 1, 30), rng.laplace(6, 0.5, 20)])
    data = nestmix.Measurements.from_arrays(y, errors=np.full(50, 0.2))
    spec = nestmix.ModelSpec(
        background="uniform",
        priors={"mean": {"dist": "norm", "loc": 3, "scale": 5},
                "sigma": {"dist": "loguniform", "a": 0.1, "b": 10},
                "weights": {"dist": "dirichlet", "alpha": [1, 1, 2, 0.5]}},
        extra_components=(Laplace("halo", {"loc": {"dist": "norm", "loc": 5, "scale": 3},
                                           "ln_b": 0.0}),))
    model = spec.build(data, 2)
    assert model.param_names == ("w_1", "w_2", "w_halo", "mu_1", "mu_2", "sigma_1", "sigma_2",
                                 "halo_loc")
    assert model.weight_names == ("w_1", "w_2", "w_halo", "w_bg")
    assert model.n_components == 4
    theta = model.prior_transform(np.random.default_rng(1).random((3, model.ndim)))
    params = model.expand(theta)
    assert set(params.extra) == {"halo_loc", "halo_ln_b"}
    np.testing.assert_array_equal(params.extra["halo_ln_b"], 0.0)
    dens = model.component_log_densities(theta)
    assert dens.shape == (3, 50, 4)
    for s in range(3):
        sd = np.sqrt(params.covariances[s, :, 0, 0] + 0.04)
        want = [stats.norm.logpdf(y, params.means[s, j, 0], sd[j]) for j in range(2)]
        want.append(stats.laplace.logpdf(y, theta[s, -1], 1.0))
        want.append(np.full(50, model.background.log_density))
        np.testing.assert_allclose(dens[s], np.stack(want, axis=1), rtol=1e-10)
        terms = dens[s] + np.log(params.weights[s])
        assert model.log_likelihood(theta[s]) == pytest.approx(logsumexp(terms, axis=1).sum())
        members = np.exp(model.membership_log_probabilities(theta[s]))
        np.testing.assert_allclose(members, np.exp(terms - logsumexp(terms, axis=1)[:, None]))
    # relabelling swaps the Gaussians only: custom and background weights and parameters stay
    moved = ThetaLayout.from_model(model).permute(theta, np.array([[1, 0]] * 3))
    np.testing.assert_array_equal(moved[:, [3, 4]], theta[:, [4, 3]])
    np.testing.assert_array_equal(moved[:, [2, 7]], theta[:, [2, 7]])
    assert moved[:, 0] == pytest.approx(theta[:, 1])
    # an existing model's description carries no trace of the new machinery
    plain = nestmix.ModelSpec(priors={"mean": 0.0, "sigma": 1.0}, covariance="diag")
    assert "extra_components" not in plain.build(data, 1).describe()
    assert "extra_components" in model.describe()


# --------------------------------------------------------------- real runs
@pytest.fixture(scope="module")
def line_run():
    model = line_model()
    return model, nestmix.get_sampler("dynesty").run(model, {"nlive": 200}, seed=7)


def test_line_with_outliers_matches_published_posterior(line_run):
    model, run = line_run
    assert model.param_names == ("w_line", "line_m", "line_b", "outliers_ln_s")
    w = run.weights / run.weights.sum()
    samples = np.asarray(run.samples)
    mean = w @ samples
    for name, published, err in [("line_m", M_PUB, M_ERR), ("line_b", B_PUB, B_ERR),
                                 ("w_line", 0.734, 0.085), ("outliers_ln_s", 2.324, 0.270)]:
        assert abs(mean[model.param_names.index(name)] - published) < 3 * err, name


def test_line_with_outliers_memberships(line_run):
    model, run = line_run
    analysis = analyse_run(model, run, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(analysis.relabelled_samples, run.samples)
    outlier = line_data(extra=("is_outlier",)).extra["is_outlier"] == 1
    p_out = analysis.memberships.mean[:, 1]
    assert np.sum(p_out[outlier] > 0.5) >= 7
    assert np.sum(p_out[~outlier] > 0.5) <= 2
    assert analysis.modes.n_modes == 1


@pytest.mark.slow  # ~30 s; runs in CI's slow stage
def test_custom_component_with_gaussian_and_background_recovers_truth():
    rng = np.random.default_rng(11)
    y = np.concatenate([rng.normal(0.0, 1.0, 180), rng.laplace(6.0, 0.5, 120)])
    data = nestmix.Measurements.from_arrays(y)
    spec = nestmix.ModelSpec(
        background="uniform",
        priors={"mean": {"dist": "norm", "loc": 0, "scale": 10},
                "sigma": {"dist": "loguniform", "a": 0.05, "b": 10}},
        extra_components=(Laplace("halo", {"loc": {"dist": "norm", "loc": 3, "scale": 5},
                                           "ln_b": {"dist": "uniform", "loc": -3, "scale": 5}}),))
    model = spec.build(data, 1)
    run = nestmix.get_sampler("dynesty").run(model, {"nlive": 150}, seed=3)
    w = run.weights / run.weights.sum()
    samples = np.asarray(run.samples)
    mean = w @ samples
    sd = np.sqrt(w @ (samples - mean) ** 2)
    for name, truth in [("halo_loc", 6.0), ("halo_ln_b", np.log(0.5)), ("mu_1", 0.0),
                        ("sigma", 1.0), ("w_1", 0.6)]:
        i = model.param_names.index(name)
        assert abs(mean[i] - truth) < 3 * sd[i], name
    members = analyse_run(model, run, rng=np.random.default_rng(4)).memberships.mean
    assert members.shape == (300, 3)
    assert np.mean(members[180:, 1] > 0.5) > 0.8


# ------------------------------------------------------------------ probes
@pytest.mark.parametrize(("mode", "message"), [
    ("shape", "returned shape"), ("nan", "gave nan"), ("modify", "modified its input"),
    ("raise", "RuntimeError: boom")])
def test_probe_rejects_bad_log_densities(mode, message):
    data = nestmix.Measurements.from_arrays(np.linspace(0, 10, 20))
    spec = nestmix.ModelSpec(extra_components=(Flat({"lo": {"dist": "uniform", "loc": -5,
                                                            "scale": 4}}, mode),))
    with pytest.raises(ModelError, match=message):
        spec.build(data, 0)


def test_duck_typed_component_works():
    data = nestmix.Measurements.from_arrays(np.linspace(0, 10, 20))
    model = nestmix.ModelSpec(extra_components=(Flat({"lo": -1.0}),)).build(data, 0)
    assert model.ndim == 0 and model.log_likelihood(np.empty(0)) == pytest.approx(
        -20 * np.log(50.0))


def test_component_errors_name_the_problem():
    data = line_data()
    with pytest.raises(ModelError, match=r"line.priors.q: unknown parameter"):
        nestmix.ModelSpec(extra_components=(make_component("line", priors={**LINE_PRIORS,
                                                                            "q": 1}),))
    with pytest.raises(ModelError, match=r"line.priors.b: missing prior"):
        nestmix.ModelSpec(extra_components=(make_component("line", priors={"m": 1}),))
    with pytest.raises(ModelError, match="reserved"):
        nestmix.ModelSpec(extra_components=(make_component("line", name="mu",
                                                           priors=LINE_PRIORS),))
    two = (make_component("line", priors=LINE_PRIORS),) * 2
    with pytest.raises(ModelError, match="names must be unique"):
        nestmix.ModelSpec(extra_components=two)
    with pytest.raises(ModelError, match="unknown component family 'parabola'"):
        make_component("parabola")
    spec = nestmix.ModelSpec(extra_components=(make_component("line", priors=LINE_PRIORS),))
    with pytest.raises(ModelError, match="needs the extra data column 'x'"):
        spec.build(line_data(extra=()), 0)
    with pytest.raises(ModelError, match="K = 1 Gaussian components need a prior 'mean'"):
        spec.build(data, 1)
    with pytest.raises(ModelError, match="integer >= 1"):
        nestmix.ModelSpec(priors={"mean": 0.0, "sigma": 1.0}).build(data, 0)
    with pytest.raises(PriorError, match=r"line\.priors\.m"):
        nestmix.ModelSpec(extra_components=(make_component(
            "line", priors={**LINE_PRIORS, "m": {"dist": "nope"}}),)).build(data, 0)
    with pytest.raises(ModelError, match="one-dimensional"):
        make_component("student_t", priors={"mu": 0, "sigma": 1, "nu": 2}).check_data(
            nestmix.Measurements.from_arrays(np.zeros((5, 2))))
    out = make_component("gaussian_outlier", name="out", priors=OUTLIER_PRIORS)
    with pytest.raises(PriorError, match="alpha"):
        nestmix.ModelSpec(priors={"weights": {"dist": "dirichlet", "alpha": [1, 1, 1]}},
                          extra_components=(*spec.extra_components, out)).build(data, 0)


def test_extra_columns_in_measurements():
    plain = nestmix.load_measurements(LINE_CSV, columns=["y"], errors=["y_err"])
    with_x = line_data()
    assert plain.extra is None and plain.fingerprint() != with_x.fingerprint()
    assert with_x.extra["x"].shape == (32,) and not with_x.extra["x"].flags.writeable
    with pytest.raises(TypeError):
        with_x.extra["x2"] = with_x.extra["x"]
    model = line_model(with_x)  # the sweep sends models to workers and checkpoints by pickle
    theta = model.prior_transform(np.full(model.ndim, 0.3))
    assert pickle.loads(pickle.dumps(model)).log_likelihood(theta) == model.log_likelihood(theta)
    with pytest.raises(DataError, match="unknown column 'z'"):
        line_data(extra=("z",))
    with pytest.raises(DataError, match="shape"):
        nestmix.Measurements.from_arrays(np.zeros(4), extra={"x": np.zeros(3)})
    with pytest.raises(DataError, match="non-finite"):
        nestmix.Measurements.from_arrays(np.zeros(2), extra={"x": [0.0, np.nan]})


# ------------------------------------------------------------------ config
def _raw(**model):
    return {"name": "lines",
            "data": {"path": str(LINE_CSV), "columns": ["y"], "errors": ["y_err"],
                     "extra": ["x"]},
            "model": {"priors": {"mean": {"dist": "norm", "loc": 0, "scale": 20},
                                 "sigma": {"dist": "loguniform", "a": 0.1, "b": 30}},
                      "extra_components": [
                          {"family": "line", "name": "line", "priors": LINE_PRIORS},
                          {"family": "gaussian_outlier", "name": "outliers",
                           "priors": OUTLIER_PRIORS}], **model},
            "sweep": {"k": [1], "nlive": 50}}


def test_config_builds_custom_components():
    plan, _ = plan_from_mapping(_raw())
    model = plan.spec.build(plan.data, 1)
    assert model.param_names[:3] == ("w_1", "w_line", "mu_1")
    assert model.param_names[-3:] == ("line_m", "line_b", "outliers_ln_s")
    assert plan.spec.to_dict()["extra_components"][0]["family"] == "line"


@pytest.mark.parametrize(("change", "key"), [
    ({"family": "parabola"}, "model.extra_components[0].family"),
    ({"slope": 1}, "model.extra_components[0].slope"),
    ({"priors": {"m": 1, "b": 1, "k": 2}}, "model.extra_components.line.priors.k"),
    ({"family": None}, "model.extra_components[0].family"),
])
def test_config_component_errors_name_the_key(change, key):
    raw = _raw()
    table = {**raw["model"]["extra_components"][0], **change}
    if change.get("family", "") is None:
        del table["family"]
    raw["model"]["extra_components"][0] = table
    with pytest.raises(ConfigError) as info:
        plan_from_mapping(raw)
    assert info.value.key == key


def test_editing_a_custom_component_changes_the_fingerprint(tmp_path):
    """A run made with an older version of a user's component must not be reused silently."""
    import importlib.util
    import sys

    from nestmix.components import describe_component

    def load(version: str):
        path = tmp_path / f"user_comp_{version}.py"
        path.write_text(
            "from dataclasses import dataclass\n"
            "import numpy as np\n"
            "from nestmix.components import Component\n"
            "@dataclass(frozen=True)\n"
            "class Flat(Component):\n"
            "    parameters = ('c',)\n"
            "    def log_density(self, p, data):\n"
            f"        return np.zeros((len(p['c']), data.n_points)) + {version}\n")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
        return module.Flat("flat", priors={"c": {"dist": "uniform"}})

    a, b = describe_component(load("0.0")), describe_component(load("1.0"))
    assert a["code"] != b["code"]
    assert {k: v for k, v in a.items() if k not in ("code", "family")} == \
        {k: v for k, v in b.items() if k not in ("code", "family")}
