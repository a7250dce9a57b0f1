"""Which code path each run took (compiled or numpy), as one line of the report's facts."""

from __future__ import annotations

from nestmix.errors import NestmixError
from nestmix.store.archive import SweepArchive

__all__ = ["compiled_path_fact"]


def compiled_path_fact(archive: SweepArchive) -> tuple[str, str] | None:
    """``("code path", text)`` summing up the runs' recorded paths, or None when no run
    recorded one (runs written before nestmix recorded it)."""
    compiled, numpy, unknown = [], [], 0
    for row in archive.result.rows:
        try:
            backend = archive.run(row.k, row.sampler).backend
        except (NestmixError, OSError):  # a run not on disk (or broken): nothing recorded
            backend = {}
        if "compiled_path" not in backend:
            unknown += 1
        elif backend["compiled_path"]:
            compiled.append(row)
        else:
            numpy.append((row, backend.get("numpy_parts", [])))
    if not compiled and not numpy:
        return None
    if not numpy:
        text = f"compiled prior and likelihood in every run ({len(compiled)})"
    else:
        text = "; ".join(f"K={row.k} {row.sampler}: numpy for {', '.join(parts)}"
                         for row, parts in numpy)
        text += f"; compiled in {len(compiled)} run(s)" if compiled else ""
    if unknown:
        text += f"; not recorded in {unknown} run(s)"
    return "code path", text
