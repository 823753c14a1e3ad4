"""Driving the production stack (docker-compose.yml + Dockerfile) as an operator does: the compose
command line, `exec` into services, HTTP on the port published on 127.0.0.1. Nothing here reaches
another address: containers talk among themselves on the compose network of their project.

Every call is bounded by a timeout; every wait by a deadline."""

from __future__ import annotations

import html.parser
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class StackError(AssertionError):
    pass


def compose_command() -> list[str] | None:
    """The compose plugin (`docker compose`) when the docker client has it, else Debian bookworm's
    `docker-compose` 1.29 (the same subcommands and options for everything used here)."""
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, text=True, timeout=30
        )
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def docker_usable() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: list[str], *, timeout: float, check: bool = True, **kw) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(cmd, capture_output=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"timed out after {timeout}s: {' '.join(cmd)}") from exc
    if check and result.returncode != 0:
        out = (
            result.stdout
            if isinstance(result.stdout, str)
            else result.stdout.decode(errors="replace")
        )
        err = (
            result.stderr
            if isinstance(result.stderr, str)
            else result.stderr.decode(errors="replace")
        )
        raise StackError(f"exit {result.returncode}: {' '.join(cmd)}\n{out[-4000:]}\n{err[-4000:]}")
    return result


def copy_checkout(destination: Path) -> None:
    """The repository's files as a fresh clone has them (plus uncommitted changes): tracked and
    untracked-but-not-ignored files. `.env` is never copied (the test writes its own)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        rel = raw.decode()
        source = ROOT / rel
        if rel == ".env" or not source.is_file():
            continue
        target = destination / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def env_file_from_example(example: str, changes: dict[str, str]) -> str:
    """`.env` written the way README "Production" tells an operator to: the example, with the values
    marked CHANGE (and the few the test needs) replaced. Every changed key must exist in the example."""
    lines = []
    seen = set()
    for line in example.splitlines():
        key = line.partition("=")[0].strip()
        if line.strip() and not line.lstrip().startswith("#") and key in changes:
            line = f"{key}={changes[key]}"
            seen.add(key)
        lines.append(line)
    missing = set(changes) - seen
    if missing:
        raise StackError(f".env.example lacks {sorted(missing)}")
    return "\n".join(lines) + "\n"


@dataclass
class Stack:
    workdir: Path
    project: str
    compose_cmd: list[str]
    web_port: int
    env: dict[str, str] = field(default_factory=dict)

    def compose(self, *args: str, timeout: float = 300, check: bool = True, **kw):
        return run(
            [*self.compose_cmd, "-p", self.project, *args],
            cwd=self.workdir,
            env=self.env,
            timeout=timeout,
            check=check,
            **kw,
        )

    def up(self, *args: str, timeout: float = 1500):
        """`up -d …`; on failure the services' last log lines are part of the error."""
        try:
            return self.compose("up", "-d", *args, timeout=timeout)
        except StackError as exc:
            logs = self.compose(
                "logs", "--no-color", "--tail", "40", timeout=60, check=False, text=True
            )
            raise StackError(f"{exc}\n--- logs ---\n{logs.stdout[-8000:]}") from None

    def exec(self, service: str, *cmd: str, timeout: float = 300, check: bool = True, **kw):
        return self.compose("exec", "-T", service, *cmd, timeout=timeout, check=check, **kw)

    def manage(self, *args: str, timeout: float = 300, check: bool = True, **kw) -> str:
        result = self.exec(
            "web", "python", "manage.py", *args, timeout=timeout, check=check, text=True, **kw
        )
        return result.stdout

    def python(self, code: str, timeout: float = 300):
        """Run `code` in `manage.py shell` in the web container; it prints one JSON line last."""
        out = self.manage("shell", "-c", code, timeout=timeout)
        return json.loads(out.strip().splitlines()[-1])

    def psql(self, sql: str, timeout: float = 60) -> str:
        result = self.exec(
            "postgres",
            "psql",
            "-U",
            "shikaku",
            "-d",
            "shikaku",
            "-tAX",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
            timeout=timeout,
            text=True,
        )
        return result.stdout.strip()

    def psql_fast(self, sql: str, timeout: float = 30) -> str:
        """As psql(), through `docker exec` on the container (no compose start-up): for polling.
        The postgres container stays the same while runs execute."""
        if not getattr(self, "_postgres_id", None):
            self._postgres_id = self.running_containers("postgres")[0]
        command = ["docker", "exec", self._postgres_id, "psql", "-U", "shikaku", "-d", "shikaku"]
        result = run(
            [*command, "-tAX", "-v", "ON_ERROR_STOP=1", "-c", sql], timeout=timeout, text=True
        )
        return result.stdout.strip()

    def container_ids(self, service: str) -> list[str]:
        out = self.compose("ps", "-q", service, text=True, timeout=60).stdout
        return [line for line in out.split() if line]

    def inspect(self, container: str) -> dict:
        out = run(["docker", "inspect", container], timeout=60, text=True).stdout
        return json.loads(out)[0]

    def running_containers(self, service: str) -> list[str]:
        return [
            c
            for c in self.container_ids(service)
            if self.inspect(c)["State"]["Status"] == "running"
        ]

    def states(self) -> dict[str, list[str]]:
        """Per service, one word per container: healthy / starting / unhealthy, or the container
        status for a service without a health check (beat)."""
        out: dict[str, list[str]] = {}
        for service in ("postgres", "redis", "web", "worker", "beat"):
            words = []
            for c in self.container_ids(service):
                state = self.inspect(c)["State"]
                if state["Status"] != "running":
                    words.append(state["Status"])
                else:
                    words.append(state.get("Health", {}).get("Status", "running"))
            out[service] = words
        return out

    def wait_healthy(self, *, workers: int = 1, timeout: float = 420) -> dict[str, list[str]]:
        want = {
            "postgres": ["healthy"],
            "redis": ["healthy"],
            "web": ["healthy"],
            "worker": ["healthy"] * workers,
            "beat": ["running"],
        }
        deadline = time.monotonic() + timeout
        while True:
            states = self.states()
            running = {
                k: sorted(w for w in v if w not in {"exited", "dead"}) for k, v in states.items()
            }
            if running == want:
                return states
            if any("unhealthy" in v for v in states.values()) or time.monotonic() > deadline:
                logs = self.compose("logs", "--tail", "60", timeout=60, check=False, text=True)
                raise StackError(f"services not healthy: {states}\n{logs.stdout[-6000:]}")
            time.sleep(3)

    def logs(self, service: str) -> str:
        return self.compose("logs", "--no-color", service, timeout=60, text=True).stdout


def new_stack(workdir: Path, images: dict[str, str]) -> Stack:
    command = compose_command()
    if command is None:
        raise StackError("neither `docker compose` nor `docker-compose` is installed")
    project = "shikakustack" + secrets.token_hex(4)
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        # Debian's docker-compose 1.29 builds with the classic builder; so does the plugin here.
        "DOCKER_BUILDKIT": "0",
        "COMPOSE_DOCKER_CLI_BUILD": "0",
    }
    stack = Stack(workdir=workdir, project=project, compose_cmd=command, web_port=port, env=env)
    changes = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "CSRF_TRUSTED_ORIGINS": f"https://127.0.0.1:{port}",
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "WEB_PORT": str(port),
        "GUNICORN_WORKERS": "2",
        # One household per PDF chunk: a run has several chunks to interrupt.
        "PDF_CHUNK_HOUSEHOLDS": "1",
        # A killed worker's chunk comes back after a minute (the least allowed) instead of an hour.
        "CELERY_VISIBILITY_TIMEOUT": "60",
        "DOCUMENT_RESUME_AFTER_SECONDS": "60",
        "PYTHON_IMAGE": images["PYTHON_IMAGE"],
        "POSTGRES_IMAGE": images["POSTGRES_IMAGE"],
        "REDIS_IMAGE": images["REDIS_IMAGE"],
        "APP_IMAGE": f"shikaku-stacktest-{project}:latest",
    }
    example = (workdir / ".env.example").read_text(encoding="utf-8")
    (workdir / ".env").write_text(env_file_from_example(example, changes), encoding="utf-8")
    (workdir / ".env").chmod(0o600)
    stack.settings = changes  # type: ignore[attr-defined]
    return stack


# --- HTTP through the published port, as the TLS proxy in front would forward it --------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class Browser:
    """A minimal client for 127.0.0.1:PORT. It sends what the TLS-terminating proxy adds
    (X-Forwarded-Proto: https), so the production settings (secure cookies, HTTPS redirect) apply
    unchanged. Cookies are kept by hand: they are Secure, and the hop to the stack is plain HTTP."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.origin = f"https://127.0.0.1:{port}"
        self.cookies: dict[str, str] = {}
        self.opener = urllib.request.build_opener(_NoRedirect)

    def request(
        self, path: str, data: dict | list | None = None, *, timeout: float = 60
    ) -> Response:
        headers = {"X-Forwarded-Proto": "https", "Host": f"127.0.0.1:{self.base.rsplit(':', 1)[1]}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if data is not None:
            body = urllib.parse.urlencode(data).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = self.origin
            headers["Referer"] = self.origin + path
        req = urllib.request.Request(self.base + path, data=body, headers=headers)  # noqa: S310
        try:
            with self.opener.open(req, timeout=timeout) as resp:
                status, hdrs, content = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as exc:
            status, hdrs, content = exc.code, exc.headers, exc.read()
        for value in hdrs.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return Response(status, {k.lower(): v for k, v in hdrs.items()}, content)

    def raw(self, path: str, *, timeout: float = 60) -> Response:
        """A request as it would arrive without the proxy: no X-Forwarded-Proto."""
        req = urllib.request.Request(self.base + path, headers={"Host": self.base[7:]})  # noqa: S310
        try:
            with self.opener.open(req, timeout=timeout) as resp:
                return Response(
                    resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
                )
        except urllib.error.HTTPError as exc:
            return Response(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read())

    def form(self, path: str) -> tuple[Response, list[tuple[str, str]]]:
        page = self.request(path)
        assert page.status == 200, (path, page.status)
        parser = _FormParser()
        parser.feed(page.text)
        return page, parser.fields

    def login(self, username: str, password: str) -> Response:
        _, fields = self.form("/admin/login/")
        data = dict(fields)
        data.update(username=username, password=password, next="/admin/")
        return self.request("/admin/login/", data)


class _FormParser(html.parser.HTMLParser):
    """The fields a browser would submit from the page's main form (inputs, checked boxes,
    selected options, textareas)."""

    def __init__(self):
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._textarea: str | None = None
        self.options: dict[str, dict[str, str]] = {}  # select name -> label -> value
        self._option: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name"):
            kind = (a.get("type") or "text").lower()
            if kind in {"checkbox", "radio"}:
                if "checked" in a:
                    self.fields.append((a["name"], a.get("value") or "on"))
            elif kind not in {"submit", "button", "image", "file"}:
                self.fields.append((a["name"], a.get("value") or ""))
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select:
            self._option = a.get("value") or ""
            if "selected" in a:
                self.fields.append((self._select, self._option))
        elif tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self.fields.append((self._textarea, ""))

    def handle_data(self, data):
        if self._select and self._option is not None and data.strip():
            self.options.setdefault(self._select, {})[data.strip()] = self._option
            self._option = None

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def form_options(html_text: str) -> dict[str, dict[str, str]]:
    parser = _FormParser()
    parser.feed(html_text)
    return parser.options


def static_css_paths(html_text: str) -> list[str]:
    return re.findall(r'<link[^>]+href="(/static/[^"]+\.css)"', html_text)
