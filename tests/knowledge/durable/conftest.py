"""Fixtures of the durable-run tests: the lab (call counters and gates) and its tools."""

from __future__ import annotations

import pytest

from engine.tools.registry import ToolRegistry
from tests.knowledge.durable.helpers import Lab, make_registry


@pytest.fixture
def lab() -> Lab:
    return Lab()


@pytest.fixture
def registry(lab: Lab) -> ToolRegistry:
    return make_registry(lab)
