"""Who may approve: Slack user ids (``U…``/``W…``) and user groups (``S…``), resolved through
``usergroups.users.list`` and cached for a minute.

The engine asks a synchronous ``(user, approver) -> bool`` question when a decision arrives
(:data:`engine.approvals.ApproverCheck`); Slack answers group membership asynchronously. So
:meth:`ApproverDirectory.may_approve` refreshes the groups it needs first, and
:meth:`ApproverDirectory.check` — given to the executor — answers from what was fetched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.call_errors import SLACK_CALL_ERRORS, slack_error

log = logging.getLogger(__name__)

#: How long a user group's members are trusted before being fetched again.
GROUP_TTL_S = 60.0


def is_group(entry: str) -> bool:
    """A user group id (``S…``), as opposed to a user id (``U…``/``W…``)."""
    return entry.startswith("S") and entry[1:].isalnum() and entry.isupper()


class ApproverDirectory:
    """Answers "may this user approve?" for approver lists mixing users and user groups."""

    def __init__(self, *, ttl_s: float = GROUP_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._members: dict[str, tuple[float, frozenset[str]]] = {}

    def check(self, user: str, approver: str) -> bool:
        """Whether ``user`` is ``approver`` or a member of the group ``approver`` (as last
        fetched). The executor's approver check."""
        if user == approver:
            return True
        cached = self._members.get(approver)
        return cached is not None and user in cached[1]

    async def refresh(self, client: AsyncWebClient, approvers: Iterable[str]) -> None:
        """Fetch the members of the groups among ``approvers`` whose cache is stale. A group
        that cannot be read counts as empty (logged): nobody is let in by mistake."""
        now = time.monotonic()
        for entry in approvers:
            if not is_group(entry):
                continue
            cached = self._members.get(entry)
            if cached is not None and now - cached[0] < self.ttl_s:
                continue
            try:
                response = await client.usergroups_users_list(usergroup=entry)
                members = frozenset(str(u) for u in response.get("users") or [])
            except SLACK_CALL_ERRORS as exc:
                log.warning(
                    "could not read the members of user group %s: %s",
                    entry,
                    slack_error(exc),
                )
                members = frozenset()
            self._members[entry] = (now, members)

    async def may_approve(
        self, client: AsyncWebClient, user: str, approvers: Iterable[str]
    ) -> bool:
        """Whether ``user`` is one of ``approvers`` (users or groups). An empty list allows
        nobody: callers decide what "no approvers configured" means."""
        entries = list(approvers)
        await self.refresh(client, entries)
        return any(self.check(user, entry) for entry in entries)
