"""CSV export from the admin, on the filtered changelist: streamed when small, a background job with
a download link when large or CP932; logged; only for the export role."""

import csv
import io

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse

from core.models import AuditEvent, ExportJob, audit_event
from core.roles import AUDITOR
from members.models import Person
from tests.conftest import _user
from tests.core.conftest import make_certificate, make_person

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def _changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def _rows(content: bytes, encoding="utf-8-sig") -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode(encoding), newline="")))


def _post_export(client, url, *, action="export_csv", selected=None):
    data = {"action": action, "index": 0}
    if selected is None:
        data.update({"select_across": "1", "_selected_action": ["0"]})
    else:
        data.update({"select_across": "0", "_selected_action": selected})
    return client.post(url, data)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def events(db, clerk):
    for i in range(3):
        audit_event(action="run.created", actor=clerk, run=i)
    audit_event(action="document.downloaded", actor=clerk)


def test_the_filtered_changelist_is_streamed_back_and_logged(client, auditor, events):
    client.force_login(auditor)
    url = _changelist(AuditEvent) + "?action=run.created"

    response = _post_export(client, url)

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    content = b"".join(response.streaming_content)
    assert content.startswith(b"\xef\xbb\xbf")
    rows = _rows(content)
    assert rows[0] == ["ID", "日時", "実行者", "操作", "対象種別", "対象ID", "詳細"]
    assert [r[3] for r in rows[1:]] == ["run.created"] * 3  # the filter applied, nothing else
    logged = AuditEvent.objects.get(action="export.csv")
    assert logged.actor == auditor
    assert logged.detail["row_count"] == 3
    assert logged.detail["filters"]["query"] == {"action": ["run.created"]}
    assert logged.detail["via"] == "admin"
    assert logged.detail["completed"] is True


def test_only_the_ticked_rows_when_not_selecting_across(client, auditor, events):
    client.force_login(auditor)
    picked = list(AuditEvent.objects.filter(action="run.created").values_list("pk", flat=True)[:2])

    response = _post_export(client, _changelist(AuditEvent), selected=[str(pk) for pk in picked])

    rows = _rows(b"".join(response.streaming_content))
    assert sorted(int(r[0]) for r in rows[1:]) == sorted(picked)


@pytest.mark.parametrize(
    "model", [model for model, _ in REGISTERED], ids=[m._meta.label for m, _ in REGISTERED]
)
def test_an_auditor_can_export_every_registered_model(client, auditor, events, employer, model):
    make_certificate(make_person(employer=employer, bango="1"), "2025-0000001")
    client.force_login(auditor)
    listed = admin.site._registry[model].get_queryset(_request(auditor)).count()

    response = _post_export(client, _changelist(model))

    assert response.status_code == 200, response.content[:500]
    rows = _rows(b"".join(response.streaming_content))
    assert len(rows) == 1 + listed
    assert AuditEvent.objects.filter(action="export.csv", actor=auditor).count() == 1


def _request(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = user
    return request


def test_viewing_is_not_enough_to_export(client, clerk, events):
    """A clerk who may view a list (here given view on the business events) is refused the export:
    exporting is the auditor's role."""
    from django.contrib.auth.models import Permission

    clerk.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    client.force_login(clerk)
    url = _changelist(AuditEvent)
    assert client.get(url).status_code == 200

    response = _post_export(client, url)

    assert response.status_code == 302
    assert not response.streaming
    messages = [str(m) for m in client.get(url).context["messages"]]
    assert any("CSV出力の権限がありません" in m for m in messages)
    assert not AuditEvent.objects.filter(action="export.csv").exists()
    assert not ExportJob.objects.exists()


def test_a_clerk_cannot_open_the_change_history(client, clerk):
    client.force_login(clerk)
    assert client.get(_changelist(Person.history.model)).status_code == 403


def test_large_exports_become_a_background_job_with_a_download_for_the_requester(
    client, auditor, events, settings, django_capture_on_commit_callbacks
):
    settings.EXPORT_STREAM_MAX_ROWS = 2
    client.force_login(auditor)

    with django_capture_on_commit_callbacks(execute=True):
        response = _post_export(client, _changelist(AuditEvent) + "?action=run.created")

    assert response.status_code == 302  # back to the list, with a message naming the job
    job = ExportJob.objects.get()
    assert (job.state, job.row_count, job.requested_by) == ("完了", 3, auditor)
    assert job.query == {"action": ["run.created"]}
    logged = AuditEvent.objects.get(action="export.csv")
    assert logged.detail["via"] == "admin-job"
    assert logged.object_id == str(job.pk)

    download = reverse("core:export_job_download", args=[job.pk])
    got = client.get(download)
    assert got.status_code == 200
    rows = _rows(b"".join(got.streaming_content))
    assert [r[3] for r in rows[1:]] == ["run.created"] * 3
    assert AuditEvent.objects.filter(action="export.downloaded", actor=auditor).count() == 1

    # the job page links to the file
    page = client.get(reverse("admin:core_exportjob_change", args=[job.pk]))
    assert download.encode() in page.content


def test_another_user_cannot_download_someones_export(
    client, auditor, clerk, events, settings, django_capture_on_commit_callbacks
):
    settings.EXPORT_STREAM_MAX_ROWS = 0
    client.force_login(auditor)
    with django_capture_on_commit_callbacks(execute=True):
        _post_export(client, _changelist(AuditEvent))
    job = ExportJob.objects.get()
    download = reverse("core:export_job_download", args=[job.pk])

    other_auditor = _user("auditor2", AUDITOR)
    for user in (other_auditor, clerk):
        client.force_login(user)
        assert client.get(download).status_code == 403
    # an auditor who lost the role loses the download too
    auditor.groups.remove(Group.objects.get(name=AUDITOR))
    client.force_login(auditor)
    assert client.get(download).status_code == 403
    assert not AuditEvent.objects.filter(action="export.downloaded").exists()


def test_cp932_from_the_admin_is_a_job_whose_report_names_each_row(
    client, auditor, employer, django_capture_on_commit_callbacks
):
    make_person(employer=employer, bango="1", name="山田　一郎")
    make_person(employer=employer, bango="2", name="𠮷野　花子")
    client.force_login(auditor)
    model = Person.history.model

    with django_capture_on_commit_callbacks(execute=True):
        _post_export(client, _changelist(model), action="export_csv_cp932")

    job = ExportJob.objects.get()
    assert (job.state, job.encoding, job.substitution_count) == ("完了", "cp932", 1)
    content = b"".join(
        client.get(reverse("core:export_job_download", args=[job.pk])).streaming_content
    )
    rows = _rows(content, encoding="cp932")
    name_col = rows[0].index("氏名")
    names = sorted(r[name_col] for r in rows[1:])
    assert names == sorted(["山田　一郎", "〓野　花子"])
    row_no = next(i for i, r in enumerate(rows[1:], start=1) if r[name_col] == "〓野　花子")
    report = b"".join(
        client.get(reverse("core:export_job_report", args=[job.pk])).streaming_content
    ).decode()
    assert report.strip() == f"{row_no}行目(データ行) 列「氏名」: 〓に置換"


def test_the_certificates_screen_exports_the_rules_md_format_of_the_filtered_rows(
    client, auditor, employer
):
    from datetime import timedelta

    from django.utils import timezone

    from certificates.models import Certificate
    from tests.core.test_export_command import CERT_HEADER

    today = timezone.localdate()
    make_certificate(make_person(employer=employer, bango="1"), "2025-0000001")
    make_certificate(
        make_person(employer=employer, bango="2", name="𠮷田　花子"),
        "2020-0000002",
        issue_date=today - timedelta(days=400),
        valid_until=today - timedelta(days=1),
    )
    client.force_login(auditor)

    # the screen's own "state as of today" filter: the expired stored-有効 one is 返却不要
    response = _post_export(client, _changelist(Certificate) + "?state_today=返却不要")

    rows = _rows(b"".join(response.streaming_content))
    assert ",".join(rows[0]) == CERT_HEADER
    assert [(r[0], r[4], r[9]) for r in rows[1:]] == [("2020-0000002", "𠮷田　花子", "返却不要")]


def test_the_returns_screen_exports_the_returns_format(client, auditor, employer, clerk):
    from datetime import timedelta

    from django.utils import timezone

    from certificates.lifecycle import certificates_require_return
    from certificates.models import ReturnPendingCertificate

    today = timezone.localdate()
    for i in (1, 2):
        person = make_person(employer=employer, bango=str(i))
        make_certificate(person, f"2025-000000{i}", issue_date=today - timedelta(days=30))
        certificates_require_return(
            person=person, lost_on=today - timedelta(days=10 * i), acting_user=clerk
        )
    client.force_login(auditor)

    response = _post_export(client, _changelist(ReturnPendingCertificate))

    rows = _rows(b"".join(response.streaming_content))
    header = rows[0]
    assert header[:4] == ["証明書番号", "記号", "番号", "枝番"] and "期限超過" in header
    got = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert set(got) == {"2025-0000001", "2025-0000002"}
    assert {g["状態"] for g in got.values()} == {"返却待ち"}
    assert {g["期限超過"] for g in got.values()} == {"1"}  # due 5 days after the loss, now past
