"""Kaizen in Slack: the Bolt app, its cards, and how it is served (HTTP or Socket Mode)."""
