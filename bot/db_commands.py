"""``kaizen db``: the database's schema (Kaizen also upgrades it on start)."""

from __future__ import annotations

import sys

import click
from alembic.util.exc import CommandError

from bot.settings import Settings
from knowledge.store import Database, DatabaseError
from knowledge.store import migrate as migrations

EXIT_FAILED = 1


def _open(settings: Settings) -> Database:
    try:
        return Database(settings.database)
    except DatabaseError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_FAILED)


@click.group("db")
def db_group() -> None:
    """Inspect and migrate Kaizen's database (KAIZEN_DATABASE_URL)."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Upgrade the schema to REVISION (default: the newest)."""
    db = _open(Settings())
    try:
        before = migrations.current_revision(db)
        after = migrations.upgrade(db, revision)
    except CommandError as exc:
        raise click.ClickException(f"cannot upgrade to '{revision}': {exc}") from None
    finally:
        db.dispose()
    if before == after:
        click.echo(f"{db!r}: already at {after}")
    else:
        click.echo(f"{db!r}: upgraded {before or '(empty)'} → {after}")


@db_group.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Downgrade the schema to REVISION (``base`` drops every table: data is lost)."""
    db = _open(Settings())
    try:
        before = migrations.current_revision(db)
        after = migrations.downgrade(db, revision)
    except CommandError as exc:
        raise click.ClickException(f"cannot downgrade to '{revision}': {exc}") from None
    finally:
        db.dispose()
    click.echo(f"{db!r}: downgraded {before or '(empty)'} → {after or '(empty)'}")


@db_group.command("current")
def db_current() -> None:
    """Print the database's migration and whether it is the newest."""
    db = _open(Settings())
    try:
        current = migrations.current_revision(db)
    finally:
        db.dispose()
    head = migrations.head_revision()
    if current == head:
        state = "up to date"
    elif current is not None and not migrations.is_known(current):
        state = f"unknown to this Kaizen (migrated by a newer one?); newest here is {head}"
    else:
        state = f"behind: newest is {head}"
    click.echo(f"{db!r}: {current or '(empty)'} ({state})")
    sys.exit(0 if current == head else EXIT_FAILED)


@db_group.command("revision")
@click.argument("message")
def db_revision(message: str) -> None:
    """Write a new migration with what knowledge/store/models.py adds to the (up-to-date)
    database; review it before committing."""
    db = _open(Settings())
    try:
        migrations.ensure_current(db)
        migrations.revision(db, message)
    except (DatabaseError, CommandError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.dispose()
