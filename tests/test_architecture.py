"""The layout rules: bot → knowledge → engine, and the engine stays pure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SLACK = {"slack_bolt", "slack_sdk"}
SQL = {"sqlalchemy", "alembic", "sqlite3", "psycopg", "psycopg2", "asyncpg", "aiosqlite"}
LLM = {"openai", "anthropic", "litellm", "langchain", "tiktoken", "chromadb"}
FORBIDDEN = {
    "engine": {"bot", "knowledge", "apscheduler", "temporalio"} | SLACK | SQL | LLM,
    "knowledge": {"bot"} | SLACK,
}


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = path.relative_to(ROOT).parts[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level:
                base = package[: len(package) - node.level + 1]
                found.add(base[0] if base else (node.module or "").split(".")[0])
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
