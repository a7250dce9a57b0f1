"""Griffe extension for the API reference: Sphinx roles in docstrings become cross-references.

nestmix's numpydoc docstrings name other objects with Sphinx roles (``:func:`run_sweep```,
``:class:`~nestmix.data.measurements.Measurements```, ``:mod:`~.db```), which mkdocstrings would
print as they are. This extension rewrites each role, once the package is loaded, into an autorefs
cross-reference to the object it names, looked up as Sphinx does: a full path, else relative to
the object whose docstring it is, its class, its module and its package. The reference is
*optional*: a name the site does not render (a private helper, scikit-learn's classes) shows as
code, without a link and without failing ``mkdocs build --strict``. A leading ``~`` shows only
the last part of the name, as in Sphinx.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|attr|data|obj|exc|const):`(?P<target>[^`]+)`")


def _lookup(root: griffe.Module, path: str) -> griffe.Object | griffe.Alias | None:
    """The object at the dotted ``path`` under the package ``root``, or None."""
    if path == root.path:
        return root
    if not path.startswith(root.path + "."):
        return None
    try:
        return root[path[len(root.path) + 1:]]
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _scopes(obj: griffe.Object | griffe.Alias) -> list[str]:
    """The paths a relative name in ``obj``'s docstring is looked up under, innermost first."""
    scopes, current = [], obj
    while current is not None:
        scopes.append(current.path)
        current = current.parent
    return scopes


def resolve(root: griffe.Module, obj: griffe.Object | griffe.Alias, name: str) -> str | None:
    """The full path of the object ``name`` refers to from ``obj``'s docstring, or None."""
    if name.startswith("."):  # relative to the docstring's module or its package (Sphinx's ~.x)
        candidates = [f"{scope}{name}" for scope in _scopes(obj)]
    else:
        candidates = [name, *(f"{scope}.{name}" for scope in _scopes(obj))]
    for path in candidates:
        if _lookup(root, path) is not None:
            return path
    return None


def rewrite(text: str, root: griffe.Module, obj: griffe.Object | griffe.Alias) -> str:
    """``text`` with every Sphinx role replaced by an optional cross-reference."""

    def replace(match: re.Match) -> str:
        target = match["target"].strip()
        if "<" in target and target.endswith(">"):  # :func:`title <path>`
            title, target = target[:-1].split("<", 1)
            title = title.strip()
        else:
            title = None
        short = target.startswith("~")
        name = target.lstrip("~").removesuffix("()")
        shown = title or (name.lstrip(".").rsplit(".", 1)[-1] if short else name.lstrip("."))
        code = f"<code>{html.escape(shown)}</code>"
        path = resolve(root, obj, name) or name.lstrip(".")
        return f'<autoref identifier="{html.escape(path)}" optional>{code}</autoref>'

    return ROLE.sub(replace, text)


class SphinxRoles(griffe.Extension):
    """Rewrite the Sphinx roles of every docstring in a loaded package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        seen: set[int] = set()
        stack: list[griffe.Object | griffe.Alias] = [pkg]
        while stack:
            obj = stack.pop()
            if id(obj) in seen or obj.is_alias:
                continue
            seen.add(id(obj))
            if obj.docstring is not None and ":" in obj.docstring.value:
                obj.docstring.value = rewrite(obj.docstring.value, pkg, obj)
            stack.extend(obj.members.values())
