"""Blueprint inputs: checking provided values against the declared types, applying defaults."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from engine.blueprint import Blueprint, InputSpec
from engine.errors import BlueprintInvalidError
from engine.problems import Problem, did_you_mean

_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "string": TypeAdapter(str),
    "integer": TypeAdapter(int),
    "number": TypeAdapter(int | float),
    "boolean": TypeAdapter(bool),
    "array": TypeAdapter(list[Any]),
    "object": TypeAdapter(dict[str, Any]),
    "any": TypeAdapter(Any),
}


def coerce_input(spec: InputSpec, value: Any) -> Any:
    """``value`` converted to the input's type (``"3"`` → ``3`` for an integer input).

    Raises ``ValueError`` with a plain message when it cannot be converted.
    """
    if spec.type == "string" and isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    elif spec.type in ("array", "object") and isinstance(value, str):
        value = _parse_structured(value)
    try:
        result = _ADAPTERS[spec.type].validate_python(value)
    except ValidationError as exc:
        raise ValueError(
            f"expected {spec.type}, got {value!r} ({exc.errors()[0]['msg']})"
        ) from None
    if spec.enum is not None and result not in spec.enum:
        allowed = ", ".join(repr(v) for v in spec.enum)
        raise ValueError(f"{result!r} is not one of {allowed}")
    return result


def _parse_structured(text: str) -> Any:
    """``'[a, b]'`` or ``'{"k": 1}'`` (JSON or YAML flow syntax) → the value; a plain
    comma-separated string becomes a list."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(loaded, str) and "," in loaded:
        return [part.strip() for part in loaded.split(",")]
    return loaded


def input_type_problem(spec: InputSpec, value: Any) -> str | None:
    """Why ``value`` does not fit ``spec``, or ``None``."""
    try:
        coerce_input(spec, value)
    except ValueError as exc:
        return str(exc)
    return None


def resolve_inputs(blueprint: Blueprint, provided: Mapping[str, Any] | None) -> dict[str, Any]:
    """The run's inputs: provided values checked and converted, defaults filled in.

    Raises :class:`BlueprintInvalidError` (``what="inputs"``) listing every problem.
    """
    provided = dict(provided or {})
    problems: list[Problem] = []
    resolved: dict[str, Any] = {}
    for name in provided:
        if name not in blueprint.inputs:
            hint = did_you_mean(name, blueprint.inputs) or (
                f"declared inputs: {', '.join(blueprint.inputs)}"
                if blueprint.inputs
                else f"'{blueprint.name}' takes no inputs"
            )
            problems.append(
                Problem(
                    loc=f"inputs.{name}", code="unknown_input", message="unknown input", hint=hint
                )
            )
    for name, spec in blueprint.inputs.items():
        if name in provided:
            try:
                resolved[name] = coerce_input(spec, provided[name])
            except ValueError as exc:
                problems.append(
                    Problem(loc=f"inputs.{name}", code="invalid_input", message=str(exc))
                )
        elif spec.is_required:
            problems.append(
                Problem(
                    loc=f"inputs.{name}",
                    code="missing_input",
                    message=f"required input '{name}' ({spec.type}) was not given",
                    hint=spec.description or None,
                )
            )
        else:
            resolved[name] = copy.deepcopy(spec.default)
    if problems:
        raise BlueprintInvalidError(problems, what=f"inputs of '{blueprint.name}'")
    return resolved
