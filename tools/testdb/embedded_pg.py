"""A throwaway local PostgreSQL for the demo, the tests and the benchmarks.

Uses the PostgreSQL binaries bundled in the ``pgserver`` wheel, but drives
``initdb``/``pg_ctl`` itself so that the server listens on TCP 127.0.0.1 at a
free port and is stopped by its postmaster PID (never by process name).
PostgreSQL refuses to run as root, so as root the server runs as pgserver's
``pgserver`` OS user, exactly as pgserver itself does.

Tuned for speed, not durability: fsync, synchronous_commit and
full_page_writes are off. Never point anything that matters at it.

CLI::

    python -m tools.testdb.embedded_pg start --dir .tablesync/pg   # prints the URL
    python -m tools.testdb.embedded_pg start --dir .tablesync/pg --database core
                                       # creates the databases it lacks (--database may
                                       # repeat), prints their URLs
    python -m tools.testdb.embedded_pg url --dir .tablesync/pg
    python -m tools.testdb.embedded_pg stop --dir .tablesync/pg
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

SUPERUSER = "postgres"
# The marker initdb never writes: its presence means initdb ran to the end, so a
# data dir left half-made by a killed run is wiped and made again.
_INIT_MARKER = "tablesync-initdb-complete"
_PORT_FILE = "tablesync-port"
_START_TIMEOUT_S = 60
_STOP_TIMEOUT_S = 30.0
_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "listen_addresses": "127.0.0.1",
    # No unix socket: the default socket dir may not be writable by the server user.
    "unix_socket_directories": "",
    "timezone": "UTC",
}


class EmbeddedPostgresError(RuntimeError):
    """The throwaway server could not be initialised, started or stopped."""


def url_for(base_url: str, dbname: str) -> str:
    """Return ``base_url`` with its database replaced by ``dbname`` (query string kept)."""
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path="/" + quote(dbname, safe="")))


def create_database(base_url: str, name: str, *, template: str | None = None) -> None:
    """Create database ``name`` on the server of ``base_url`` (optionally from ``template``)."""
    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(query)


def drop_database(base_url: str, name: str) -> None:
    """Drop database ``name`` if it exists, terminating its other connections first."""
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _bin_dir() -> Path:
    try:
        with warnings.catch_warnings():
            # Importing pgserver warns about XDG_RUNTIME_DIR, which we do not use.
            warnings.simplefilter("ignore")
            from pgserver._commands import POSTGRES_BIN_PATH
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise EmbeddedPostgresError(
            "the embedded PostgreSQL needs the 'pgserver' package: pip install -e '.[dev]'"
        ) from exc
    return Path(POSTGRES_BIN_PATH)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As PostgreSQL binds: a port whose old connections linger in TIME_WAIT
        # after a restart is free, so restart() keeps its port (and URLs).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _pid_alive(pid: int) -> bool:
    """True when ``pid`` is a live (non-zombie) process."""
    import psutil

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _is_postmaster_of(pid: int, data_dir: Path) -> bool:
    """True when ``pid`` is a live postgres process serving ``data_dir``."""
    import psutil

    try:
        proc = psutil.Process(pid)
        cmdline = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    if proc.status() == psutil.STATUS_ZOMBIE or not cmdline:
        return False
    return Path(cmdline[0]).name == "postgres" and str(data_dir) in cmdline


class EmbeddedPostgres:
    """A PostgreSQL server in ``data_dir``, started and stopped by this object.

    ``start()`` initialises the data dir when needed and returns a superuser URL;
    ``stop()`` fast-shuts the server down by its postmaster PID; ``restart()``
    does both on the same data dir and port (used to simulate an outage).
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self._run_as = self._server_user()
        self._port: int | None = None

    # -- public API -------------------------------------------------------

    @property
    def url(self) -> str:
        """The superuser URL of the ``postgres`` database (server must be started)."""
        if self._port is None:
            raise EmbeddedPostgresError(f"server in {self.data_dir} is not started")
        # sslmode=disable: dbmate (lib/pq) defaults to sslmode=require over TCP.
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self._port}/postgres?sslmode=disable"

    def url_for(self, dbname: str) -> str:
        """The superuser URL of database ``dbname`` on this server."""
        return url_for(self.url, dbname)

    def start(self) -> str:
        """Start the server (initialising the data dir if needed); return its URL.

        A server left running in this data dir by an earlier, killed process is
        stopped first; a stale ``postmaster.pid`` is removed.
        """
        self._prepare_data_dir()
        self._clear_leftover_server()
        for attempt in range(3):
            port = self._choose_port(fresh=attempt > 0)
            if self._pg_ctl_start(port):
                self._port = port
                (self.data_dir / _PORT_FILE).write_text(str(port))
                self._wait_until_accepting()
                return self.url
        raise EmbeddedPostgresError(
            f"PostgreSQL in {self.data_dir} did not start; log:\n{self._log_tail()}"
        )

    def stop(self) -> None:
        """Fast-shutdown the server (SIGINT to the postmaster PID) and wait until it is gone.

        Escalates to SIGQUIT then SIGKILL if it is still running after 30 s.
        Does nothing when no server is running in the data dir.
        """
        pid = self.postmaster_pid()
        if pid is None or not _pid_alive(pid):
            return
        for sig, timeout_s in ((signal.SIGINT, _STOP_TIMEOUT_S), (signal.SIGQUIT, 5.0)):
            os.kill(pid, sig)
            if self._wait_gone(pid, timeout_s=timeout_s):
                return
        os.kill(pid, signal.SIGKILL)
        self._wait_gone(pid, timeout_s=5.0)

    def restart(self) -> str:
        """Stop then start the server on the same data dir (and port); return its URL."""
        self.stop()
        return self.start()

    def postmaster_pid(self) -> int | None:
        """The PID recorded in ``postmaster.pid``, or None when there is none."""
        try:
            first_line = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
            return int(first_line)
        except (FileNotFoundError, ValueError):
            return None

    def create_database(self, name: str, *, template: str | None = None) -> None:
        """Create database ``name`` (optionally as a copy of ``template``)."""
        create_database(self.url, name, template=template)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, terminating its connections first."""
        drop_database(self.url, name)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals --------------------------------------------------------

    @staticmethod
    def _server_user() -> str | None:
        """The OS user to run PostgreSQL as: ``pgserver`` when we are root, else ourselves."""
        if os.name != "posix" or os.geteuid() != 0:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver.utils import ensure_user_exists

        ensure_user_exists("pgserver")
        return "pgserver"

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args,
            user=self._run_as,
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_START_TIMEOUT_S + 30,
            check=False,
        )

    def _prepare_data_dir(self) -> None:
        if not (self.data_dir / _INIT_MARKER).exists():
            self._wipe_data_dir()
        self._fix_permissions()
        if (self.data_dir / _INIT_MARKER).exists():
            return
        result = self._run(
            [
                str(_bin_dir() / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(
                f"initdb failed in {self.data_dir}:\n{result.stdout}{result.stderr}"
            )
        (self.data_dir / _INIT_MARKER).write_text("ok\n")

    def _wipe_data_dir(self) -> None:
        """Create the data dir, or empty one that a killed initdb left half-made.

        Refuses to touch a non-empty directory that is not a PostgreSQL data dir.
        """
        import shutil

        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            if not (self.data_dir / "PG_VERSION").exists():
                raise EmbeddedPostgresError(
                    f"{self.data_dir} is not empty and is not a PostgreSQL data dir; "
                    "refusing to initialise a server there"
                )
            pid = self.postmaster_pid()
            if pid is not None and _is_postmaster_of(pid, self.data_dir):
                self.stop()
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def _fix_permissions(self) -> None:
        """As root, let the ``pgserver`` user own the data dir and reach the binaries."""
        if self._run_as is None:
            return
        import pwd

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions

        bin_dir = _bin_dir()
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(bin_dir)
        ensure_folder_permissions(bin_dir, 0o055)
        ensure_folder_permissions(bin_dir.parent / "lib", 0o044)
        entry = pwd.getpwnam(self._run_as)
        for path in [self.data_dir, *self.data_dir.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
        self.data_dir.chmod(0o700)

    def _clear_leftover_server(self) -> None:
        pid = self.postmaster_pid()
        if pid is None:
            return
        if _is_postmaster_of(pid, self.data_dir):
            # A server from an earlier, killed run: we do not know its settings.
            self.stop()
        # Whatever is left is stale; postgres would refuse to start if the PID
        # had been reused by a process it may not signal.
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)

    def _choose_port(self, *, fresh: bool) -> int:
        """Reuse the last port (so URLs survive restart()) unless it is taken."""
        if not fresh:
            for port in (self._port, self._saved_port()):
                if port is not None and _port_is_free(port):
                    return port
        return _free_port()

    def _saved_port(self) -> int | None:
        try:
            return int((self.data_dir / _PORT_FILE).read_text())
        except (FileNotFoundError, ValueError):
            return None

    def _pg_ctl_start(self, port: int) -> bool:
        options = " ".join(f"-c {key}={value or repr('')}" for key, value in _SETTINGS.items())
        result = self._run(
            [
                str(_bin_dir() / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.data_dir / "log"),
                "-w",
                "-t",
                str(_START_TIMEOUT_S),
                "-o",
                f"-p {port} {options}",
                "start",
            ]
        )
        return result.returncode == 0

    def _wait_until_accepting(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=5):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _wait_gone(self, pid: int, *, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while _pid_alive(pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _log_tail(self, max_chars: int = 4000) -> str:
        try:
            return (self.data_dir / "log").read_text(errors="replace")[-max_chars:]
        except FileNotFoundError:
            return "(no log)"


def database_exists(base_url: str, name: str) -> bool:
    """Whether the server of ``base_url`` holds a database called ``name``."""
    with psycopg.connect(base_url, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    return found is not None


def ensure_databases(base_url: str, names: list[str]) -> list[str]:
    """Create each of ``names`` that the server lacks (keeping those it has); their URLs."""
    for name in names:
        if not database_exists(base_url, name):
            create_database(base_url, name)
    return [url_for(base_url, name) for name in names]


def main(argv: list[str] | None = None) -> int:
    """``python -m tools.testdb.embedded_pg start|stop|url --dir DIR [--database NAME]...``."""
    parser = argparse.ArgumentParser(prog="python -m tools.testdb.embedded_pg", description=__doc__)
    parser.add_argument("action", choices=["start", "stop", "url"])
    parser.add_argument("--dir", required=True, type=Path, help="data directory")
    parser.add_argument(
        "--database",
        action="append",
        default=[],
        metavar="NAME",
        help="with start: create NAME unless the server has it, and print its URL (repeatable)",
    )
    args = parser.parse_args(argv)
    server = EmbeddedPostgres(args.dir)
    try:
        if args.action == "start":
            url = server.start()
            print("\n".join(ensure_databases(url, args.database) if args.database else [url]))
        elif args.action == "stop":
            server.stop()
    except EmbeddedPostgresError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.action == "url":
        pid = server.postmaster_pid()
        if pid is None or not _is_postmaster_of(pid, server.data_dir):
            print(f"error: no server running in {server.data_dir}", file=sys.stderr)
            return 1
        server._port = server._saved_port()
        urls = [server.url_for(name) for name in args.database] or [server.url]
        print("\n".join(urls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
