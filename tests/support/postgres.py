"""A throwaway PostgreSQL server on 127.0.0.1, for the test suite and the benchmarks.

:class:`ThrowawayPostgres` runs ``initdb`` in a fresh temporary directory, starts ``postgres``
on a free port of 127.0.0.1 (its Unix socket stays inside that directory) and, on
:meth:`~ThrowawayPostgres.stop`, shuts the server down and deletes the directory. ``stop`` is
also registered with :mod:`atexit`, and a small watchdog shell does the same once this process
is gone, even when it was killed outright: a test session that crashes leaves no server behind.
The server runs in its own session, so Ctrl-C in the terminal reaches pytest, not PostgreSQL::

    with ThrowawayPostgres(durable=False) as server:
        server.create_database("scratch")
        engine = create_engine(server.url("scratch"))

Finding the server binaries (``initdb``, ``pg_ctl``, ``postgres``), first match wins:
``$KAIZEN_PG_BIN``; ``pg_config --bindir``; ``/usr/lib/postgresql/<version>/bin`` (Debian and
Ubuntu, newest version first); ``initdb`` on ``PATH``. ``make test`` installs them when missing
(``apt-get install postgresql``). PostgreSQL refuses to run as root, so as root the binaries run
as the ``postgres`` system user (``runuser -u postgres``), which Debian's package creates.

Using a server you already have instead: set ``KAIZEN_TEST_POSTGRES_URL`` to a URL of a role
that may ``CREATE DATABASE``, e.g. ``postgresql://kaizen:secret@127.0.0.1:5432/postgres``.
:func:`postgres_for_tests` then returns an :class:`ExistingPostgres` for it and starts nothing.
The databases the tests create there are dropped again; the server itself is left alone.

This module has no pytest imports: ``benchmarks/store_overhead.py`` uses it too.
"""

from __future__ import annotations

import atexit
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

#: Overrides where the PostgreSQL server binaries are looked for.
PG_BIN_ENV = "KAIZEN_PG_BIN"
#: When set, the tests use this (existing) server instead of starting a throwaway one.
TEST_URL_ENV = "KAIZEN_TEST_POSTGRES_URL"
#: The superuser ``initdb`` creates in a throwaway cluster (trust authentication).
SUPERUSER = "kaizen"
#: The system user the server runs as when we are root.
SYSTEM_USER = "postgres"
#: Server settings that trade crash safety for speed (``durable=False``).
NON_DURABLE_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
_SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
_INSTALL_HINT = (
    "install them with `apt-get install postgresql` (`make test` does this for you), or set "
    f"{PG_BIN_ENV} to the directory holding initdb, or point {TEST_URL_ENV} at an existing "
    "server"
)


def _has_server_binaries(directory: Path) -> bool:
    return all((directory / name).is_file() for name in _SERVER_BINARIES)


def _version_key(directory: Path) -> tuple[int, ...]:
    """``/usr/lib/postgresql/15/bin`` → ``(15,)``; unparseable versions sort first."""
    try:
        return tuple(int(part) for part in directory.parent.name.split("."))
    except ValueError:
        return (-1,)


def find_pg_bin() -> Path:
    """The directory holding PostgreSQL's server binaries (``initdb``, ``pg_ctl``,
    ``postgres``); raises :class:`RuntimeError` saying what to install when there is none."""
    override = os.environ.get(PG_BIN_ENV)
    if override:
        directory = Path(override).expanduser()
        if _has_server_binaries(directory):
            return directory
        raise RuntimeError(
            f"{PG_BIN_ENV}={override} does not contain PostgreSQL's server binaries "
            f"({', '.join(_SERVER_BINARIES)})"
        )
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            result = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            result = None
        if result is not None and result.returncode == 0 and result.stdout.strip():
            candidates.append(Path(result.stdout.strip()))
    candidates.extend(
        sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    )
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for directory in candidates:
        if _has_server_binaries(directory):
            return directory
    raise RuntimeError(
        "PostgreSQL's server binaries (initdb, pg_ctl, postgres) were not found in "
        f"${PG_BIN_ENV}, `pg_config --bindir`, /usr/lib/postgresql/*/bin or PATH: " + _INSTALL_HINT
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(no server log: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"


class PostgresServer(ABC):
    """A PostgreSQL server the tests may create and drop databases on.

    Subclasses say where it is (:meth:`url`) and how it ends (:meth:`stop`).
    """

    @abstractmethod
    def url(self, database: str = "postgres") -> str:
        """A ``postgresql://`` URL of ``database`` on this server."""

    @abstractmethod
    def stop(self) -> None:
        """Release the server (idempotent)."""

    def maintenance_url(self) -> str:
        """Where ``CREATE DATABASE`` and ``DROP DATABASE`` are sent from."""
        return self.url()

    def create_database(self, name: str, template: str | None = None) -> None:
        """``CREATE DATABASE name [TEMPLATE template]`` (the template must have no other
        connections open)."""
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
        with psycopg.connect(self.maintenance_url(), autocommit=True) as connection:
            connection.execute(query)

    def drop_database(self, name: str) -> None:
        """``DROP DATABASE IF EXISTS name``, closing whatever connections are still open."""
        query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        with psycopg.connect(self.maintenance_url(), autocommit=True) as connection:
            connection.execute(query)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class ExistingPostgres(PostgresServer):
    """A server somebody else runs (``KAIZEN_TEST_POSTGRES_URL``): nothing is started or
    stopped, only databases are created and dropped."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.split("+", 1)[0]
        if scheme not in ("postgres", "postgresql"):
            raise RuntimeError(f"{TEST_URL_ENV} must be a postgresql:// URL, not {url!r}")
        self._parts = parts._replace(scheme="postgresql")
        self._maintenance = self._parts.path.lstrip("/") or "postgres"

    def url(self, database: str = "postgres") -> str:
        return urlunsplit(self._parts._replace(path="/" + quote(database)))

    def maintenance_url(self) -> str:
        return self.url(self._maintenance)

    def stop(self) -> None:
        """Nothing to stop: the server is not ours."""

    def __repr__(self) -> str:
        host = self._parts.hostname or "localhost"
        return f"ExistingPostgres({host}:{self._parts.port or 5432})"


class ThrowawayPostgres(PostgresServer):
    """A private PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 only.

    ``durable=False`` turns off ``fsync``, ``synchronous_commit`` and ``full_page_writes``:
    much faster, and fine for tests; benchmarks keep the default (real durability).
    """

    def __init__(
        self,
        *,
        durable: bool = True,
        bin_dir: Path | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.durable = durable
        self.bin_dir = bin_dir
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self.directory: Path | None = None
        self._bin: Path | None = None
        self._runner: list[str] = []
        self._running = False
        self._watchdog: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> ThrowawayPostgres:
        """initdb, start the server and wait until it accepts connections (≤ startup_timeout
        seconds). Raises :class:`RuntimeError` with the server log's last lines on failure."""
        if self.directory is not None:
            return self
        bin_dir = self._bin = self.bin_dir or find_pg_bin()
        owner = self._system_user() if os.geteuid() == 0 else None
        self._runner = ["runuser", "-u", SYSTEM_USER, "--"] if owner else []
        self.directory = Path(tempfile.mkdtemp(prefix="kaizen-pg-"))
        atexit.register(self.stop)
        try:
            if owner is not None:
                os.chown(self.directory, owner.pw_uid, owner.pw_gid)
            self._start_watchdog()
            self._initdb(bin_dir)
            self._start_server()
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its directory. Idempotent."""
        directory = self.directory
        if directory is None:
            return
        if self._watchdog is not None:  # we clean up ourselves: the watchdog is not needed
            self._watchdog.kill()
            self._watchdog.wait()
            if self._watchdog.stdin is not None:
                self._watchdog.stdin.close()
            self._watchdog = None
        # Also after a failed start: pg_ctl may have given up on a postmaster still starting.
        if self._bin is not None and (directory / "data" / "postmaster.pid").exists():
            for mode in ("fast", "immediate"):
                result = self._pg_ctl("-m", mode, "-w", "-t", "30", "stop", timeout=40)
                if result is not None and result.returncode == 0:
                    break
        self._running = False
        shutil.rmtree(directory, ignore_errors=True)
        self.directory = None
        self.port = None
        atexit.unregister(self.stop)

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    # ------------------------------------------------------------------ addresses

    def url(self, database: str = "postgres") -> str:
        """``postgresql://kaizen@127.0.0.1:PORT/database`` (trust authentication)."""
        if self.port is None:
            raise RuntimeError("the throwaway PostgreSQL server is not running")
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{quote(database)}"

    def __repr__(self) -> str:
        state = f"127.0.0.1:{self.port}" if self._running else "stopped"
        return f"ThrowawayPostgres({state}, durable={self.durable})"

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _system_user() -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            raise RuntimeError(
                "PostgreSQL refuses to run as root and there is no "
                f"'{SYSTEM_USER}' system user to run it as: install the server package "
                "(`apt-get install postgresql` creates the user), run the tests as a non-root "
                f"user, or set {TEST_URL_ENV}"
            ) from None

    @property
    def _log(self) -> Path:
        assert self.directory is not None
        return self.directory / "log"

    def _run(
        self, args: list[str], *, timeout: float, check: bool = True
    ) -> subprocess.CompletedProcess[str] | None:
        """Run a PostgreSQL binary (as the ``postgres`` user when we are root)."""
        command = [*self._runner, *args]
        try:
            result = subprocess.run(
                command,
                cwd=self.directory,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in the terminal must not shut the server down
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            if check:
                raise self._failure(f"{' '.join(command)} failed: {exc}") from None
            return None
        if check and result.returncode != 0:
            raise self._failure(
                f"{' '.join(command)} exited with {result.returncode}:\n"
                f"{(result.stdout + result.stderr).strip()}"
            )
        return result

    def _pg_ctl(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str] | None:
        """``pg_ctl -D DATA args…``; ``None`` when it could not be run or timed out."""
        assert self._bin is not None and self.directory is not None
        command = [str(self._bin / "pg_ctl"), "-D", str(self.directory / "data"), *args]
        return self._run(command, timeout=timeout, check=False)

    def _start_watchdog(self) -> None:
        """A shell that waits for this process to end (its stdin pipe reaches end of file),
        then stops the server and deletes the directory: the clean-up for a process killed
        outright, which ``atexit`` does not cover. :meth:`stop` ends it first."""
        assert self._bin is not None and self.directory is not None
        pg_ctl = shlex.join(
            [*self._runner, str(self._bin / "pg_ctl"), "-D", str(self.directory / "data")]
        )
        script = (
            f"read _; if [ -f {shlex.quote(str(self.directory / 'data' / 'postmaster.pid'))} ];"
            f" then {pg_ctl} -m fast -w -t 30 stop || {pg_ctl} -m immediate -w -t 30 stop; fi;"
            f" rm -rf {shlex.quote(str(self.directory))}"
        )
        self._watchdog = subprocess.Popen(
            ["/bin/sh", "-c", script],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
            start_new_session=True,
        )

    def _failure(self, what: str) -> RuntimeError:
        return RuntimeError(
            f"could not start a throwaway PostgreSQL: {what}\n"
            f"--- last lines of the server log ({self._log}):\n{_tail(self._log)}"
        )

    def _initdb(self, bin_dir: Path) -> None:
        assert self.directory is not None
        command = [str(bin_dir / "initdb"), "-D", str(self.directory / "data"), "-U", SUPERUSER]
        command.extend(["--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        self._run(command, timeout=self.startup_timeout * 2)

    def _start_server(self) -> None:
        """``pg_ctl start -w`` on a free port; retried on a new port if another process took
        the chosen one in between."""
        assert self.directory is not None
        settings = ["listen_addresses=127.0.0.1"]
        if not self.durable:
            settings.extend(NON_DURABLE_SETTINGS)
        for attempt in range(3):
            self.port = free_port()
            options = [f"-p {self.port}", f"-k {shlex.quote(str(self.directory))}"]
            options.extend(f"-c {setting}" for setting in settings)
            result = self._pg_ctl(
                *("-o", " ".join(options), "-l", str(self._log)),
                *("-w", "-t", str(int(self.startup_timeout)), "start"),
                timeout=self.startup_timeout + 10,
            )
            if result is not None and result.returncode == 0:
                self._running = True
                return
            port_taken = "could not bind" in _tail(self._log, 10)
            if not port_taken or attempt == 2:
                output = "" if result is None else (result.stdout + result.stderr).strip()
                raise self._failure(f"pg_ctl start failed:\n{output}")

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                with psycopg.connect(self.url(), connect_timeout=2) as connection:
                    connection.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise self._failure(
                        f"no connection within {self.startup_timeout:.0f} s: {exc}"
                    ) from None
                time.sleep(0.05)


def postgres_for_tests(*, durable: bool = False) -> PostgresServer:
    """The server the tests use: the one named by ``KAIZEN_TEST_POSTGRES_URL`` if set, else a
    started :class:`ThrowawayPostgres`. Call ``stop()`` when done."""
    url = os.environ.get(TEST_URL_ENV)
    if url:
        return ExistingPostgres(url)
    return ThrowawayPostgres(durable=durable).start()
