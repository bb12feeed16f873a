"""A modal the app opened, carried through at the prompt as Slack would: shown, filled in
(:class:`~bot.chat.modal.ModalForm`), submitted as a ``view_submission``, and then what the
app acknowledged:

- ``response_action: errors`` — the errors are shown with their inputs, asked again (what was
  typed is the default);
- ``update`` / ``push`` — the new view replaces the modal / goes on top of it;
- ``clear`` — every modal of the stack closes; anything else closes the modal.

``/cancel`` closes it (a ``view_closed`` is sent when the view asked: ``notify_on_close``).
"""

from __future__ import annotations

from typing import Any, Protocol

from bot.chat import payloads
from bot.chat.modal import Cancelled, ModalForm, fields_of
from bot.chat.payloads import Member
from bot.chat.screen import Screen
from bot.chat.workspace import LocalWorkspace
from bot.slack.cards.text import plain


class Requests(Protocol):
    """What a dialog needs from the console: send, wait, ask."""

    async def dispatch(self, payload: dict[str, Any], *, what: str) -> dict[str, Any] | None:
        """The acknowledgement's body, or ``None`` when the app did not handle it."""
        ...

    async def settle(self) -> int:
        """Wait for the app to go quiet and print what changed."""
        ...

    async def ask(self, prompt: str) -> str:
        """One line typed."""
        ...


def _text(obj: Any, default: str = "") -> str:
    return plain(str((obj or {}).get("text", default))) if isinstance(obj, dict) else default


class ModalDialog:
    """Carries ``user``'s open modals through until none is open."""

    def __init__(
        self, workspace: LocalWorkspace, screen: Screen, user: Member, requests: Requests
    ) -> None:
        self.workspace = workspace
        self.screen = screen
        self.user = user
        self.requests = requests
        self.form = ModalForm(screen, requests.ask)
        self._shown: str | None = None

    @property
    def open(self) -> dict[str, Any] | None:
        """The top modal the user has open."""
        return self.workspace.open_modal(self.user.id)

    async def run(self) -> None:
        errors: dict[str, str] = {}
        previous: dict[tuple[str, str], Any] = {}
        while (view := self.open) is not None:
            if view["hash"] != self._shown:
                self.show(view)
            try:
                if fields_of(view):
                    values, answers = await self.form.fill(view, previous=previous, errors=errors)
                else:
                    await self._acknowledge(view)
                    values, answers = {}, {}
            except Cancelled:
                await self.close(view)
                errors, previous = {}, {}
                continue
            errors = await self.submit(view, values)
            previous = answers if errors else {}

    def show(self, view: dict[str, Any]) -> None:
        """Print the modal (its submit and close buttons said in words instead)."""
        self._shown = view["hash"]
        shown = {k: v for k, v in view.items() if k not in ("submit", "close")}
        self.screen.card("Kaizen · modal", shown, view_id=str(view["id"]))
        submit, close = _text(view.get("submit"), "Submit"), _text(view.get("close"), "Close")
        self.screen.dim(f"  Fill it in below, then it is sent (“{submit}”); /cancel = “{close}”.")

    async def _acknowledge(self, view: dict[str, Any]) -> None:
        """A modal with nothing to fill in: Enter submits it (or closes it, without submit)."""
        if not view.get("submit"):
            await self.requests.ask("Press Enter to close it: ")
            raise Cancelled
        await self.requests.ask("Press Enter to send it, or type /cancel: ")

    async def submit(self, view: dict[str, Any], values: dict[str, Any]) -> dict[str, str]:
        """Submit ``view`` with ``values``; the errors to show (``response_action: errors``)."""
        user = self.user.id
        payload = payloads.view_submission(
            view, values, user=self.user, trigger_id=self.workspace.issue_trigger(user)
        )
        what = f"the “{_text(view.get('title'))}” modal ({view.get('callback_id')})"
        body = await self.requests.dispatch(payload, what=what)
        action = (body or {}).get("response_action")
        errors: dict[str, str] = {}
        if body is None:  # nothing handled it: do not ask again and again
            self.workspace.close_modal(user)
            self.screen.dim("  (modal closed)")
        elif action == "errors":
            errors = {str(k): str(v) for k, v in (body.get("errors") or {}).items()}
            self._show_errors(view, errors)
        elif action == "update" and isinstance(body.get("view"), dict):
            self.workspace.replace_modal(user, body["view"])
        elif action == "push" and isinstance(body.get("view"), dict):
            self.workspace.push_modal(user, body["view"])
        else:  # an empty ack closes the modal ("clear": every modal of the stack)
            self.workspace.close_modal(user, all_views=action == "clear")
        await self.requests.settle()
        return errors

    def _show_errors(self, view: dict[str, Any], errors: dict[str, str]) -> None:
        """The errors of inputs are shown with each input as it is asked again; the others
        here."""
        fields = {f.block_id for f in fields_of(view)}
        self.screen.line(
            "✗ Kaizen did not accept that. Fix it below (an empty line keeps what you "
            "typed), or /cancel."
        )
        for block_id, message in errors.items():
            if block_id not in fields:
                self.screen.line(f"  • {block_id}: {plain(message)}")

    async def close(self, view: dict[str, Any]) -> None:
        """The close button (``/cancel``)."""
        self.workspace.close_modal(self.user.id, all_views=bool(view.get("clear_on_close")))
        self.screen.dim("  (modal closed)")
        if view.get("notify_on_close"):
            payload = payloads.view_closed(view, user=self.user)
            await self.requests.dispatch(payload, what="view_closed (a modal closed)")
            await self.requests.settle()
