"""The tool catalog as search sees it: one entry per tool, with the text it is found by."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

from engine.tools.base import ToolSpec
from engine.tools.registry import ToolRegistry


class CatalogEntry(BaseModel):
    """A tool as the index knows it."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    parameters: dict[str, Any]
    """JSON Schema of the parameters."""
    source: str = "python"
    """Where the tool comes from: python, builtin, mcp:<server>, openapi:<document>."""
    side_effect: str = "none"

    @property
    def search_text(self) -> str:
        """What the tool is found by: its name as words, its description, and its parameters'
        names and descriptions."""
        parts = [identifier_words(self.name), self.description]
        properties = self.parameters.get("properties", {})
        if isinstance(properties, dict):
            for name, schema in properties.items():
                described = schema.get("description", "") if isinstance(schema, dict) else ""
                parts.append(f"{identifier_words(name)}: {described}".strip(": "))
        return ". ".join(p for p in parts if p)

    @property
    def example_values(self) -> list[str]:
        """Values the tool's parameters name as typical: string ``enum`` options, JSON Schema
        ``examples``, and lists in descriptions ("eg. Amazon, Ebay etc.", "such as Slack or
        email"). A request naming one ("… from Amazon") points at the tool."""
        found: list[str] = []
        properties = self.parameters.get("properties", {})
        if not isinstance(properties, dict):
            return found
        for schema in properties.values():
            if isinstance(schema, dict):
                enum = schema.get("enum")
                if isinstance(enum, list):
                    found.extend(v for v in enum if isinstance(v, str))
                found.extend(param_examples(schema))
        return list(dict.fromkeys(v.strip() for v in found if v.strip()))

    @property
    def content_hash(self) -> str:
        """Changes whenever anything the index stores about the tool changes."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:32]


_EXAMPLES = re.compile(
    r"(?:\be\.?g\.?|\bfor example|\bsuch as|\bfor instance|\blike)[:,]?\s+(?P<list>[^.;()]+)",
    re.IGNORECASE,
)


def param_examples(schema: dict[str, Any]) -> list[str]:
    """The example values one parameter's schema gives: its JSON Schema ``examples`` (the
    strings among them) and the list its description names ("eg. Uber, Didi etc.")."""
    found: list[str] = []
    examples = schema.get("examples")
    if isinstance(examples, list):
        found.extend(v for v in examples if isinstance(v, str))
    described = schema.get("description")
    if isinstance(described, str):
        found.extend(described_examples(described))
    return list(dict.fromkeys(v.strip() for v in found if v.strip()))


def without_examples(description: str) -> str:
    """``description`` without the examples it lists: "The bill to pay, eg. electricity,
    water, phone" → "The bill to pay," (a bill is no phone number)."""
    return _EXAMPLES.sub("", description)


def described_examples(description: str) -> list[str]:
    """The examples a description lists: "eg. Uber, Didi etc." → ["Uber", "Didi"]."""
    found: list[str] = []
    for match in _EXAMPLES.finditer(description):
        listed = match.group("list").strip()
        listed = re.sub(r"\s*\b(?:etc|and so on|and more)\b\.?\s*$", "", listed)
        for item in re.split(r",|\bor\b|\band\b|/", listed):
            item = item.strip(" '\"`")
            if item and len(item.split()) <= 4:
                found.append(item)
    return found


def identifier_words(identifier: str) -> str:
    """``list_pullRequests`` / ``gh.list-prs`` → words separated by spaces."""
    return re.sub(r"[_.\-]+", " ", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", identifier)).strip()


def entry_from_spec(spec: ToolSpec, source: str = "python") -> CatalogEntry:
    return CatalogEntry(
        name=spec.name,
        description=spec.description,
        parameters=spec.params_schema,
        source=source,
        side_effect=spec.side_effect.value,
    )


def entries_from_registry(registry: ToolRegistry, source: str = "python") -> list[CatalogEntry]:
    return [entry_from_spec(spec, source) for spec in registry.specs()]


def unique(entries: Iterable[CatalogEntry]) -> list[CatalogEntry]:
    """One entry per name (the last one given wins), in name order."""
    by_name = {entry.name: entry for entry in entries}
    return [by_name[name] for name in sorted(by_name)]
