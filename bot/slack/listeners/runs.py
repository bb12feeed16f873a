"""Starting runs from Slack and keeping their cards live: the Run button of a preview, and
``/kaizen run <workflow> [key=value …]``.

Every run started here belongs to a draft (the card's record in the store): the draft is
claimed by compare-and-set before anything starts, and the run's idempotency key is
``draft-<id>``, so a double click or a re-sent request never starts a second run.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.cards.messages import notice
from bot.slack.cards.run_card import RunProgress, StepProgress, run_card
from bot.slack.commands import KaizenCommand
from bot.slack.gates import ungated_high_risk
from bot.slack.listeners.context import ListenerContext
from engine.blueprint import Blueprint
from engine.errors import KaizenError
from engine.inputs import resolve_inputs
from engine.records import RunRecord
from knowledge.history.drafts import attach_message, claim_draft, create_draft, set_draft_run
from knowledge.history.errors import HistoryError, NotFoundError
from knowledge.history.views import DraftInfo, VersionInfo
from knowledge.history.workflows import get_version

log = logging.getLogger(__name__)


class RunLauncher:
    """Starts runs whose cards :class:`~bot.slack.live_runs.LiveRunCards` keeps up to date."""

    def __init__(self, ctx: ListenerContext) -> None:
        self.ctx = ctx

    async def launch(
        self,
        client: AsyncWebClient,
        *,
        draft: DraftInfo,
        version: VersionInfo,
        inputs: dict[str, Any],
        user: str,
        channel: str,
        ts: str,
    ) -> RunRecord | None:
        """Run ``version`` for the (already claimed) ``draft`` on the card ``ts``; waits for
        the end and returns the run's record (``None`` when it did not start here)."""
        services = self.ctx.services
        blueprint = version.blueprint()
        run_id = uuid.uuid4().hex
        services.live.follow(
            run_id,
            channel=channel,
            ts=ts,
            workflow=version.workflow,
            version=version.number,
            started_by=user,
            steps=[(step.id, step.tool) for step in blueprint.steps],
        )
        try:
            ticket = await services.runner.start(
                version.id,
                inputs,
                started_by=user,
                idempotency_key=f"draft-{draft.id}",
                run_id=run_id,
            )
        except (KaizenError, HistoryError, ValueError) as exc:
            services.live.forget(run_id)
            await self.ctx.update(
                client, channel, ts, notice(f":x: {version.label} could not start: {exc}")
            )
            return None
        await services.in_session(set_draft_run, draft.id, ticket.run_id)
        if ticket.handle is None:
            return None
        return await ticket.handle.result()

    async def run_workflow(
        self,
        parsed: KaizenCommand,
        *,
        client: AsyncWebClient,
        channel: str,
        user: str,
        thread_ts: str | None,
    ) -> bool:
        """``/kaizen run <workflow> [key=value …]``: the production version (or the newest),
        with the inputs given, on a new run card. False when no such workflow exists and no
        inputs were given: then "run backups" is a request to plan, not a workflow's name."""
        assert parsed.workflow is not None
        ctx = self.ctx
        try:
            version = await ctx.services.in_session(get_version, parsed.workflow)
            blueprint = version.blueprint()
            inputs = resolve_inputs(blueprint, parsed.inputs)
        except NotFoundError:
            if not parsed.inputs:
                return False
            await ctx.ephemeral(
                client, channel, user, f":warning: no workflow named `{parsed.workflow}`"
            )
            return True
        except (HistoryError, KaizenError) as exc:
            await ctx.ephemeral(client, channel, user, f":warning: {exc}")
            return True
        risky = ungated_high_risk(blueprint, ctx.services.catalog.registry)
        if risky and not await ctx.is_approver(client, user):
            steps = ", ".join(f"`{s}`" for s in risky)
            await ctx.deny(
                client,
                channel,
                user,
                "run",
                f"{version.label} has high-risk steps without an approval gate ({steps}): "
                "only an approver may start it.",
            )
            return True
        progress = _waiting(version, blueprint, user)
        ts = await ctx.post(client, channel, run_card(progress), thread_ts=thread_ts)
        if ts is None:
            return True
        draft = await ctx.services.in_session(
            create_draft,
            request=blueprint.description or f"run {version.workflow}",
            blueprint=version.blueprint_json,
            plan={"workflow": version.workflow, "version": version.number},
            requested_by=user,
            channel=channel,
            thread_ts=thread_ts,
        )
        await ctx.services.in_session(attach_message, draft.id, channel=channel, message_ts=ts)
        claimed = await ctx.services.in_session(
            claim_draft, draft.id, "running", by=user, expected=("previewed",)
        )
        if claimed is None:  # a fresh draft is previewed: only a concurrent claim gets here
            return True
        await self.launch(
            client,
            draft=claimed,
            version=version,
            inputs=inputs,
            user=user,
            channel=channel,
            ts=ts,
        )
        return True


def _waiting(version: VersionInfo, blueprint: Blueprint, user: str) -> RunProgress:
    return RunProgress(
        run_id="starting",
        workflow=version.workflow,
        version=version.number,
        status="running",
        started_by=user,
        steps=[StepProgress(step_id=s.id, tool=s.tool, status="waiting") for s in blueprint.steps],
    )
