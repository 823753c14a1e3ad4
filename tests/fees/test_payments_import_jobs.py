"""A large bank-transfer file (振込データ) uploaded in the admin runs as a background job — the
registry imports' ImportJob and page: the request only stores the file and queues the task (after
commit); the job page shows progress, then the same report (the refusal by row and column, never a
value; nothing applied on refusal). Here the task runs in-process (no broker);
tests/fees/test_payments_import_job_worker.py runs it on a real worker."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from core.models import AuditEvent
from fees.models import InvoiceState, PaymentImport
from fees.services import reissue_application_receive_loss
from members.import_jobs import ImportJob, ImportJobState, ImportKind, import_job_run
from tests.fees.builders import issue, member, refresh
from tests.members.builders import VALID_MY_NUMBER
from tests.members.test_import_at_scale import fingerprint

pytestmark = pytest.mark.django_db

HEADER = "請求書番号,入金額,入金日"


@pytest.fixture(autouse=True)
def small_threshold(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.IMPORT_BACKGROUND_BYTES = 50  # every upload below is "large"


@pytest.fixture
def clerk_client(client, clerk):
    client.force_login(clerk)
    return client


def _today():
    return timezone.localdate()


def _invoice(clerk):
    t = _today()
    cert = issue(member(), issue_date=t - timedelta(days=30), valid_until=t + timedelta(days=700))
    return reissue_application_receive_loss(
        certificate=cert, route="事業主経由", received_on=t, acting_user=clerk
    ).invoice


def _csv(rows) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode("utf-8")


def post(client, content: bytes, name="furikomi.csv"):
    return client.post(
        reverse("admin:fees_paymentimport_add"),
        {"file": SimpleUploadedFile(name, content, content_type="text/csv")},
    )


def stored_files(settings) -> list[Path]:
    return [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


def test_a_large_upload_becomes_a_job_run_after_commit(
    clerk_client, clerk, settings, django_capture_on_commit_callbacks
):
    paid, wrong = _invoice(clerk), _invoice(clerk)
    d = _today().isoformat()
    content = _csv([f"{paid.number},1000,{d}", f"{wrong.number},900,{d}"])
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = post(clerk_client, content)
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:fees_paymentimport_import_job", args=[job.pk])
    assert (job.kind, job.state, job.requested_by) == (
        ImportKind.PAYMENTS,
        ImportJobState.PENDING,
        clerk,
    )
    assert len(queued) == 1  # queued on commit, not run in the request
    assert not PaymentImport.objects.exists() and refresh(paid).state == InvoiceState.UNPAID
    assert len(stored_files(settings)) == 1
    body = clerk_client.get(response["Location"]).content.decode()
    assert 'hx-trigger="every 2s"' in body and "<progress" in body and "待機" in body

    queued[0]()  # the worker picks it up
    job.refresh_from_db()
    imp = PaymentImport.objects.get()
    assert job.state == ImportJobState.DONE and job.result_id == imp.pk
    assert job.summary == (
        "振込データの取込が完了しました: 2行 / 入金反映 1件 / 不一致(未反映) 1件"
    )
    assert imp.imported_by == clerk and imp.source_name == "furikomi.csv"
    assert refresh(paid).state == InvoiceState.PAID and refresh(paid).payment_import == imp
    assert refresh(wrong).state == InvoiceState.UNPAID
    assert AuditEvent.objects.get(action="payments.imported").actor == clerk
    assert stored_files(settings) == []  # the upload is not kept
    body = clerk_client.get(response["Location"]).content.decode()
    assert "hx-trigger" not in body and job.summary in body
    detail = reverse("admin:fees_paymentimport_change", args=[imp.pk])
    assert f'href="{detail}"' in body
    rows = clerk_client.get(detail).content.decode()
    assert "入金額 900円 が請求金額 1,000円 と一致しません" in rows


def test_a_refused_job_names_row_and_column_never_the_value_and_applies_nothing(
    clerk_client, clerk, settings, django_capture_on_commit_callbacks
):
    inv = _invoice(clerk)
    d = _today().isoformat()
    content = _csv(
        [
            f"{inv.number},1000,{d}",
            f"2026-000002,千円,{d}",
            f"{VALID_MY_NUMBER},1000,{d}",
        ]
    )
    before = fingerprint()
    with django_capture_on_commit_callbacks(execute=True):
        response = post(clerk_client, content)
    job = ImportJob.objects.get()
    assert job.state == ImportJobState.REFUSED and job.error_total == 2
    assert job.errors == [
        [3, "入金額", "円単位の整数で入力してください"],
        [4, "請求書番号", "個人番号と思われる値があります(取り込めません)"],
    ]
    assert job.summary == "取込を中止しました（2件のエラー、何も保存していません）"
    body = clerk_client.get(response["Location"]).content.decode()
    assert "取り込めませんでした（何も保存していません）" in body
    assert "<td>3</td><td>入金額</td>" in body and "<td>4</td><td>請求書番号</td>" in body
    assert VALID_MY_NUMBER not in body and VALID_MY_NUMBER not in str(job.errors)
    assert refresh(inv).state == InvoiceState.UNPAID
    changed = {t for t in before if fingerprint()[t] != before[t]}
    assert changed == {ImportJob._meta.db_table}  # only the job's own row
    assert stored_files(settings) == []


def test_a_bad_last_row_of_a_large_upload_leaves_every_table_but_the_job_unchanged(
    clerk_client, clerk, django_capture_on_commit_callbacks
):
    inv = _invoice(clerk)
    d = _today().isoformat()
    rows = [f"{inv.number},1000,{d}", *(f"1999-{i:06d},1000,{d}" for i in range(11_000))]
    content = _csv([*rows, "2026-000001,1000,2026-13-01"])
    before = fingerprint()
    with django_capture_on_commit_callbacks(execute=True):
        post(clerk_client, content)
    job = ImportJob.objects.get()
    assert job.state == ImportJobState.REFUSED
    assert job.errors == [[11_003, "入金日", "日付(YYYY-MM-DD)ではありません"]]
    assert refresh(inv).state == InvoiceState.UNPAID
    after = fingerprint()
    assert {t for t in before if after[t] != before[t]} == {ImportJob._meta.db_table}


def test_an_unreadable_file_is_refused_as_a_whole(clerk_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post(clerk_client, "請求書番号,金額,入金日\n2026-000001,1000,2026-01-05\n".encode())
    job = ImportJob.objects.get()
    assert job.state == ImportJobState.REFUSED
    assert [1, None, "必要な列がありません: 入金額"] in job.errors
    assert not PaymentImport.objects.exists()


def test_a_job_runs_once(clerk_client, clerk, django_capture_on_commit_callbacks):
    from fees.payments import payments_import_job_run

    inv = _invoice(clerk)
    with django_capture_on_commit_callbacks(execute=True):
        post(clerk_client, _csv([f"{inv.number},1000,{_today()}"]))
    job = ImportJob.objects.get()
    again = payments_import_job_run(job_id=job.pk)  # a redelivered task
    assert again.state == ImportJobState.DONE and PaymentImport.objects.count() == 1
    assert AuditEvent.objects.filter(action="payments.imported").count() == 1


def test_a_payments_job_given_to_the_registry_runner_fails_writing_nothing(
    clerk_client, clerk, django_capture_on_commit_callbacks
):
    inv = _invoice(clerk)
    with django_capture_on_commit_callbacks(execute=False):
        post(clerk_client, _csv([f"{inv.number},1000,{_today()}"]))
    job = import_job_run(job_id=ImportJob.objects.get().pk)  # the members task, misrouted
    assert job.state == ImportJobState.FAILED and "何も保存していません" in job.summary
    assert not PaymentImport.objects.exists() and refresh(inv).state == InvoiceState.UNPAID


def test_only_the_requester_sees_the_job(client, clerk, clerk2, django_capture_on_commit_callbacks):
    client.force_login(clerk)
    with django_capture_on_commit_callbacks(execute=False):
        response = post(client, _csv([f"2026-000001,1000,{_today()}"]))
    client.force_login(clerk2)
    assert client.get(response["Location"]).status_code == 403


def test_an_auditor_can_neither_start_nor_open_a_job(
    client, clerk, auditor, django_capture_on_commit_callbacks
):
    client.force_login(clerk)
    with django_capture_on_commit_callbacks(execute=False):
        response = post(client, _csv([f"2026-000001,1000,{_today()}"]))
    client.force_login(auditor)
    assert client.get(response["Location"]).status_code == 403
    assert post(client, _csv([f"2026-000001,1000,{_today()}"])).status_code == 403
    assert ImportJob.objects.count() == 1


def test_the_page_is_only_for_payments_jobs(clerk_client, clerk):
    job = ImportJob.objects.create(
        kind=ImportKind.MEMBERS, requested_by=clerk, source_name="members.csv"
    )
    url = reverse("admin:fees_paymentimport_import_job", args=[job.pk])
    assert clerk_client.get(url).status_code == 404


def test_small_uploads_are_still_imported_in_the_request(clerk_client, clerk, settings):
    settings.IMPORT_BACKGROUND_BYTES = 10_000_000
    inv = _invoice(clerk)
    response = post(clerk_client, _csv([f"{inv.number},1000,{_today()}"]))
    imp = PaymentImport.objects.get()
    assert response["Location"] == reverse("admin:fees_paymentimport_change", args=[imp.pk])
    assert not ImportJob.objects.exists() and refresh(inv).state == InvoiceState.PAID


def test_the_job_list_links_a_payments_job_to_its_page(
    clerk_client, clerk, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(clerk_client, _csv([f"2026-000001,1000,{_today()}"]))
    body = clerk_client.get(reverse("admin:members_importjob_changelist")).content.decode()
    assert response["Location"] in body and "furikomi.csv" in body and "振込データCSV" in body
