"""Read measurements from files: whitespace text, CSV with named columns, NumPy ``.npy``.

A CSV file may be separated by commas, semicolons or tabs (:func:`csv_delimiter` tells which
from the header row); a ``.tsv`` file is read as tab-separated.

Each loader returns a validated :class:`~nestmix.data.measurements.Measurements`; every problem (a
missing or empty file, an unknown column, a cell that is not a number, ...) raises one
:class:`~nestmix.errors.DataError` naming it, with the file's line number where there is one.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nestmix.data.measurements import Measurements, _assemble, _check_extra, _Lines, _name_list
from nestmix.errors import DataError

__all__ = ["CSV_SUFFIXES", "csv_delimiter", "delimiter_name", "load_measurements",
           "unnamed_column_problem"]

MAX_DATA_BYTES = 4 * 2**30
CSV_SUFFIXES = (".csv", ".tsv")
"""Files read as delimited text with a header row (anything else but ``.npy``: whitespace)."""
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


def csv_delimiter(path: str | os.PathLike[str], header: str) -> str:
    """The delimiter of a CSV file, from its header row: a tab for ``.tsv``; else a comma when
    the header holds one, else a semicolon or a tab when it holds one (Excel in many locales
    writes ``;``), else a comma (one column)."""
    if Path(path).suffix.lower() == ".tsv":
        return "\t"
    return next((d for d in (",", ";", "\t") if d in header), ",")


def delimiter_name(delimiter: str) -> str:
    """``comma``, ``semicolon`` or ``tab``."""
    return _DELIMITER_NAMES.get(delimiter, repr(delimiter))


def unnamed_column_problem(path: str | os.PathLike[str], header: Sequence[str],
                           rows: Sequence[Sequence[str]], delimiter: str = ",") -> str | None:
    """The error for a column with no name in the header that holds values in ``rows`` (a
    trailing delimiter in the header, say), or None. The first column may be unnamed: an
    R- or pandas-style index, ignored."""
    for i, name in enumerate(header):
        if i == 0 or name.strip():
            continue
        if any(i < len(row) and row[i].strip() for row in rows):
            spelled = delimiter.join(h.strip() for h in header)
            return (f"column {i + 1} of {path} has no name in the header ({spelled!r}) but "
                    "holds values: name it, or remove it (only the first column may be "
                    "unnamed, an index that is ignored)")
    return None


def _check_file(path: Path) -> Path:
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    if not path.is_file():
        raise DataError(f"cannot read data file {path}: not a regular file")
    if path.stat().st_size == 0:
        raise DataError(f"data file is empty: {path}")
    if path.stat().st_size > MAX_DATA_BYTES:
        raise DataError(f"data file is over {MAX_DATA_BYTES // 2**30} GiB: {path}")
    return path


def _read_text(path: Path) -> str:
    try:
        text = _check_file(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read data file {path}: {exc}") from None
    if not text.strip():
        raise DataError(f"data file is empty: {path}")
    return text


def _parse_float(cell: str, where: str) -> float:
    try:
        return float(cell)
    except ValueError:
        raise DataError(f"cannot read {cell!r} as a number at {where}") from None


def _load_text(path: Path) -> tuple[np.ndarray, Sequence[int]]:
    """Numbers from a whitespace text file, with the file line of each row.

    A plain file (a number on every line, nothing else) is read by NumPy's own parser, fast
    and without a Python object per number; anything else (comments, blank lines, a bad cell)
    by the line-by-line reader, whose errors name the line.
    """
    fast = _load_plain_text(path)
    if fast is not None:
        return fast, range(1, fast.shape[0] + 1)
    return _load_text_by_line(path)


def _load_plain_text(path: Path) -> np.ndarray | None:
    """The numbers of a file with no comments, blank lines or BOM, or None for any other."""
    _check_file(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(3)
            if head.startswith(b"\xef\xbb\xbf"):
                return None
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an empty-line warning: let the slow path say it
            values = np.loadtxt(path, dtype=float, comments=None, ndmin=2, encoding="utf-8")
        with open(path, "rb") as handle:
            newlines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(2**20), b""))
            handle.seek(-1, 2)
            last = handle.read(1)
    except (OSError, ValueError, UnicodeDecodeError, Warning):
        return None
    n_lines = newlines + (last != b"\n")
    if values.shape[0] != n_lines or values.size == 0:
        return None  # blank lines were skipped: their numbering is the slow path's
    return values


def _load_text_by_line(path: Path) -> tuple[np.ndarray, list[int]]:
    rows: list[list[float]] = []
    lines: list[int] = []
    for lineno, line in enumerate(_read_text(path).splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        where = f"line {lineno} of {path}; text files hold numbers only (use a .csv file)"
        row = [_parse_float(f, where) for f in fields]
        if rows and len(row) != len(rows[0]):
            raise DataError(f"line {lineno} of {path} has {len(row)} numbers but line "
                            f"{lines[0]} has {len(rows[0])}")
        rows.append(row)
        lines.append(lineno)
    if not rows:
        raise DataError(f"data file is empty (only comments): {path}")
    return np.array(rows), lines


def _load_csv(
    path: Path, columns: list[str] | None, errors: list[str] | None,
    correlations: list[str] | None, extra: list[str] | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, list[str], list[int],
           dict[str, np.ndarray] | None]:
    """Read a CSV file; return values, errors, correlations, value columns, line numbers, extra."""
    lines = _read_text(path).splitlines()
    delimiter = csv_delimiter(path, lines[0] if lines else "")
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise DataError(f"cannot read data file {path}: {exc}") from None
    header = [h.strip() for h in rows.pop(0)[1]]
    rows = [(line, row) for line, row in rows if any(c.strip() for c in row)]
    named = [h for h in header if h]
    if columns is None:
        problem = unnamed_column_problem(path, header, [row for _, row in rows], delimiter)
        if problem is not None:
            raise DataError(problem)
        if len(named) != 1:
            raise DataError(f"{path} has {len(named)} named columns ({', '.join(named)}); "
                            "choose the value columns with columns=[...]")
        columns = named
    if not columns:
        raise DataError("columns must name at least one value column")
    if not all(c.strip() for c in columns):
        raise DataError(f"column names must not be empty, got {columns!r}")
    if errors is not None and len(errors) != len(columns):
        raise DataError(f"give one error column per value column: {len(columns)} value "
                        f"columns but {len(errors)} error columns")
    if extra is not None and len(set(extra)) != len(extra):
        raise DataError(f"extra column names must be unique, got {extra!r}")
    wanted = [*columns, *(errors or []), *(correlations or [])]
    wanted += [name for name in extra or [] if name not in wanted]
    for name in wanted:
        if name not in header or not name:
            seen = (f" (read as {delimiter_name(delimiter)}-separated)"
                    if len(named) <= 1 else "")
            raise DataError(f"unknown column {name!r} in {path}; available: "
                            f"{', '.join(named)}{seen}")
        if header.count(name) > 1:
            raise DataError(f"column {name!r} appears {header.count(name)} times in {path}")
    if not rows:
        raise DataError(f"{path} has a header but no data rows")
    table = np.empty((len(rows), len(wanted)))
    for r, (line, row) in enumerate(rows):
        if len(row) != len(header):
            raise DataError(f"line {line} of {path} has {len(row)} fields but the header has "
                            f"{len(header)}")
        for k, name in enumerate(wanted):
            where = f"line {line}, column {name!r} of {path}"
            table[r, k] = _parse_float(row[header.index(name)].strip(), where)
    nv, ne = len(columns), len(errors or [])
    err = table[:, nv:nv + ne] if errors else None
    nc = len(correlations or [])
    corr = table[:, nv + ne:nv + ne + nc] if correlations else None
    extra_arrays = None if extra is None else {name: table[:, wanted.index(name)]
                                                for name in extra}
    return table[:, :nv], err, corr, columns, [line for line, _ in rows], extra_arrays


def load_measurements(
    path: str | os.PathLike[str], *, columns: Sequence[str] | str | None = None,
    errors: Sequence[str] | str | None = None,
    correlations: Sequence[str] | str | None = None, scale: float | None = None,
    extra: Sequence[str] | str | None = None,
) -> Measurements:
    """Load measurements from a text, CSV or NumPy file.

    Parameters
    ----------
    path : str or path-like
        ``.csv``: comma-, semicolon- or tab-separated (:func:`csv_delimiter`) with a header
        row (an unnamed first column, an R- or pandas-style index, is ignored; any other
        unnamed column holding values is refused). ``.tsv``: the same, tab-separated.
        ``.npy``: an array of shape ``(N,)`` or ``(N, D)``. Anything else:
        whitespace-separated numbers, one point per line, ``#`` comments allowed.
    columns, errors, correlations : sequence of str, optional
        CSV only: names of the value columns (default: the only named column), of their
        standard deviations (one per value column) and of the correlations (pairs ordered
        (0,1), (0,2), ..., (1,2), ...).
    scale : float, optional
        Positive factor multiplying values and errors.
    extra : sequence of str, optional
        CSV only: names of extra columns (e.g. ``["x"]``) kept as ``Measurements.extra`` for
        custom components; not scaled.

    Returns
    -------
    Measurements
        With ``source`` set to ``str(path)``.

    Raises
    ------
    DataError
        If the file is missing, empty or unreadable, names an unknown column, holds a
        non-numeric cell, or the numbers fail the checks of :meth:`Measurements.from_arrays`.
    """
    path = Path(path)
    cols = _name_list(columns, "column")
    errs, corrs = _name_list(errors, "error column"), _name_list(correlations, "correlation")
    extra_names = _name_list(extra, "extra column")
    suffix = path.suffix.lower()
    err_arr: np.ndarray | None = None
    corr_arr: np.ndarray | None = None
    extra_arrays: dict[str, np.ndarray] | None = None
    lines: _Lines = None
    if suffix in CSV_SUFFIXES:
        vals, err_arr, corr_arr, cols, lines, extra_arrays = _load_csv(path, cols, errs, corrs,
                                                                       extra_names)
    else:
        kind = ".npy" if suffix == ".npy" else "text"
        if not (cols is errs is corrs is extra_names is None):
            raise DataError(f"column names need a CSV file with a header; {path} is a {kind} "
                            "file whose columns are all values (or use Measurements.from_arrays)")
        if suffix == ".npy":
            try:
                vals = np.load(_check_file(path), allow_pickle=False)
            except (OSError, ValueError, EOFError) as exc:
                raise DataError(f"cannot read data file {path}: {exc}") from None
        else:
            vals, lines = _load_text(path)
    try:
        vals, cov, cols_t = _assemble(vals, err_arr, corr_arr, None, cols, scale, errs, corrs,
                                      lines)
        extra_map = _check_extra(extra_arrays, vals.shape[0], lines)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    return Measurements(vals, cov, cols_t, str(path), extra_map)
