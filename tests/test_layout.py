"""The package's layout: no import cycles between its modules."""

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
