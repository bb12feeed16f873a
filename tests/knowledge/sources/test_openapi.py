"""OpenAPI documents as tools: schemas from a real document, calls through the real executor
against an HTTP server on 127.0.0.1 (nothing else is contacted), and named errors for bad
documents."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from engine.blueprint import Blueprint
from engine.clock import VirtualClock
from engine.errors import PermanentToolError, ToolTimeoutError, TransientToolError
from engine.executor import Executor
from engine.records import RunStatus, StepStatus
from engine.tools.base import RiskLevel, SideEffect, ToolContext
from engine.tools.schema import SchemaTool
from engine.validation import validate_blueprint
from knowledge.sources.config import OpenAPIDocumentConfig
from knowledge.sources.openapi import (
    OpenAPISourceError,
    OpenAPITools,
    load_openapi_document,
    load_openapi_documents,
)

DATA = Path(__file__).parent / "data"
SPEC = DATA / "tickets.yaml"
SECRET = "Bearer s3cret-t0ken-value"


@dataclass
class Server:
    """The API on 127.0.0.1: records every request; serves the spec at /spec.yaml."""

    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def last(self) -> dict[str, Any]:
        return self.requests[-1]


def make_handler(state: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def handle_any(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            seen = {
                "method": self.command,
                "path": parts.path,
                "raw_path": self.path,
                "query": parse_qs(parts.query),
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": raw.decode(),
                "json": json.loads(raw) if raw and "json" in self.headers["content-type"] else None,
            }
            path = parts.path
            if path == "/spec.yaml":
                self.send(200, SPEC.read_bytes(), "application/yaml")
                return
            if path == "/spec.json":
                data = yaml.safe_load(SPEC.read_text())
                self.send(200, json.dumps(data).encode())
                return
            state.requests.append(seen)
            if path == "/api/slow":
                state.release.wait(timeout=5)
                self.send(200, b'{"late": true}')
            elif path == "/api/flaky":
                self.send(503, b"busy, try later", "text/plain")
            elif path == "/api/tickets/missing":
                # echoes the auth header, as some servers do: it must not reach error messages
                auth = self.headers.get("Authorization", "")
                self.send(404, f"no ticket 'missing' (you sent {auth})".encode(), "text/plain")
            elif self.command == "DELETE":
                self.send(204, b"")
            elif path == "/api/text":
                self.send(200, b"plain words", "text/plain")
            elif self.command == "POST":
                self.send(201, json.dumps({"id": "T-1", **(seen["json"] or {})}).encode())
            else:
                self.send(200, json.dumps(seen).encode())

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any

    return Handler


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out and hang up are expected


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    state = Server()
    httpd = QuietServer(("127.0.0.1", 0), make_handler(state))
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def config(server: Server | None = None, **overrides: Any) -> OpenAPIDocumentConfig:
    values: dict[str, Any] = {
        "name": "tickets",
        "spec": "tickets.yaml",
        "base_url": f"{server.url}/api" if server else None,
        "headers": {"Authorization": SECRET},
        "risk": "high",
    }
    return OpenAPIDocumentConfig(**{**values, **overrides})


@pytest.fixture
def tickets(server: Server) -> OpenAPITools:
    return load_openapi_document(config(server), DATA)


def by_name(document: OpenAPITools) -> dict[str, SchemaTool]:
    return {item.name: item for item in document.tools}


def ctx(step: str = "s") -> ToolContext:
    return ToolContext(run_id="r", step_id=step)


async def call(item: SchemaTool, params: dict[str, Any]) -> Any:
    return await item.invoke(item.parse_params(params), ctx())


# ------------------------------------------------------------------------------ describing


def test_each_operation_is_a_tool_with_side_effect_from_its_method(tickets: OpenAPITools):
    tools = by_name(tickets)
    assert sorted(tools) == [
        "tickets.createTicket",
        "tickets.deleteTicket",
        "tickets.flaky",
        "tickets.getTicket",
        "tickets.listTickets",
        "tickets.put_tickets_ticketId_labels",  # no operationId: named from method and path
        "tickets.slow",
        "tickets.updateTicket",
    ]
    effects = {name: item.spec.side_effect for name, item in tools.items()}
    assert effects["tickets.listTickets"] is SideEffect.NONE
    assert effects["tickets.deleteTicket"] is SideEffect.IDEMPOTENT
    assert effects["tickets.put_tickets_ticketId_labels"] is SideEffect.IDEMPOTENT
    assert effects["tickets.createTicket"] is SideEffect.MUTATING
    assert effects["tickets.updateTicket"] is SideEffect.MUTATING
    assert {item.spec.risk for item in tools.values()} == {RiskLevel.HIGH}
    assert tickets.title == "Tickets" and tickets.api_version == "1.2"


def test_parameters_become_one_schema(tickets: OpenAPITools):
    listing = by_name(tickets)["tickets.listTickets"].spec
    assert listing.description == "List tickets\n\nTickets of a tenant, newest first."
    schema = listing.params_schema
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["X-Tenant"]
    assert schema["properties"]["status"] == {
        "type": "string",
        "enum": ["open", "closed"],
        "description": "Only tickets in this state",
    }
    assert schema["properties"]["limit"]["maximum"] == 100
    assert schema["properties"]["tag"]["items"] == {"type": "string"}
    assert schema["properties"]["X-Tenant"]["description"] == "Tenant the tickets belong to"
    assert listing.output_schema is not None and listing.output_schema["type"] == "array"


def test_object_body_properties_are_params_and_refs_are_inlined(tickets: OpenAPITools):
    create = by_name(tickets)["tickets.createTicket"].spec.params_schema
    assert sorted(create["properties"]) == [
        "X-Tenant",
        "assignee",
        "estimate",
        "priority",
        "tags",
        "title",
    ]
    assert create["required"] == ["X-Tenant", "title"]
    assert create["properties"]["priority"] == {"type": "string", "enum": ["low", "normal", "high"]}
    # nested refs are inlined; a schema referring to itself is inlined once
    assignee = create["properties"]["assignee"]
    assert assignee["properties"]["login"] == {"type": "string"}
    assert "recursive" in assignee["properties"]["manager"]["description"]
    # OpenAPI 3.0's boolean exclusiveMinimum became JSON Schema's number
    assert create["properties"]["estimate"] == {"type": "number", "exclusiveMinimum": 0}
    assert "$ref" not in json.dumps(create)


def test_clashing_body_fields_are_prefixed_and_other_bodies_are_one_param(tickets: OpenAPITools):
    update = by_name(tickets)["tickets.updateTicket"].spec.params_schema
    assert {"ticketId", "body_ticketId", "priority", "assignee"} == set(update["properties"])
    assert update["required"] == ["ticketId"]
    assert {"type": "null"} in update["properties"]["assignee"]["anyOf"]  # nullable: true
    labels = by_name(tickets)["tickets.put_tickets_ticketId_labels"].spec.params_schema
    assert labels["properties"]["body"] == {"type": "array", "items": {"type": "string"}}
    assert labels["required"] == ["ticketId", "body"]


def test_registry_and_catalog_entries(tickets: OpenAPITools):
    registry = tickets.registry()
    assert "tickets.getTicket" in registry
    entries = {e.name: e for e in tickets.catalog_entries()}
    assert entries["tickets.getTicket"].source == "openapi:tickets"
    assert entries["tickets.createTicket"].side_effect == "mutating"
    assert "title" in entries["tickets.createTicket"].search_text


def test_blueprint_validation_checks_params_against_the_document(tickets: OpenAPITools):
    report = validate_blueprint(
        {
            "name": "bad",
            "steps": [
                {"id": "a", "tool": "tickets.getTicket", "params": {"ticket_id": "T-1"}},
                {
                    "id": "b",
                    "tool": "tickets.listTickets",
                    "params": {"X-Tenant": "acme", "status": "pending", "limit": 500},
                },
            ],
        },
        tickets.registry(),
    )
    assert not report.ok
    text = "\n".join(str(p) for p in report.problems)
    assert "ticketId" in text  # missing, and suggested for the typo
    assert "ticket_id" in text
    assert "pending" in text
    assert "500" in text
    good = validate_blueprint(
        {
            "name": "good",
            "inputs": {"id": {"type": "string"}},
            "steps": [
                {"id": "a", "tool": "tickets.getTicket", "params": {"ticketId": "{{ inputs.id }}"}}
            ],
        },
        tickets.registry(),
    )
    assert good.ok, good.problems


# ------------------------------------------------------------------------------ calling


async def run(tools: OpenAPITools, steps: list[dict[str, Any]], **extra: Any) -> Any:
    clock = extra.pop("clock", None)
    blueprint = Blueprint.model_validate({"name": "openapi-test", "steps": steps, **extra})
    executor = Executor(tools.registry(), clock=clock)
    try:
        return await executor.run(blueprint, {})
    finally:
        executor.close()


async def test_calls_through_the_executor_send_the_right_request(
    server: Server, tickets: OpenAPITools
):
    record = await run(
        tickets,
        [
            {
                "id": "create",
                "tool": "tickets.createTicket",
                "params": {
                    "X-Tenant": "acme",
                    "title": "Disk full",
                    "priority": "high",
                    "assignee": {"login": "ana"},
                },
            },
            {
                "id": "get",
                "tool": "tickets.getTicket",
                "params": {"ticketId": "{{ steps.create.output.id }}/x y"},
            },
            {
                "id": "list",
                "tool": "tickets.listTickets",
                "params": {"X-Tenant": "acme", "status": "open", "limit": 5, "tag": ["a", "b"]},
            },
        ],
        outputs={"echo": "{{ steps.get.output }}"},
    )
    assert record.status is RunStatus.SUCCEEDED, record.error
    create, get, listing = (
        next(r for r in server.requests if r["method"] == "POST"),
        next(r for r in server.requests if r["path"].startswith("/api/tickets/")),
        next(r for r in server.requests if r["query"]),
    )
    assert create["method"] == "POST" and create["path"] == "/api/tickets"
    assert create["json"] == {
        "title": "Disk full",
        "priority": "high",
        "assignee": {"login": "ana"},
    }
    assert create["headers"]["x-tenant"] == "acme"
    assert create["headers"]["authorization"] == SECRET
    assert create["headers"]["idempotency-key"] == f"{record.run_id}:create"
    assert create["headers"]["content-type"] == "application/json"
    assert get["method"] == "GET"
    assert get["raw_path"] == "/api/tickets/T-1%2Fx%20y"  # the path param is one segment
    assert "idempotency-key" not in get["headers"]
    assert record.outputs["echo"]["method"] == "GET"  # JSON responses are parsed
    assert listing["query"] == {"status": ["open"], "limit": ["5"], "tag": ["a", "b"]}


async def test_other_methods_and_bodies(server: Server, tickets: OpenAPITools):
    tools = by_name(tickets)
    patched = await call(
        tools["tickets.updateTicket"],
        {"ticketId": "T-1", "body_ticketId": "T-9", "assignee": None},
    )
    assert patched["method"] == "PATCH" and patched["path"] == "/api/tickets/T-1"
    assert patched["json"] == {"ticketId": "T-9", "assignee": None}
    assert patched["headers"]["idempotency-key"] == "r:s"
    labels = await call(
        tools["tickets.put_tickets_ticketId_labels"], {"ticketId": "T-1", "body": ["x", "y"]}
    )
    assert labels["method"] == "PUT" and labels["json"] == ["x", "y"]
    assert "idempotency-key" not in labels["headers"]
    assert await call(tools["tickets.deleteTicket"], {"ticketId": "T-1"}) is None  # 204
    assert server.last()["method"] == "DELETE"


async def test_404_is_permanent_and_never_shows_configured_headers(
    server: Server, tickets: OpenAPITools
):
    with pytest.raises(PermanentToolError) as info:
        await call(by_name(tickets)["tickets.getTicket"], {"ticketId": "missing"})
    message = str(info.value)
    assert "tickets.getTicket" in message and "GET /tickets/missing" in message
    assert "404" in message and "no ticket 'missing'" in message
    assert "s3cret" not in message and "***" in message

    record = await run(
        tickets,
        [
            {
                "id": "get",
                "tool": "tickets.getTicket",
                "params": {"ticketId": "missing"},
                "retry": {"attempts": 3, "backoff_s": 1, "jitter": 0},
            }
        ],
        clock=VirtualClock(),
    )
    assert record.status is RunStatus.FAILED
    assert len(record.records) == 1  # permanent: not retried
    assert record.records[0].error_class == "PermanentToolError"
    assert "s3cret" not in (record.records[0].error_message or "")


async def test_503_is_transient_and_retried(server: Server, tickets: OpenAPITools):
    clock = VirtualClock()
    record = await run(
        tickets,
        [
            {
                "id": "busy",
                "tool": "tickets.flaky",
                "params": {},
                "retry": {"attempts": 3, "backoff_s": 1, "jitter": 0},
            }
        ],
        clock=clock,
    )
    assert record.status is RunStatus.FAILED
    assert [r.attempt for r in record.records] == [1, 2, 3]
    assert {r.error_category for r in record.records} == {"transient"}
    assert {r.status for r in record.records} == {StepStatus.FAILED}
    assert "busy, try later" in (record.records[0].error_message or "")
    assert clock.sleeps == [1.0, 2.0]
    assert len(server.requests) == 3


async def test_timeout_and_unreachable_server(server: Server):
    tools = by_name(load_openapi_document(config(server, timeout_s=0.2), DATA))
    with pytest.raises(ToolTimeoutError, match=r"tickets\.slow: GET /slow timed out after 0\.2s"):
        await call(tools["tickets.slow"], {})
    server.release.set()

    closed = load_openapi_document(config(base_url="http://127.0.0.1:9/api"), DATA)
    with pytest.raises(TransientToolError, match="ConnectError"):
        await call(by_name(closed)["tickets.slow"], {})


async def test_spec_fetched_over_http_resolves_relative_servers(server: Server):
    for path in ("/spec.yaml", "/spec.json"):
        document = load_openapi_document(
            config(spec=f"{server.url}{path}", base_url=None), Path("/nonexistent")
        )
        assert document.base_url == f"{server.url}/api"
        listed = await call(by_name(document)["tickets.listTickets"], {"X-Tenant": "t"})
        assert listed["path"] == "/api/tickets"


# ------------------------------------------------------------------------------ bad documents


def write(tmp_path: Path, document: Any, name: str = "doc.yaml") -> OpenAPIDocumentConfig:
    path = tmp_path / name
    path.write_text(
        document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False)
    )
    return OpenAPIDocumentConfig(name="bad", spec=name, base_url="http://127.0.0.1:9")


def minimal(paths: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": paths, **extra}


def get_op(**operation: Any) -> dict[str, Any]:
    return {"get": {"responses": {"200": {"description": "ok"}}, **operation}}


def load_error(tmp_path: Path, document: Any) -> OpenAPISourceError:
    with pytest.raises(OpenAPISourceError) as info:
        load_openapi_document(write(tmp_path, document), tmp_path)
    return info.value


@pytest.mark.parametrize(
    ("document", "where", "fragment"),
    [
        (
            minimal(
                {
                    "/pets/{id}": get_op(
                        parameters=[
                            {"name": "id", "in": "path", "schema": {"$ref": "other.yaml#/Id"}}
                        ]
                    )
                }
            ),
            "paths./pets/{id}.get.parameters[0].schema",
            "external $ref 'other.yaml#/Id' is not supported",
        ),
        (
            minimal({"/pets/{id}": get_op(parameters=[{"$ref": "#/components/parameters/Id"}])}),
            "paths./pets/{id}.get.parameters[0]",
            "$ref '#/components/parameters/Id' points at nothing",
        ),
        (
            minimal({"/pets/{id}": get_op()}),
            "paths./pets/{id}.get",
            "path parameter 'id' in '/pets/{id}' is not declared",
        ),
        (
            minimal({"/pets": get_op(parameters=[{"name": "q", "in": "body"}])}),
            "paths./pets.get.parameters[0]",
            "'in' must be path, query, header or cookie",
        ),
        (
            minimal({"/pets": get_op(operationId="x"), "/cats": get_op(operationId="x")}),
            "paths./cats.get",
            "operationId 'x' is also used by paths./pets.get",
        ),
        (
            minimal({"/pets": {"post": {"requestBody": {"content": {}}, "responses": {}}}}),
            "paths./pets.post.requestBody",
            "non-empty 'content'",
        ),
        (
            minimal(
                {
                    "/pets": get_op(
                        parameters=[{"name": "n", "in": "query", "schema": {"type": "nope"}}]
                    )
                }
            ),
            "paths./pets.get",
            "not valid JSON Schema",
        ),
        ({"swagger": "2.0", "paths": {}}, "swagger", "Swagger 2.0 documents are not supported"),
        ({"openapi": "2.5", "paths": {}}, "openapi", "unsupported version '2.5'"),
        ("openapi: [unclosed", None, "not valid JSON or YAML"),
        ("- just\n- a list\n", None, "not a mapping"),
    ],
)
def test_bad_documents_are_named_errors(tmp_path, document, where, fragment):
    error = load_error(tmp_path, document)
    assert error.document == "bad"
    assert error.where == where
    assert fragment in error.message
    assert str(error).startswith("OpenAPI document 'bad': ")


def test_missing_file_and_missing_base_url(tmp_path):
    with pytest.raises(OpenAPISourceError, match="spec file not found"):
        load_openapi_document(OpenAPIDocumentConfig(name="gone", spec="nope.yaml"), tmp_path)
    with pytest.raises(OpenAPISourceError) as info:
        load_openapi_document(config(base_url=None), DATA)
    assert info.value.where == "servers[0].url"
    assert "relative" in info.value.message and "set base_url" in info.value.message
    (tmp_path / "none.json").write_text(json.dumps(minimal({"/x": get_op()})))
    with pytest.raises(OpenAPISourceError, match=r"names no servers.*set base_url"):
        load_openapi_document(OpenAPIDocumentConfig(name="n", spec="none.json"), tmp_path)


def test_unreachable_spec_url_is_a_named_error(tmp_path):
    with pytest.raises(OpenAPISourceError, match=r"'remote': fetching http://127.0.0.1:9/x"):
        load_openapi_document(
            OpenAPIDocumentConfig(name="remote", spec="http://127.0.0.1:9/x", timeout_s=2),
            tmp_path,
        )


def test_openapi_31_json_with_server_variables(tmp_path):
    document = minimal(
        {
            "/items/{id}": {
                "get": {
                    "operationId": "items.get by id",
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer"},
                        },
                        {"name": "Accept", "in": "header", "schema": {"type": "string"}},
                        {"name": "filter", "in": "query", "content": {"application/json": {}}},
                    ],
                    "responses": {
                        "2XX": {
                            "description": "ok",
                            "content": {
                                "application/json": {"schema": {"type": ["string", "null"]}}
                            },
                        }
                    },
                }
            }
        },
        servers=[
            {
                "url": "https://{host}/v{major}",
                "variables": {"host": {"default": "api.test"}, "major": {"default": "2"}},
            }
        ],
    )
    (tmp_path / "items.json").write_text(json.dumps(document))
    loaded = load_openapi_document(OpenAPIDocumentConfig(name="inv", spec="items.json"), tmp_path)
    assert loaded.base_url == "https://api.test/v2"
    (item,) = loaded.tools
    assert item.name == "inv.items.get_by_id"
    assert sorted(item.spec.params_schema["properties"]) == ["filter", "id"]  # Accept ignored
    assert item.spec.output_schema == {"type": ["string", "null"]}


def test_load_many_collects_errors_and_skips_disabled(tmp_path, server: Server):
    bad = write(tmp_path, {"swagger": "2.0"})
    good = OpenAPIDocumentConfig(name="tickets", spec=str(SPEC), base_url=f"{server.url}/api")
    off = OpenAPIDocumentConfig(name="off", spec="nope.yaml", enabled=False)
    result = load_openapi_documents([bad, good, off], tmp_path)
    assert [d.name for d in result.documents] == ["tickets"]
    assert [e.document for e in result.errors] == ["bad"]
    assert "tickets.getTicket" in result.registry()
    assert len(result.catalog_entries()) == len(result.tools) == 8


async def test_form_text_cookie_and_deep_object_params(tmp_path, server: Server):
    document = minimal(
        {
            "/forms": {
                "post": {
                    "operationId": "form",
                    "parameters": [
                        {"name": "session", "in": "cookie", "schema": {"type": "string"}},
                        {
                            "name": "filter",
                            "in": "query",
                            "style": "deepObject",
                            "schema": {"type": "object"},
                        },
                        {
                            "name": "ids",
                            "in": "query",
                            "explode": False,
                            "schema": {"type": "array", "items": {"type": "integer"}},
                        },
                    ],
                    "requestBody": {
                        "content": {
                            "application/x-www-form-urlencoded": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "a": {"type": "string"},
                                        "b": {"type": "boolean"},
                                    },
                                }
                            }
                        }
                    },
                    "responses": {"201": {"description": "ok"}},
                }
            },
            "/notes": {
                "post": {
                    "operationId": "note",
                    "requestBody": {
                        "required": True,
                        "description": "The note",
                        "content": {"text/plain": {}},
                    },
                    "responses": {"201": {"description": "ok"}},
                }
            },
        }
    )
    (tmp_path / "forms.json").write_text(json.dumps(document))
    loaded = load_openapi_document(
        OpenAPIDocumentConfig(name="forms", spec="forms.json", base_url=f"{server.url}/api"),
        tmp_path,
    )
    tools = by_name(loaded)
    await call(
        tools["forms.form"],
        {"session": "abc", "filter": {"state": "open"}, "ids": [1, 2], "a": "x y", "b": True},
    )
    sent = server.last()
    assert sent["headers"]["cookie"] == "session=abc"
    assert sent["query"] == {"filter[state]": ["open"], "ids": ["1,2"]}
    assert sent["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert sent["body"] == "a=x+y&b=true"
    note = tools["forms.note"].spec.params_schema
    assert note["properties"]["body"] == {"type": "string", "description": "The note"}
    await call(tools["forms.note"], {"body": "remember the milk"})
    assert server.last()["body"] == "remember the milk"
    assert server.last()["headers"]["content-type"] == "text/plain"
