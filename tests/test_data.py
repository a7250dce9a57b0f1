"""Tests for nestmix.data.measurements: loading and validating measurements."""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from nestmix import datasets
from nestmix.data.loaders import load_measurements
from nestmix.data.measurements import Measurements
from nestmix.errors import DataError

GALAXIES_TXT = datasets.load("galaxies").path  # bundled in the package (nestmix/examples/)
GALAXIES_CSV = datasets.load("galaxies_mass").path
LINE_CSV = datasets.load("line_outliers").path

@contextlib.contextmanager
def data_error(match: str) -> Iterator[pytest.ExceptionInfo[DataError]]:
    """Expect exactly a DataError (not a numpy error or another subclass) matching ``match``."""
    with pytest.raises(DataError, match=match) as info:
        yield info
    assert info.type is DataError
    assert info.value.__cause__ is None


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def read_column(path: Path, name: str) -> np.ndarray:
    with path.open(newline="") as fh:
        return np.array([float(row[name]) for row in csv.DictReader(fh)])


# ---------------------------------------------------------------- real data sets


def test_galaxies_txt() -> None:
    m = load_measurements(GALAXIES_TXT)
    assert m.n_points == 82 and m.n_dims == 1
    assert m.values.shape == (82, 1)
    assert m.values[0, 0] == 9172.0
    assert m.values[77, 0] == 26960.0  # observation 78 (1-based)
    assert m.columns == ("x",)
    assert m.source == str(GALAXIES_TXT)
    assert not m.has_errors and m.errors is None and m.covariances is None


def test_galaxies_mass_csv_differs_from_txt_only_at_observation_78() -> None:
    mass = load_measurements(GALAXIES_CSV)
    assert mass.n_points == 82
    assert mass.columns == ("dat",)
    assert mass.values[0, 0] == 9172.0
    assert mass.values[77, 0] == 26690.0
    roeder = load_measurements(str(GALAXIES_TXT))
    assert np.flatnonzero(mass.values[:, 0] != roeder.values[:, 0]).tolist() == [77]
    assert mass.fingerprint() != roeder.fingerprint()


def test_galaxies_scale() -> None:
    m = load_measurements(GALAXIES_TXT, scale=1e-3)
    assert m.values[77, 0] == pytest.approx(26.96)
    np.testing.assert_allclose(m.ranges, [[9.172, 34.279]])


def test_line_outliers_errors_match_file() -> None:
    m = load_measurements(LINE_CSV, columns=["y"], errors=["y_err"])
    assert m.n_points == 32 and m.columns == ("y",) and m.has_errors
    np.testing.assert_array_equal(m.values[:, 0], read_column(LINE_CSV, "y"))
    np.testing.assert_allclose(m.errors[:, 0], read_column(LINE_CSV, "y_err"), rtol=1e-15)
    np.testing.assert_allclose(m.covariances[:, 0, 0], read_column(LINE_CSV, "y_err") ** 2)


def test_line_outliers_two_value_columns_and_scale() -> None:
    m = load_measurements(LINE_CSV, columns=["x", "y"], scale=2.0)
    np.testing.assert_allclose(m.values[:, 1], 2.0 * read_column(LINE_CSV, "y"))
    np.testing.assert_allclose(m.values[:, 0], 2.0 * read_column(LINE_CSV, "x"))
    assert m.columns == ("x", "y")


def test_line_outliers_needs_a_column_choice() -> None:
    with data_error(r"4 named columns \(x, y, y_err, is_outlier\); choose the value columns"):
        load_measurements(LINE_CSV)


# ---------------------------------------------------------------- building from arrays


def test_one_dimensional_values_become_a_column() -> None:
    m = Measurements.from_arrays([3.0, 1.0, 2.0])
    assert m.values.shape == (3, 1) and m.values.dtype == np.float64
    assert m.values.flags.c_contiguous
    assert m.columns == ("x",) and m.source == "array"
    np.testing.assert_array_equal(m.ranges, [[1.0, 3.0]])


def test_default_column_names_for_several_dimensions() -> None:
    m = Measurements.from_arrays(np.zeros((4, 3)))
    assert m.columns == ("x0", "x1", "x2")
    assert Measurements.from_arrays(np.zeros(2), columns="v").columns == ("v",)


def test_scale_multiplies_values_and_errors() -> None:
    vals = np.array([[1.0, 2.0], [3.0, 5.0]])
    err = np.array([[0.1, 0.2], [0.3, 0.4]])
    rho = np.array([0.5, -0.25])
    plain = Measurements.from_arrays(vals, errors=err, correlations=rho)
    scaled = Measurements.from_arrays(vals, errors=err, correlations=rho, scale=10.0)
    np.testing.assert_allclose(scaled.values, 10.0 * vals)
    np.testing.assert_allclose(scaled.errors, 10.0 * err)
    np.testing.assert_allclose(scaled.covariances, 100.0 * plain.covariances)


def test_scale_multiplies_full_covariances_by_its_square() -> None:
    cov = np.array([[[4.0, 1.0], [1.0, 2.0]]])
    m = Measurements.from_arrays([[1.0, 1.0]], covariances=cov, scale=0.5)
    np.testing.assert_allclose(m.covariances, 0.25 * cov)


def test_gaia_style_errors_and_correlation_build_covariances() -> None:
    pm = np.array([[-2.9, -3.9], [-2.8, -3.7], [1.0, 0.5]])
    err = np.array([[0.1, 0.2], [0.05, 0.3], [1.0, 2.0]])
    rho = np.array([0.5, -0.9, 0.0])
    m = Measurements.from_arrays(pm, errors=err, correlations=rho, columns=("pmra", "pmdec"))
    for i in range(3):
        sx, sy = err[i]
        expected = [[sx**2, rho[i] * sx * sy], [rho[i] * sx * sy, sy**2]]
        np.testing.assert_allclose(m.covariances[i], expected, rtol=1e-14)
    np.testing.assert_allclose(m.errors, err, rtol=1e-14)


def test_correlation_order_in_three_dimensions() -> None:
    err = np.array([[1.0, 2.0, 3.0]])
    rho = np.array([[0.1, 0.2, 0.3]])  # pairs (0,1), (0,2), (1,2)
    m = Measurements.from_arrays(np.zeros((1, 3)), errors=err, correlations=rho)
    expected = np.array([[1.0, 0.1 * 2, 0.2 * 3], [0.1 * 2, 4.0, 0.3 * 6], [0.2 * 3, 0.3 * 6, 9.0]])
    np.testing.assert_allclose(m.covariances[0], expected, rtol=1e-14)


def test_errors_without_correlations_give_diagonal_covariances() -> None:
    m = Measurements.from_arrays([1.0, 2.0], errors=[0.5, 2.0])
    np.testing.assert_array_equal(m.covariances[:, 0, 0], [0.25, 4.0])
    np.testing.assert_array_equal(m.errors[:, 0], [0.5, 2.0])


def test_full_covariances_accepted() -> None:
    cov = np.array([[[2.0, 0.3], [0.3, 1.0]], [[1.0, -0.9], [-0.9, 1.0]]])
    m = Measurements.from_arrays(np.ones((2, 2)), covariances=cov)
    np.testing.assert_array_equal(m.covariances, cov)
    np.testing.assert_allclose(m.errors, np.sqrt([[2.0, 1.0], [1.0, 1.0]]))
    assert m.has_errors


def test_tiny_asymmetry_is_tolerated_and_removed() -> None:
    cov = np.array([[[2.0, 0.3], [0.3 + 1e-12, 1.0]]])
    m = Measurements.from_arrays([[0.0, 0.0]], covariances=cov)
    np.testing.assert_array_equal(m.covariances[0], m.covariances[0].T)


def test_arrays_are_read_only_copies() -> None:
    vals = np.array([1.0, 2.0, 3.0])
    err = np.array([0.1, 0.2, 0.3])
    m = Measurements.from_arrays(vals, errors=err)
    vals[0] = 100.0
    err[0] = 100.0
    assert m.values[0, 0] == 1.0 and m.errors[0, 0] == pytest.approx(0.1)
    for arr in (m.values, m.covariances, m.errors, m.ranges):
        assert not arr.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 0.0


def test_dataclass_is_frozen() -> None:
    m = Measurements.from_arrays([1.0, 2.0])
    with pytest.raises(AttributeError):
        m.values = np.zeros((2, 1))  # type: ignore[misc]


def test_direct_construction_is_checked_and_copied() -> None:
    vals = np.array([[1, 2], [3, 4]])
    m = Measurements(vals, None, ["a", "b"])  # type: ignore[arg-type]
    assert m.values.dtype == np.float64 and m.columns == ("a", "b")
    assert not m.values.flags.writeable
    with data_error(r"values contain 1 non-finite entry \(NaN or inf\); first at point 1"):
        Measurements(np.array([[1.0], [np.nan]]), None, ("x",))
    with data_error(r"shape \(N, D\), got \(3,\)"):
        Measurements(np.zeros(3), None, ("x",))
    with data_error("covariance of point 0 is not positive definite"):
        Measurements(np.zeros((1, 1)), np.zeros((1, 1, 1)), ("x",))


# ---------------------------------------------------------------- fingerprint


def test_fingerprint_stable_and_sensitive() -> None:
    vals = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    err = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    base = Measurements.from_arrays(vals, errors=err)
    fp = base.fingerprint()
    assert len(fp) == 64 and int(fp, 16) >= 0
    assert Measurements.from_arrays(vals.copy(), errors=err.copy(), source="x").fingerprint() == fp
    assert base.fingerprint() == fp

    changed_value = vals.copy()
    changed_value[2, 1] = np.nextafter(6.0, 7.0)
    assert Measurements.from_arrays(changed_value, errors=err).fingerprint() != fp
    changed_error = err.copy()
    changed_error[1, 0] = 0.31
    assert Measurements.from_arrays(vals, errors=changed_error).fingerprint() != fp
    assert Measurements.from_arrays(vals).fingerprint() != fp
    assert Measurements.from_arrays(vals, errors=err, columns=("a", "b")).fingerprint() != fp
    assert (
        Measurements.from_arrays(vals, errors=err, correlations=[0.0, 0.0, 0.1]).fingerprint()
        != fp
    )


def test_fingerprint_depends_on_shape() -> None:
    flat = Measurements.from_arrays(np.arange(4.0), columns=["a"])
    wide = Measurements.from_arrays(np.arange(4.0).reshape(2, 2), columns=["a", "b"])
    assert flat.fingerprint() != wide.fingerprint()


# ---------------------------------------------------------------- require_points


def test_require_points() -> None:
    m = Measurements.from_arrays(np.arange(5.0))
    m.require_points(5, "a 2-component mixture")
    with data_error(
        r"^the data have 5 points but a 3-component mixture has 8 free parameters; "
        r"use fewer components or more data$"
    ):
        m.require_points(8, "a 3-component mixture")


# ---------------------------------------------------------------- bad arrays


def test_nan_values_named() -> None:
    vals = np.ones((8, 2))
    vals[5, 1] = np.nan
    vals[6, 0] = np.inf
    with data_error(r"values contain 2 non-finite entries \(NaN or inf\); first at point 5, "
                    r"column 'v'"):
        Measurements.from_arrays(vals, columns=("u", "v"))


def test_inf_values_named() -> None:
    with data_error(r"values contain 1 non-finite entry .*first at point 2, column 'x'"):
        Measurements.from_arrays([1.0, 2.0, -np.inf])


@pytest.mark.parametrize(("bad", "shown"), [(0.0, "0"), (-0.5, "-0.5")])
def test_non_positive_errors(bad: float, shown: str) -> None:
    err = np.full((9, 2), 0.1)
    err[7, 0] = bad
    with data_error(rf"errors must be positive; point 7 has error {shown} in column 'pmra_error'"):
        Measurements.from_arrays(np.zeros((9, 2)), errors=err,
                                 error_columns=("pmra_error", "pmdec_error"))
    with data_error(rf"errors must be positive; point 7 has error {shown} in column 'x0'"):
        Measurements.from_arrays(np.zeros((9, 2)), errors=err)


def test_non_finite_errors() -> None:
    with data_error(r"errors contain 1 non-finite entry \(NaN or inf\); first at point 1"):
        Measurements.from_arrays([1.0, 2.0], errors=[1.0, np.nan])


def test_non_positive_definite_covariance_names_point() -> None:
    cov = np.tile(np.eye(2), (20, 1, 1))
    cov[12] = [[1.0, 2.0], [2.0, 1.0]]  # symmetric, eigenvalues 3 and -1
    cov[15] = [[-1.0, 0.0], [0.0, 1.0]]
    with data_error(r"^covariance of point 12 is not positive definite$"):
        Measurements.from_arrays(np.zeros((20, 2)), covariances=cov)


def test_zero_covariance_is_not_positive_definite() -> None:
    with data_error("covariance of point 0 is not positive definite"):
        Measurements.from_arrays([1.0], covariances=np.zeros((1, 1, 1)))


def test_asymmetric_covariance() -> None:
    cov = np.tile(np.eye(2), (4, 1, 1))
    cov[3, 0, 1] = 0.5
    with data_error(r"covariance of point 3 is not symmetric: entry \[0, 1\] is 0.5 but "
                    r"entry \[1, 0\] is 0"):
        Measurements.from_arrays(np.zeros((4, 2)), covariances=cov)


def test_non_finite_covariance() -> None:
    cov = np.tile(np.eye(2), (3, 1, 1))
    cov[1, 1, 1] = np.inf
    with data_error(r"covariances contain 1 non-finite entry \(NaN or inf\); first at point 1$"):
        Measurements.from_arrays(np.zeros((3, 2)), covariances=cov)


@pytest.mark.parametrize(
    ("cov_shape", "match"),
    [
        ((4, 2, 3), r"covariances have shape \(4, 2, 3\); expected \(4, 2, 2\)"),
        ((4, 2), r"covariances have shape \(4, 2\); expected \(4, 2, 2\)"),
        ((3, 2, 2), "covariances have 3 rows but values have 4"),
    ],
)
def test_covariance_shapes(cov_shape: tuple[int, ...], match: str) -> None:
    with data_error(match):
        Measurements.from_arrays(np.zeros((4, 2)), covariances=np.ones(cov_shape))


def test_values_shape() -> None:
    with data_error(r"^values have shape \(3, 4, 5\); expected \(N,\) or \(N, D\)$"):
        Measurements.from_arrays(np.zeros((3, 4, 5)))
    with data_error(r"values have shape \(\); expected"):
        Measurements.from_arrays(3.0)


def test_no_points() -> None:
    with data_error("need at least one data point"):
        Measurements.from_arrays([])
    with data_error("need at least one data point"):
        Measurements.from_arrays(np.zeros((0, 2)))
    with data_error("values have no columns"):
        Measurements.from_arrays(np.zeros((3, 0)))


def test_error_rows_mismatch() -> None:
    with data_error("^errors have 80 rows but values have 82$"):
        Measurements.from_arrays(np.ones(82), errors=np.ones(80))


def test_error_shape_mismatch() -> None:
    with data_error(r"errors have shape \(5,\); expected \(5, 2\) \(one error per value"):
        Measurements.from_arrays(np.ones((5, 2)), errors=np.ones(5))
    with data_error(r"errors have shape \(5, 3\); expected \(5, 2\)"):
        Measurements.from_arrays(np.ones((5, 2)), errors=np.ones((5, 3)))


@pytest.mark.parametrize("bad", [1.0, -1.0, 1.5, -7.0])
def test_correlations_out_of_range(bad: float) -> None:
    rho = np.zeros(6)
    rho[4] = bad
    with data_error(rf"correlations must lie strictly between -1 and 1; point 4 has "
                    rf"correlation {bad:g} in column 'pmra_pmdec_corr'"):
        Measurements.from_arrays(np.zeros((6, 2)), errors=np.ones((6, 2)), correlations=rho,
                                 correlation_columns=["pmra_pmdec_corr"])


def test_correlations_non_finite_and_default_names() -> None:
    rho = np.zeros((2, 3))
    rho[1, 2] = np.nan
    with data_error(r"correlations contain 1 non-finite entry .*point 1, column 'corr\(b, c\)'"):
        Measurements.from_arrays(np.zeros((2, 3)), errors=np.ones((2, 3)), correlations=rho,
                                 columns=["a", "b", "c"])


def test_correlations_that_are_not_jointly_positive_definite() -> None:
    rho = np.array([[0.9, 0.9, -0.9]])  # each in (-1, 1) but the matrix is indefinite
    with data_error("covariance of point 0 is not positive definite"):
        Measurements.from_arrays(np.zeros((1, 3)), errors=np.ones((1, 3)), correlations=rho)


def test_correlation_misuse() -> None:
    with data_error("correlations need errors"):
        Measurements.from_arrays(np.zeros((3, 2)), correlations=np.zeros(3))
    with data_error("correlations need at least two value columns"):
        Measurements.from_arrays(np.zeros(3), errors=np.ones(3), correlations=np.zeros(3))
    with data_error(r"correlations have shape \(3, 2\); expected \(3, 3\)"):
        Measurements.from_arrays(np.zeros((3, 3)), errors=np.ones((3, 3)),
                                 correlations=np.zeros((3, 2)))
    with data_error("correlations have 2 rows but values have 3"):
        Measurements.from_arrays(np.zeros((3, 2)), errors=np.ones((3, 2)),
                                 correlations=np.zeros(2))


def test_errors_and_covariances_exclusive() -> None:
    with data_error("either errors .* or covariances, not both"):
        Measurements.from_arrays(np.zeros(2), errors=np.ones(2),
                                 covariances=np.ones((2, 1, 1)))


@pytest.mark.parametrize(
    ("values", "match"),
    [
        (["a", "b"], "values must be numbers, got an array of dtype <U1"),
        ([[1.0, 2.0], [3.0]], "values must be an array of numbers"),
        (None, "values must be numbers, got None"),
        ([1 + 2j, 3.0], "values must be numbers, got an array of dtype complex128"),
        ([object(), 1.0], "values must be numbers"),
    ],
)
def test_non_numeric_values(values: object, match: str) -> None:
    with data_error(match):
        Measurements.from_arrays(values)


def test_non_numeric_errors() -> None:
    with data_error("errors must be numbers"):
        Measurements.from_arrays([1.0, 2.0], errors=["a", "b"])


@pytest.mark.parametrize("scale", [0, -1.0, np.nan, np.inf, "2", True, None.__class__])
def test_bad_scale(scale: object) -> None:
    with data_error("scale must be a positive finite number"):
        Measurements.from_arrays([1.0, 2.0], scale=scale)  # type: ignore[arg-type]


def test_bad_column_names() -> None:
    with data_error("got 1 column names for 2 value columns"):
        Measurements.from_arrays(np.zeros((2, 2)), columns=["a"])
    with data_error("column names must be unique"):
        Measurements.from_arrays(np.zeros((2, 2)), columns=["a", "a"])
    with data_error("column names must be strings"):
        Measurements.from_arrays(np.zeros((2, 2)), columns=["a", 3])  # type: ignore[list-item]
    with data_error("column must be a sequence of names, got 3"):
        Measurements.from_arrays(np.zeros((2, 2)), columns=3)  # type: ignore[arg-type]
    with data_error("error column must be a sequence of names"):
        load_measurements(LINE_CSV, columns="y", errors=1.5)  # type: ignore[arg-type]


# ---------------------------------------------------------------- files


def test_text_file_with_comments_and_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "pm.dat", "# pmra pmdec\n1.0  2.0\n\n3.0\t4.0  # last\n")
    m = load_measurements(path)
    np.testing.assert_array_equal(m.values, [[1.0, 2.0], [3.0, 4.0]])
    assert m.columns == ("x0", "x1") and m.source == str(path)


def test_text_file_rejects_column_names(tmp_path: Path) -> None:
    path = write(tmp_path, "v.txt", "1\n2\n")
    with data_error("column names need a CSV file with a header"):
        load_measurements(path, columns=["v"])
    with data_error("column names need a CSV file with a header"):
        load_measurements(path, errors=["v_err"])


def test_text_file_non_numeric(tmp_path: Path) -> None:
    path = write(tmp_path, "v.txt", "1.0\n2.0\nabc\n")
    with data_error(r"cannot read 'abc' as a number at line 3 of .*v\.txt"):
        load_measurements(path)


def test_text_file_ragged(tmp_path: Path) -> None:
    path = write(tmp_path, "v.txt", "1 2\n3 4\n5\n")
    with data_error("line 3 of .* has 1 numbers but line 1 has 2"):
        load_measurements(path)


def test_text_file_nan_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "v.txt", "# header comment\n1.0\nnan\n")
    with data_error(r"v\.txt: values contain 1 non-finite entry .*first at point 1 \(line 3\)"):
        load_measurements(path)


def test_csv_value_and_error_columns(tmp_path: Path) -> None:
    text = "id,pmra,pmdec,pmra_error,pmdec_error,pmra_pmdec_corr\n"
    text += "1,-2.9,-3.9,0.1,0.2,0.5\n2,-2.8,-3.7,0.3,0.1,-0.25\n"
    path = write(tmp_path, "gaia.csv", text)
    m = load_measurements(path, columns=["pmra", "pmdec"], errors=["pmra_error", "pmdec_error"],
                          correlations=["pmra_pmdec_corr"])
    assert m.columns == ("pmra", "pmdec")
    np.testing.assert_allclose(m.covariances[0], [[0.01, 0.01], [0.01, 0.04]])
    np.testing.assert_allclose(m.covariances[1], [[0.09, -0.0075], [-0.0075, 0.01]])


def test_csv_error_messages_use_file_column_names(tmp_path: Path) -> None:
    path = write(tmp_path, "e.csv", "y,y_err\n1,0.5\n2,0.5\n3,0\n")
    with data_error(r"errors must be positive; point 2 \(line 4\) has error 0 in column 'y_err'"):
        load_measurements(path, columns="y", errors="y_err")


def test_csv_unknown_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "a,b,c\n1,2,3\n")
    with data_error(r"unknown column 'foo' in .*t\.csv; available: a, b, c$"):
        load_measurements(path, columns=["foo"])
    with data_error(r"unknown column 'b_err' in .*; available: a, b, c$"):
        load_measurements(path, columns=["b"], errors=["b_err"])
    with data_error("give one error column per value column"):
        load_measurements(path, columns=["a", "b"], errors=["c"])


def test_csv_non_numeric_cell(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "a,b\n1,2\n3,4\n5,oops\n")
    with data_error(r"cannot read 'oops' as a number at line 4, column 'b' of .*t\.csv"):
        load_measurements(path, columns=["b"])
    # the unused column is not parsed
    assert load_measurements(path, columns=["a"]).n_points == 3


def test_csv_empty_cell_and_ragged_row(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "a,b\n1,2\n\n3,\n")
    with data_error(r"cannot read '' as a number at line 4, column 'b'"):
        load_measurements(path, columns=["a", "b"])
    path = write(tmp_path, "r.csv", "a,b\n1,2\n3\n")
    with data_error("line 3 of .* has 1 fields but the header has 2"):
        load_measurements(path, columns=["a"])


def test_csv_header_only_and_no_named_columns(tmp_path: Path) -> None:
    with data_error("has a header but no data rows"):
        load_measurements(write(tmp_path, "h.csv", "a,b\n"), columns=["a"])
    with data_error(r"0 named columns \(\)"):
        load_measurements(write(tmp_path, "n.csv", '""\n1\n'))


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.txt"
    with data_error(r"^data file not found: .*nope\.txt$"):
        load_measurements(path)
    with data_error("data file not found"):
        load_measurements(tmp_path / "nope.csv")
    with data_error("data file not found"):
        load_measurements(tmp_path / "nope.npy")


@pytest.mark.parametrize("name", ["e.txt", "e.csv", "e.npy"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    with data_error("data file is empty"):
        load_measurements(write(tmp_path, name, ""))


def test_blank_and_comment_only_files(tmp_path: Path) -> None:
    with data_error("data file is empty"):
        load_measurements(write(tmp_path, "b.csv", "\n  \n"))
    with data_error("data file is empty"):
        load_measurements(write(tmp_path, "c.txt", "# nothing here\n"))


def test_unreadable_file(tmp_path: Path) -> None:
    with data_error("cannot read data file"):
        load_measurements(tmp_path)  # a directory
    path = tmp_path / "bin.txt"
    path.write_bytes(b"\xff\xfe\x00\x81garbage")
    with data_error("cannot read data file"):
        load_measurements(path)


def test_npy_files(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.array([1.0, 2.0, 4.0]))
    m = load_measurements(tmp_path / "v.npy", scale=0.5)
    np.testing.assert_array_equal(m.values[:, 0], [0.5, 1.0, 2.0])
    np.save(tmp_path / "w.npy", np.arange(6).reshape(3, 2))
    assert load_measurements(tmp_path / "w.npy").columns == ("x0", "x1")
    with data_error("column names need a CSV file with a header"):
        load_measurements(tmp_path / "w.npy", errors=["e0", "e1"])
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with data_error("cannot read data file"):
        load_measurements(tmp_path / "o.npy")
    (tmp_path / "bad.npy").write_bytes(b"not a numpy file")
    with data_error("cannot read data file"):
        load_measurements(tmp_path / "bad.npy")
    np.save(tmp_path / "nan.npy", np.array([1.0, np.nan]))
    with data_error(r"nan\.npy: values contain 1 non-finite entry .*first at point 1, column"):
        load_measurements(tmp_path / "nan.npy")


def test_loader_bad_scale(tmp_path: Path) -> None:
    with data_error("scale must be a positive finite number, got -1"):
        load_measurements(write(tmp_path, "v.txt", "1\n2\n"), scale=-1)


def test_wrong_number_of_error_column_names() -> None:
    with data_error("got 1 names of errors columns for 2 columns"):
        Measurements.from_arrays(np.zeros((2, 2)), errors=np.ones((2, 2)), error_columns=["e"])


def test_csv_with_bom_crlf_and_quoted_header(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_bytes('\ufeff"","v"\r\n"1",1e3\r\n"2",-2.5\r\n'.encode())
    m = load_measurements(path)
    assert m.columns == ("v",)
    np.testing.assert_array_equal(m.values[:, 0], [1000.0, -2.5])


def test_source_is_a_string(tmp_path: Path) -> None:
    m = Measurements(np.zeros((1, 1)), None, ("x",), tmp_path)  # type: ignore[arg-type]
    assert m.source == str(tmp_path)
    assert "n_points=1" in repr(m)
