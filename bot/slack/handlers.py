"""What Kaizen does for each Slack request. Every listener acknowledges first and works
after (planning and running never hold up the ack); buttons act once, however often they are
clicked, because a draft changes state only by compare-and-set."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.cards import actions
from bot.slack.cards.messages import help_message, notice, workflows_message
from bot.slack.cards.plan_card import closed_plan_card, preview_card, question_card
from bot.slack.commands import CommandError, KaizenCommand, parse_command
from bot.slack.services import Services
from engine.blueprint import Blueprint
from knowledge.history import audit, query_runs
from knowledge.history.drafts import (
    attach_message,
    claim_draft,
    create_draft,
    get_draft,
    set_draft_run,
)
from knowledge.history.views import DraftInfo
from knowledge.history.workflows import find_or_add_version, list_workflows
from knowledge.planner.memory import accept_plan, record_plan
from knowledge.planner.result import PlanResult
from knowledge.store.models import VersionOrigin

log = logging.getLogger(__name__)


class SlackHandlers:
    """The listeners of the Slack app (see :func:`bot.slack.app.build_app`)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    # ------------------------------------------------------------------ permissions

    def channel_allowed(self, channel: str | None) -> bool:
        allowed = self.services.settings.slack_allowed_channels
        return not allowed or (channel is not None and channel in allowed)

    async def deny(
        self, client: AsyncWebClient, channel: str, user: str, action: str, why: str
    ) -> None:
        """Tell ``user`` (only them) why not, and keep an audit record."""
        await self.services.in_session(
            audit,
            actor=user,
            action="slack.denied",
            subject_type="slack",
            subject_id=channel or "-",
            detail={"action": action, "why": why},
        )
        await self._ephemeral(client, channel, user, f":no_entry: {why}")

    # ------------------------------------------------------------------ /kaizen

    async def on_kaizen_command(
        self, ack: Any, command: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        user, channel = command["user_id"], command["channel_id"]
        if not self.channel_allowed(channel):
            await self.deny(
                client, channel, user, "command", "Kaizen is not enabled in this channel."
            )
            return
        try:
            parsed = parse_command(command.get("text", ""))
        except CommandError as exc:
            await self._ephemeral(client, channel, user, f":warning: {exc}")
            return
        await self.handle(parsed, client=client, channel=channel, user=user, thread_ts=None)

    async def handle(
        self,
        parsed: KaizenCommand,
        *,
        client: AsyncWebClient,
        channel: str,
        user: str,
        thread_ts: str | None,
    ) -> None:
        """Carry out a parsed command on behalf of ``user`` in ``channel``."""
        if parsed.kind == "help":
            await self._ephemeral(client, channel, user, help_message())
        elif parsed.kind == "workflows":
            workflows = await self.services.in_session(_workflow_rows)
            await self._post(client, channel, workflows_message(workflows), thread_ts=thread_ts)
        elif parsed.kind == "plan":
            await self.plan_request(
                parsed.request, client=client, channel=channel, user=user, thread_ts=thread_ts
            )
        else:
            await self._ephemeral(
                client, channel, user, f"`/kaizen {parsed.kind}` is not available yet."
            )

    async def plan_request(
        self,
        request: str,
        *,
        client: AsyncWebClient,
        channel: str,
        user: str,
        thread_ts: str | None,
        parent_id: int | None = None,
    ) -> DraftInfo:
        """Plan ``request`` and post its preview card (or its question)."""
        result = await self.services.plan(request)
        await self.services.in_session(record_plan, result, by=user)
        draft = await self.services.in_session(
            create_draft,
            request=request,
            blueprint=_blueprint_dict(result),
            plan=result.model_dump(mode="json", exclude={"blueprint"}),
            requested_by=user,
            channel=channel,
            thread_ts=thread_ts,
            parent_id=parent_id,
        )
        if result.blueprint is None:
            card = question_card(result)
        else:
            card = preview_card(draft.id, result, self.services.catalog.registry, requested_by=user)
        posted = await self._post(client, channel, card, thread_ts=thread_ts)
        if posted is not None:
            draft = await self.services.in_session(
                attach_message, draft.id, channel=channel, message_ts=posted
            )
        return draft

    # ------------------------------------------------------------------ plan buttons

    async def on_plan_run(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user, channel, ts, draft_id = _button(body)
        if not self.channel_allowed(channel):
            await self.deny(client, channel, user, "run", "Kaizen is not enabled in this channel.")
            return
        draft = await self.services.in_session(get_draft, draft_id)
        blueprint = _blueprint_of(draft)
        if blueprint is None:
            return
        missing = [name for name, spec in blueprint.inputs.items() if spec.is_required]
        if missing:
            await self._ephemeral(
                client,
                channel,
                user,
                "This plan needs values first: "
                + ", ".join(f"`{m}`" for m in missing)
                + ". Use *Edit* to give them defaults, or answer in the thread.",
            )
            return
        claimed = await self.services.in_session(
            claim_draft, draft_id, "running", by=user, expected=("previewed",)
        )
        if claimed is None:
            return  # already running, saved or cancelled: a second click changes nothing
        registry = self.services.catalog.registry
        version = await self.services.in_session(
            find_or_add_version,
            blueprint,
            author=user,
            origin=VersionOrigin.PLANNER,
            registry=registry,
        )
        run_id = uuid.uuid4().hex
        self.services.live.follow(
            run_id,
            channel=channel,
            ts=ts,
            workflow=version.workflow,
            version=version.number,
            started_by=user,
            steps=[(step.id, step.tool) for step in blueprint.steps],
        )
        ticket = await self.services.runner.start(
            version.id, {}, started_by=user, idempotency_key=f"draft-{draft_id}", run_id=run_id
        )
        await self.services.in_session(set_draft_run, draft_id, ticket.run_id)
        if ticket.handle is not None:
            record = await ticket.handle.result()
            if record.status.value == "succeeded":
                await self.services.in_session(
                    accept_plan, draft.request, blueprint, how="ran", by=user, registry=registry
                )

    async def on_plan_save(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user, channel, ts, draft_id = _button(body)
        draft = await self.services.in_session(get_draft, draft_id)
        blueprint = _blueprint_of(draft)
        if blueprint is None:
            return
        claimed = await self.services.in_session(
            claim_draft, draft_id, "saved", by=user, expected=("previewed",)
        )
        if claimed is None:
            return
        version, _ = await self.services.in_session(
            accept_plan,
            draft.request,
            blueprint,
            how="saved",
            by=user,
            registry=self.services.catalog.registry,
        )
        note = f"Saved as *{version.workflow}* v{version.number} by <@{user}>"
        await self._update(client, channel, ts, closed_plan_card(_result_of(draft), note))

    async def on_plan_cancel(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user, channel, ts, draft_id = _button(body)
        claimed = await self.services.in_session(
            claim_draft, draft_id, "cancelled", by=user, expected=("previewed",)
        )
        if claimed is None:
            return
        note = f"Cancelled by <@{user}>"
        await self._update(client, channel, ts, closed_plan_card(_result_of(claimed), note))

    # ------------------------------------------------------------------ Slack calls

    async def _post(
        self, client: AsyncWebClient, channel: str, card: dict[str, Any], *, thread_ts: str | None
    ) -> str | None:
        """Post ``card``; its ts, or ``None`` when Slack refused (logged)."""
        try:
            response = await client.chat_postMessage(
                channel=channel, text=card["text"], blocks=card.get("blocks"), thread_ts=thread_ts
            )
        except SlackApiError as exc:
            log.warning("chat.postMessage to %s failed: %s", channel, exc.response.get("error"))
            return None
        return str(response["ts"])

    async def _update(
        self, client: AsyncWebClient, channel: str, ts: str, card: dict[str, Any]
    ) -> None:
        try:
            await client.chat_update(
                channel=channel, ts=ts, text=card["text"], blocks=card.get("blocks")
            )
        except SlackApiError as exc:
            log.warning("chat.update of %s failed: %s", ts, exc.response.get("error"))

    async def _ephemeral(self, client: AsyncWebClient, channel: str, user: str, text: Any) -> None:
        card = text if isinstance(text, dict) else notice(str(text))
        try:
            await client.chat_postEphemeral(
                channel=channel, user=user, text=card["text"], blocks=card.get("blocks")
            )
        except SlackApiError as exc:
            log.warning("chat.postEphemeral failed: %s", exc.response.get("error"))


# ---------------------------------------------------------------------- helpers


def _button(body: dict[str, Any]) -> tuple[str, str, str, int]:
    """(user, channel, message ts, draft id) of a plan button click."""
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id", "")
    ts = container.get("message_ts") or (body.get("message") or {}).get("ts", "")
    value = body["actions"][0]["value"]
    return body["user"]["id"], channel, ts, int(value)


def _blueprint_dict(result: PlanResult) -> dict[str, Any] | None:
    if result.blueprint is None:
        return None
    return result.blueprint.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def _blueprint_of(draft: DraftInfo) -> Blueprint | None:
    return Blueprint.model_validate(draft.blueprint) if draft.blueprint else None


def _result_of(draft: DraftInfo) -> PlanResult:
    """The draft's plan, with its (possibly edited) blueprint."""
    return PlanResult.model_validate({**draft.plan, "blueprint": draft.blueprint})


def _workflow_rows(session: Any) -> list[dict[str, Any]]:
    """Each workflow with its newest version, success rate and last run (of its last 100)."""
    rows = []
    for workflow in list_workflows(session):
        runs = query_runs(session, workflow=workflow.name, limit=100)
        ended = [r for r in runs if r.status in ("succeeded", "failed", "cancelled")]
        rows.append(
            {
                "name": workflow.name,
                "latest_version": workflow.latest_version,
                "success_rate": (
                    sum(r.status == "succeeded" for r in ended) / len(ended) if ended else None
                ),
                "last_run_at": max((r.created_at for r in runs), default=None),
                "runs": len(runs),
            }
        )
    return rows


__all__ = ["SlackHandlers", "actions"]
