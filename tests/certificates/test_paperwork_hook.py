"""certificates asks documents for its after-issue letters through certificates.paperwork, filled by
DocumentsConfig.ready (the import contract forbids certificates to import documents). The wiring
holds where it runs: in this process and in a Celery worker started the way production starts it."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from certificates import paperwork
from documents.receivers import AfterIssueLetters

ROOT = Path(__file__).resolve().parents[2]


def test_documents_registered_its_letters():
    assert isinstance(paperwork.letters(), AfterIssueLetters)


def test_without_documents_the_request_fails_loudly(monkeypatch):
    monkeypatch.setattr(paperwork, "_letters", None)
    with pytest.raises(ImproperlyConfigured, match="documents"):
        paperwork.letters()


def test_a_worker_knows_the_rendering_task_by_its_kept_name():
    """A worker loads its tasks as `celery -A config worker` does (import_default_modules runs
    django.setup, so DocumentsConfig.ready imports documents.receivers); a message queued under the
    task's old name by an earlier release is still routed to it."""
    code = (
        "from config.celery import app\n"
        "app.loader.import_default_modules()\n"
        "task = app.tasks['fees.tasks.render_after_issue_document']\n"
        "print(task.run.__module__)\n"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "documents.receivers"
