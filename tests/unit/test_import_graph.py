"""The package layers of docs/architecture.md hold: no import cycle, nothing imports upward.

Every module under bellwire/ is parsed with ``ast``, so imports inside functions and under
``TYPE_CHECKING`` count as much as the ones at the top. A node is a package (a folder directly
under bellwire/) or a top-level module; ``bellwire`` is the package's own ``__init__``. The
layer table is read from docs/architecture.md, so the test and the doc cannot disagree.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "bellwire"
DOC = ROOT / "docs" / "architecture.md"


@dataclass(frozen=True)
class Import:
    source: str  # the importing module's node
    target: str  # the imported module's node
    where: str  # path:line of the import statement
    what: str  # the imported module, dotted


@dataclass(frozen=True)
class Layer:
    name: str
    nodes: frozenset[str]
    may_import: frozenset[str]


def read_layers(text: str) -> list[Layer]:
    """The table under the ``## Layers`` heading: | layer | packages | may import |."""
    section = text.split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    layers = []
    for row in rows[2:]:  # the header and its separator
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        name, nodes, may = cells[0].strip("*` "), cells[1], cells[2]
        layers.append(
            Layer(
                name=name,
                nodes=frozenset(re.findall(r"`([\w.]+)`", nodes)),
                may_import=frozenset(re.findall(r"[a-z][\w-]*", may)),
            )
        )
    return layers


def node_of(package: Path, module: str) -> str | None:
    """The graph node of a dotted module name, or None when it is not bellwire's."""
    parts = module.split(".")
    if parts[0] != package.name:
        return None
    if len(parts) == 1:
        return package.name
    first = parts[1]
    if (package / first).is_dir() or (package / f"{first}.py").exists():
        return first
    return package.name  # a name defined in bellwire/__init__.py


def module_name(package: Path, path: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(package: Path) -> list[Import]:
    found = []
    for path in sorted(package.rglob("*.py")):
        module = module_name(package, path)
        source = node_of(package, module)
        assert source is not None
        where_base = path.relative_to(package.parent)
        for stmt in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(stmt, ast.Import | ast.ImportFrom):
                continue
            targets: list[str] = []
            if isinstance(stmt, ast.Import):
                targets = [alias.name for alias in stmt.names]
            else:
                if stmt.level:
                    base = module.split(".")
                    if path.name != "__init__.py":
                        base = base[:-1]
                    base = base[: len(base) - (stmt.level - 1)]
                    parent = ".".join([*base, *([stmt.module] if stmt.module else [])])
                else:
                    parent = stmt.module or ""
                # ``from bellwire import config`` imports the module bellwire.config
                targets = [f"{parent}.{alias.name}" for alias in stmt.names]
            for target in targets:
                node = node_of(package, target)
                if node is None or node == source:
                    continue
                found.append(Import(source, node, f"{where_base}:{stmt.lineno}", target))
    return found


def nodes_of(package: Path) -> set[str]:
    nodes = {package.name}
    for entry in package.iterdir():
        if entry.is_dir() and (entry / "__init__.py").exists():
            nodes.add(entry.name)
        elif entry.suffix == ".py" and entry.name != "__init__.py":
            nodes.add(entry.stem)
    return nodes


def upward_imports(layers: list[Layer], imports: list[Import]) -> list[str]:
    layer_of = {node: layer for layer in layers for node in layer.nodes}
    problems = []
    for imp in imports:
        source, target = layer_of[imp.source], layer_of[imp.target]
        if target.name != source.name and target.name not in source.may_import:
            problems.append(
                f"{imp.where}: {imp.source} (layer {source.name}) imports {imp.what} "
                f"(layer {target.name}); {source.name} may import only "
                f"{', '.join(sorted(source.may_import)) or 'nothing'}"
            )
    return problems


def cycles(imports: list[Import]) -> list[str]:
    """Each package cycle once, with one import statement per edge of it."""
    edges: dict[str, dict[str, Import]] = {}
    for imp in imports:
        edges.setdefault(imp.source, {}).setdefault(imp.target, imp)
    reported: set[frozenset[str]] = set()
    problems = []

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(edges.get(node, {})):
            if nxt in path:
                loop = path[path.index(nxt) :]
                if frozenset(loop) not in reported:
                    reported.add(frozenset(loop))
                    steps = [
                        f"{edges[a][b].where} imports {edges[a][b].what}"
                        for a, b in zip(loop, [*loop[1:], nxt], strict=True)
                    ]
                    problems.append(f"cycle {' -> '.join([*loop, nxt])}: " + "; ".join(steps))
            elif len(path) < len(edges) + 1:
                walk(nxt, [*path, nxt])

    for start in sorted(edges):
        walk(start, [start])
    return problems


LAYERS = read_layers(DOC.read_text())
IMPORTS = imports_of(PACKAGE)


def test_the_layer_table_names_every_package_once() -> None:
    listed = [node for layer in LAYERS for node in layer.nodes]
    assert len(listed) == len(set(listed)), "a package is listed in two layers"
    assert set(listed) == nodes_of(PACKAGE), (
        f"not in docs/architecture.md's table: {sorted(nodes_of(PACKAGE) - set(listed))}; "
        f"listed but absent: {sorted(set(listed) - nodes_of(PACKAGE))}"
    )
    names = {layer.name for layer in LAYERS}
    for layer in LAYERS:
        assert layer.may_import <= names, f"{layer.name} may import an unknown layer"


def test_no_layer_imports_a_higher_one() -> None:
    problems = upward_imports(LAYERS, IMPORTS)
    assert not problems, "\n".join(problems)


def test_no_package_import_cycle() -> None:
    problems = cycles(IMPORTS)
    assert not problems, "\n".join(problems)


def test_the_may_import_relation_is_itself_acyclic() -> None:
    # With "may import" acyclic, two layers can never import each other legally.
    allowed = [
        Import(a.name, b, "docs/architecture.md", b)
        for a in LAYERS
        for b in a.may_import
        if b != a.name
    ]
    assert not cycles(allowed)


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    """A package where low imports high inside a function, and high imports low under
    TYPE_CHECKING: the checks must see both."""
    package = tmp_path / "toy"
    for name in ("low", "high"):
        (package / name).mkdir(parents=True)
        (package / name / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "low" / "a.py").write_text("def f() -> None:\n    from toy.high import b\n")
    (package / "high" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from toy import low\n"
    )
    return package


def test_the_checks_find_upward_imports_and_cycles(toy: Path) -> None:
    layers = read_layers(
        "\n## Layers\n| layer | packages | may import |\n|---|---|---|\n"
        "| high | `high` | low |\n| low | `low`, `toy` | — |\n"
    )
    imports = imports_of(toy)
    assert upward_imports(layers, imports) == [
        "toy/low/a.py:2: low (layer low) imports toy.high.b (layer high); "
        "low may import only nothing"
    ]
    found = cycles(imports)
    assert len(found) == 1
    assert "toy/high/b.py:3 imports toy.low" in found[0]
    assert "toy/low/a.py:2 imports toy.high.b" in found[0]
