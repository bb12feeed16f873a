"""Action ids, modal callback ids and button values: the contract between the cards and the
handlers of Slack's interaction payloads.

Button values are strings: a draft id (an int as text) on plan buttons, ``<run_id>:<step_id>``
on approval buttons, a proposal id on proposal buttons.
"""

from __future__ import annotations

from typing import Final

# Plan preview buttons (value: the draft id).
PLAN_RUN: Final = "kaizen.plan.run"
PLAN_EDIT: Final = "kaizen.plan.edit"
PLAN_SAVE: Final = "kaizen.plan.save"
PLAN_CANCEL: Final = "kaizen.plan.cancel"

# Approval gate buttons (value: approval_value(run_id, step_id)).
APPROVAL_APPROVE: Final = "kaizen.approval.approve"
APPROVAL_DENY: Final = "kaizen.approval.deny"

# Proposal buttons (value: the proposal id).
PROPOSAL_APPROVE: Final = "kaizen.proposal.approve"
PROPOSAL_REJECT: Final = "kaizen.proposal.reject"

# Modal callback ids (private_metadata: the draft id / the proposal id).
EDIT_MODAL: Final = "kaizen.edit"
REJECT_MODAL: Final = "kaizen.reject"

# The YAML input of the edit modal: view.state.values[EDIT_BLOCK][EDIT_INPUT].value
EDIT_BLOCK: Final = "kaizen.edit.yaml"
EDIT_INPUT: Final = "kaizen.edit.yaml_input"

# The reason input of the reject modal: view.state.values[REASON_BLOCK][REASON_INPUT].value
REASON_BLOCK: Final = "kaizen.reject.reason"
REASON_INPUT: Final = "kaizen.reject.reason_input"

_SEPARATOR = ":"


def id_value(identifier: int) -> str:
    """The button value (or ``private_metadata``) for a draft or proposal id."""
    return str(identifier)


def parse_id_value(value: str) -> int:
    """The draft or proposal id in a button value; ``ValueError`` if it is not one."""
    text = value.strip()
    if not text.isdigit():
        raise ValueError(f"not an id: {value!r}")
    return int(text)


def reject_metadata(proposal_id: int, channel: str | None, message_ts: str | None) -> str:
    """The reject modal's ``private_metadata``: the proposal id, and the card to update once
    the reason is submitted (``<id>:<channel>:<ts>``)."""
    if channel and message_ts:
        return f"{proposal_id}{_SEPARATOR}{channel}{_SEPARATOR}{message_ts}"
    return id_value(proposal_id)


def parse_reject_metadata(value: str) -> tuple[int, str | None, str | None]:
    """(proposal id, channel, message ts) from :func:`reject_metadata`'s text."""
    head, _, rest = value.partition(_SEPARATOR)
    channel, _, ts = rest.partition(_SEPARATOR)
    return parse_id_value(head), channel or None, ts or None


def approval_value(run_id: str, step_id: str) -> str:
    """The value of an approval button: ``<run_id>:<step_id>``."""
    if not run_id or not step_id or _SEPARATOR in step_id:
        raise ValueError("run_id and step_id must be non-empty and step_id cannot contain ':'")
    return f"{run_id}{_SEPARATOR}{step_id}"


def parse_approval_value(value: str) -> tuple[str, str]:
    """``(run_id, step_id)`` from an approval button's value; ``ValueError`` if malformed."""
    run_id, separator, step_id = value.rpartition(_SEPARATOR)
    if not separator or not run_id or not step_id:
        raise ValueError(f"not an approval value: {value!r}")
    return run_id, step_id
