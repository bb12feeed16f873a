"""Surfaces: the Slack app, the local console, the ``kaizen`` CLI and the scheduler.

Composes ``knowledge`` and ``engine``; business rules live below it.
"""
