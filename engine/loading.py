"""Reading blueprints from YAML or JSON text and files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from engine.blueprint import Blueprint
from engine.errors import BlueprintInvalidError
from engine.problems import Problem
from engine.tools.registry import ToolRegistry
from engine.validation import ValidationReport, validate_blueprint


def parse_blueprint_text(text: str, source: str = "<blueprint>") -> Any:
    """Parse YAML or JSON text (JSON is YAML, but JSON errors read better from ``json``).

    Raises :class:`BlueprintInvalidError` naming the line and column of a syntax error.
    """
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            problem = Problem(
                loc="",
                code="syntax",
                message=(
                    f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
                ),
            )
            raise BlueprintInvalidError([problem]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        problem = Problem(loc="", code="syntax", message=f"{source}: invalid YAML{where}: {reason}")
        raise BlueprintInvalidError([problem]) from None


def read_blueprint_file(path: str | Path) -> Any:
    """Parse a ``.yaml``/``.yml``/``.json`` file into plain data."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        problem = Problem(loc="", code="unreadable", message=f"cannot read {file}: {exc.strerror}")
        raise BlueprintInvalidError([problem]) from None
    return parse_blueprint_text(text, source=str(file))


def check_blueprint_file(
    path: str | Path, registry: ToolRegistry | None = None
) -> ValidationReport:
    """Validate a blueprint file; syntax errors come back as problems in the report."""
    try:
        data = read_blueprint_file(path)
    except BlueprintInvalidError as exc:
        return ValidationReport(problems=exc.problems)
    return validate_blueprint(data, registry)


def load_blueprint(path: str | Path, registry: ToolRegistry | None = None) -> Blueprint:
    """Read and validate a blueprint file, or raise :class:`BlueprintInvalidError`."""
    return check_blueprint_file(path, registry).raise_for_problems()


def loads_blueprint(text: str, registry: ToolRegistry | None = None) -> Blueprint:
    """Parse and validate blueprint text (YAML or JSON)."""
    return validate_blueprint(parse_blueprint_text(text), registry).raise_for_problems()


def dump_blueprint_yaml(blueprint: Blueprint) -> str:
    """The blueprint as readable YAML (fields left at their defaults are omitted)."""
    data = blueprint.model_dump(mode="json", exclude_unset=True, by_alias=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
