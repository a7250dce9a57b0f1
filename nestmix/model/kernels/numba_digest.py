"""Digests that keep numba's on-disk cache honest across modules.

numba caches the compiled code of a ``cache=True`` function keyed on the source of *the file
that defines it* (numba 0.68: a SHA-256 of that file's bytes, ``numba/core/caching.py``,
``_SourceFileBackedLocatorMixin.get_source_stamp``). The compiled code also holds every jitted
function it calls, so when such a function lives in another module, an edit there leaves the
caller's cached code stale; touching a file changes nothing, since the stamp is its content.

Every module that imports numba and calls compiled code of other nestmix modules (an *entry
module*) therefore carries the line ``_HELPER_DIGEST = "sha256:…"``: a digest of the source of
each nestmix module it imports at module level, followed transitively (its *helpers*). An edit
to a helper changes the digest it should carry; writing the new digest
(``python -m nestmix.model.kernels.numba_digest --write``) edits the entry module, which
invalidates its cache. ``tests/test_numba_digest.py`` fails while a recorded digest is stale.

The digest reads files only (the import graph from their syntax trees): nothing is imported.
Each helper's own digest line is left out of what is hashed, so the digests do not depend on
the order in which they are written.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nestmix.runtime.atomic import write_bytes_atomic

__all__ = ["DIGEST_NAME", "EntryDigest", "compute_digest", "entry_digests", "helper_files",
           "main", "package_dir", "write_digests"]

DIGEST_NAME = "_HELPER_DIGEST"
"""The module-level name that holds an entry module's digest."""

_LINE = re.compile(rb'^_HELPER_DIGEST = "[^"\n]*"[ \t]*$', re.MULTILINE)
_BLANK = b'_HELPER_DIGEST = ""'
_COMMENT = (b"# The helpers' digest: regenerate with "
            b"`python -m nestmix.model.kernels.numba_digest --write`.\n")


@dataclass(frozen=True)
class EntryDigest:
    """The digest of one entry module.

    Attributes
    ----------
    path : Path
        The entry module's file.
    helpers : tuple of Path
        The files of the nestmix modules its module-level imports reach, in hashing order.
    recorded : str or None
        The digest written in the file, or None when it carries no digest line.
    computed : str
        The digest of the helpers' current sources.
    """

    path: Path
    helpers: tuple[Path, ...]
    recorded: str | None
    computed: str

    @property
    def stale(self) -> bool:
        """Whether the recorded digest is missing or differs from the computed one."""
        return self.recorded != self.computed


def package_dir() -> Path:
    """The directory of the installed ``nestmix`` package (``nestmix/``, two levels up)."""
    return Path(__file__).resolve().parent.parent.parent


def _module_file(name: str, package: Path) -> Path | None:
    """The file of module ``name`` (dotted, starting with the package's name) under
    ``package``, or None when it is not a module there."""
    parts = name.split(".")
    if parts[0] != package.name:
        return None
    base = package.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path, package: Path) -> str:
    rel = path.relative_to(package.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level(body: Iterable[ast.stmt]) -> Iterable[ast.stmt]:
    """The statements run when the module is imported (bodies of ``if``, ``try`` and ``with``
    included; function and class bodies not)."""
    for node in body:
        yield node
        if isinstance(node, ast.If | ast.With):
            yield from _top_level(node.body)
            yield from _top_level(getattr(node, "orelse", []))
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _top_level(block)
            for handler in node.handlers:
                yield from _top_level(handler.body)


def _imports(path: Path, package: Path) -> tuple[set[str], set[Path]]:
    """The top-level packages imported at module level by ``path``, and the files of the
    nestmix modules among its imports."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    here = _module_name(path, package).split(".")
    if path.name != "__init__.py":
        here.pop()  # the package that relative imports start from
    roots: set[str] = set()
    files: set[Path] = set()
    for node in _top_level(tree.body):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                start = here[:len(here) - node.level + 1]
                base = ".".join(start + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names = [base]
            # ``from package import module`` imports the module
            names += [f"{base}.{alias.name}" for alias in node.names
                      if _module_file(f"{base}.{alias.name}", package) is not None]
        for name in names:
            roots.add(name.split(".")[0])
            found = _module_file(name, package)
            if found is not None and found != path:
                files.add(found)
    return roots, files


def helper_files(path: Path, package: Path | None = None) -> tuple[Path, ...]:
    """The nestmix modules that module ``path`` reaches through module-level imports.

    Parameters
    ----------
    path : Path
        A module file inside ``package``.
    package : Path, optional
        The package directory (default: the installed nestmix).

    Returns
    -------
    tuple of Path
        The helper files, transitively, without ``path`` itself, sorted by their path.
    """
    package = package_dir() if package is None else package
    path = path.resolve()
    seen: set[Path] = set()
    todo = [path]
    while todo:
        for found in _imports(todo.pop(), package)[1]:
            if found not in seen and found != path:
                seen.add(found)
                todo.append(found)
    return tuple(sorted(seen, key=lambda p: p.relative_to(package.parent).as_posix()))


def compute_digest(helpers: Sequence[Path], package: Path | None = None) -> str:
    """The digest of the helpers' sources: SHA-256 over each file's path (relative to the
    package's parent) and bytes, its own digest line blanked, in the given order.

    Parameters
    ----------
    helpers : sequence of Path
        Files inside ``package`` (as :func:`helper_files` returns them).
    package : Path, optional
        The package directory (default: the installed nestmix).

    Returns
    -------
    str
        ``"sha256:"`` followed by the hexadecimal digest.
    """
    package = package_dir() if package is None else package
    digest = hashlib.sha256()
    for path in helpers:
        digest.update(path.resolve().relative_to(package.parent).as_posix().encode())
        digest.update(b"\0")
        digest.update(_LINE.sub(_BLANK, path.read_bytes()))
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()


def _recorded(source: bytes) -> str | None:
    found = _LINE.search(source)
    if found is None:
        return None
    return found.group().split(b'"')[1].decode()


def entry_digests(package: Path | None = None) -> list[EntryDigest]:
    """The entry modules of ``package``: those that import numba at module level and have
    helpers, or that carry a digest line; with their recorded and computed digests.

    Parameters
    ----------
    package : Path, optional
        The package directory (default: the installed nestmix).

    Returns
    -------
    list of EntryDigest
        Sorted by path.
    """
    package = (package_dir() if package is None else package).resolve()
    found = []
    for path in sorted(package.rglob("*.py")):
        source = path.read_bytes()
        if b"numba" not in source:
            continue
        recorded = _recorded(source)
        if "numba" not in _imports(path, package)[0] and recorded is None:
            continue
        helpers = helper_files(path, package)
        if helpers or recorded is not None:
            found.append(EntryDigest(path, helpers, recorded, compute_digest(helpers, package)))
    return found


def _with_digest(path: Path, source: bytes, digest: str) -> bytes:
    line = f'{DIGEST_NAME} = "{digest}"'.encode()
    if _LINE.search(source):
        return _LINE.sub(line, source, count=1)
    tree = ast.parse(source, filename=str(path))
    last = max(node.end_lineno or node.lineno for node in tree.body
               if isinstance(node, ast.Import | ast.ImportFrom))
    lines = source.splitlines(keepends=True)
    return b"".join([*lines[:last], b"\n", _COMMENT, line + b"\n", *lines[last:]])


def write_digests(package: Path | None = None) -> list[Path]:
    """Write the computed digest into every entry module whose digest is stale (after its
    imports, where it has no digest line yet).

    Parameters
    ----------
    package : Path, optional
        The package directory (default: the installed nestmix).

    Returns
    -------
    list of Path
        The files rewritten.
    """
    written = set()
    # first the missing lines (with their comment they are part of the helpers' hashed text)
    for entry in entry_digests(package):
        if entry.recorded is None:
            source = entry.path.read_bytes()
            write_bytes_atomic(entry.path, _with_digest(entry.path, source, ""))
            written.add(entry.path)
    for entry in entry_digests(package):
        if entry.stale:
            source = entry.path.read_bytes()
            write_bytes_atomic(entry.path, _with_digest(entry.path, source, entry.computed))
            written.add(entry.path)
    return sorted(written)


def main(argv: Sequence[str] | None = None) -> int:
    """Check the digests of the entry modules (exit status 1 when one is stale), or write them.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status.
    """
    parser = argparse.ArgumentParser(
        prog="python -m nestmix.model.kernels.numba_digest",
        description="Check or write the digests of the helpers of nestmix's numba modules.")
    parser.add_argument("--write", action="store_true", help="write the stale digests")
    args = parser.parse_args(argv)
    root = package_dir().parent
    if args.write:
        for path in write_digests():
            print(f"wrote {path.relative_to(root)}")
        return 0
    stale = [entry for entry in entry_digests() if entry.stale]
    for entry in stale:
        print(f"{entry.path.relative_to(root)}: stale digest of its helpers "
              f"({', '.join(p.relative_to(root).as_posix() for p in entry.helpers)}); "
              f"run python -m nestmix.model.kernels.numba_digest --write", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
