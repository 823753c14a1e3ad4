"""Large bank-transfer files (振込データ) uploaded in the admin are imported by a real Celery worker
(through Redis, on PostgreSQL): the web request only queues them; the job page shows the worker's
progress while the import's transaction is still open, then the report. A file whose last row is
bad is refused by the worker with every table but the job's unchanged."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from fees.models import InvoiceState, PaymentImport
from fees.services import reissue_application_receive_loss
from members.import_jobs import ImportJob, ImportJobState
from tests.fees.builders import issue, member, refresh
from tests.members.test_import_at_scale import fingerprint
from tests.support.fixtures import *  # noqa: F403 - PostgreSQL, Redis and worker fixtures

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

ROWS = 100_000


def _invoice(clerk):
    t = timezone.localdate()
    cert = issue(member(), issue_date=t - timedelta(days=30), valid_until=t + timedelta(days=700))
    return reissue_application_receive_loss(
        certificate=cert, route="事業主経由", received_on=t, acting_user=clerk
    ).invoice


def _content(first: str, last: str) -> bytes:
    today = timezone.localdate().isoformat()
    lines = ["請求書番号,入金額,入金日", first]
    lines += [f"1999-{i:06d},1000,{today}" for i in range(ROWS)]
    lines.append(last)
    return ("\n".join(lines) + "\n").encode()


def _upload(client, name: str, content: bytes) -> str:
    response = client.post(
        reverse("admin:fees_paymentimport_add"),
        {"file": SimpleUploadedFile(name, content, content_type="text/csv")},
    )
    assert response.status_code == 302
    return response["Location"]


def _wait(job: ImportJob, client, url: str, seen: list) -> None:
    """Poll the job page until the job has ended; `seen` gets (phase, percent) as the page showed
    them while the job was running."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.finished:
            return
        page = client.get(url).content.decode()
        if 'data-state="処理中"' in page:
            phase = re.search(r"処理中</strong>（(.+?)）", page)
            percent = re.search(r'<progress value="(\d+)"', page)
            seen.append((phase and phase[1], percent and int(percent[1])))
        time.sleep(0.2)


def test_a_worker_imports_a_large_payments_upload_and_refuses_a_bad_one(
    client, clerk, settings, celery_to_redis, start_worker, media_root
):
    settings.IMPORT_BACKGROUND_BYTES = 100_000
    good, other = _invoice(clerk), _invoice(clerk)
    today = timezone.localdate().isoformat()
    client.force_login(clerk)
    good_url = _upload(
        client,
        "good.csv",
        _content(f"{good.number},1000,{today}", f"{good.number},1000,{today}"),
    )
    job = ImportJob.objects.get()
    assert job.state == ImportJobState.PENDING and not PaymentImport.objects.exists()

    start_worker("w1", concurrency=1)
    seen: list = []
    _wait(job, client, good_url, seen)
    assert job.state == ImportJobState.DONE, job.summary
    assert seen, "no progress was visible while the worker imported"
    # (just claimed, a job is 処理中 before its first phase is written: no phase shown then)
    assert all(percent is not None for _, percent in seen), seen
    # the phases in the order the worker went through them; how far the reading had got when the
    # page looked depends on the worker's speed (it writes its progress at most once a second), so
    # the fractions on the way are asserted on the same reader by tests/fees/test_payments_progress.py
    phases = [phase for phase, _ in seen if phase]
    order = ["読込・検証", "照合・反映", "完了"]
    assert phases and all(p in order for p in phases), seen
    assert [order.index(p) for p in phases] == sorted(order.index(p) for p in phases), seen
    imp = PaymentImport.objects.get()
    assert job.result_id == imp.pk and (imp.row_count, imp.applied_count) == (ROWS + 2, 1)
    assert refresh(good).state == InvoiceState.PAID and imp.imported_by == clerk
    double = [r.row for r in imp.rejected_rows().filter(number=good.number)]
    assert double == [ROWS + 3]  # the same invoice again at the end of the file
    page = client.get(good_url).content.decode()
    assert job.summary in page and "hx-trigger" not in page
    assert reverse("admin:fees_paymentimport_change", args=[imp.pk]) in page

    before = fingerprint()
    bad_url = _upload(
        client, "bad.csv", _content(f"{other.number},1000,{today}", "2026-000001,1000,2026-02-30")
    )
    bad = ImportJob.objects.get(source_name="bad.csv")
    _wait(bad, client, bad_url, [])
    assert bad.state == ImportJobState.REFUSED, bad.summary
    assert bad.errors == [[ROWS + 3, "入金日", "日付(YYYY-MM-DD)ではありません"]]
    after = fingerprint()
    assert {t for t in before if after[t] != before[t]} == {ImportJob._meta.db_table}
    assert refresh(other).state == InvoiceState.UNPAID
    page = client.get(bad_url).content.decode()
    assert f"<td>{ROWS + 3}</td><td>入金日</td>" in page
    uploads = media_root / "imports"
    assert uploads.is_dir() and not [p for p in uploads.rglob("*") if p.is_file()]  # not kept
