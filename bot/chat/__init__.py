"""``kaizen chat``: the local console. It drives the Slack app itself (the same Bolt listeners,
the same Block Kit cards) in-process, with no network and no tokens.

Modules, one job each:

- :mod:`~bot.chat.payloads` — the payloads Slack would send (commands, clicks, submissions,
  events), as dicts for Socket Mode-style dispatch.
- :mod:`~bot.chat.workspace` — the local workspace: messages, threads, views, reactions and
  files, and the changes people would see.
- :mod:`~bot.chat.web_api` — :class:`~bot.chat.web_api.LocalWebApi`, an ``AsyncWebClient``
  whose calls the local workspace answers.
- :mod:`~bot.chat.activity` — when the app has gone quiet after a request.
- :mod:`~bot.chat.screen` — what the console prints: cards with session-wide button numbers,
  the feed of changes, a run's step lines.
- :mod:`~bot.chat.modal` — a modal's inputs asked for at the prompt.
- :mod:`~bot.chat.dialog` — a modal carried through: shown, filled in, submitted, its errors.
- :mod:`~bot.chat.lines` — reading input without blocking the event loop.
- :mod:`~bot.chat.session` — :class:`~bot.chat.session.ChatSession`, the read-eval-print loop.
- :mod:`~bot.chat.command` — the ``kaizen chat`` command.
"""
