"""OpenAPI 3 documents as a tool source: every operation becomes a :class:`SchemaTool`.

A document (JSON or YAML, OpenAPI 3.0 or 3.1, read from a file or fetched over http(s)) is
turned into tools named ``<document>.<operationId>``. Each tool's parameters are one JSON Schema
object: the operation's path, query, header and cookie parameters, plus its request body — the
properties of a JSON (or form) object body become top-level params, any other body is one
``body`` param. Local ``$ref`` s are inlined; references to other files are refused.

Calling a tool makes the HTTP request with httpx: 429 and 5xx answers and connection failures
are :class:`~engine.errors.TransientToolError` (worth a retry), other 4xx are
:class:`~engine.errors.PermanentToolError`, a timeout is :class:`~engine.errors.ToolTimeoutError`.
Configured header values (credentials) never appear in error messages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, unquote, urljoin, urlsplit

import httpx
import yaml

from engine.errors import (
    KaizenError,
    PermanentToolError,
    ToolDefinitionError,
    ToolTimeoutError,
    TransientToolError,
)
from engine.tools.base import TOOL_NAME_PATTERN, SideEffect, ToolContext, ToolSpec
from engine.tools.registry import ToolRegistry
from engine.tools.schema import SchemaTool
from knowledge.search.catalog import CatalogEntry, entry_from_spec
from knowledge.sources.config import OpenAPIDocumentConfig

__all__ = [
    "OpenAPILoadResult",
    "OpenAPISourceError",
    "OpenAPITools",
    "load_openapi_document",
    "load_openapi_documents",
]

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SIDE_EFFECTS = {
    "get": SideEffect.NONE,
    "head": SideEffect.NONE,
    "options": SideEffect.NONE,
    "trace": SideEffect.NONE,
    "put": SideEffect.IDEMPOTENT,
    "delete": SideEffect.IDEMPOTENT,
    "post": SideEffect.MUTATING,
    "patch": SideEffect.MUTATING,
}
#: Answers worth retrying besides every 5xx (the same set as the ``http.request`` tool).
TRANSIENT_STATUS = frozenset({408, 425, 429})
#: Methods whose calls carry an ``Idempotency-Key`` header.
KEYED_METHODS = frozenset({"POST", "PATCH"})
#: Methods for which redirects are followed.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Header parameters OpenAPI says to ignore (they are set from other fields).
IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})
EXCERPT_CHARS = 300
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"

Location = Literal["path", "query", "header", "cookie", "body", "body_field"]


class OpenAPISourceError(KaizenError):
    """An OpenAPI document cannot be read or turned into tools.

    ``where`` locates the problem in the document (``paths./pets/{id}.get.parameters[0]``), or
    is ``None`` when it concerns the whole document (unreadable file, bad version).
    """

    def __init__(self, document: str, message: str, where: str | None = None) -> None:
        self.document = document
        self.message = message
        self.where = where
        location = f"{where}: " if where else ""
        super().__init__(f"OpenAPI document '{document}': {location}{message}")


class _Fail(Exception):
    """A problem found while reading a document; becomes an :class:`OpenAPISourceError`."""

    def __init__(self, where: str | None, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


# ------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class OpenAPITools:
    """The tools made from one OpenAPI document."""

    config: OpenAPIDocumentConfig
    base_url: str
    """Where calls go: the configured ``base_url`` or the document's first server."""
    tools: list[SchemaTool]
    title: str = ""
    api_version: str = ""

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def source(self) -> str:
        """The catalog source of these tools: ``openapi:<name>``."""
        return f"openapi:{self.config.name}"

    def registry(self) -> ToolRegistry:
        """A registry holding just these tools."""
        return ToolRegistry(self.tools)

    def catalog_entries(self) -> list[CatalogEntry]:
        """Search catalog entries for these tools."""
        return [entry_from_spec(item.spec, source=self.source) for item in self.tools]


@dataclass(frozen=True)
class OpenAPILoadResult:
    """Every document that loaded, and the errors of those that did not."""

    documents: list[OpenAPITools]
    errors: list[OpenAPISourceError]

    @property
    def tools(self) -> list[SchemaTool]:
        return [item for document in self.documents for item in document.tools]

    def registry(self) -> ToolRegistry:
        """A registry holding the tools of every loaded document."""
        return ToolRegistry(self.tools)

    def catalog_entries(self) -> list[CatalogEntry]:
        return [entry for document in self.documents for entry in document.catalog_entries()]


# ------------------------------------------------------------------------------ loading


def load_openapi_document(config: OpenAPIDocumentConfig, base_dir: Path) -> OpenAPITools:
    """Read the document ``config`` names (a path relative to ``base_dir``, or an http(s) URL)
    and make one tool per operation. Raises :class:`OpenAPISourceError` naming the document and
    where in it the problem is."""
    try:
        document, spec_url = _read(config, base_dir)
        return _build(config, document, spec_url)
    except _Fail as exc:
        raise OpenAPISourceError(config.name, exc.message, exc.where) from None


def load_openapi_documents(
    configs: Iterable[OpenAPIDocumentConfig], base_dir: Path
) -> OpenAPILoadResult:
    """Load every enabled document; one that fails is reported in ``errors`` and the others
    still load."""
    documents: list[OpenAPITools] = []
    errors: list[OpenAPISourceError] = []
    for config in configs:
        if not config.enabled:
            continue
        try:
            documents.append(load_openapi_document(config, base_dir))
        except OpenAPISourceError as exc:
            errors.append(exc)
        except Exception as exc:  # a document must never stop the others
            errors.append(
                OpenAPISourceError(config.name, f"unexpected {type(exc).__name__}: {exc}")
            )
    return OpenAPILoadResult(documents=documents, errors=errors)


def _is_url(spec: str) -> bool:
    return urlsplit(spec).scheme in ("http", "https")


def _read(config: OpenAPIDocumentConfig, base_dir: Path) -> tuple[dict[str, Any], str | None]:
    """The parsed document and, when it was fetched, its final URL."""
    if _is_url(config.spec):
        text, spec_url = _fetch(config)
    else:
        path = base_dir / config.spec
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise _Fail(None, f"spec file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise _Fail(None, f"cannot read spec file {path}: {exc}") from None
        spec_url = None
    return _parse(text), spec_url


def _fetch(config: OpenAPIDocumentConfig) -> tuple[str, str]:
    # Configured headers are credentials for the API: send them along only when the document
    # is served by the API's own origin.
    headers = (
        config.headers if config.base_url and _same_origin(config.base_url, config.spec) else {}
    )
    try:
        with httpx.Client(timeout=config.timeout_s, follow_redirects=True) as client:
            response = client.get(config.spec, headers=headers)
    except httpx.TimeoutException:
        raise _Fail(None, f"fetching {config.spec} timed out after {config.timeout_s:g}s") from None
    except httpx.HTTPError as exc:
        raise _Fail(None, f"fetching {config.spec} failed: {type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        raise _Fail(None, f"fetching {config.spec} returned HTTP {response.status_code}")
    return response.text, str(response.url)


def _same_origin(a: str, b: str) -> bool:
    first, second = urlsplit(a), urlsplit(b)
    return (first.scheme, first.netloc) == (second.scheme, second.netloc)


class _YamlLoader(yaml.SafeLoader):
    """YAML as JSON sees it: only true/false are booleans (YAML 1.1 also reads yes/no/on/off,
    so a property named ``on`` would become ``True``), and dates stay strings."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _parse(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = yaml.load(text, Loader=_YamlLoader)  # a SafeLoader subclass
        except yaml.YAMLError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise _Fail(None, f"not valid JSON or YAML ({first})") from None
    if not isinstance(data, dict):
        raise _Fail(None, "the document is not a mapping (expected an OpenAPI object)")
    return _jsonable(data)


def _jsonable(value: Any) -> Any:
    """Mapping keys as strings (YAML reads ``200:`` as an int)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


# ------------------------------------------------------------------------------ $ref


class _Resolver:
    """Inlines local ``$ref`` s (``#/components/...``); refuses references to other files."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def lookup(self, ref: str, where: str) -> Any:
        if not ref.startswith("#"):
            raise _Fail(
                where,
                f"external $ref '{ref}' is not supported (only references inside the document, "
                "like '#/components/schemas/Pet')",
            )
        pointer = ref[1:]
        node: Any = self.root
        if not pointer:
            return node
        if not pointer.startswith("/"):
            raise _Fail(where, f"$ref '{ref}' is not a JSON pointer (it should start with '#/')")
        for raw in pointer[1:].split("/"):
            token = unquote(raw).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                raise _Fail(where, f"$ref '{ref}' points at nothing (no '{token}' there)")
        return node

    def shallow(self, node: Any, where: str) -> tuple[Any, str]:
        """Follow ``$ref`` s at the top of ``node`` only (for parameters, bodies, responses);
        returns the object and where it really is."""
        seen: list[str] = []
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in seen:
                raise _Fail(where, f"$ref cycle: {' -> '.join([*seen, ref])}")
            seen.append(ref)
            node = self.lookup(ref, where)
            where = f"{where} -> {ref}"
        return node, where

    def deep(self, node: Any, where: str, stack: tuple[str, ...] = ()) -> Any:
        """``node`` with every ``$ref`` inside it inlined. A schema that refers to itself is
        inlined once; the inner reference becomes an unconstrained schema."""
        if isinstance(node, list):
            return [self.deep(item, f"{where}[{i}]", stack) for i, item in enumerate(node)]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            siblings = {
                key: self.deep(value, f"{where}.{key}", stack)
                for key, value in node.items()
                if key != "$ref"
            }
            if ref in stack:
                return {"description": f"(recursive: {ref})", **siblings}
            target = self.lookup(ref, where)
            resolved = self.deep(target, f"{where} -> {ref}", (*stack, ref))
            if siblings and isinstance(resolved, dict):
                return {**resolved, **siblings}
            return resolved
        return {key: self.deep(value, f"{where}.{key}", stack) for key, value in node.items()}


# ------------------------------------------------------------------------------ schemas

_SUBSCHEMA = (
    "items",
    "additionalProperties",
    "not",
    "contains",
    "if",
    "then",
    "else",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
    "additionalItems",
)
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


def _json_schema(schema: Any) -> Any:
    """An OpenAPI schema as plain JSON Schema: OpenAPI 3.0's ``nullable`` becomes a ``null``
    type, its boolean ``exclusiveMinimum``/``exclusiveMaximum`` become numbers."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in _SUBSCHEMA:
        if isinstance(out.get(key), dict):
            out[key] = _json_schema(out[key])
        elif isinstance(out.get(key), list):
            out[key] = [_json_schema(s) for s in out[key]]
    for key in _SUBSCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [_json_schema(s) for s in out[key]]
    for key in _SUBSCHEMA_MAPS:
        if isinstance(out.get(key), dict):
            out[key] = {name: _json_schema(s) for name, s in out[key].items()}
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(exclusive), bool) and out.pop(exclusive) and bound in out:
            out[exclusive] = out.pop(bound)
    if isinstance(out.get("nullable"), bool):
        nullable = out.pop("nullable")
        if nullable:
            kind = out.get("type")
            if isinstance(kind, str):
                out["type"] = [kind, "null"]
            elif isinstance(kind, list) and "null" not in kind:
                out["type"] = [*kind, "null"]
            elif kind is None and any(k in out for k in _SUBSCHEMA_LISTS):
                out = {"anyOf": [out, {"type": "null"}]}
            if isinstance(out.get("enum"), list) and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
    return out


def _is_json(media_type: str) -> bool:
    media = media_type.split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json") or media == "*/*"


def _pick_media(content: Mapping[str, Any]) -> str:
    """The media type to send: JSON if offered, then forms, then text, then the first."""
    types = list(content)
    for check in (
        lambda m: m.split(";")[0].strip().lower() == "application/json",
        lambda m: _is_json(m) and m != "*/*",
        lambda m: m.lower().startswith(FORM),
        lambda m: m.lower().startswith(MULTIPART),
        lambda m: m.lower().startswith("text/"),
    ):
        for media in types:
            if check(media):
                return media
    return types[0]


def _mergeable(schema: Any) -> bool:
    """Whether a body schema is a plain object whose properties can become top-level params."""
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return False
    if not schema["properties"]:
        return False
    if any(k in schema for k in ("allOf", "anyOf", "oneOf", "not", "if")):
        return False
    return schema.get("type") in (None, "object")


# ------------------------------------------------------------------------------ operations


@dataclass(frozen=True)
class _Binding:
    """Where one tool param goes in the request."""

    key: str
    location: Location
    wire: str
    style: str = "form"
    explode: bool = True
    as_json: bool = False


@dataclass(frozen=True)
class _Operation:
    method: str
    path: str
    base_url: str
    bindings: tuple[_Binding, ...]
    body_media: str | None = None
    body_required: bool = False

    @property
    def body_fields(self) -> bool:
        """Whether the body's properties are separate params."""
        return any(b.location == "body_field" for b in self.bindings)


def _expect_dict(node: Any, where: str, what: str) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise _Fail(where, f"{what} must be a mapping, got {type(node).__name__}")
    return node


def _build(
    config: OpenAPIDocumentConfig, document: dict[str, Any], spec_url: str | None
) -> OpenAPITools:
    version = document.get("openapi")
    if version is None:
        if "swagger" in document:
            raise _Fail(
                "swagger",
                f"Swagger {document['swagger']} documents are not supported; only OpenAPI 3.0 "
                "and 3.1 (convert it, e.g. with swagger2openapi)",
            )
        raise _Fail(None, "no 'openapi' field: this is not an OpenAPI 3 document")
    version = str(version)
    if not re.match(r"^3\.[01](\.\d+)?(-.*)?$", version):
        raise _Fail("openapi", f"unsupported version '{version}' (supported: 3.0.x and 3.1.x)")
    info: dict[str, Any] = document["info"] if isinstance(document.get("info"), dict) else {}
    base_url = _base_url(config, document, spec_url)
    resolver = _Resolver(document)
    paths = document.get("paths") or {}
    paths = _expect_dict(paths, "paths", "'paths'")

    tools: list[SchemaTool] = []
    names: dict[str, str] = {}
    operation_ids: dict[str, str] = {}
    for path, raw_item in paths.items():
        where_item = f"paths.{path}"
        if not path.startswith("/"):
            raise _Fail(where_item, "a path must start with '/'")
        item, item_where = resolver.shallow(raw_item, where_item)
        item = _expect_dict(item, item_where, "a path item")
        shared = item.get("parameters") or []
        if not isinstance(shared, list):
            raise _Fail(f"{where_item}.parameters", "'parameters' must be a list")
        for method in METHODS:
            if method not in item:
                continue
            where = f"{where_item}.{method}"
            operation = _expect_dict(item[method], where, "an operation")
            operation_id = operation.get("operationId")
            if operation_id is not None:
                if not isinstance(operation_id, str) or not operation_id.strip():
                    raise _Fail(f"{where}.operationId", "operationId must be a non-empty string")
                if operation_id in operation_ids:
                    raise _Fail(
                        where,
                        f"operationId '{operation_id}' is also used by "
                        f"{operation_ids[operation_id]}",
                    )
                operation_ids[operation_id] = where
            name = _unique_name(config.name, _operation_name(operation_id, method, path), names)
            names[name] = where
            spec, op = _describe_operation(
                config, name, path, method, operation, shared, resolver, base_url, where
            )
            try:
                tools.append(SchemaTool(spec, _Caller(name, op, config)))
            except ToolDefinitionError as exc:
                raise _Fail(where, str(exc)) from None
    return OpenAPITools(
        config=config,
        base_url=base_url,
        tools=tools,
        title=str(info.get("title") or ""),
        api_version=str(info.get("version") or ""),
    )


def _operation_name(operation_id: str | None, method: str, path: str) -> str:
    """A tool-name segment: the sanitized operationId, or ``<method>_<path words>``."""
    if operation_id:
        cleaned = re.sub(r"[^A-Za-z0-9_\-.]+", "_", operation_id.strip())
        cleaned = ".".join(part for part in cleaned.split(".") if part)
        if cleaned:
            return cleaned
    return re.sub(r"[^A-Za-z0-9]+", "_", f"{method} {path}").strip("_")


def _unique_name(document: str, segment: str, taken: Mapping[str, str]) -> str:
    name = f"{document}.{segment}"
    suffix = 2
    while name in taken:
        name = f"{document}.{segment}_{suffix}"
        suffix += 1
    if not TOOL_NAME_PATTERN.match(name):  # cannot happen after sanitizing; be loud if it does
        raise _Fail(None, f"cannot make a valid tool name from '{segment}'")
    return name


def _base_url(
    config: OpenAPIDocumentConfig, document: Mapping[str, Any], spec_url: str | None
) -> str:
    if config.base_url:
        url, where = config.base_url, "base_url (configuration)"
    else:
        servers = document.get("servers")
        where = "servers[0].url"
        if isinstance(servers, list) and servers:
            server = _expect_dict(servers[0], "servers[0]", "a server")
            raw_url = server.get("url")
            if not isinstance(raw_url, str):
                raise _Fail(where, "a server needs a 'url' string")
            url = _expand_server_variables(raw_url, server)
        else:
            url, where = "/", "servers"  # OpenAPI's default server
        if not urlsplit(url).scheme:
            if spec_url is None:
                detail = (
                    f"the server URL '{url}' is relative"
                    if where != "servers"
                    else "the document names no servers"
                )
                raise _Fail(
                    where,
                    f"{detail} and the document was read from a file: set base_url in the "
                    "configuration",
                )
            url = urljoin(spec_url, url)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Fail(where, f"'{url}' is not an http(s) URL with a host")
    return url.rstrip("/")


def _expand_server_variables(url: str, server: Mapping[str, Any]) -> str:
    variables = server.get("variables") or {}

    def substitute(match: re.Match[str]) -> str:
        variable = variables.get(match.group(1)) if isinstance(variables, dict) else None
        if not isinstance(variable, dict) or "default" not in variable:
            raise _Fail(
                "servers[0].variables",
                f"server variable '{match.group(1)}' has no default value",
            )
        return str(variable["default"])

    return re.sub(r"\{([^{}]+)\}", substitute, url)


def _describe_operation(
    config: OpenAPIDocumentConfig,
    name: str,
    path: str,
    method: str,
    operation: Mapping[str, Any],
    shared: Sequence[Any],
    resolver: _Resolver,
    base_url: str,
    where: str,
) -> tuple[ToolSpec, _Operation]:
    own = operation.get("parameters") or []
    if not isinstance(own, list):
        raise _Fail(f"{where}.parameters", "'parameters' must be a list")
    declared: dict[tuple[Location, str], tuple[dict[str, Any], str]] = {}
    for base, items in ((f"paths.{path}.parameters", shared), (f"{where}.parameters", own)):
        for i, raw in enumerate(items):
            param, param_where = resolver.shallow(raw, f"{base}[{i}]")
            param = _expect_dict(param, param_where, "a parameter")
            param_name, location = param.get("name"), param.get("in")
            if not isinstance(param_name, str) or not param_name:
                raise _Fail(param_where, "a parameter needs a 'name'")
            if location not in ("path", "query", "header", "cookie"):
                raise _Fail(
                    param_where,
                    f"parameter '{param_name}': 'in' must be path, query, header or cookie "
                    f"(got {location!r})",
                )
            declared[(location, param_name)] = (param, param_where)

    template_names = re.findall(r"\{([^{}/]+)\}", path)
    for variable in template_names:
        if ("path", variable) not in declared:
            raise _Fail(
                where, f"path parameter '{variable}' in '{path}' is not declared in parameters"
            )

    properties: dict[str, Any] = {}
    required: list[str] = []
    bindings: list[_Binding] = []

    def claim(preferred: str, prefix: str) -> str:
        key = preferred if preferred not in properties else f"{prefix}_{preferred}"
        suffix = 2
        while key in properties:
            key = f"{prefix}_{preferred}_{suffix}"
            suffix += 1
        return key

    for (location, param_name), (param, param_where) in declared.items():
        if location == "path" and param_name not in template_names:
            continue  # declared but not in the path: nothing to put it in
        if location == "header" and param_name.lower() in IGNORED_HEADERS:
            continue
        schema, as_json = _parameter_schema(param, resolver, param_where)
        key = claim(param_name, location)
        properties[key] = schema
        if location == "path" or param.get("required") is True:
            required.append(key)
        default_style = "simple" if location in ("path", "header") else "form"
        style = str(param["style"]) if isinstance(param.get("style"), str) else default_style
        explode = param.get("explode")
        bindings.append(
            _Binding(
                key=key,
                location=location,
                wire=param_name,
                style=style,
                explode=explode if isinstance(explode, bool) else style == "form",
                as_json=as_json,
            )
        )

    body_media: str | None = None
    body_required = False
    if operation.get("requestBody") is not None:
        body, body_where = resolver.shallow(operation["requestBody"], f"{where}.requestBody")
        body = _expect_dict(body, body_where, "requestBody")
        content = body.get("content")
        if not isinstance(content, dict) or not content:
            raise _Fail(body_where, "requestBody needs a non-empty 'content' mapping")
        body_media = _pick_media(content)
        media = _expect_dict(content[body_media], f"{body_where}.content.{body_media}", "media")
        schema = _json_schema(
            resolver.deep(media.get("schema", {}), f"{body_where}.content.{body_media}.schema")
        )
        body_required = body.get("required") is True
        structured = _is_json(body_media) or body_media.lower().startswith((FORM, MULTIPART))
        if structured and _mergeable(schema):
            body_needs = schema.get("required") if isinstance(schema.get("required"), list) else []
            for field_name, field_schema in schema["properties"].items():
                key = claim(field_name, "body")
                properties[key] = field_schema
                if body_required and field_name in body_needs:
                    required.append(key)
                bindings.append(_Binding(key=key, location="body_field", wire=field_name))
        else:
            if not structured and not schema:
                schema = {"type": "string"}
            if isinstance(schema, dict) and body.get("description") and "description" not in schema:
                schema = {**schema, "description": body["description"]}
            key = claim("body", "request")
            properties[key] = schema
            if body_required:
                required.append(key)
            bindings.append(_Binding(key=key, location="body", wire="body"))

    params_schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        params_schema["required"] = required
    spec = ToolSpec(
        name=name,
        description=_description(operation, method, path),
        params_schema=params_schema,
        output_schema=_output_schema(operation, resolver, where),
        side_effect=SIDE_EFFECTS[method],
        risk=config.risk,
    )
    op = _Operation(
        method=method.upper(),
        path=path,
        base_url=base_url,
        bindings=tuple(bindings),
        body_media=body_media,
        body_required=body_required,
    )
    return spec, op


def _parameter_schema(
    param: Mapping[str, Any], resolver: _Resolver, where: str
) -> tuple[dict[str, Any], bool]:
    """The parameter's JSON Schema (with its description), and whether it is sent as JSON
    (parameters described by ``content`` instead of ``schema``)."""
    as_json = False
    if "schema" in param:
        raw = resolver.deep(param["schema"], f"{where}.schema")
    elif isinstance(param.get("content"), dict) and param["content"]:
        media = next(iter(param["content"]))
        media_object = _expect_dict(param["content"][media], f"{where}.content.{media}", "media")
        raw = resolver.deep(media_object.get("schema", {}), f"{where}.content.{media}.schema")
        as_json = _is_json(media)
    else:
        raw = {}
    schema = _json_schema(raw)
    if not isinstance(schema, dict):
        schema = {} if schema is True else {"not": {}}
    if isinstance(param.get("description"), str) and param["description"]:
        schema = {**schema, "description": param["description"]}
    if param.get("deprecated") is True:
        schema = {**schema, "deprecated": True}
    return schema, as_json


def _description(operation: Mapping[str, Any], method: str, path: str) -> str:
    parts = [
        text.strip()
        for text in (operation.get("summary"), operation.get("description"))
        if isinstance(text, str) and text.strip()
    ]
    if len(parts) == 2 and parts[1].startswith(parts[0]):
        parts = parts[1:]
    text = "\n\n".join(parts) or f"{method.upper()} {path}"
    if operation.get("deprecated") is True:
        text += " (deprecated)"
    return text


def _output_schema(
    operation: Mapping[str, Any], resolver: _Resolver, where: str
) -> dict[str, Any] | None:
    """The JSON schema of the first 2xx response that has one."""
    responses = operation.get("responses")
    if not isinstance(responses, dict):
        return None
    codes = sorted((code for code in responses if re.fullmatch(r"2\d\d", code)), key=int) + [
        code for code in responses if code.upper() == "2XX"
    ]
    for code in codes:
        response, response_where = resolver.shallow(responses[code], f"{where}.responses.{code}")
        content = response.get("content") if isinstance(response, dict) else None
        if not isinstance(content, dict):
            continue
        for media, media_object in content.items():
            if _is_json(media) and isinstance(media_object, dict) and "schema" in media_object:
                schema = _json_schema(
                    resolver.deep(media_object["schema"], f"{response_where}.content.{media}")
                )
                return schema if isinstance(schema, dict) else None
    return None


# ------------------------------------------------------------------------------ calling


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _simple(value: Any, explode: bool) -> str:
    """OpenAPI's ``simple`` style (path and header params)."""
    if isinstance(value, list):
        return ",".join(_scalar(v) for v in value)
    if isinstance(value, dict):
        if explode:
            return ",".join(f"{k}={_scalar(v)}" for k, v in value.items())
        return ",".join(f"{k},{_scalar(v)}" for k, v in value.items())
    return _scalar(value)


def _query_pairs(binding: _Binding, value: Any) -> list[tuple[str, str]]:
    name = binding.wire
    if binding.as_json:
        return [(name, value if isinstance(value, str) else json.dumps(value))]
    if isinstance(value, list):
        if binding.style == "form" and binding.explode:
            return [(name, _scalar(v)) for v in value]
        separator = {"spaceDelimited": " ", "pipeDelimited": "|"}.get(binding.style, ",")
        return [(name, separator.join(_scalar(v) for v in value))]
    if isinstance(value, dict):
        if binding.style == "deepObject":
            return [(f"{name}[{k}]", _scalar(v)) for k, v in value.items()]
        if binding.explode:
            return [(str(k), _scalar(v)) for k, v in value.items()]
        return [(name, ",".join(f"{k},{_scalar(v)}" for k, v in value.items()))]
    return [(name, _scalar(value))]


def _path_segment(binding: _Binding, value: Any) -> str:
    text = json.dumps(value) if binding.as_json and not isinstance(value, str) else None
    text = text if text is not None else _simple(value, binding.explode)
    encoded = quote(text, safe="")
    return {".": "%2E", "..": "%2E%2E"}.get(encoded, encoded)  # no dot segments in the path


class _Caller:
    """Makes the HTTP request for one operation."""

    def __init__(
        self, tool_name: str, operation: _Operation, config: OpenAPIDocumentConfig
    ) -> None:
        self.tool_name = tool_name
        self.operation = operation
        self.headers = dict(config.headers)
        self.timeout_s = config.timeout_s
        secrets: set[str] = set()
        for value in config.headers.values():
            secrets.add(value)
            secrets.update(part for part in value.split() if len(part) >= 8)
        self._secrets = sorted((s for s in secrets if s), key=len, reverse=True)

    def redact(self, text: str) -> str:
        """``text`` without any configured header value in it."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def __call__(self, params: dict[str, Any], ctx: ToolContext) -> Any:
        op = self.operation
        path = op.path
        query: list[tuple[str, str | int | float | bool | None]] = []
        headers = httpx.Headers(self.headers)
        cookies: list[str] = []
        fields: dict[str, Any] = {}
        body: Any = None
        has_body = False
        for binding in op.bindings:
            if binding.key not in params:
                continue
            value = params[binding.key]
            if binding.location == "body_field":
                fields[binding.wire] = value
            elif binding.location == "body":
                body, has_body = value, True
            elif value is None:
                continue
            elif binding.location == "path":
                path = path.replace("{" + binding.wire + "}", _path_segment(binding, value))
            elif binding.location == "query":
                query.extend(_query_pairs(binding, value))
            elif binding.location == "header":
                headers[binding.wire] = _simple(value, binding.explode)
            elif binding.location == "cookie":
                cookies.append(f"{binding.wire}={quote(_simple(value, binding.explode))}")
        missing = re.findall(r"\{([^{}/]+)\}", path)
        if missing:
            raise PermanentToolError(
                f"{self.tool_name}: no value for path parameter(s) {', '.join(missing)}"
            )
        if fields or (op.body_required and op.body_fields):
            body, has_body = fields, True  # a required object body is sent even when empty
        if cookies:
            headers["Cookie"] = "; ".join(cookies)
        if op.method in KEYED_METHODS and "idempotency-key" not in headers:
            headers["Idempotency-Key"] = ctx.idempotency_key
        target = httpx.URL(op.base_url + path)
        if query:
            target = target.copy_merge_params(query)
        shown = op.method + " " + path + (f"?{target.query.decode()}" if query else "")
        request: dict[str, Any] = {}
        if has_body and op.body_media is not None:
            request = _body_arguments(op.body_media, body, headers)
        try:
            async with httpx.AsyncClient(
                timeout=self.timeout_s, follow_redirects=op.method in SAFE_METHODS
            ) as client:
                response = await client.request(op.method, target, headers=headers, **request)
        except httpx.TimeoutException:
            raise ToolTimeoutError(
                f"{self.tool_name}: {shown} timed out after {self.timeout_s:g}s"
            ) from None
        except httpx.TransportError as exc:
            raise TransientToolError(
                self.redact(f"{self.tool_name}: {shown} failed: {type(exc).__name__}: {exc}")
            ) from None
        except httpx.HTTPError as exc:
            raise PermanentToolError(
                self.redact(f"{self.tool_name}: {shown} failed: {type(exc).__name__}: {exc}")
            ) from None
        status = response.status_code
        if status >= 300:
            excerpt = " ".join(response.text.split())[:EXCERPT_CHARS]
            message = self.redact(
                f"{self.tool_name}: {shown} returned {status}" + (f": {excerpt}" if excerpt else "")
            )
            if status >= 500 or status in TRANSIENT_STATUS:
                raise TransientToolError(message)
            raise PermanentToolError(message)
        if status == 204 or not response.content:
            return None
        if _is_json(response.headers.get("content-type", "")):
            try:
                return response.json()
            except ValueError:
                return response.text
        return response.text


def _body_arguments(media: str, body: Any, headers: httpx.Headers) -> dict[str, Any]:
    """httpx arguments sending ``body`` as ``media``."""
    lowered = media.lower()
    if _is_json(media):
        headers["Content-Type"] = media if lowered != "*/*" else "application/json"
        return {"content": json.dumps(body).encode()}
    if lowered.startswith(FORM) and isinstance(body, dict):
        return {"data": {k: _scalar(v) for k, v in body.items() if v is not None}}
    if lowered.startswith(MULTIPART) and isinstance(body, dict):
        return {"files": {k: (None, _scalar(v)) for k, v in body.items() if v is not None}}
    headers["Content-Type"] = media
    text = body if isinstance(body, str) else _scalar(body)
    return {"content": text.encode()}
