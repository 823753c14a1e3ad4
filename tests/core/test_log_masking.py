"""Issue 12: every log line masks My Numbers, query strings included — runserver's access log
(django.server), gunicorn's access log (config/gunicorn.py) and Celery's logs — read from the real
processes' output."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core.logging import MASK

ROOT = Path(__file__).resolve().parents[2]
QUERIES = [
    "q=123456789018",
    "q=1234-5678-9018",
    "q=1234%205678%209018",
    "q=1234+5678+9018",
    "q=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96%EF%BC%97%EF%BC%98%EF%BC%99%EF%BC%90%EF%BC%91%EF%BC%98",
]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(
        {
            "VAR_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _get_all(port: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=5)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    for query in QUERIES:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/?{query}", timeout=10)
        except Exception:  # noqa: S110 - a redirect to the login page or an error page: logged either way
            pass


def _serve_and_read(cmd, tmp_path, port) -> str:
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=_env(tmp_path), stdout=out, stderr=subprocess.STDOUT
        )  # noqa: S603
        try:
            _get_all(port)
            time.sleep(1.0)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return log.read_text(encoding="utf-8", errors="replace")


def _assert_masked(text: str) -> None:
    lines = [line for line in text.splitlines() if "/admin/?" in line]
    assert len(lines) >= len(QUERIES), text[-3000:]
    for line in lines:
        assert MASK in line, line
        digits = "".join(ch for ch in line if ch.isdigit())
        assert "123456789018" not in digits.replace(" ", ""), line
        assert "5678" not in line and "9018" not in line, line


def test_runserver_access_log_masks_my_numbers(tmp_path):
    port = _port()
    text = _serve_and_read(
        [
            sys.executable,
            "manage.py",
            "runserver",
            f"127.0.0.1:{port}",
            "--noreload",
            "--skip-checks",
        ],
        tmp_path,
        port,
    )
    _assert_masked(text)


def test_gunicorn_access_log_masks_my_numbers(tmp_path):
    port = _port()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    text = _serve_and_read(
        [
            str(gunicorn),
            "config.wsgi:application",
            "-c",
            "config/gunicorn.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--access-logfile",
            "-",
        ],
        tmp_path,
        port,
    )
    _assert_masked(text)


@pytest.mark.parametrize("command", ["Dockerfile", "docker-compose.yml"])
def test_the_production_commands_use_the_masking_gunicorn_config(command):
    text = (ROOT / command).read_text()
    line = next(
        line
        for line in text.splitlines()
        if "gunicorn config.wsgi" in line or '"gunicorn", "config.wsgi' in line
    )
    assert "config/gunicorn.py" in line


def test_celery_worker_logs_mask_my_numbers(tmp_path):
    """A Celery process sets its logging up (the setup_logging signal): its task logger's lines go
    through the masking formatter."""
    code = (
        "import django, logging; django.setup()\n"
        "from config.celery import app\n"
        "app.log.setup(loglevel='INFO')\n"
        "from celery.utils.log import get_task_logger\n"
        "get_task_logger('documents.tasks').warning('row 2: 1234-5678-9018 / ?q=1234%205678%209018')\n"
        "logging.getLogger('celery.worker').warning('１２３４５６７８９０１８')\n"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert output.count(MASK) >= 3, output
    assert "9018" not in output and "９０１８" not in output, output
