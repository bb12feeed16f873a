"""Fixtures of the history tests: a small tool registry and blueprints using its tools.

The ``db`` fixture (SQLite and PostgreSQL) comes from ``tests/knowledge/conftest.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine.tools.function import tool
from engine.tools.registry import ToolRegistry


def make_registry() -> ToolRegistry:
    registry = ToolRegistry()

    @tool("svc.deploy", side_effect="mutating")
    async def deploy(service: str, version: str = "latest") -> dict[str, Any]:
        """Deploy a service."""
        return {"service": service, "version": version}

    @tool("svc.health")
    async def health(service: str) -> dict[str, Any]:
        """Check a service's health."""
        return {"service": service, "ok": True}

    @tool("svc.rollback", side_effect="mutating")
    async def roll_back(service: str) -> dict[str, Any]:
        """Roll a service back."""
        return {"service": service}

    @tool("chat.post", side_effect="mutating")
    async def post(channel: str, text: str) -> dict[str, Any]:
        """Post a message."""
        return {"ts": "1.0"}

    for item in (deploy, health, roll_back, post):
        registry.register(item)
    return registry


@pytest.fixture
def registry() -> ToolRegistry:
    return make_registry()
