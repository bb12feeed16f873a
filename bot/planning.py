"""Putting the planner together from the settings: the tool catalog (built-ins, MCP servers,
OpenAPI documents), the search indexes, exemplar memory and, when configured, the LLM."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bot.settings import Settings, config_file
from engine.tools.builtin import builtin_registry
from engine.tools.registry import ToolRegistry
from knowledge.history import list_exemplars
from knowledge.planner.llm import LLMPlanner, make_openai_client
from knowledge.planner.offline import OfflinePlanner
from knowledge.planner.phrases import ToolPhrases
from knowledge.planner.planner import Planner
from knowledge.planner.prompt import ensure_planner_prompt
from knowledge.search.catalog import CatalogEntry, entries_from_registry
from knowledge.search.embedding_backend import make_embedding_function
from knowledge.search.exemplars import ExemplarIndex
from knowledge.search.index import ToolIndex
from knowledge.sources.mcp import McpTools, connect_mcp_servers
from knowledge.sources.openapi import load_openapi_documents
from knowledge.store.database import Database

log = logging.getLogger(__name__)


@dataclass
class ToolCatalog:
    """Every tool Kaizen can use, and the sources that could not be loaded."""

    registry: ToolRegistry
    entries: list[CatalogEntry]
    errors: list[str] = field(default_factory=list)
    mcp: McpTools | None = None

    def close(self) -> None:
        if self.mcp is not None:
            self.mcp.close()


@contextmanager
def open_tool_catalog(settings: Settings) -> Iterator[ToolCatalog]:
    """The built-in tools plus the configured MCP servers' and OpenAPI documents' tools
    (MCP servers are stopped when the block ends). A source that fails is reported in
    ``errors`` and left out; the others still load."""
    builtins = builtin_registry(settings.builtin_tools_config())
    registry = ToolRegistry(builtins)
    entries = entries_from_registry(builtins, source="builtin")
    errors: list[str] = []
    sources = settings.tool_sources
    mcp: McpTools | None = None
    if sources.mcp_servers:
        mcp = connect_mcp_servers(sources.mcp_servers)
        errors.extend(str(e) for e in mcp.errors.values())
        registry = registry.merged(mcp.registry())
        entries.extend(mcp.catalog_entries())
    if sources.openapi_documents:
        loaded = load_openapi_documents(sources.openapi_documents, config_file().parent)
        errors.extend(str(e) for e in loaded.errors)
        registry = registry.merged(loaded.registry())
        entries.extend(loaded.catalog_entries())
    catalog = ToolCatalog(registry=registry, entries=entries, errors=errors, mcp=mcp)
    try:
        yield catalog
    finally:
        catalog.close()


def embedding_function(settings: Settings) -> Any:
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    return make_embedding_function(
        settings.embedding_backend,
        openai_api_key=key,
        openai_base_url=settings.openai_base_url,
        model=settings.openai_embedding_model,
    )


def tool_index(settings: Settings, catalog: ToolCatalog) -> ToolIndex:
    """The catalog's search index in the data dir, brought up to date (only changed tools are
    embedded again)."""
    index = ToolIndex(settings.data_dir / "chroma", embedding_function=embedding_function(settings))
    index.sync(catalog.entries)
    return index


def make_planner(settings: Settings, catalog: ToolCatalog, db: Database) -> Planner:
    """The planner over ``catalog``, with exemplar memory from ``db`` and the LLM when
    ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL`` is set."""
    index = tool_index(settings, catalog)
    with db.reading() as session:
        exemplars = list_exemplars(session)
    exemplar_index = ExemplarIndex(settings.data_dir / "chroma", embedding_function=index.embed)
    exemplar_index.sync(exemplars)
    phrases = ToolPhrases(index)
    phrases.learn(exemplars)
    offline = OfflinePlanner(index, catalog.registry, phrases=phrases)
    llm: LLMPlanner | None = None
    if settings.llm_configured:
        with db.session() as session:
            prompt = ensure_planner_prompt(session)
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        client = make_openai_client(key, settings.openai_base_url, settings.planner_timeout_s)
        llm = LLMPlanner(
            client,
            settings.openai_model,
            catalog.registry,
            prompt_text=prompt.text,
            prompt_id=prompt.id,
            max_repairs=settings.planner_max_repairs,
            timeout_s=settings.planner_timeout_s,
        )
    return Planner(
        index,
        offline,
        llm=llm,
        exemplars=exemplar_index,
        tools_k=settings.planner_tools_k,
        exemplars_k=settings.planner_exemplars_k,
    )
