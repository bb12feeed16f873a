"""The plan preview: what Kaizen will run for a request, with Run / Edit / Save / Cancel; the
question asked instead when there is no plan; and the edit and reject modals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_sdk.models.blocks import InputBlock, PlainTextInputElement, PlainTextObject
from slack_sdk.models.views import View

from bot.slack.cards import actions as ids
from bot.slack.cards.limits import (
    INPUT_ERROR_MAX,
    MAX_MESSAGE_BLOCKS,
    MESSAGE_CHARS_MAX,
    PLAIN_TEXT_INPUT_MAX,
    VIEW_TITLE_MAX,
    BlockDict,
    actions,
    button,
    chunk_text,
    clip,
    confirm,
    context,
    escape,
    escape_clip,
    fmt_duration,
    header,
    inline_code,
    line_sections,
    mention,
    plural,
    section,
    short_value,
    take_lines,
    text_size,
)
from bot.slack.cards.limits import message as message_payload
from engine.analysis import referenced_steps, site_references, template_sites
from engine.blueprint import Blueprint, Step
from engine.templating import default_engine
from engine.tools.base import RiskLevel, SideEffect, ToolSpec
from engine.tools.registry import ToolRegistry

if TYPE_CHECKING:  # importing the planner's package loads the search index (chromadb)
    from knowledge.planner.result import PlanResult

KEY_PARAMS = 3
"""Params shown per step."""
PARAM_VALUE_MAX = 40
SHOWN_DEPENDENCIES = 6
REQUEST_MAX = 600
INPUTS_MAX = 1500

_PATH_LABELS = {  # by PlanPath value
    "llm": "the LLM planner",
    "offline": "the offline planner",
    "exemplar": "adapting a past plan",
}


# ---------------------------------------------------------------------------- steps


def _dependencies(blueprint: Blueprint, registry: ToolRegistry | None) -> dict[str, set[str]]:
    """The steps each step waits for: ``depends_on`` plus steps its templates read."""
    engine = default_engine()
    found: dict[str, set[str]] = {}
    for step in blueprint.steps:
        tool = registry.find(step.tool) if registry is not None else None
        raw = tool.spec.template_params if tool is not None else frozenset()
        needs = set(step.depends_on)
        for site in template_sites(step, raw):
            if not site.schedules:
                continue
            try:
                needs |= referenced_steps(site_references(engine, site))
            except Exception:
                continue  # a template that does not parse shows no dependency, nothing more
        needs.discard(step.id)
        found[step.id] = needs
    return found


def _key_params(params: dict[str, Any]) -> str:
    """The first few params as ``key=value``, values clipped."""
    items = list(params.items())
    shown = [
        f"{escape_clip(key, 24)}={escape_clip(short_value(value, PARAM_VALUE_MAX), 60)}"
        for key, value in items[:KEY_PARAMS]
    ]
    if len(items) > KEY_PARAMS:
        shown.append(f"+{len(items) - KEY_PARAMS} more")
    return ", ".join(shown)


def _badges(step: Step, spec: ToolSpec | None) -> list[str]:
    """Risk and control-flow badges of one step (no risk badge for an unknown tool)."""
    badges: list[str] = []
    if spec is not None:
        if spec.risk is RiskLevel.HIGH:
            badges.append("🔴 high risk")
        elif spec.risk is RiskLevel.MEDIUM:
            badges.append("🟠 medium risk")
        if spec.side_effect is SideEffect.MUTATING:
            badges.append("✏️ mutating")
    if step.approval is not None:
        badges.append("✋ approval")
    if step.for_each is not None:
        badges.append("🔁 for each")
    return badges


def _numbers(numbers: list[int]) -> str:
    """``1, 2, 5`` (``+3`` when there are more than a few)."""
    shown = ", ".join(str(n) for n in numbers[:SHOWN_DEPENDENCIES])
    extra = len(numbers) - SHOWN_DEPENDENCIES
    return f"{shown} +{extra}" if extra > 0 else shown


def step_lines(blueprint: Blueprint, registry: ToolRegistry | None) -> list[str]:
    """One mrkdwn line per step: ``1. `tool` key=params 🔴 high risk ← after 1, 2``."""
    numbers = {step.id: index for index, step in enumerate(blueprint.steps, start=1)}
    dependencies = _dependencies(blueprint, registry)
    lines = []
    for number, step in enumerate(blueprint.steps, start=1):
        tool = registry.find(step.tool) if registry is not None else None
        parts = [f"{number}. {inline_code(step.tool, 80)}"]
        if step.params:
            parts.append(_key_params(step.params))
        parts.extend(_badges(step, tool.spec if tool is not None else None))
        after = sorted(numbers[sid] for sid in dependencies[step.id] if sid in numbers)
        if after:
            parts.append(f"← after {_numbers(after)}")
        lines.append(" ".join(parts))
    return lines


def _step_blocks(
    blueprint: Blueprint, registry: ToolRegistry | None, max_blocks: int, max_chars: int
) -> list[BlockDict]:
    """The numbered step list in sections of ≤ 3,000 characters, within the budgets."""
    note = "… {count} more steps not shown (a Slack message holds only so much)."
    lines = step_lines(blueprint, registry)
    return line_sections(lines, max(1, max_blocks), note, max_chars=max(0, max_chars))


# ---------------------------------------------------------------------------- the other parts


def _request_block(result: PlanResult, requested_by: str | None) -> BlockDict:
    """The request, quoted, with who asked."""
    who = f" from {mention(requested_by)}" if requested_by else ""
    quoted = escape_clip(" ".join(result.request.split()), REQUEST_MAX)
    return section(f"*Request*{who}:\n>{quoted}")


def _inputs_block(blueprint: Blueprint) -> BlockDict | None:
    """The declared inputs that must be given before the plan runs (``None`` if none)."""
    required = [(name, spec) for name, spec in blueprint.inputs.items() if spec.is_required]
    if not required:
        return None
    lines = [
        f"• {inline_code(name, 64)} ({spec.type})"
        + (f" — {escape_clip(' '.join(spec.description.split()), 120)}" if spec.description else "")
        for name, spec in required
    ]
    shown = take_lines(lines, INPUTS_MAX)
    if len(shown) < len(lines):
        shown = take_lines(lines, INPUTS_MAX - 40)
        shown.append(f"_+ {plural(len(lines) - len(shown), 'more required input')}_")
    lines = shown
    optional = len(blueprint.inputs) - len(required)
    if optional:
        lines.append(f"_+ {plural(optional, 'optional input')} with defaults_")
    return section("*Inputs to give when it runs*\n" + "\n".join(lines))


def planning_context(result: PlanResult) -> BlockDict:
    """How the plan was made: path, confidence, latency, fallback reason, explanation."""
    parts = [
        f"Planned by {_PATH_LABELS.get(str(result.path), escape(str(result.path)))}",
        f"confidence {result.confidence * 100:.0f}%",
        fmt_duration(result.latency_ms),
    ]
    if result.repair_rounds:
        parts.append(plural(result.repair_rounds, "repair round"))
    if result.fallback_reason:
        parts.append(f"LLM not used: {escape_clip(result.fallback_reason, 200)}")
    elements = [" · ".join(p for p in parts if p)]
    if result.explanation:
        elements.append(escape_clip(result.explanation, 600))
    return context(*elements)


def _question_block(question: str) -> BlockDict:
    return section(f"❓ *Question:* {escape_clip(question, 2000)}")


def _plan_buttons(draft_id: int) -> BlockDict:
    """Run (primary), Edit, Save as workflow, Cancel (danger, confirmed)."""
    value = ids.id_value(draft_id)
    cancel = confirm(
        "Cancel this plan?", "The draft is discarded; nothing has run.", "Cancel plan", "Keep it"
    )
    return actions(
        [
            button("▶ Run", ids.PLAN_RUN, value, style="primary"),
            button("✎ Edit", ids.PLAN_EDIT, value),
            button("Save as workflow", ids.PLAN_SAVE, value),
            button("Cancel", ids.PLAN_CANCEL, value, style="danger", confirmation=cancel),
        ]
    )


def _plan_message(
    result: PlanResult,
    blueprint: Blueprint,
    registry: ToolRegistry | None,
    requested_by: str | None,
    tail: list[BlockDict],
) -> dict[str, Any]:
    """Header, request, steps, inputs, question, how it was planned, then ``tail``."""
    head = [header(f"📋 {blueprint.name}"), _request_block(result, requested_by)]
    if blueprint.description:
        head.append(context(escape_clip(blueprint.description, 500)))
    info: list[BlockDict] = []
    inputs = _inputs_block(blueprint)
    if inputs is not None:
        info.append(inputs)
    if result.question:
        info.append(_question_block(result.question))
    info.append(planning_context(result))
    others = [*head, *info, *tail]
    max_chars = MESSAGE_CHARS_MAX - text_size(others)
    steps = _step_blocks(blueprint, registry, MAX_MESSAGE_BLOCKS - len(others), max_chars)
    count = plural(len(blueprint.steps), "step")
    text = f"Plan {blueprint.name} ({count}) for: {result.request}"
    return message_payload(text, [*head, *steps, *info, *tail])


# ---------------------------------------------------------------------------- public cards


def preview_card(
    draft_id: int,
    result: PlanResult,
    registry: ToolRegistry | None,
    *,
    requested_by: str,
) -> dict[str, Any]:
    """The plan preview with Run / Edit / Save as workflow / Cancel (value: the draft id).

    Without a blueprint this is :func:`question_card`. ``registry`` gives the risk badges
    (tools it does not know get none).
    """
    if result.blueprint is None:
        return question_card(result)
    tail = [_plan_buttons(draft_id)]
    return _plan_message(result, result.blueprint, registry, requested_by, tail)


def closed_plan_card(
    result: PlanResult,
    note: str,
    *,
    registry: ToolRegistry | None = None,
    requested_by: str | None = None,
) -> dict[str, Any]:
    """The preview once decided: no buttons, ``note`` (mrkdwn, e.g. "Cancelled by <@U1> at …")
    in their place."""
    tail = [context(clip(note, 2000))]
    if result.blueprint is None:
        card = question_card(result)
        return {**card, "blocks": [*card["blocks"], *tail]}
    return _plan_message(result, result.blueprint, registry, requested_by, tail)


def question_card(result: PlanResult) -> dict[str, Any]:
    """What Kaizen asks when it could not plan: the question and the explanation, no buttons."""
    question = result.question or "I could not turn this request into a plan."
    blocks = [
        header("🤔 A question before I plan"),
        _request_block(result, None),
        _question_block(question),
        planning_context(result),
    ]
    return message_payload(question, blocks)


# ---------------------------------------------------------------------------- modals


def _editable_yaml(yaml_text: str) -> tuple[str, bool]:
    """The YAML that fits the input (whole lines), and whether some was left out."""
    if len(yaml_text) <= PLAIN_TEXT_INPUT_MAX:
        return yaml_text, False
    pieces = chunk_text(yaml_text, PLAIN_TEXT_INPUT_MAX)
    return (pieces[0] if pieces else ""), True


def edit_modal(draft_id: int, yaml_text: str, *, error: str | None = None) -> dict[str, Any]:
    """The modal for editing a draft's blueprint as YAML (``private_metadata``: the draft id).

    The input holds at most 3,000 characters: a longer blueprint is cut at a line boundary and
    a note says so. ``error`` (from a previous submission) is shown above the input.
    """
    initial, truncated = _editable_yaml(yaml_text)
    blocks: list[Any] = []
    if error:
        blocks.append(section(f"⚠️ *That did not work:* {escape_clip(error, 2500)}"))
    if truncated:
        shown = plural(initial.count("\n") + 1, "line")
        blocks.append(
            context(
                f"⚠️ This blueprint has {len(yaml_text):,} characters; the editor holds "
                f"{PLAIN_TEXT_INPUT_MAX:,}, so only its first {shown} are shown and saving would "
                "drop the rest. Edit the YAML file with the CLI instead."
            )
        )
    blocks.append(
        InputBlock(
            block_id=ids.EDIT_BLOCK,
            label=PlainTextObject(text="Blueprint (YAML)"),
            element=PlainTextInputElement(
                action_id=ids.EDIT_INPUT,
                multiline=True,
                initial_value=initial,
                max_length=PLAIN_TEXT_INPUT_MAX,
            ),
            optional=False,
        )
    )
    return View(
        type="modal",
        callback_id=ids.EDIT_MODAL,
        private_metadata=ids.id_value(draft_id),
        title=PlainTextObject(text="Edit plan"),
        submit=PlainTextObject(text="Save & preview"),
        close=PlainTextObject(text="Cancel"),
        blocks=blocks,
    ).to_dict()


def edit_errors(message: str) -> dict[str, Any]:
    """The ``view_submission`` response that shows ``message`` under the YAML input."""
    return {
        "response_action": "errors",
        "errors": {ids.EDIT_BLOCK: clip(message.strip() or "Invalid", INPUT_ERROR_MAX)},
    }


def reject_modal(
    proposal_id: int, *, channel: str | None = None, message_ts: str | None = None
) -> dict[str, Any]:
    """The modal asking why a proposal is rejected (``private_metadata``: the proposal id and
    the card's message, see :func:`~bot.slack.cards.actions.reject_metadata`)."""
    reason = InputBlock(
        block_id=ids.REASON_BLOCK,
        label=PlainTextObject(text="Why reject it?"),
        hint=PlainTextObject(text="The optimizer reads this to make better proposals."),
        element=PlainTextInputElement(
            action_id=ids.REASON_INPUT,
            multiline=True,
            min_length=1,
            max_length=PLAIN_TEXT_INPUT_MAX,
        ),
        optional=False,
    )
    return View(
        type="modal",
        callback_id=ids.REJECT_MODAL,
        private_metadata=ids.reject_metadata(proposal_id, channel, message_ts),
        title=PlainTextObject(text=clip(f"Reject proposal #{proposal_id}", VIEW_TITLE_MAX)),
        submit=PlainTextObject(text="Reject"),
        close=PlainTextObject(text="Cancel"),
        blocks=[reason],
    ).to_dict()
