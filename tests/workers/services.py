"""Real services for the worker tests, private to the test run so they can be restarted and
killed freely: a Redis server, a PostgreSQL 15 + PostGIS cluster, Celery worker and beat
processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import sqlalchemy as sa

from pipeline.queue import WORKER_QUEUES

REPO = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate, *, timeout_s: float, interval_s: float = 0.25, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")


class RedisServer:
    """A redis-server without persistence (a restart loses every queued task, the worst case)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        wait_for(lambda: _ping(client), timeout_s=20, what="redis-server")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def restart(self, *, down_s: float = 2.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()


def _ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.exceptions.ConnectionError:
        return False


class PostgresCluster:
    """A throwaway PostgreSQL 15 cluster (with PostGIS available) on its own port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="wastemap-pg-"))
        self.datadir = self.root / "data"
        self.log = self.root / "server.log"
        os.chmod(self.root, 0o755)
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        cmd = [str(a) for a in args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/wastemap"

    def init(self) -> None:
        self._run(
            PG_BIN / "initdb", "-D", self.datadir, "-A", "trust", "-U", "postgres", "--no-sync"
        )
        self.start()
        admin = sa.create_engine(
            self.url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(sa.text("CREATE DATABASE wastemap"))
        admin.dispose()
        engine = sa.create_engine(self.url)
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE EXTENSION postgis"))
        engine.dispose()

    def start(self) -> None:
        self._run(
            PG_BIN / "pg_ctl",
            "-D",
            self.datadir,
            "-l",
            self.log,
            "-w",
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )

    def stop(self) -> None:
        self._run(PG_BIN / "pg_ctl", "-D", self.datadir, "-m", "fast", "-w", "stop")

    def restart(self, *, down_s: float = 2.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class CeleryProcess:
    """``celery -A workers.app worker|beat`` in its own process group (so kill -9 takes the
    pool children too). A worker consumes ``queues`` (``wastemap worker``'s by default)."""

    def __init__(
        self,
        kind: str,
        env: dict[str, str],
        logdir: Path,
        name: str,
        concurrency: int = 1,
        queues: str = WORKER_QUEUES,
    ) -> None:
        self.kind, self.env, self.name = kind, env, name
        self.log_path = logdir / f"{name}.log"
        celery = str(Path(sys.executable).parent / "celery")
        if kind == "worker":
            self.cmd = [
                celery,
                "-A",
                "workers.app",
                "worker",
                "--concurrency",
                str(concurrency),
                "--queues",
                queues,
                "--prefetch-multiplier",
                "1",
                "-O",
                "fair",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"{name}@%h",
                "--loglevel",
                "info",
            ]
        else:
            self.cmd = [
                celery,
                "-A",
                "workers.app",
                "beat",
                "--loglevel",
                "info",
                "--schedule",
                str(logdir / f"{name}-schedule"),
            ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> CeleryProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill9()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
