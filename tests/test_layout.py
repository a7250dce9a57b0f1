"""The package's layout: no import cycles between its modules nor between its first-level
packages, nothing inside importing the package root, and a short top level."""

from __future__ import annotations

import ast
from pathlib import Path

import nestmix

PACKAGE = Path(nestmix.__file__).parent


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports anywhere: at module level, inside functions
    and under ``if TYPE_CHECKING:`` alike (a cycle through type hints is still a cycle)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else base)
    targets = set()
    for target in found:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            targets.add(target)
    return targets


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    modules = _modules()
    return {name: _imported(name, path, modules) for name, path in modules.items()}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_the_graph_sees_relative_lazy_and_type_checking_imports():
    graph = import_graph()
    assert "nestmix.model.mixture" in graph["nestmix.model.spec"]  # lazy, inside build()
    assert "nestmix.model.mixture" in graph["nestmix.modes.theta"]  # under TYPE_CHECKING
    assert "nestmix.samplers.dynesty.adapter" in graph["nestmix.samplers.dynesty"]
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    cycles = import_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


#: Imports between first-level packages that may close a loop, each with its reason. A lazy
#: import (inside a function) is still a dependency: it is allowed only here, never silently.
ALLOWED_PACKAGE_IMPORTS: dict[tuple[str, str], str] = {}

#: The package root is the public facade: it imports its names on first use (PEP 562) from
#: everywhere below, so it is left out of the package graph, and nothing below may import it
#: (:func:`test_nothing_inside_imports_the_package_root`).
ROOT = "nestmix"


def first_level(module: str) -> str:
    """The first-level package (or top-level module) a module belongs to:
    ``nestmix.sweep.plan`` -> ``nestmix.sweep``; ``nestmix.results`` -> itself."""
    return ".".join(module.split(".")[:2])


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """First-level package -> the first-level packages its modules import (lazy imports and
    type hints included), less :data:`ALLOWED_PACKAGE_IMPORTS` and the root facade."""
    out: dict[str, set[str]] = {}
    for module, targets in graph.items():
        source = first_level(module)
        if module == ROOT:
            continue
        for target in targets:
            target = first_level(target)
            if target != source and (source, target) not in ALLOWED_PACKAGE_IMPORTS:
                out.setdefault(source, set()).add(target)
    return out


def _witnesses(graph: dict[str, set[str]], cycle: list[str]) -> list[str]:
    """The module imports behind the package edges of a cycle (for the failure message)."""
    members = set(cycle)
    return sorted(f"{module} -> {target}" for module, targets in graph.items()
                  for target in targets
                  if module != ROOT and first_level(module) in members
                  and first_level(target) in members
                  and first_level(target) != first_level(module))


def test_the_package_graph_sees_lazy_imports_and_finds_package_loops():
    graph = import_graph()
    packages = package_graph(graph)
    assert "nestmix.runtime" in packages["nestmix.sweep"]  # sweep.cost: inside a function
    assert ROOT not in packages
    # modules without a cycle between them, but their packages import each other
    loop = {"nestmix.a.x": {"nestmix.b.y"}, "nestmix.b.z": {"nestmix.a.w"}}
    assert import_cycles(loop) == []
    assert import_cycles(package_graph(loop)) == [["nestmix.a", "nestmix.b"]]


def test_no_import_cycles_between_packages():
    graph = import_graph()
    cycles = import_cycles(package_graph(graph))
    assert not cycles, "import cycles between packages:\n" + "\n".join(
        " <-> ".join(c) + "\n  " + "\n  ".join(_witnesses(graph, c)) for c in cycles)


def test_every_allowed_package_import_exists_and_has_a_reason():
    packages = package_graph({m: t for m, t in import_graph().items()})
    for (source, target), reason in ALLOWED_PACKAGE_IMPORTS.items():
        assert reason.strip(), (source, target)
        full = {first_level(t) for m, ts in import_graph().items()
                if first_level(m) == source for t in ts}
        assert target in full and target not in packages.get(source, set())


def test_nothing_inside_imports_the_package_root():
    """``from nestmix import X`` inside the package would make the facade a dependency of
    everything (and every lazy name a cycle); only ``nestmix._version`` is imported by it."""
    importers = sorted(module for module, targets in import_graph().items() if ROOT in targets)
    assert not importers, importers


#: Modules directly in nestmix/, counted as files: ``__init__.py``, ``__main__.py`` and
#: ``_version.py`` count like any other (a reader opening the folder sees them all).
MAX_TOP_LEVEL_MODULES = 12


def test_at_most_twelve_modules_at_the_top_level():
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, f"{len(top)} modules at the top: {top}"


def test_no_compatibility_shims_at_the_top_level():
    """The old import paths are gone (issue 34): each of these was a module that only
    re-exported names from their real place, and ``nestmix.shrinkage`` shadowed the function."""
    for old in ("config", "shrinkage", "table", "report_tables", "archive", "data",
                "evidence_check", "evidence_bridge", "threads", "backend", "exports"):
        assert not (PACKAGE / f"{old}.py").exists(), old
    assert callable(nestmix.shrinkage)


def _sampler_vocabulary() -> set[str]:
    """Every sampler's setting names and command-line flags, less the words that are also
    nestmix's own results vocabulary (a run's ``nlive`` array, its ``n_effective``)."""
    import dataclasses

    from nestmix.results import EvidenceRow, NestedRun
    from nestmix.samplers import all_samplers

    ours = {f.name for cls in (NestedRun, EvidenceRow) for f in dataclasses.fields(cls)}
    words = set()
    for adapter in all_samplers():
        words |= set(adapter.valid_settings) | set(adapter.defaults)
        words |= {option.flag for option in adapter.sweep_options}
    return words - ours


def test_no_sampler_setting_is_named_outside_the_samplers():
    """The sweep, the command line, the store and the report talk to samplers through
    nestmix.samplers.base only: no string in them is a sampler's setting or option."""
    words = _sampler_vocabulary()
    assert {"pool", "queue_size", "mpi", "resume", "feedback", "--mpi"} <= words
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "samplers" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and node.value in words:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: "
                             f"{node.value!r}")
    assert not found, "sampler settings named outside nestmix/samplers/:\n" + "\n".join(found)


def test_the_development_guide_lists_every_package_and_top_level_module():
    """docs/development.md's layout block names each first-level package and module, so the
    description cannot fall behind a move."""
    text = (PACKAGE.parent / "docs" / "development.md").read_text(encoding="utf-8")
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    names = {f"nestmix/{path.name}/" for path in PACKAGE.iterdir()
             if (path / "__init__.py").is_file() and path.name != "examples"}
    missing = sorted(name for name in names if name not in block)
    missing += sorted(path.name for path in PACKAGE.glob("*.py")
                      if path.name not in ("__main__.py", "_version.py")
                      and path.name not in block)
    assert not missing, f"not in docs/development.md's layout: {missing}"


def test_the_evidence_package_re_exports_its_arithmetic():
    import nestmix.evidence
    import nestmix.evidence.arithmetic as arithmetic

    assert nestmix.evidence.__all__ == arithmetic.__all__
