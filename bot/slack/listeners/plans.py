"""Plans in Slack: a request becomes a preview card (or a question); its buttons Run, Edit
(a YAML modal validated on submit), Save as workflow and Cancel; a reply in its thread
re-plans it as a new draft.

Buttons act once however often they are clicked: a draft changes state only by
compare-and-set (:func:`knowledge.history.drafts.claim_draft`).
"""

from __future__ import annotations

import logging
from typing import Any

import yaml
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.cards import actions
from bot.slack.cards.plan_card import (
    closed_plan_card,
    edit_errors,
    edit_modal,
    preview_card,
    question_card,
)
from bot.slack.gates import gate_high_risk
from bot.slack.listeners.context import ListenerContext, clicked
from bot.slack.listeners.runs import RunLauncher
from engine.blueprint import Blueprint
from knowledge.history.blueprints import check_blueprint, render_yaml
from knowledge.history.drafts import (
    attach_message,
    claim_draft,
    create_draft,
    get_draft,
    update_draft_blueprint,
)
from knowledge.history.errors import ConflictError, InvalidBlueprintError, NotFoundError
from knowledge.history.views import DraftInfo
from knowledge.history.workflows import find_or_add_version
from knowledge.planner.memory import record_plan
from knowledge.planner.result import PlanResult
from knowledge.planner.revision import revise_request
from knowledge.store.models import VersionOrigin

log = logging.getLogger(__name__)

#: The reaction put on a thread reply Kaizen is re-planning from.
SEEN_REACTION = "eyes"


class PlanListeners:
    """Planning and the preview card's buttons."""

    def __init__(self, ctx: ListenerContext, runs: RunLauncher) -> None:
        self.ctx = ctx
        self.runs = runs

    # ------------------------------------------------------------------ planning

    async def plan_request(
        self,
        request: str,
        *,
        client: AsyncWebClient,
        channel: str,
        user: str,
        thread_ts: str | None,
        parent: DraftInfo | None = None,
    ) -> DraftInfo:
        """Plan ``request`` and post its preview card (or its question). A re-plan names the
        ``parent`` draft it replaces and keeps its workflow name, so running or saving it adds
        a new version of the same workflow."""
        services = self.ctx.services
        result = await services.plan(request)
        result = self._shaped(result, parent)
        await services.in_session(record_plan, result, by=user)
        draft = await services.in_session(
            create_draft,
            request=request,
            blueprint=_blueprint_dict(result.blueprint),
            plan=result.model_dump(mode="json", exclude={"blueprint"}),
            requested_by=user,
            channel=channel,
            thread_ts=thread_ts,
            parent_id=parent.id if parent else None,
        )
        if result.blueprint is None:
            card = question_card(result)
        else:
            card = preview_card(draft.id, result, services.catalog.registry, requested_by=user)
        posted = await self.ctx.post(client, channel, card, thread_ts=thread_ts)
        if posted is not None:
            draft = await services.in_session(
                attach_message, draft.id, channel=channel, message_ts=posted
            )
        return draft

    def _shaped(self, result: PlanResult, parent: DraftInfo | None) -> PlanResult:
        """Gate high-risk steps, and keep a re-plan's workflow name."""
        blueprint = result.blueprint
        if blueprint is None:
            return result
        settings = self.ctx.services.settings
        blueprint = gate_high_risk(
            blueprint, self.ctx.services.catalog.registry, settings.slack_approvers
        )
        if parent is not None and parent.blueprint and parent.blueprint.get("name"):
            blueprint = blueprint.model_copy(update={"name": parent.blueprint["name"]})
        return result.model_copy(update={"blueprint": blueprint})

    async def replan(
        self,
        draft: DraftInfo,
        change: str,
        *,
        client: AsyncWebClient,
        channel: str,
        user: str,
        thread_ts: str,
        reply_ts: str | None,
    ) -> DraftInfo:
        """A reply in a plan's or run's thread ("use staging instead of production"): plan
        the request as revised by the change, as a new draft in the same thread."""
        if reply_ts:
            await self.ctx.react(client, channel, reply_ts, SEEN_REACTION)
        request = revise_request(draft.request, change)
        return await self.plan_request(
            request, client=client, channel=channel, user=user, thread_ts=thread_ts, parent=draft
        )

    # ------------------------------------------------------------------ buttons

    async def on_run(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        found = await self._clicked_plan(body, client, "run")
        if found is None:
            return
        user, channel, ts, draft, blueprint = found
        ctx = self.ctx
        missing = [name for name, spec in blueprint.inputs.items() if spec.is_required]
        if missing:
            await ctx.ephemeral(
                client,
                channel,
                user,
                "This plan needs values first: "
                + ", ".join(f"`{m}`" for m in missing)
                + ". Use *Edit* to give them defaults, or answer in the thread.",
            )
            return
        claimed = await ctx.services.in_session(
            claim_draft, draft.id, "running", by=user, expected=("previewed",)
        )
        if claimed is None:
            return  # already running, saved or cancelled: a second click changes nothing
        registry = ctx.services.catalog.registry
        version = await ctx.services.in_session(
            find_or_add_version,
            blueprint,
            author=user,
            origin=VersionOrigin.PLANNER,
            registry=registry,
        )
        record = await self.runs.launch(
            client,
            draft=claimed,
            version=version,
            inputs={},
            user=user,
            channel=channel,
            ts=ts,
        )
        if record is not None and record.status.value == "succeeded":
            await ctx.services.accept(draft.request, blueprint, how="ran", by=user)

    async def on_edit(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user, channel, _, value = clicked(body)
        if await self.ctx.refuse_channel(client, channel, user, "edit"):
            return
        draft = await self._draft(client, channel, user, value)
        if draft is None or draft.blueprint is None:
            return
        if draft.state != "previewed":
            await self.ctx.ephemeral(
                client, channel, user, f"This plan is {draft.state}: it can no longer be edited."
            )
            return
        await self.ctx.open_view(
            client, body["trigger_id"], edit_modal(draft.id, render_yaml(draft.blueprint))
        )

    async def on_edit_submitted(
        self, ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """Validate the YAML; errors go back into the modal, a valid blueprint replaces the
        draft's and the preview card shows it."""
        user = body["user"]["id"]
        ctx = self.ctx
        try:
            draft_id = actions.parse_id_value(view.get("private_metadata", ""))
            text = view["state"]["values"][actions.EDIT_BLOCK][actions.EDIT_INPUT]["value"] or ""
        except (KeyError, ValueError, TypeError):
            await ack(response_action="errors", errors={actions.EDIT_BLOCK: "Malformed form."})
            return
        registry = ctx.services.catalog.registry
        try:
            blueprint = check_blueprint(_parse_yaml(text), registry, what="the edited blueprint")
            draft = await ctx.services.in_session(get_draft, draft_id)
            if draft.channel and not ctx.channel_allowed(draft.channel):
                raise ValueError("Kaizen is not enabled in this plan's channel.")
            blueprint = gate_high_risk(blueprint, registry, ctx.services.settings.slack_approvers)
            draft = await ctx.services.in_session(
                update_draft_blueprint, draft_id, _blueprint_dict(blueprint) or {}, by=user
            )
        except (InvalidBlueprintError, ConflictError, NotFoundError, ValueError) as exc:
            await ack(**edit_errors(str(exc)))
            return
        await ack()
        if draft.channel and draft.message_ts:
            card = preview_card(
                draft.id, _result_of(draft), registry, requested_by=draft.requested_by
            )
            await ctx.update(client, draft.channel, draft.message_ts, card)

    async def on_save(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        found = await self._clicked_plan(body, client, "save")
        if found is None:
            return
        user, channel, ts, draft, blueprint = found
        ctx = self.ctx
        claimed = await ctx.services.in_session(
            claim_draft, draft.id, "saved", by=user, expected=("previewed",)
        )
        if claimed is None:
            return
        version, _ = await ctx.services.accept(draft.request, blueprint, how="saved", by=user)
        note = f"Saved as *{version.workflow}* v{version.number} by <@{user}>"
        await ctx.update(client, channel, ts, closed_plan_card(_result_of(draft), note))

    async def on_cancel(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user, channel, ts, value = clicked(body)
        draft = await self._draft(client, channel, user, value)
        if draft is None:
            return
        claimed = await self.ctx.services.in_session(
            claim_draft, draft.id, "cancelled", by=user, expected=("previewed",)
        )
        if claimed is None:
            return
        note = f"Cancelled by <@{user}>"
        await self.ctx.update(client, channel, ts, closed_plan_card(_result_of(claimed), note))

    async def _clicked_plan(
        self, body: dict[str, Any], client: AsyncWebClient, action: str
    ) -> tuple[str, str, str, DraftInfo, Blueprint] | None:
        """(user, channel, card ts, draft, blueprint) of a click on a plan's button, or
        ``None`` when it cannot act: a channel Kaizen is not enabled in (denied and audited),
        a draft that is gone, or a question without a plan."""
        user, channel, ts, value = clicked(body)
        if await self.ctx.refuse_channel(client, channel, user, action):
            return None
        draft = await self._draft(client, channel, user, value)
        blueprint = _blueprint_of(draft) if draft else None
        if draft is None or blueprint is None:
            return None
        return user, channel, ts, draft, blueprint

    async def _draft(
        self, client: AsyncWebClient, channel: str, user: str, value: str
    ) -> DraftInfo | None:
        """The draft a button names; ``None`` (and the user told) when there is none."""
        try:
            return await self.ctx.services.in_session(get_draft, actions.parse_id_value(value))
        except (ValueError, NotFoundError):
            await self.ctx.ephemeral(client, channel, user, "This plan no longer exists.")
            return None


# ---------------------------------------------------------------------- helpers


def _parse_yaml(text: str) -> dict[str, Any]:
    """The YAML document of the edit modal; ``ValueError`` saying where it is broken."""
    if not text.strip():
        raise ValueError("the blueprint is empty")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ValueError(f"not valid YAML{where}: {problem}") from None
    if not isinstance(document, dict):
        raise ValueError(
            f"a blueprint is a mapping (name:, steps: …), not {type(document).__name__}"
        )
    return document


def _blueprint_dict(blueprint: Blueprint | None) -> dict[str, Any] | None:
    if blueprint is None:
        return None
    return blueprint.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def _blueprint_of(draft: DraftInfo) -> Blueprint | None:
    return Blueprint.model_validate(draft.blueprint) if draft.blueprint else None


def _result_of(draft: DraftInfo) -> PlanResult:
    """The draft's plan, with its (possibly edited) blueprint."""
    return PlanResult.model_validate({**draft.plan, "blueprint": draft.blueprint})
