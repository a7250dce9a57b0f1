"""The run directory: ``runs/<sweep>/`` with one sub-directory per (K, sampler).

Layout::

    runs/<sweep>/manifest.json          what the sweep was made from (data, model, samplers)
    runs/<sweep>/summary.json           the evidence table so far
    runs/<sweep>/data.npz               a copy of the data (values, covariances, extra columns)
    runs/<sweep>/K=<k>/<sampler>/       run.json, samples.npz, manifest.json,
                                        modes.json, modes.npz (relabelling, census, modes,
                                        memberships), chains/ (the sampler's own files)
    runs/<sweep>/K=<k>/<sampler>.repeat<r>/   the same for repeat r = 2, 3, ... (another seed)

A run directory is written under a temporary name and renamed into place when complete, so a
crash never leaves a half-written run that looks finished, and two workers finishing the same
run (a task retried after its worker was lost) leave one copy of it. Before reusing anything the
store compares fingerprints and refuses to mix runs made from different data, priors or
settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nestmix.errors import RunStoreError
from nestmix.results import NestedRun, SweepResult, ln_z_spelled
from nestmix.runtime.atomic import current_umask, write_bytes_atomic, write_json_atomic
from nestmix.store.lock import LOCK_NAME, check_not_locked

if TYPE_CHECKING:
    from nestmix.data.measurements import Measurements

__all__ = ["GRID_MANIFEST", "ZERO_CONFIG_FILE", "CorruptRunError", "RunStore", "fingerprint",
           "grid_refusal", "run_name"]

MANIFEST = "manifest.json"
SUMMARY = "summary.json"
MODES_SUMMARY = "modes.json"
DATA = "data.npz"
MODES_ARRAYS = "modes.npz"


def fingerprint(obj: Any) -> str:
    """sha256 of the canonical JSON form of ``obj``."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


ZERO_CONFIG_FILE = "config.toml"
"""The configuration ``nestmix sweep points.csv`` keeps in its sweep's directory: a directory
holding nothing else may become a sweep (the command checks the file before writing it)."""

GRID_MANIFEST = "grid.json"
"""The file that marks a models × K grid directory (:mod:`nestmix.store.grid`)."""


def grid_refusal(directory: str | Path) -> str:
    """The one-line message for a grid directory opened as one sweep.

    Parameters
    ----------
    directory : str or Path
        A grid directory.

    Returns
    -------
    str
        What the directory is and how to open it: the grid with ``open_sweep(directory)``, or
        one model's sweep with ``open_sweep(directory, model=<label>)``.
    """
    directory = Path(directory)
    models = sorted(p.name.removeprefix("model=") for p in directory.glob("model=*")
                    if p.is_dir())
    first = models[0] if models else "<label>"
    which = f" of {len(models)} models ({', '.join(models)})" if models else ""
    return (f"{directory} is a models × K grid{which}, not one sweep: load the grid's evidence "
            f"table with nestmix.open_sweep('{directory}'), or one model's sweep with "
            f"nestmix.open_sweep('{directory}', model='{first}')")


class RunStore:
    """Reads and writes one sweep's directory.

    Parameters
    ----------
    directory : str or Path
        The sweep's directory, e.g. ``runs/galaxies``.

    owner : str, optional
        The id of the sweep writing through this store: every write first checks that the
        directory's manifest still names it (:meth:`check_owner`), so a sweep whose directory
        was deleted and made again by another never adds its runs to the other's.
    """

    def __init__(self, directory: str | Path, owner: str | None = None) -> None:
        self.directory = Path(directory)
        self.owner = owner

    # ----------------------------------------------------------- the sweep
    def prepare(self, manifest: Mapping[str, Any], samplers: Sequence[str],
                ignored: Mapping[str, Collection[str]] | None = None) -> None:
        """Create the directory (or check it can be resumed) and record the manifest.

        ``manifest`` holds ``data``, ``model`` and ``samplers`` (a mapping from sampler name to
        its settings and seed). An existing directory must agree on data and model, and on the
        settings of each of ``samplers`` that ran there before; other samplers may be added.
        ``ignored`` names, per sampler, settings an older manifest may hold that are not
        compared (execution settings that nestmix up to 0.1.0 recorded).

        Raises
        ------
        RunStoreError
            If the directory cannot be written, or holds a sweep made differently.
        """
        old = self.check_resumable(manifest, samplers, ignored)
        self._ensure_writable()
        if old is not None:
            merged = {**old.get("samplers", {}), **manifest["samplers"]}
            manifest = {**old, **manifest, "samplers": merged}
        if self.owner is not None:
            manifest = {**manifest, "sweep_id": self.owner}
        write_json_atomic(self.directory / MANIFEST, manifest)
        for stale in self.directory.glob("K=*/.*.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        # work directories (K=<k>/.<sampler>.work) are kept: a sampler resumes from them

    def check_resumable(self, manifest: Mapping[str, Any], samplers: Sequence[str],
                        ignored: Mapping[str, Collection[str]] | None = None) -> dict | None:
        """The checks of :meth:`prepare`, writing nothing: the directory is new, empty or a
        sweep made the same way (see :meth:`prepare` for the arguments), and no sweep holds
        it now.

        Returns
        -------
        dict or None
            The directory's manifest, None when it holds no sweep yet.

        Raises
        ------
        RunStoreError
            If the directory is not a nestmix sweep, is in use, or holds a sweep made
            differently.
        """
        self.check_ours()
        check_not_locked(self.directory)
        path = self.directory / MANIFEST
        if not path.exists():
            return None
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise RunStoreError(f"cannot read {path}: {exc}") from exc
        if not isinstance(old, dict):
            raise RunStoreError(f"{path} is corrupt (not a JSON object); run the sweep again "
                                "into a new --out")
        differences = _differences(old, manifest, samplers, ignored or {})
        if differences:
            raise RunStoreError(
                f"{self.directory} holds a sweep made with different "
                f"{'; '.join(differences)}. Refusing to mix results: choose another "
                "directory with --out, or delete this one to start again."
            )
        return old

    def check_ours(self) -> None:
        """Refuse an existing, non-empty directory that is not a nestmix sweep (no manifest):
        nestmix never writes into, or deletes from, a directory it did not make. A directory
        holding only a ``config.toml`` (:data:`ZERO_CONFIG_FILE`) may become one.

        Raises
        ------
        RunStoreError
        """
        if not self.directory.is_dir() or (self.directory / MANIFEST).exists():
            return
        foreign = sorted(p.name for p in self.directory.iterdir()
                         if p.name not in (LOCK_NAME, ZERO_CONFIG_FILE))
        if foreign:
            raise RunStoreError(
                f"{self.directory} is not empty ({foreign[0]!r}"
                f"{f' and {len(foreign) - 1} more' if len(foreign) > 1 else ''}) and is not a "
                f"nestmix sweep (no {MANIFEST}): refusing to write into it; give --out a new "
                "or empty directory")

    def check_owner(self) -> None:
        """Raise RunStoreError unless the directory's manifest still names :attr:`owner` (when
        there is one): the directory was deleted, or taken over by another sweep."""
        if self.owner is None:
            return
        try:
            current = json.loads((self.directory / MANIFEST).read_text()).get("sweep_id")
        except (OSError, ValueError, AttributeError):
            current = None
        if current != self.owner:
            raise RunStoreError(
                f"{self.directory} was deleted or taken over by another sweep while this one "
                "ran; stopping without adding this sweep's runs to it (its table is not "
                "mixed): run the sweep again, with another --out if the other one is wanted")

    def _ensure_writable(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=self.directory)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise RunStoreError(f"cannot write to run directory {self.directory}: "
                                f"{exc.strerror or exc}") from exc

    def manifest(self) -> dict:
        """The sweep's manifest."""
        path = self.directory / MANIFEST
        if not path.exists():
            if (self.directory / GRID_MANIFEST).is_file():
                raise RunStoreError(grid_refusal(self.directory))
            raise RunStoreError(f"{self.directory} is not a nestmix sweep (no {MANIFEST})")
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise RunStoreError(f"{path} is corrupt or unreadable ({_reason(exc)}); it cannot "
                                "be rebuilt: run the sweep again into a new --out") from None
        if not isinstance(manifest, dict):
            raise RunStoreError(f"{path} is corrupt (not a JSON object); run the sweep again "
                                "into a new --out")
        return manifest

    def save_data(self, data: Measurements) -> None:
        """Keep a copy of the sweep's data (``data.npz``), so the directory stands on its own."""
        import io

        import numpy as np

        arrays: dict[str, Any] = {"values": np.asarray(data.values),
                  "columns": np.array(list(data.columns), dtype=str),
                  "source": np.array(data.source, dtype=str)}
        if data.covariances is not None:
            arrays["covariances"] = np.asarray(data.covariances)
        for name, column in (data.extra or {}).items():
            arrays[f"extra:{name}"] = np.asarray(column)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        self.check_owner()
        write_bytes_atomic(self.directory / DATA, buffer.getvalue())

    def load_data(self) -> Measurements | None:
        """The sweep's data as stored by :meth:`save_data`, or None for older sweeps."""
        import numpy as np

        from nestmix.data.measurements import Measurements

        path = self.directory / DATA
        if not path.exists():
            return None
        try:
            with open(path, "rb") as handle, np.load(handle) as arrays:
                extra = {name[6:]: arrays[name] for name in arrays.files
                         if name.startswith("extra:")}
                return Measurements(values=arrays["values"],
                                    covariances=arrays["covariances"]
                                    if "covariances" in arrays.files else None,
                                    columns=tuple(str(c) for c in arrays["columns"]),
                                    source=str(arrays["source"]), extra=extra or None)
        except Exception as exc:  # zip, pickle, key or shape errors of a damaged file
            raise RunStoreError(f"{path} is corrupt ({_reason(exc)}); run the sweep again "
                                "(it writes the data anew)") from None

    def write_summary(self, result: SweepResult) -> None:
        """Write ``summary.json`` atomically."""
        self.check_owner()
        write_json_atomic(self.directory / SUMMARY, result.to_json())

    # ------------------------------------------------------------- the runs
    def run_directory(self, k: int, sampler: str, repeat: int = 1) -> Path:
        """Where the run for (k, sampler) lives; repeats after the first (other seeds) beside
        it as ``<sampler>.repeat<r>``."""
        return self.directory / f"K={k}" / run_name(sampler, repeat)

    def run_manifest(self, k: int, sampler: str, repeat: int = 1) -> dict | None:
        """The manifest of a finished run, or None if the run is not there."""
        return _read_manifest(self.run_directory(k, sampler, repeat))

    def finished(self, k: int, sampler: str, run_fingerprint: str | Sequence[str],
                 repeat: int = 1, *, settings: Mapping[str, Any] | None = None,
                 ignored: Collection[str] = ()) -> dict | None:
        """The finished run's manifest if it matches ``run_fingerprint`` (or any of several: the
        current one first, then those older versions of nestmix gave the same run), else None.

        A run found by an older fingerprint was made from the same settings *as given*; the
        defaults resolved from them may have changed since (dynesty's slice rounds by
        dimension, say). With ``settings`` (the settings the run would use now, resolved) it is
        reused only when the settings its ``run.json`` records equal them, ``ignored`` keys (the
        execution settings) left out.

        Raises
        ------
        RunStoreError
            If a finished run is there but was made from something else, or (with
            ``settings``) by an older nestmix whose resolved defaults differ from today's.
        """
        manifest = self.run_manifest(k, sampler, repeat)
        if manifest is None:
            return None
        accepted = [run_fingerprint] if isinstance(run_fingerprint, str) else list(run_fingerprint)
        directory = self.run_directory(k, sampler, repeat)
        if manifest.get("fingerprint") not in accepted:
            raise RunStoreError(
                f"{directory} was made with a different model, "
                "data, settings or seed than this sweep asks for; delete it or use another "
                "--out directory"
            )
        if settings is not None and manifest["fingerprint"] != accepted[0]:
            changed = _changed_defaults(directory, settings, ignored)
            if changed:
                raise RunStoreError(
                    f"{directory} was made by an earlier nestmix whose default settings for "
                    f"this run differ from today's ({'; '.join(changed)}): reusing it would "
                    "mix runs made differently. Delete it to run it again with today's "
                    "defaults, or use another --out directory")
        return manifest

    def work_directory(self, k: int, sampler: str, repeat: int = 1) -> Path:
        """Where a sampler keeps its own files while it runs (and resumes from after a crash)."""
        return self.directory / f"K={k}" / f".{run_name(sampler, repeat)}.work"

    def save_run(self, k: int, sampler: str, run: NestedRun, manifest: Mapping[str, Any],
                 workdir: str | Path | None = None,
                 analysis: tuple[Mapping[str, Any], Mapping[str, Any]] | None = None,
                 repeat: int = 1) -> bool:
        """Write a finished run: into a temporary directory, then renamed into place.

        A non-empty ``workdir`` (the sampler's own output files) is moved into the run
        directory as ``chains/``; an empty one is removed. ``analysis`` is the mode analysis
        as (JSON-able summary, arrays), written as ``modes.json`` and ``modes.npz``.

        Returns
        -------
        bool
            False when the same run (same fingerprint) was already in place, written by
            another worker that ran the same task (e.g. Dask retrying a task whose worker it
            thought lost): that copy is kept and this one discarded, so the run exists once.
        """
        final = self.run_directory(k, sampler, repeat)
        self.check_owner()  # before making anything in a directory that may be another's
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
        try:
            tmp.chmod(0o777 & ~current_umask())  # mkdtemp's is 0700
            run.save(tmp)
            if analysis is not None:
                self._write_analysis(tmp, *analysis)
            if workdir is not None and Path(workdir).is_dir():
                if any(Path(workdir).iterdir()):
                    shutil.move(str(workdir), tmp / "chains")
                else:
                    shutil.rmtree(workdir, ignore_errors=True)
            write_json_atomic(tmp / MANIFEST, dict(manifest))
            for attempt in range(3):
                existing = _read_manifest(final)
                if existing is not None and existing.get("fingerprint") == manifest.get(
                        "fingerprint"):  # the same run is in place already: keep that copy
                    shutil.rmtree(tmp, ignore_errors=True)
                    return False
                if existing is not None or (attempt and final.exists()):
                    shutil.rmtree(final, ignore_errors=True)  # another run, or a broken one
                self.check_owner()
                try:
                    os.replace(tmp, final)  # fails if a copy appeared since the check above
                    return True
                except OSError:
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")  # pragma: no cover
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def load_run(self, k: int, sampler: str, repeat: int = 1) -> NestedRun:
        """The stored run for (k, sampler) (and repeat).

        Raises
        ------
        CorruptRunError
            If ``run.json`` or ``samples.npz`` cannot be read back (naming the file).
        """
        directory = self.run_directory(k, sampler, repeat)
        try:
            return NestedRun.load(directory)
        except Exception as exc:  # truncated JSON, a broken zip, missing keys
            try:
                json.loads((directory / "run.json").read_text())
                name = "samples.npz"
            except (OSError, ValueError):
                name = "run.json"
            raise CorruptRunError(directory / name, exc) from None

    def verify_run(self, k: int, sampler: str, repeat: int = 1) -> CorruptRunError | None:
        """Read back every stored file of a run (manifest, run, samples, mode analysis);
        the first that cannot be read, as an error naming it, or None when all can."""
        directory = self.run_directory(k, sampler, repeat)
        try:
            manifest = json.loads((directory / MANIFEST).read_text())
            if not isinstance(manifest, dict) or "fingerprint" not in manifest:
                raise ValueError("not a run manifest")
        except (OSError, ValueError) as exc:
            return CorruptRunError(directory / MANIFEST, exc)
        for name in ("run.json", "samples.npz"):
            if not (directory / name).is_file():
                return CorruptRunError(directory / name, FileNotFoundError("missing"))
        try:
            json.loads((directory / "run.json").read_text())
        except (OSError, ValueError) as exc:
            return CorruptRunError(directory / "run.json", exc)
        import numpy as np

        try:
            with open(directory / "samples.npz", "rb") as handle, np.load(handle) as arrays:
                for name in arrays.files:
                    arrays[name]
        except Exception as exc:
            return CorruptRunError(directory / "samples.npz", exc)
        try:
            self.load_run(k, sampler, repeat)
            self.load_analysis(k, sampler, repeat)
        except CorruptRunError as exc:
            return exc
        return None

    def move_aside(self, k: int, sampler: str, repeat: int = 1) -> Path:
        """Rename a broken run's directory to ``K=<k>/<name>.broken-<n>`` (kept for a look,
        never read again); returns the new path."""
        directory = self.run_directory(k, sampler, repeat)
        for n in range(1, 1000):
            target = directory.with_name(f"{directory.name}.broken-{n}")
            if not target.exists():
                os.replace(directory, target)
                return target
        raise RunStoreError(f"too many broken copies beside {directory}; delete them")

    def save_analysis(self, k: int, sampler: str, summary: Mapping[str, Any],
                      arrays: Mapping[str, Any], repeat: int = 1) -> None:
        """Replace the mode analysis of a finished run (each file atomically)."""
        self.check_owner()
        self._write_analysis(self.run_directory(k, sampler, repeat), summary, arrays)

    @staticmethod
    def _write_analysis(directory: Path, summary: Mapping[str, Any],
                        arrays: Mapping[str, Any]) -> None:
        import io

        import numpy as np

        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        write_bytes_atomic(directory / MODES_ARRAYS, buffer.getvalue())
        write_json_atomic(directory / MODES_SUMMARY, dict(summary))

    def load_analysis(self, k: int, sampler: str,
                      repeat: int = 1) -> tuple[dict, dict] | None:
        """The stored mode analysis of (k, sampler) (and repeat) as (summary, arrays), or
        None."""
        directory = self.run_directory(k, sampler, repeat)
        if not (directory / MODES_SUMMARY).exists():
            return None
        import numpy as np

        path = directory / MODES_SUMMARY
        try:
            summary = ln_z_spelled(json.loads(path.read_text()))
            path = directory / MODES_ARRAYS
            with open(path, "rb") as handle, np.load(handle) as data:
                arrays = {name: data[name] for name in data.files}
        except Exception as exc:  # truncated or garbage file: name it
            raise CorruptRunError(path, exc) from None
        return summary, arrays

    def finished_runs(self) -> list[dict]:
        """Manifests of every finished run in the sweep directory (each repeat its own), with
        ``repeat`` filled in (1 for runs written before repeats existed).

        A finished run is a manifest in the directory its own (k, sampler, repeat) names
        (:meth:`run_directory`): a run moved aside as ``<name>.broken-<n>``, a copy made by
        hand (``dynesty.copy``) or a manifest that does not say which run it is, is not one,
        so it is never counted as another seed.
        """
        out = []
        for path in sorted(self.directory.glob(f"K=*/*/{MANIFEST}")):
            manifest = _read_manifest(path.parent)
            if not isinstance(manifest, dict):
                continue
            try:
                k, sampler = manifest["k"], manifest["sampler"]
                repeat = int(manifest.get("repeat", 1))
                home = self.run_directory(k, sampler, repeat)
            except (KeyError, TypeError, ValueError):
                continue
            if (isinstance(k, int) and not isinstance(k, bool) and isinstance(sampler, str)
                    and path.parent == home):
                out.append({**manifest, "repeat": repeat})
        return out


class CorruptRunError(RunStoreError):
    """A stored file of a run that cannot be read back (truncated, garbage).

    Attributes
    ----------
    path : Path
        The file.
    reason : str
        What reading it raised, in one line.
    """

    def __init__(self, path: Path, exc: BaseException) -> None:
        super().__init__(f"{path} is corrupt ({_reason(exc)}); run the sweep again: it moves "
                         "the broken run aside and makes it anew")
        self.path = path
        self.reason = _reason(exc)


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:160] if text else type(exc).__name__


def run_name(sampler: str, repeat: int = 1) -> str:
    """Name of a run's directory under ``K=<k>/``: the sampler, then ``.repeat<r>`` for r > 1."""
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"repeats are numbered from 1, got {repeat!r}")
    return sampler if repeat == 1 else f"{sampler}.repeat{repeat}"


def _changed_defaults(directory: Path, settings: Mapping[str, Any],
                      ignored: Collection[str]) -> list[str]:
    """How the settings recorded in ``directory``'s run.json differ from ``settings``
    (``ignored`` keys left out); nothing when run.json cannot be read (the run's check
    after :meth:`RunStore.finished` reports a corrupt run)."""
    try:
        recorded = json.loads((directory / "run.json").read_text()).get("settings")
    except (OSError, ValueError, AttributeError):
        return []
    if not isinstance(recorded, dict):
        recorded = {}
    now = json.loads(json.dumps(dict(settings), default=str))
    keys = sorted((set(recorded) | set(now)) - set(ignored))
    unset = object()

    def spelled(value: Any) -> str:
        return "unset" if value is unset else repr(value)

    return [f"{key}: {spelled(recorded.get(key, unset))} then, {spelled(now.get(key, unset))} now"
            for key in keys if recorded.get(key, unset) != now.get(key, unset)]


def _read_manifest(directory: Path) -> dict | None:
    """The manifest in ``directory``, or None when there is none (or it cannot be read)."""
    try:
        return json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def _differences(old: Mapping[str, Any], new: Mapping[str, Any], samplers: Sequence[str],
                 ignored: Mapping[str, Collection[str]]) -> list[str]:
    out = []
    if old.get("data", {}).get("fingerprint") != new["data"]["fingerprint"]:
        out.append(f"data (was {old.get('data', {}).get('source')!r}, now "
                   f"{new['data'].get('source')!r}, and the values differ)")
    for key in _changed_keys(old.get("model"), new["model"], "model"):
        out.append(f"model settings ({key})")
    for sampler in samplers:
        previous = old.get("samplers", {}).get(sampler)
        if previous is not None:
            skip = set(ignored.get(sampler, ()))
            if isinstance(previous.get("settings"), Mapping) and skip:
                previous = {**previous, "settings": {
                    k: v for k, v in previous["settings"].items() if k not in skip}}
            for key in _changed_keys(previous, new["samplers"][sampler], sampler):
                out.append(f"sampler settings ({key})")
    return out


def _changed_keys(old: Any, new: Any, prefix: str) -> list[str]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        keys = sorted(set(old) | set(new))
        return [c for key in keys
                for c in _changed_keys(old.get(key), new.get(key), f"{prefix}.{key}")]
    if old != new:
        return [f"{prefix}: was {old!r}, now {new!r}"]
    return []
