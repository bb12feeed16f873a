"""The layout rules: bot → knowledge → engine, and the engine stays pure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "engine": {
        "bot",
        "knowledge",
        "slack_bolt",
        "slack_sdk",
        "sqlalchemy",
        "alembic",
        "openai",
        "chromadb",
        "apscheduler",
        "temporalio",
    },
    "knowledge": {"bot", "slack_bolt", "slack_sdk"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_it_may(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_modules(path) & FORBIDDEN[package])
        for path in files
        if imported_modules(path) & FORBIDDEN[package]
    }
    assert offenders == {}, f"{package} must not import these: {offenders}"


def test_every_public_function_is_typed():
    untyped = []
    for package in ("engine", "knowledge", "bot"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(
                    node, ast.FunctionDef | ast.AsyncFunctionDef
                ) and not node.name.startswith("_"):
                    args = [
                        a
                        for a in node.args.args + node.args.kwonlyargs
                        if a.arg not in ("self", "cls")
                    ]
                    if node.returns is None or any(a.annotation is None for a in args):
                        untyped.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert untyped == []
