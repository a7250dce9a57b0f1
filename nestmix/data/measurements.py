"""Measurements: data values with optional per-point measurement uncertainties.

Error model: each data point ``x_i`` (a row of ``values``, ``D`` columns) is its true value
plus Gaussian noise with a known covariance ``S_i`` (``D x D``). During deconvolution the
likelihood of ``x_i`` under a mixture component with covariance ``C_k`` uses ``C_k + S_i``;
that happens in the model code. This module validates the numbers; :mod:`nestmix.data.loaders`
reads them from files.

``S_i`` can be given as standard deviations ``errors`` (diagonal ``S_i``), as standard
deviations plus correlation coefficients (the Gaia convention: ``pmra_error``,
``pmdec_error``, ``pmra_pmdec_corr``; ``S_i = diag(err_i) R_i diag(err_i)``, pairs ordered
(0,1), (0,2), ..., (0,D-1), (1,2), ...) or as full ``(N, D, D)`` covariances.

Every problem raises one :class:`~nestmix.errors.DataError` naming it; points are named by
0-based row index (and, for files, line number).
"""

from __future__ import annotations

import hashlib
import json
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nestmix.errors import DataError

__all__ = ["Measurements"]

_Lines = Sequence[int] | None  # file line number of each point, for messages
_SYMMETRY_RTOL = 1e-8


def _point(i: int, lines: _Lines) -> str:
    return f"point {i}" if lines is None else f"point {i} (line {lines[i]})"


def _as_float_array(obj: Any, what: str) -> np.ndarray:
    """Convert ``obj`` to a float64 array, turning every failure into a DataError."""
    if obj is None:
        raise DataError(f"{what} must be numbers, got None")
    try:
        arr = np.asarray(obj)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} must be an array of numbers: {exc}") from None
    if arr.dtype.kind not in "iufO":
        raise DataError(f"{what} must be numbers, got an array of dtype {arr.dtype}")
    try:
        return np.array(arr, dtype=np.float64, order="C")
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} must be numbers: {exc}") from None


def _frozen(arr: np.ndarray) -> np.ndarray:
    out = np.array(arr, dtype=np.float64, order="C", copy=True)
    out.flags.writeable = False
    return out


def _check_finite(arr: np.ndarray, what: str, names: Sequence[str] | None, lines: _Lines) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        i, j = (int(k) for k in np.argwhere(bad)[0][:2])
        where = _point(i, lines) if names is None else f"{_point(i, lines)}, column {names[j]!r}"
        count = int(bad.sum())
        raise DataError(f"{what} contain {count} non-finite entr{'y' if count == 1 else 'ies'} "
                        f"(NaN or inf); first at {where}")


def _per_point(
    obj: Any, what: str, n: int, k: int, names: Sequence[str], lines: _Lines, noun: str,
    rule: str, is_bad: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """Convert per-point errors or correlations to shape (n, k) and check them."""
    if len(names) != k:
        raise DataError(f"got {len(names)} names of {what} columns for {k} columns")
    arr = _as_float_array(obj, what)
    if arr.ndim == 1 and k == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != k:
        expected = f"({n},) or ({n}, 1)" if k == 1 else f"({n}, {k})"
        raise DataError(f"{what} have shape {arr.shape}; expected {expected} (one {noun} per "
                        + ("value column)" if noun == "error" else "pair of value columns)"))
    if arr.shape[0] != n:
        raise DataError(f"{what} have {arr.shape[0]} rows but values have {n}")
    _check_finite(arr, what, names, lines)
    bad = is_bad(arr)
    if bad.any():
        i, j = (int(x) for x in np.argwhere(bad)[0])
        raise DataError(f"{what} must {rule}; {_point(i, lines)} has {noun} {arr[i, j]:g} "
                        f"in column {names[j]!r}")
    return arr


def _check_covariances(cov: np.ndarray, n: int, d: int, lines: _Lines) -> np.ndarray:
    """Check an (N, D, D) stack is finite, symmetric and positive definite; symmetrise it."""
    if cov.ndim != 3 or cov.shape[1:] != (d, d):
        raise DataError(f"covariances have shape {cov.shape}; expected ({n}, {d}, {d})")
    if cov.shape[0] != n:
        raise DataError(f"covariances have {cov.shape[0]} rows but values have {n}")
    _check_finite(cov.reshape(n, d * d), "covariances", None, lines)
    asym = np.abs(cov - cov.transpose(0, 2, 1))
    tol = _SYMMETRY_RTOL * np.abs(cov).max(axis=(1, 2))
    bad = asym.max(axis=(1, 2)) > tol
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        j, k = np.unravel_index(int(np.argmax(asym[i])), (d, d))
        raise DataError(f"covariance of {_point(i, lines)} is not symmetric: entry [{j}, {k}] "
                        f"is {cov[i, j, k]:g} but entry [{k}, {j}] is {cov[i, k, j]:g}")
    cov = 0.5 * (cov + cov.transpose(0, 2, 1))
    try:
        np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        for i in range(n):
            try:
                np.linalg.cholesky(cov[i])
            except np.linalg.LinAlgError:
                msg = f"covariance of {_point(i, lines)} is not positive definite"
                raise DataError(msg) from None
        raise DataError("covariances are not positive definite") from None  # pragma: no cover
    return cov


def _name_list(names: Any, what: str) -> list[str] | None:
    """Turn None, one name or a sequence of names into a list of str (or None)."""
    if names is None:
        return None
    try:
        names = [names] if isinstance(names, str) else list(names)
    except TypeError:
        raise DataError(f"{what} must be a sequence of names, got {names!r}") from None
    if not all(isinstance(c, str) for c in names):
        raise DataError(f"{what} names must be strings, got {names!r}")
    return names


def _check_columns(columns: Any, d: int) -> tuple[str, ...]:
    if columns is None:
        return ("x",) if d == 1 else tuple(f"x{j}" for j in range(d))
    columns = tuple(_name_list(columns, "column") or ())
    if len(columns) != d:
        raise DataError(f"got {len(columns)} column names for {d} value columns")
    if len(set(columns)) != len(columns):
        raise DataError(f"column names must be unique, got {columns!r}")
    return columns


def _check_scale(scale: Any) -> float:
    real = isinstance(scale, numbers.Real) and not isinstance(scale, bool)
    if not (real and np.isfinite(scale) and scale > 0):
        raise DataError(f"scale must be a positive finite number, got {scale!r}")
    return float(scale)


def _assemble(
    values: Any, errors: Any, correlations: Any, covariances: Any, columns: Any, scale: Any,
    error_columns: Sequence[str] | None, correlation_columns: Sequence[str] | None,
    lines: _Lines,
) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...]]:
    """Validate raw inputs and return (values, covariances, columns)."""
    vals = _as_float_array(values, "values")
    if vals.ndim == 1:
        vals = vals[:, None]
    if vals.ndim != 2:
        raise DataError(f"values have shape {vals.shape}; expected (N,) or (N, D)")
    n, d = vals.shape
    if n == 0 or d == 0:
        raise DataError("need at least one data point" if n == 0 else "values have no columns")
    cols = _check_columns(columns, d)
    _check_finite(vals, "values", cols, lines)
    if errors is not None and covariances is not None:
        raise DataError("give either errors (with optional correlations) or covariances, not both")
    if correlations is not None and errors is None:
        raise DataError("correlations need errors (standard deviations) to go with them")
    factor = 1.0 if scale is None else _check_scale(scale)

    cov = None
    if errors is not None:
        err = _per_point(errors, "errors", n, d, error_columns or cols, lines, "error",
                         "be positive", lambda e: e <= 0)
        corr_matrix = np.broadcast_to(np.eye(d), (n, d, d)).copy()
        if correlations is not None:
            if d < 2:
                raise DataError("correlations need at least two value columns")
            pairs = [(a, b) for a in range(d) for b in range(a + 1, d)]
            names = correlation_columns or [f"corr({cols[a]}, {cols[b]})" for a, b in pairs]
            rho = _per_point(correlations, "correlations", n, len(pairs), names, lines,
                             "correlation", "lie strictly between -1 and 1",
                             lambda r: np.abs(r) >= 1)
            for p, (a, b) in enumerate(pairs):
                corr_matrix[:, a, b] = corr_matrix[:, b, a] = rho[:, p]
        cov = err[:, :, None] * corr_matrix * err[:, None, :]
    elif covariances is not None:
        cov = _as_float_array(covariances, "covariances")
    if cov is not None:
        with np.errstate(over="ignore"):
            cov = _check_covariances(cov, n, d, lines) * factor**2
    with np.errstate(over="ignore"):
        vals = vals * factor
    _check_magnitude(vals, cov, cols, lines)
    return vals, cov, cols


#: Largest magnitude of a (scaled) value: squares and sums of squares of larger ones overflow
#: in a likelihood, and no prior is written for them.
MAX_MAGNITUDE = 1e100


def _check_magnitude(vals: np.ndarray, cov: np.ndarray | None, cols: Sequence[str],
                     lines: _Lines) -> None:
    big = ~(np.abs(vals) <= MAX_MAGNITUDE)
    if big.any():
        i, j = (int(k) for k in np.argwhere(big)[0][:2])
        raise DataError(f"values must be at most {MAX_MAGNITUDE:g} in magnitude (after any "
                        f"scale), got {vals[i, j]:g} at {_point(i, lines)}, column "
                        f"{cols[j]!r}: rescale them with [data] scale")
    if cov is not None and not np.all(np.abs(cov) <= MAX_MAGNITUDE**2):
        i = int(np.argwhere(~(np.abs(cov) <= MAX_MAGNITUDE**2))[0][0])
        raise DataError(f"uncertainties must be at most {MAX_MAGNITUDE:g} in magnitude (after "
                        f"any scale), larger at {_point(i, lines)}: rescale them with [data] "
                        "scale")


def _check_extra(extra: Any, n: int, lines: _Lines) -> Mapping[str, np.ndarray] | None:
    """Check named extra columns (length-N float arrays); return a read-only mapping or None."""
    if extra is None:
        return None
    if not isinstance(extra, Mapping):
        raise DataError(f"extra columns must be a mapping of name -> array, got {extra!r}")
    out = {}
    for name, column in extra.items():
        if not isinstance(name, str) or not name:
            raise DataError(f"extra column names must be non-empty strings, got {name!r}")
        arr = _as_float_array(column, f"extra column {name!r}")
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.shape != (n,):
            raise DataError(f"extra column {name!r} has shape {arr.shape}; expected ({n},), "
                            "one value per data point")
        _check_finite(arr[:, None], f"extra column {name!r}", [name], lines)
        out[name] = _frozen(arr)
    return ExtraColumns(out) if out else None


class ExtraColumns(Mapping):
    """Read-only (and picklable) mapping of extra column name → read-only float64 array."""

    def __init__(self, columns: Mapping[str, np.ndarray]) -> None:
        self._columns = dict(columns)

    def __getitem__(self, name: str) -> np.ndarray:
        return self._columns[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    def __repr__(self) -> str:
        return f"ExtraColumns({', '.join(self._columns)})"


@dataclass(frozen=True, eq=False, repr=False)
class Measurements:
    """Data values with optional per-point measurement covariances.

    Build instances with :meth:`from_arrays` or :func:`load_measurements`; direct
    construction is checked too. Arrays are stored as read-only float64 copies.

    Parameters
    ----------
    values : numpy.ndarray
        Data, shape ``(N, D)``.
    covariances : numpy.ndarray or None
        Symmetric positive definite measurement covariances ``(N, D, D)``, or None.
    columns : tuple of str
        Names of the ``D`` value columns.
    source : str
        Where the data came from: a file path, or ``"array"``.
    extra : mapping of str to numpy.ndarray, or None
        Named extra columns (read-only float64 arrays of length ``N``, e.g. the ``x`` of a
        regression) that custom components may use; not values, not scaled, not deconvolved.
    """

    values: np.ndarray
    covariances: np.ndarray | None
    columns: tuple[str, ...]
    source: str = "array"
    extra: Mapping[str, np.ndarray] | None = None

    def __post_init__(self) -> None:
        """Check the fields and store read-only float64 copies."""
        vals = _as_float_array(self.values, "values")
        if vals.ndim != 2 or 0 in vals.shape:
            raise DataError(f"Measurements needs values of shape (N, D), got {vals.shape}; "
                            "use Measurements.from_arrays for other shapes")
        cols = _check_columns(self.columns, vals.shape[1])
        _check_finite(vals, "values", cols, None)
        cov = self.covariances
        if cov is not None:
            cov = _as_float_array(cov, "covariances")
            n, d = vals.shape
            cov = _frozen(_check_covariances(cov, n, d, None))
        object.__setattr__(self, "values", _frozen(vals))
        object.__setattr__(self, "covariances", cov)
        object.__setattr__(self, "columns", cols)
        object.__setattr__(self, "source", str(self.source))
        object.__setattr__(self, "extra", _check_extra(self.extra, vals.shape[0], None))

    @classmethod
    def from_arrays(
        cls, values: Any, errors: Any = None, correlations: Any = None,
        covariances: Any = None, columns: Sequence[str] | str | None = None,
        scale: float | None = None, source: str = "array", *,
        error_columns: Sequence[str] | None = None,
        correlation_columns: Sequence[str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Measurements:
        """Build measurements from arrays, checking every input.

        Parameters
        ----------
        values : array_like
            Data, shape ``(N,)`` (one column) or ``(N, D)``.
        errors : array_like, optional
            Standard deviations, shape ``(N, D)`` (or ``(N,)`` when ``D == 1``); positive.
        correlations : array_like, optional
            Only with ``errors`` and ``D >= 2``: shape ``(N, D*(D-1)/2)``, pairs ordered
            (0,1), (0,2), ..., (0,D-1), (1,2), ... (or ``(N,)`` when ``D == 2``); in (-1, 1).
        covariances : array_like, optional
            Full covariances ``(N, D, D)``, symmetric positive definite; not with ``errors``.
        columns : sequence of str, optional
            Value column names; default ``("x",)`` for one column, else ``("x0", ...)``.
        scale : float, optional
            Positive factor multiplying values and errors (covariances by ``scale**2``).
        source : str
            Where the data came from.
        error_columns, correlation_columns : sequence of str, optional
            Names of the error and correlation columns, used only in error messages.
        extra : mapping of str to array_like, optional
            Named extra columns, one finite value per point (not scaled).

        Returns
        -------
        Measurements

        Raises
        ------
        DataError
            For any unusable input, with one message naming the problem.
        """
        vals, cov, cols = _assemble(values, errors, correlations, covariances, columns, scale,
                                    error_columns, correlation_columns, None)
        return cls(vals, cov, cols, source, extra)

    @property
    def n_points(self) -> int:
        """Number of data points ``N``."""
        return int(self.values.shape[0])

    @property
    def n_dims(self) -> int:
        """Number of value columns ``D``."""
        return int(self.values.shape[1])

    @property
    def has_errors(self) -> bool:
        """Whether the points carry measurement covariances."""
        return self.covariances is not None

    @property
    def errors(self) -> np.ndarray | None:
        """Per-point standard deviations, shape ``(N, D)``, or None without errors."""
        if self.covariances is None:
            return None
        return _frozen(np.sqrt(np.diagonal(self.covariances, axis1=1, axis2=2)))

    @property
    def ranges(self) -> np.ndarray:
        """Minimum and maximum of each value column, shape ``(D, 2)``."""
        return _frozen(np.stack([self.values.min(axis=0), self.values.max(axis=0)], axis=1))

    def fingerprint(self) -> str:
        """Return a SHA-256 hex digest of the numbers, shapes and column names.

        Identical data give identical fingerprints; changing any value, uncertainty or
        column name changes it. ``source`` is not included. Extra columns enter only when
        there are some, so data without them keep their fingerprints.
        """
        h = hashlib.sha256(b"nestmix.Measurements.v1\0")
        cov_shape = None if self.covariances is None else list(self.covariances.shape)
        meta = {"values": list(self.values.shape), "covariances": cov_shape,
                "columns": list(self.columns)}
        h.update(json.dumps(meta, sort_keys=True).encode())
        h.update(self.values.astype("<f8").tobytes())
        cov = self.covariances
        h.update(b"\0no-covariances\0" if cov is None else cov.astype("<f8").tobytes())
        if self.extra:
            h.update(b"\0extra\0" + json.dumps(sorted(self.extra)).encode())
            for name in sorted(self.extra):
                h.update(self.extra[name].astype("<f8").tobytes())
        return h.hexdigest()

    def require_points(self, n_params: int, what: str) -> None:
        """Raise DataError if there are fewer data points than free parameters.

        Parameters
        ----------
        n_params : int
            Number of free parameters of the model.
        what : str
            Name of the model, used in the message.
        """
        if self.n_points < n_params:
            raise DataError(f"the data have {self.n_points} points but {what} has {n_params} "
                            "free parameters; use fewer components or more data")

    def __repr__(self) -> str:
        errs = "with errors" if self.has_errors else "no errors"
        extra = f", extra={tuple(self.extra)!r}" if self.extra else ""
        return (f"Measurements(n_points={self.n_points}, columns={self.columns!r}, {errs}"
                f"{extra}, source={self.source!r})")
