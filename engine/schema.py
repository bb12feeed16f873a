"""The blueprint JSON Schema (``docs/blueprint.schema.json`` is generated from this)."""

from __future__ import annotations

import json
from typing import Any

from engine.blueprint import Blueprint


def blueprint_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a blueprint, as accepted on input."""
    return Blueprint.model_json_schema(by_alias=True, mode="validation")


def blueprint_json_schema_text() -> str:
    """The schema as the exact text stored in ``docs/blueprint.schema.json``."""
    return json.dumps(blueprint_json_schema(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"
