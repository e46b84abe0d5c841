"""The import direction between the top-level packages: data and code flow down, never back up.

Bottom to top (docs/architecture.md, "Layers"): the rules as data, the model (catalog, labels,
working days), the pieces (reading, pure arithmetic, the warehouse), the checks and outputs, the
flows that wire them, the application (CLI, settings). A package may import its own layer and the
ones below; the runtime never imports the tools, the benchmarks or the tests.
"""

from __future__ import annotations

import ast

from .conftest import REPO

LAYERS: tuple[tuple[str, ...], ...] = (
    ("policies",),
    ("model",),
    ("ingest", "transforms", "warehouse"),
    ("validations", "exports"),
    ("flows",),
    ("etsflow",),
)
LEVEL = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}
NOT_RUNTIME = ("tools", "benchmarks", "tests")


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]


def test_every_runtime_package_is_in_a_layer():
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    for pkg in LEVEL:
        assert f'"{pkg}"' in pyproject, pkg


def test_no_import_runs_upward():
    upward = []
    for pkg, level in LEVEL.items():
        for path in sorted((REPO / pkg).rglob("*.py")):
            for line, top in _imports(path):
                if top in NOT_RUNTIME or LEVEL.get(top, -1) > level:
                    upward.append(f"{path.relative_to(REPO)}:{line} imports {top}")
    assert not upward, "imports running upward:\n" + "\n".join(upward)
