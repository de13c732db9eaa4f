"""Private Redis and PostgreSQL servers that a fault test may stop, kill and start again.

They run from the installed binaries on free ports, in directories of their own, so the
shared servers on 6379 and 5432 are never disturbed. PostgreSQL refuses to run as root:
when the tests run as root, its directory belongs to the `postgres` user and its
commands run as that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import redis

from tests.helpers import free_port, wait_for_sync


class PrivateRedis:
    """A redis-server of the test's own. With `persistent`, an append-only file keeps the
    streams across a stop and start, as a production Redis would."""

    def __init__(self, directory: Path, *, persistent: bool = False, **config: str) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._directory = directory
        self._args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                      "--dir", str(directory), "--save", "",
                      "--appendonly", "yes" if persistent else "no", "--appendfsync", "always",
                      "--logfile", str(directory / "redis.log")]
        for name, value in config.items():
            self._args += [f"--{name.replace('_', '-')}", value]
        self._popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._popen = subprocess.Popen(self._args, stdout=subprocess.DEVNULL)
        wait_for_sync(self.answers, timeout_s=10, what=f"redis on port {self.port}")

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): the append-only file is complete."""
        if self._popen is not None and self._popen.poll() is None:
            self._popen.send_signal(signal.SIGTERM)
            self._popen.wait(timeout=15)

    def answers(self) -> bool:
        try:
            with redis.Redis.from_url(self.url, socket_timeout=1) as client:
                return bool(client.ping())
        except redis.AuthenticationError:  # (a subclass of ConnectionError)
            return True  # answering, to users of its ACL only
        except redis.ConnectionError:
            return False

    def log(self) -> str:
        return (self._directory / "redis.log").read_text(errors="replace")

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


class PrivatePostgres:
    """A PostgreSQL cluster of the test session's own, created with initdb."""

    BIN = Path("/usr/lib/postgresql") / sorted(os.listdir("/usr/lib/postgresql"))[-1] / "bin"

    def __init__(self) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="execution-pg-"))
        self.data = self.directory / "data"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            owner = pwd.getpwnam("postgres")
            self.directory.chmod(0o755)
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", str(self.data), "-o", options,
                  "-l", str(self.directory / "postgres.log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session at once, as a database going away does."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def create_database(self) -> str:
        name = f"faults_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def remove(self) -> None:
        if self.running():
            with contextlib.suppress(subprocess.CalledProcessError):
                self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, command: str, *args: str) -> None:
        argv = [str(self.BIN / command), *args]
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        subprocess.run(argv, check=True, capture_output=True, timeout=120)


@contextlib.contextmanager
def private_redis(directory: Path, *, persistent: bool = False, **config: str) -> Iterator[PrivateRedis]:
    server = PrivateRedis(directory, persistent=persistent, **config)
    server.start()
    try:
        yield server
    finally:
        server.stop()
