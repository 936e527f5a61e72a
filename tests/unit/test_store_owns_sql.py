"""The store is the only place that speaks SQL: no module of src/voxline outside store/ imports SQLAlchemy.

Read from the source with `ast` (imports inside functions and TYPE_CHECKING blocks count too), so a use-case
that needs a transaction's type or a unique-constraint error takes the store's (`store.db.Transaction`,
`store.errors.Conflict`) instead of the driver's."""

from __future__ import annotations

import ast
from pathlib import Path

import voxline

PACKAGE = Path(voxline.__file__).parent


def _imports_sqlalchemy(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(name == "sqlalchemy" or name.startswith("sqlalchemy.") for name in names):
            lines.append(node.lineno)
    return lines


def test_no_module_outside_the_store_imports_sqlalchemy() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "store":
            continue
        for line in _imports_sqlalchemy(ast.parse(path.read_text(), str(path))):
            offenders.append(f"{relative}:{line}")
    assert offenders == [], "SQLAlchemy imported outside store/: " + ", ".join(offenders)


def test_the_check_sees_an_import_where_there_is_one() -> None:
    """The walk above would pass vacuously if it missed imports: the store itself must show up."""
    seen = [p for p in (PACKAGE / "store").rglob("*.py") if _imports_sqlalchemy(ast.parse(p.read_text()))]
    assert PACKAGE / "store" / "db.py" in seen
    nested = ast.parse("def f():\n    from sqlalchemy.exc import IntegrityError\n    import sqlalchemy as sa\n")
    assert _imports_sqlalchemy(nested) == [2, 3]
