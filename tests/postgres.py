"""A real PostgreSQL server for the tests: ``initdb`` + ``pg_ctl`` in a temporary directory, on a
free port of 127.0.0.1, with password (SCRAM) authentication over TCP.

PostgreSQL refuses to run as root: under root (CI) the server runs as the unprivileged user
``nobody`` (``setpriv``), in a directory that user owns. The binaries come from Debian's
``postgresql`` package (``/usr/lib/postgresql/*/bin``) or PATH; without them :func:`find_bin`
returns None and the tests that need a server skip, saying so.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.helpers import free_port

#: The superuser the test server is made with, and its password (a test value).
PG_USER = "simlib"
PG_PASSWORD = "pg-Secret-7fQ2-never-shown"
SKIP_REASON = "no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or on PATH"


def find_bin() -> Path | None:
    """The directory holding initdb and pg_ctl, or None."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(os.path.realpath(initdb)).parent
    return None


class PostgresServer:
    """One server: :meth:`start`, :meth:`stop` (and start again: a restart), :meth:`url` of a
    database, :meth:`create_database`, :meth:`destroy`."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="simlib-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_nobody = os.geteuid() == 0
        os.chmod(self.root, 0o700)
        if self._as_nobody:
            os.chown(self.root, 65534, 65534)
        pwfile = self.root / "pw"
        pwfile.write_text(PG_PASSWORD + "\n")
        if self._as_nobody:
            os.chown(pwfile, 65534, 65534)
        self._run(
            [str(bindir / "initdb"), "-D", str(self.data), "-U", PG_USER, f"--pwfile={pwfile}", "--auth-local=trust",
             "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync", "--locale=C"]
        )
        pwfile.unlink()
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = '{self.root}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 100\n"
            )

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        if self._as_nobody:
            argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
        env = {**os.environ, "LC_ALL": "C", "HOME": str(self.root)}
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[-1] if argv else ''}: {done.stderr or done.stdout}")
        return done

    def start(self) -> PostgresServer:
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start"])
        return self

    def stop(self) -> None:
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def url(self, database: str = "postgres", *, password: bool = True) -> str:
        auth = f"{PG_USER}:{PG_PASSWORD}" if password else PG_USER
        return f"postgresql+psycopg://{auth}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=PG_USER, password=PG_PASSWORD, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        try:
            self.stop()
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.root, ignore_errors=True)


def wait_until(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
