"""Large uploads in the admin run as a background job: the request only stores the file and queues
the task (after commit); the job page shows progress, then the same report as the import screens.
Here the task runs in-process (no broker), as in the demo; tests/integration runs it on a worker."""

from datetime import date
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.models import AuditEvent
from members.import_jobs import ImportJob, ImportJobState
from members.models import Person, RegistrationSnapshot

from .builders import (
    MEMBERS_HEADER,
    STATUS_HEADER,
    VALID_MY_NUMBER,
    csv_text,
    dependent_row,
    make_member,
    member_row,
    status_row,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small_threshold(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.IMPORT_BACKGROUND_BYTES = 50  # every upload below is "large"


@pytest.fixture
def clerk_client(client, clerk):
    client.force_login(clerk)
    return client


def stored_files(settings) -> list[Path]:
    return [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


def post(client, url_name, text, name="members.csv", **extra):
    data = {
        "resource": "0",
        "format": "0",
        "import_file": SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv"),
        **extra,
    }
    return client.post(reverse(url_name), data)


def test_large_upload_becomes_a_job_run_after_commit(
    clerk_client, clerk, settings, django_capture_on_commit_callbacks
):
    text = csv_text(MEMBERS_HEADER, [member_row(), dependent_row()])
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = post(clerk_client, "admin:members_person_import", text)
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:members_person_import_job", args=[job.pk])
    assert job.state == ImportJobState.PENDING and job.requested_by == clerk
    assert len(queued) == 1  # the task is queued on commit, not run in the request
    assert Person.objects.count() == 0 and len(stored_files(settings)) == 1

    page = clerk_client.get(response["Location"])
    body = page.content.decode()
    assert 'hx-trigger="every 2s"' in body and "<progress" in body and "待機" in body

    queued[0]()  # the worker picks it up
    job.refresh_from_db()
    assert job.state == ImportJobState.DONE
    assert job.summary.startswith("加入者の取込が完了しました: 2行 / 新規 2")
    assert Person.objects.count() == 2
    assert AuditEvent.objects.get(action="import.members").actor == clerk
    assert stored_files(settings) == []  # the upload is not kept
    body = clerk_client.get(response["Location"]).content.decode()
    assert "hx-trigger" not in body and job.summary in body
    assert "<script" not in body.split("</head>")[1].split('id="footer"')[0]


def test_refused_job_reports_row_and_column_never_the_value(
    clerk_client, settings, django_capture_on_commit_callbacks
):
    make_member(bango="1001", address="元の住所")
    text = csv_text(
        MEMBERS_HEADER,
        [
            member_row(番号="1001", 住所="新しい住所"),
            member_row(番号="2", 性別="X"),
            member_row(番号="3", 住所=f"東京都 {VALID_MY_NUMBER}"),
        ],
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = post(clerk_client, "admin:members_person_import", text)
    job = ImportJob.objects.get()
    assert job.state == ImportJobState.REFUSED and job.error_total == 2
    assert job.errors == [
        [3, "性別", "「X」は指定できません（男 / 女）"],
        [
            4,
            "住所",
            "個人番号（マイナンバー）と思われる12桁の番号があります。個人番号は取り込めません（値は表示しません）",
        ],
    ]
    body = clerk_client.get(response["Location"]).content.decode()
    assert "取り込めませんでした（何も保存していません）" in body
    assert "<td>3</td><td>性別</td>" in body and "<td>4</td><td>住所</td>" in body
    assert VALID_MY_NUMBER not in body and VALID_MY_NUMBER not in str(job.errors)
    assert Person.objects.get().address == "元の住所"
    assert stored_files(settings) == []


def test_registration_status_job_keeps_its_as_of_date(
    clerk_client, clerk, django_capture_on_commit_callbacks
):
    head = make_member(bango="1001")
    text = csv_text(STATUS_HEADER, [status_row(番号="1001", 登録状況="カード返納")])
    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            clerk_client,
            "admin:members_registrationsnapshot_import",
            text,
            name="status.csv",
            as_of="2025-11-30",
        )
    job = ImportJob.objects.get()
    assert job.state == ImportJobState.DONE and job.as_of == date(2025, 11, 30)
    snapshot = RegistrationSnapshot.objects.get()
    assert (snapshot.as_of, snapshot.source_name, snapshot.imported_by) == (
        date(2025, 11, 30),
        "status.csv",
        clerk,
    )
    assert snapshot.statuses.get().person == head
    assert (
        "利用登録状況の取込が完了しました"
        in clerk_client.get(response["Location"]).content.decode()
    )


def test_large_status_upload_without_as_of_is_refused_on_the_form(clerk_client):
    text = csv_text(STATUS_HEADER, [status_row()])
    response = post(clerk_client, "admin:members_registrationsnapshot_import", text)
    assert response.status_code == 200 and response.context["form"].errors.get("as_of")
    assert not ImportJob.objects.exists()


def test_only_the_requester_sees_the_job(client, clerk, clerk2, django_capture_on_commit_callbacks):
    client.force_login(clerk)
    with django_capture_on_commit_callbacks(execute=False):
        response = post(
            client, "admin:members_person_import", csv_text(MEMBERS_HEADER, [member_row()])
        )
    client.force_login(clerk2)
    assert client.get(response["Location"]).status_code == 403


def test_an_auditor_cannot_start_a_job(client, auditor):
    client.force_login(auditor)
    response = post(client, "admin:members_person_import", csv_text(MEMBERS_HEADER, [member_row()]))
    assert response.status_code == 403
    assert not ImportJob.objects.exists()


def test_a_job_runs_once(clerk_client, django_capture_on_commit_callbacks):
    from members.import_jobs import import_job_run

    with django_capture_on_commit_callbacks(execute=True):
        post(clerk_client, "admin:members_person_import", csv_text(MEMBERS_HEADER, [member_row()]))
    job = ImportJob.objects.get()
    again = import_job_run(job_id=job.pk)  # a redelivered task
    assert again.state == ImportJobState.DONE and Person.objects.count() == 1
    assert AuditEvent.objects.filter(action="import.members").count() == 1


def test_small_uploads_keep_the_preview(clerk_client, settings):
    settings.IMPORT_BACKGROUND_BYTES = 10_000_000
    response = post(
        clerk_client, "admin:members_person_import", csv_text(MEMBERS_HEADER, [member_row()])
    )
    assert response.status_code == 200 and response.context["confirm_form"] is not None
    assert not ImportJob.objects.exists()


def test_jobs_are_listed_with_a_link_to_their_page(
    clerk_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            clerk_client, "admin:members_person_import", csv_text(MEMBERS_HEADER, [member_row()])
        )
    listing = clerk_client.get(reverse("admin:members_importjob_changelist"))
    assert listing.status_code == 200
    body = listing.content.decode()
    assert response["Location"] in body and "members.csv" in body and "完了" in body
