"""A large members file uploaded in the admin is imported by a real Celery worker (through Redis, on
PostgreSQL): the web request only queues it, the job page shows the worker's progress while the
import's transaction is still open, then the report."""

from __future__ import annotations

import re
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from members.import_jobs import ImportJob, ImportJobState
from members.models import Person
from tests.members.builders import MEMBERS_HEADER, csv_text, dependent_row, member_row

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

ROWS = 30_000


def test_a_worker_imports_a_large_upload_and_the_page_shows_its_progress(
    client, clerk, settings, celery_to_redis, start_worker, media_root
):
    settings.IMPORT_BACKGROUND_BYTES = 100_000
    rows = []
    for i in range(ROWS // 2):
        rows += [member_row(番号=str(10_000 + i)), dependent_row(番号=str(10_000 + i))]
    text = csv_text(MEMBERS_HEADER, rows)
    client.force_login(clerk)
    response = client.post(
        reverse("admin:members_person_import"),
        {
            "resource": "0",
            "format": "0",
            "import_file": SimpleUploadedFile("big.csv", text.encode(), content_type="text/csv"),
        },
    )
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert job.state == ImportJobState.PENDING and Person.objects.count() == 0

    start_worker("w1", concurrency=1)
    seen_running = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.finished:
            break
        if job.state == ImportJobState.RUNNING and 0 < job.fraction < 1:
            before = job.percent
            page = client.get(response["Location"]).content.decode()
            job.refresh_from_db()
            # the worker moves on meanwhile: the page shows a percentage between the two reads
            # (or the job has just ended and the page says so)
            shown = re.search(r'id="import-job-percent">(\d+)%<', page)
            seen_running.append(
                (
                    job.phase,
                    job.fraction,
                    (shown is not None and before <= int(shown[1]) <= job.percent)
                    or (job.finished and 'data-state="処理中"' not in page),
                )
            )
        time.sleep(0.2)
    assert job.state == ImportJobState.DONE, job.summary
    assert seen_running, "no progress was visible while the worker imported"
    assert all(shown for *_, shown in seen_running)
    assert Person.objects.count() == ROWS
    assert job.summary.startswith(f"加入者の取込が完了しました: {ROWS}行 / 新規 {ROWS}")
    page = client.get(response["Location"]).content.decode()
    assert job.summary in page and "hx-trigger" not in page
    assert not [p for p in media_root.rglob("*") if p.is_file()]
