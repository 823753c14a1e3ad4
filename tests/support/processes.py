"""Real processes for the integration tests: a Celery worker (prefork, as in production), a private
redis-server, and manage.py commands, each in its own process group with its output in a log file.

Everything here talks to the operating system only (no Django imports), so the conftest decides
which database, broker and media directory the processes get, through their environment.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv's bin/: celery, python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_url_with_db(url: str, db: int) -> str:
    """The same Redis server, another logical database (redis://host:port/DB)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def wait_for(
    predicate: Callable[[], object], *, timeout: float, interval: float = 0.2, what: str = ""
):
    """Poll until `predicate()` is truthy and return its value; AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what or predicate}")
        time.sleep(interval)


def children_of(pid: int) -> list[int]:
    """Direct children of a process (Linux /proc; psutil is not a dependency)."""
    result: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return result
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                result += [int(p) for p in fh.read().split()]
        except FileNotFoundError:
            continue
    return result


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"  # a zombie is dead
    except (FileNotFoundError, IndexError):
        return False


def kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL, timeout: float = 30) -> None:
    """Signal the process's whole group (it was started with start_new_session) and reap it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    # The group's other members (pool children) are reparented to init, which reaps them; wait
    # until none is left so that no dead worker still holds a database connection or a message.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


class CeleryWorker:
    """`celery -A config worker --pool prefork` as production runs it, in its own process group.

    `kill()` SIGKILLs the whole group (the machine or container dies: nothing acknowledges, nothing
    cleans up); `kill_pool_children()` SIGKILLs only the pool processes (the out-of-memory killer
    picks a renderer: the parent sees WorkerLostError). `start()` again after a kill is a restart.
    """

    def __init__(self, *, name: str, env: dict[str, str], log_dir: Path, concurrency: int = 2):
        self.name = name
        self.env = env
        self.concurrency = concurrency
        self.log_path = log_dir / f"worker-{name}.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def command(self) -> list[str]:
        return [
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(self.concurrency),
            "--prefetch-multiplier",
            "1",
            "-Q",
            "celery",
            "--hostname",
            f"{self.name}@%h",
            "--loglevel",
            "INFO",
        ]

    def start(self, *, timeout: float = 60) -> CeleryWorker:
        assert self.proc is None or self.proc.poll() is not None, "worker already running"
        self.starts += 1
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")  # noqa: SIM115 (kept open by the child)
        log.write(f"\n===== start #{self.starts} =====\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            self.command(),
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"worker {self.name} exited at start:\n{self.log_tail()}")
            with open(self.log_path, "rb") as fh:
                fh.seek(offset)
                text = fh.read().decode(errors="replace")
            # "celery@host ready." is logged once the consumer listens; the pool children exist.
            return " ready." in text and len(self.pool_pids()) >= self.concurrency

        wait_for(ready, timeout=timeout, what=f"worker {self.name} to be ready")
        return self

    def pool_pids(self) -> list[int]:
        if self.proc is None or self.proc.poll() is not None:
            return []
        return [p for p in children_of(self.proc.pid) if _alive(p)]

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once."""
        if self.proc is not None:
            kill_group(self.proc, signal.SIGKILL)

    def kill_pool_children(self) -> list[int]:
        pids = self.pool_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return pids

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it does not finish in time."""
        if self.proc is not None and self.proc.poll() is None:
            kill_group(self.proc, signal.SIGTERM, timeout=20)
        if self.proc is not None:
            kill_group(self.proc, signal.SIGKILL)

    def assert_pool_healthy(self) -> None:
        """No pool process was killed by the worker itself for being slow to start (Celery kills a
        child that does not report up within worker_proc_alive_timeout, and forks another)."""
        log = self.log_text()
        assert "Timed out waiting for UP message" not in log, self.log_tail(80)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class RedisServer:
    """A private redis-server on a free port, restartable on the same port.

    `persistent=False` is the harsh case: no RDB, no AOF, so a kill loses every queued and unacked
    message. (scripts/services.sh runs the shared one with AOF, as production does.)
    """

    def __init__(self, *, workdir: Path, persistent: bool = False):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.persistent = persistent
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, timeout: float = 20) -> RedisServer:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--dir", str(self.workdir), "--logfile", str(self.log_path), "--save", ""]
        args += ["--appendonly", "yes" if self.persistent else "no"]
        args += ["--maxmemory-policy", "noeviction"]
        self.proc = subprocess.Popen(
            args, cwd=self.workdir, stdout=subprocess.DEVNULL, start_new_session=True
        )
        wait_for(self.ping, timeout=timeout, what=f"redis-server on port {self.port}")
        return self

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        if self.proc is not None:
            kill_group(self.proc, signal.SIGKILL)

    def stop(self) -> None:
        self.kill()


class ManageCommand:
    """`python manage.py ARGS` in its own process group, output in a log file."""

    def __init__(self, args: list[str], *, env: dict[str, str], log_path: Path):
        self.args = args
        self.log_path = log_path
        log = open(log_path, "wb")  # noqa: SIM115 (kept open by the child)
        self.proc = subprocess.Popen(
            [str(BIN / "python"), "manage.py", *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(self.proc, signal.SIGKILL)
            raise AssertionError(
                f"manage.py {' '.join(self.args)} did not finish in {timeout:g}s:\n{self.output()}"
            ) from None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        kill_group(self.proc, signal.SIGKILL)
