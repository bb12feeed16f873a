"""Blueprints as stored JSON: the canonical document, its hash, JSON Patches between
documents, validation with the engine, and a YAML diff a reviewer can read.

The document is what :func:`engine.loading.dump_blueprint_yaml` writes, as JSON: field aliases
(``as``), and fields never set left out, so a blueprint read back from its document dumps to
the same document. (``exclude_defaults`` would not do: an input's explicit ``default: null``
makes it optional.)
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import jsonpatch
import jsonpointer
import yaml

from engine.blueprint import Blueprint
from engine.problems import Problem
from engine.templating.references import is_template
from engine.tools.registry import ToolRegistry
from engine.validation import validate_blueprint
from knowledge.history.errors import InvalidBlueprintError, InvalidPatchError
from knowledge.store.redaction import Redactor, is_secret_key

Document = dict[str, Any]
Patch = list[dict[str, Any]]

PATCH_OPS = frozenset({"add", "remove", "replace", "move", "copy", "test"})

#: Keys shown first, in this order, when a blueprint is rendered as YAML; others follow sorted.
_KEY_ORDER = {
    key: rank
    for rank, key in enumerate(
        (
            "name",
            "id",
            "tool",
            "type",
            "description",
            "inputs",
            "params",
            "depends_on",
            "when",
            "for_each",
            "retry",
            "timeout_s",
            "on_error",
            "fallback",
            "compensate",
            "approval",
            "steps",
            "outputs",
        )
    )
}


def blueprint_document(blueprint: Blueprint) -> Document:
    """The blueprint as the JSON document Kaizen stores."""
    return blueprint.model_dump(mode="json", exclude_unset=True, by_alias=True)


def canonical_json(document: Any) -> str:
    """Compact JSON with sorted keys: equal documents give equal text."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def blueprint_hash(document: Mapping[str, Any] | Blueprint) -> str:
    """SHA-256 (hex) of the canonical JSON of a blueprint document (or model)."""
    if isinstance(document, Blueprint):
        document = blueprint_document(document)
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


def check_blueprint(
    data: Mapping[str, Any] | Blueprint,
    registry: ToolRegistry | None,
    *,
    name: str | None = None,
    what: str = "blueprint",
) -> Blueprint:
    """Validate with the engine (tool names and params too when ``registry`` is given) and,
    when ``name`` is given, require the blueprint to carry that name.

    Raises :class:`InvalidBlueprintError` listing every problem with its location.
    """
    report = validate_blueprint(data, registry)
    problems = list(report.problems)
    problems.extend(
        literal_secrets(blueprint_document(data) if isinstance(data, Blueprint) else data)
    )
    actual = data.name if isinstance(data, Blueprint) else _raw_name(data)
    if name is not None and actual is not None and actual != name:
        problems.append(
            Problem(
                loc="name",
                code="name_mismatch",
                message=f"the blueprint is named '{actual}' but the workflow is '{name}'",
                hint="a workflow's versions all carry the workflow's name",
            )
        )
    if problems or report.blueprint is None:
        raise InvalidBlueprintError(problems, what)
    return report.blueprint


_SECRETS = Redactor()


def literal_secrets(document: Any, loc: str = "") -> list[Problem]:
    """Secrets written into a blueprint as plain text (a token under ``headers``, a password
    param, a key in a URL): refused, because versions are stored and shown as they are. A
    template (``{{ inputs.token }}``) is fine: the value arrives at run time."""
    found: list[Problem] = []
    if isinstance(document, Mapping):
        for key, value in document.items():
            where = f"{loc}.{key}" if loc else str(key)
            if (
                isinstance(value, str | int | float)
                and not isinstance(value, bool)
                and value != ""
                and not (isinstance(value, str) and is_template(value))
                and is_secret_key(str(key))
            ):
                found.append(_secret_problem(where))
            else:
                found.extend(literal_secrets(value, where))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found.extend(literal_secrets(value, f"{loc}[{index}]"))
    elif (
        isinstance(document, str)
        and not is_template(document)
        and _SECRETS.redact_text(document) != document
    ):
        found.append(_secret_problem(loc))
    return found


def _secret_problem(loc: str) -> Problem:
    return Problem(
        loc=loc,
        code="literal_secret",
        message="a secret is written into the blueprint as plain text",
        hint="pass it at run time instead: a template such as '{{ inputs.token }}', or a "
        "secret setting of the tool",
    )


def _raw_name(data: Any) -> str | None:
    name = data.get("name") if isinstance(data, Mapping) else None
    return name if isinstance(name, str) else None


def make_patch(source: Document, target: Document) -> Patch:
    """The RFC 6902 JSON Patch turning ``source`` into ``target``."""
    return [dict(op) for op in jsonpatch.make_patch(source, target).patch]


def apply_patch(document: Document, patch: Any) -> Any:
    """``document`` with ``patch`` applied (``document`` is not changed).

    Operations are applied one by one so that a failure names the operation: raises
    :class:`InvalidPatchError` with its index, op, path and the reason.
    """
    if not isinstance(patch, Sequence) or isinstance(patch, str | bytes):
        raise InvalidPatchError(f"a JSON Patch is a list of operations, not {type(patch).__name__}")
    result: Any = copy.deepcopy(document)
    for index, operation in enumerate(patch):
        if not isinstance(operation, Mapping):
            raise InvalidPatchError(
                f"an operation is an object with 'op' and 'path', not {type(operation).__name__}",
                index=index,
                operation=operation,
            )
        op, path = operation.get("op"), operation.get("path")
        if op not in PATCH_OPS:
            reason = f"unknown op {op!r} (one of: {', '.join(sorted(PATCH_OPS))})"
            raise _op_error(reason, index, operation)
        if not isinstance(path, str):
            raise _op_error(
                "'path' must be a JSON Pointer string such as '/steps/0/tool'", index, operation
            )
        try:
            result = jsonpatch.JsonPatch([dict(operation)]).apply(result, in_place=True)
        except jsonpatch.JsonPatchTestFailed as exc:
            raise _op_error(f"test failed: {exc}", index, operation) from None
        except (
            jsonpatch.JsonPatchException,
            jsonpointer.JsonPointerException,
            KeyError,
            IndexError,
            TypeError,
            ValueError,
        ) as exc:
            raise _op_error(str(exc) or type(exc).__name__, index, operation) from None
    return result


def _op_error(reason: str, index: int, operation: Mapping[str, Any]) -> InvalidPatchError:
    op, path = operation.get("op"), operation.get("path")
    return InvalidPatchError(
        reason,
        index=index,
        op=op if isinstance(op, str) else None,
        path=path if isinstance(path, str) else None,
        operation=operation,
    )


def patched_blueprint(
    document: Document,
    patch: Any,
    registry: ToolRegistry | None,
    *,
    name: str,
) -> tuple[Blueprint, Document]:
    """Apply ``patch`` to ``document`` and validate the result (which must keep ``name``).

    Returns the blueprint and its canonical document; raises :class:`InvalidPatchError` or
    :class:`InvalidBlueprintError`.
    """
    result = apply_patch(document, patch)
    blueprint = check_blueprint(result, registry, name=name, what="the patched blueprint")
    return blueprint, blueprint_document(blueprint)


# ---------------------------------------------------------------------------- rendering


def _ordered(value: Any) -> Any:
    if isinstance(value, Mapping):
        keys = sorted(value, key=lambda k: (_KEY_ORDER.get(str(k), len(_KEY_ORDER)), str(k)))
        return {key: _ordered(value[key]) for key in keys}
    if isinstance(value, list):
        return [_ordered(item) for item in value]
    return value


def render_yaml(document: Mapping[str, Any]) -> str:
    """A blueprint document as YAML in a stable, readable key order (name and ids first,
    other keys sorted), the same whatever the database did to the key order."""
    return yaml.safe_dump(_ordered(document), sort_keys=False, allow_unicode=True, width=100)


def unified_diff(a: Mapping[str, Any], b: Mapping[str, Any], label_a: str, label_b: str) -> str:
    """A unified diff of two blueprint documents rendered as YAML ('' when equal)."""
    lines = difflib.unified_diff(
        render_yaml(a).splitlines(keepends=True),
        render_yaml(b).splitlines(keepends=True),
        fromfile=label_a,
        tofile=label_b,
        n=3,
    )
    return "".join(lines)
