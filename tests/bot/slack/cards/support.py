"""Shared checks and factories for the card tests: Slack's limits, checked two ways — by
slack_sdk's own model validation and by explicit size checks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import Block, BlockElement
from slack_sdk.models.views import View

from bot.slack.cards.limits import MESSAGE_CHARS_MAX, text_size
from knowledge.history.views import ProposalInfo, RunInfo, VersionInfo
from knowledge.store.models import ProposalState, RunState, VersionOrigin

AT = datetime(2024, 3, 10, 12, 3, tzinfo=UTC)


def _text(obj: Any) -> str:
    return obj.get("text", "") if isinstance(obj, dict) else ""


def _check_element(element: dict[str, Any]) -> None:
    parsed = BlockElement.parse(element)
    assert parsed is not None
    parsed.validate_json()
    if element["type"] == "button":
        assert 1 <= len(_text(element["text"])) <= 75
        assert len(element.get("value", "")) <= 2000
        assert len(element["action_id"]) <= 255


def check_block(block: dict[str, Any]) -> None:
    """``block`` parses, validates and round-trips through slack_sdk, and fits Slack's limits."""
    parsed = Block.parse(block)
    assert parsed is not None
    parsed.validate_json()
    assert parsed.to_dict() == block
    kind = block["type"]
    if kind == "section":
        assert 1 <= len(_text(block["text"])) <= 3000
    elif kind == "header":
        assert 1 <= len(_text(block["text"])) <= 150
    elif kind == "context":
        assert 1 <= len(block["elements"]) <= 10
        assert all(len(_text(e)) <= 2000 for e in block["elements"])
    elif kind == "actions":
        assert 1 <= len(block["elements"]) <= 25
    for element in block.get("elements", []) if kind == "actions" else []:
        _check_element(element)
    if isinstance(block.get("accessory"), dict):
        _check_element(block["accessory"])


def check_message(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """A message payload fits: a short text fallback and 1–50 valid blocks. Returns the blocks."""
    assert set(payload) == {"text", "blocks"}
    assert isinstance(payload["text"], str)
    assert 0 < len(payload["text"]) <= 300
    blocks = payload["blocks"]
    assert 1 <= len(blocks) <= 50
    assert text_size(blocks) <= MESSAGE_CHARS_MAX  # chat.postMessage's msg_blocks_too_long
    for block in blocks:
        check_block(block)
    return blocks


def check_view(view: dict[str, Any]) -> list[dict[str, Any]]:
    """A view fits: it validates as a slack_sdk View with 1–100 valid blocks."""
    View(**view).validate_json()
    blocks = view["blocks"]
    assert 1 <= len(blocks) <= 100
    for block in blocks:
        check_block(block)
    return blocks


def all_text(blocks: list[dict[str, Any]]) -> str:
    """Every text in the blocks, joined (for content assertions)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("text"), str):
                found.append(value["text"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(blocks)
    return "\n".join(found)


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every button in the blocks, in order."""
    return [
        element
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
        if element["type"] == "button"
    ]


def proposal(state: ProposalState = ProposalState.CANDIDATE, **changes: Any) -> ProposalInfo:
    values: dict[str, Any] = {
        "id": 12,
        "workflow_id": 1,
        "workflow": "deploy_api",
        "base_version_id": 3,
        "base_version": 3,
        "patch": [{"op": "replace", "path": "/steps/0/timeout_s", "value": 30}],
        "rationale": "Deploys time out under load; a longer timeout stops the retries.",
        "evidence": {
            "success": {"before": 0.8, "after": 0.95, "interval": [0.9, 0.99]},
            "latency_p50_ms": {"before": 1200.0, "after": 900.0},
            "cost_usd": {"before": 0.02, "after": 0.015},
        },
        "state": state,
        "created_by": "optimizer",
        "reviewer": None,
        "review_comment": None,
        "result_version_id": None,
        "result_version": None,
        "created_at": AT,
        "updated_at": AT,
        "decided_at": None,
    }
    values.update(changes)
    return ProposalInfo(**values)


def run_info(index: int = 0, **changes: Any) -> RunInfo:
    values: dict[str, Any] = {
        "id": f"{index:08x}deadbeefdeadbeefdeadbeef",
        "workflow_id": 1,
        "workflow": "deploy_api",
        "version_id": 3,
        "version": 3,
        "status": RunState.SUCCEEDED,
        "idempotency_key": None,
        "inputs": {},
        "inputs_redacted": False,
        "outputs": None,
        "error": None,
        "failed_step": None,
        "attention": None,
        "issues": [],
        "started_by": "U123ABC",
        "created_at": AT,
        "started_at": AT,
        "ended_at": AT,
        "duration_ms": 1234.0,
        "tokens_in": 0,
        "tokens_out": 0,
        "cost_usd": 0.01,
        "owner": None,
        "lease_expires_at": None,
        "resumes": 0,
    }
    values.update(changes)
    return RunInfo(**values)


def version_info(number: int, **changes: Any) -> VersionInfo:
    values: dict[str, Any] = {
        "id": number,
        "workflow_id": 1,
        "workflow": "deploy_api",
        "number": number,
        "parent_id": number - 1 if number > 1 else None,
        "parent_number": number - 1 if number > 1 else None,
        "origin": VersionOrigin.USER if number == 1 else VersionOrigin.OPTIMIZER,
        "author": "U123ABC",
        "note": f"version {number}",
        "created_at": AT,
        "blueprint_hash": "h",
        "blueprint_json": {},
        "patch": None if number == 1 else [{"op": "add", "path": "/x", "value": 1}],
        "restores_version_id": None,
        "restores_number": None,
        "is_production": False,
    }
    values.update(changes)
    return VersionInfo(**values)


def workflow(index: int = 0, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": f"workflow_{index}",
        "latest_version": 2,
        "success_rate": 0.92,
        "last_run_at": AT,
        "runs": 14,
    }
    values.update(changes)
    return values
