"""The layers only point down: resolvers/ → schema/ → loaders/ → services/ → db/.

Every import of every module under src/billgraph counts — deferred ones inside functions
and `if TYPE_CHECKING:` ones too — so a cycle cannot hide behind a late import.
`.ci/run` runs this file as its layer check.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "billgraph"

ABOVE_RESOLVERS = ["billgraph.api", "billgraph.app", "billgraph.bootstrap", "billgraph.cli",
                   "billgraph.graphql_app"]
GRAPHQL = ["strawberry", "billgraph.schema", "billgraph.resolvers", "billgraph.context",
           *ABOVE_RESOLVERS]
# layer (a module prefix) → what it must never import (module prefixes)
FORBIDDEN: dict[str, list[str]] = {
    "billgraph.resolvers": [*ABOVE_RESOLVERS, "billgraph.workers"],
    "billgraph.schema": ["billgraph.resolvers", *ABOVE_RESOLVERS, "billgraph.workers"],
    "billgraph.loaders": [*GRAPHQL[1:], "billgraph.state", "billgraph.workers"],
    "billgraph.services": [*GRAPHQL, "billgraph.loaders", "billgraph.state",
                           "billgraph.workers"],
    "billgraph.models": [*GRAPHQL, "billgraph.loaders", "billgraph.state",
                         "billgraph.workers"],
    "billgraph.db": [*GRAPHQL, "billgraph.loaders", "billgraph.state", "billgraph.workers"],
    "billgraph.workers": ["billgraph.schema", "billgraph.resolvers", "billgraph.loaders",
                          *ABOVE_RESOLVERS],
}


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, src: Path = SRC) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import statement in the file."""
    name = module_name(path, src)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            # `from billgraph import resolvers` names a module too
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(src: Path = SRC) -> list[str]:
    found = []
    for path in sorted((src / "billgraph").rglob("*.py")):
        name = module_name(path, src)
        for layer, forbidden in FORBIDDEN.items():
            if not within(name, layer):
                continue
            for line, imported in imports_of(path, src):
                for prefix in forbidden:
                    if within(imported, prefix):
                        found.append(f"{path.relative_to(src)}:{line}: {layer} imports "
                                     f"{imported} (forbidden: {prefix})")
    return sorted(set(found))


def test_layers_only_point_down() -> None:
    problems = violations()
    assert not problems, "imports against the layers:\n" + "\n".join(problems)


def test_the_schema_is_assembled_only_above_the_resolvers() -> None:
    """billgraph.api imports the resolvers; nothing under them imports billgraph.api."""
    importers = sorted({module_name(p) for p in PACKAGE.rglob("*.py")
                        if any(within(m, "billgraph.api") for _, m in imports_of(p))})
    assert importers == ["billgraph.app"]
    assert any(within(m, "billgraph.resolvers") for _, m in imports_of(PACKAGE / "api.py"))


@pytest.mark.parametrize("source, expected", [
    ("from billgraph.resolvers.invoices import invoice_connection\n", "billgraph.resolvers"),
    ("from ..resolvers import accounts\n", "billgraph.resolvers"),
])
def test_the_check_sees_a_deferred_schema_import_of_resolvers(
        tmp_path: Path, source: str, expected: str) -> None:
    """The check itself can fail: a copy of the tree with one bad import in schema/."""
    copy = tmp_path / "src"
    shutil.copytree(PACKAGE, copy / "billgraph",
                    ignore=shutil.ignore_patterns("__pycache__", "static"))
    target = copy / "billgraph" / "schema" / "accounts.py"
    target.write_text(target.read_text() + "\n\ndef late() -> None:\n    " + source)
    problems = violations(copy)
    assert [p for p in problems if "schema/accounts.py" in p and expected in p], problems
