"""The members admin through the Django test client: imports (upload → preview → confirm), the person
screens, and that the life events go through the services."""

from datetime import date
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from certificates.models import Certificate
from core.models import AuditEvent
from members.models import Employer, Person, RegistrationSnapshot, RegistrationStatus

from .builders import (
    MEMBERS_HEADER,
    STATUS_HEADER,
    VALID_MY_NUMBER,
    csv_text,
    dependent_row,
    make_dependent,
    make_member,
    member_row,
    status_row,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def clerk_client(client, clerk):
    client.force_login(clerk)
    return client


def upload(client, url_name, text: str, *, encoding="utf-8", name="members.csv", **extra):
    data = {
        "resource": "0",
        "format": "0",
        "import_file": SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv"),
        **extra,
    }
    return client.post(reverse(url_name), data)


def confirm(client, url_name, response):
    form = response.context["confirm_form"]
    data = {name: form[name].value() for name in form.fields}
    return client.post(reverse(url_name), data, follow=True)


def stored_uploads(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()]


# --- imports ----------------------------------------------------------------------------------------


def test_clerk_imports_members_through_preview_and_confirm(clerk_client, clerk, media):
    text = csv_text(MEMBERS_HEADER, [member_row(), dependent_row(氏名カナ="ﾔﾏﾀﾞ ﾊﾅｺ")])
    page = clerk_client.get(reverse("admin:members_person_import"))
    assert page.status_code == 200
    assert "事業所記号" in page.content.decode()  # the expected columns are listed

    preview = upload(clerk_client, "admin:members_person_import", text, encoding="cp932")
    assert preview.status_code == 200
    assert preview.context["confirm_form"] is not None
    assert "山田 花子" in preview.content.decode()
    assert Person.objects.count() == 0  # the preview stores nothing

    done = confirm(clerk_client, "admin:members_person_process_import", preview)
    assert done.status_code == 200
    assert "新規 2" in done.content.decode()
    assert Person.objects.count() == 2
    assert Person.objects.get(edaban="01").name_kana == "ヤマダ\u3000ハナコ"
    event = AuditEvent.objects.get(action="import.members")
    assert event.actor == clerk and event.detail["source"] == "members.csv"
    assert stored_uploads(media) == []  # the temporary upload is gone


def test_refused_upload_shows_row_and_column_stores_nothing_and_is_not_kept(clerk_client, media):
    make_member(bango="1001", address="元の住所")
    text = csv_text(
        MEMBERS_HEADER, [member_row(番号="1001", 住所="新しい住所"), member_row(番号="2", 性別="X")]
    )
    response = upload(clerk_client, "admin:members_person_import", text)
    body = response.content.decode()
    assert "confirm_form" not in response.context or response.context.get("confirm_form") is None
    assert "取り込めませんでした（何も保存していません）" in body
    assert "性別" in body and "「X」は指定できません" in body
    result = response.context["result"]
    assert [row.number for row in result.invalid_rows] == [3]
    assert Person.objects.get().address == "元の住所"
    assert Employer.objects.count() == 1
    assert stored_uploads(media) == []


def test_my_number_in_an_admin_upload_is_never_shown_nor_kept(clerk_client, media):
    text = csv_text(MEMBERS_HEADER, [member_row(住所=f"東京都 {VALID_MY_NUMBER}")])
    response = upload(clerk_client, "admin:members_person_import", text)
    body = response.content.decode()
    assert "個人番号" in body
    assert VALID_MY_NUMBER not in body
    assert Person.objects.count() == 0
    assert stored_uploads(media) == []


def test_wrong_header_in_admin_upload_is_a_file_error(clerk_client):
    response = upload(clerk_client, "admin:members_person_import", "記号,番号\r\n1,2\r\n")
    body = response.content.decode()
    assert "ヘッダー行が取込形式と一致しません" in body
    assert Person.objects.count() == 0


def test_undecodable_admin_upload_is_refused_on_the_form(clerk_client, media):
    data = {
        "resource": "0",
        "format": "0",
        "import_file": SimpleUploadedFile("x.csv", b"\xff\xfe\x80\x81", content_type="text/csv"),
    }
    response = clerk_client.post(reverse("admin:members_person_import"), data)
    assert "文字コード" in response.content.decode()
    assert stored_uploads(media) == []


def test_confirm_after_the_data_changed_reports_the_refusal(clerk_client):
    make_member(bango="1001")
    text = csv_text(MEMBERS_HEADER, [dependent_row(番号="1001")])
    preview = upload(clerk_client, "admin:members_person_import", text)
    assert preview.context["confirm_form"] is not None
    Person.objects.all().delete()  # the member disappears between preview and confirm
    done = confirm(clerk_client, "admin:members_person_process_import", preview)
    assert "取込を中止しました" in done.content.decode()
    assert Person.objects.count() == 0


def test_clerk_imports_registration_status_with_an_as_of_date(clerk_client, clerk):
    head = make_member(bango="1001")
    text = csv_text(STATUS_HEADER, [status_row(番号="1001", 登録状況="カード返納")])
    url = "admin:members_registrationsnapshot_import"
    assert "基準日" in clerk_client.get(reverse(url)).content.decode()

    preview = upload(clerk_client, url, text, name="status.csv", as_of="2025-11-30")
    assert preview.context["confirm_form"] is not None
    assert RegistrationSnapshot.objects.count() == 0

    done = confirm(clerk_client, "admin:members_registrationsnapshot_process_import", preview)
    assert "利用登録状況の取込が完了しました" in done.content.decode()
    snapshot = RegistrationSnapshot.objects.get()
    assert (snapshot.as_of, snapshot.imported_by, snapshot.source_name) == (
        date(2025, 11, 30),
        clerk,
        "status.csv",
    )
    status = RegistrationStatus.objects.get()
    assert (status.person, status.status, status.as_of) == (head, "カード返納", date(2025, 11, 30))

    detail = clerk_client.get(
        reverse("admin:members_registrationsnapshot_change", args=[snapshot.pk])
    )
    assert "カード返納" in detail.content.decode()


def test_registration_status_upload_without_as_of_is_refused(clerk_client):
    make_member(bango="1001")
    text = csv_text(STATUS_HEADER, [status_row(番号="1001")])
    response = upload(clerk_client, "admin:members_registrationsnapshot_import", text)
    assert response.context["form"].errors.get("as_of")
    assert RegistrationSnapshot.objects.count() == 0


def test_auditor_cannot_import(client, auditor):
    client.force_login(auditor)
    assert client.get(reverse("admin:members_person_import")).status_code == 403
    assert client.get(reverse("admin:members_registrationsnapshot_import")).status_code == 403


def test_snapshots_cannot_be_added_or_changed_by_hand(clerk_client):
    assert clerk_client.get(reverse("admin:members_registrationsnapshot_add")).status_code == 403


# --- person screens ---------------------------------------------------------------------------------


def change_form_data(response) -> dict:
    """Everything the change form would post back unchanged (main form and inline formsets)."""
    data = {}
    form = response.context["adminform"].form
    for name in form.fields:
        value = form[name].value()
        if value is None or value is False:
            continue
        data[form[name].html_name] = "on" if value is True else value
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for f in formset.management_form:
            data[f.html_name] = f.value()
        for sub in formset.forms:
            for name in sub.fields:
                value = sub[name].value()
                if value not in (None, False):
                    data[sub[name].html_name] = value
    return data


def test_loss_entered_in_the_admin_goes_through_the_service(clerk_client, clerk):
    head = make_member()
    dep = make_dependent(head)
    cert = Certificate.objects.create(
        number="C-9",
        person=dep,
        reason="未登録",
        issue_date=date(2025, 12, 1),
        valid_until=date(2030, 11, 30),
        route="事業主経由",
        printed_name=dep.name,
        printed_name_kana=dep.name_kana,
    )
    url = reverse("admin:members_person_change", args=[head.pk])
    page = clerk_client.get(url)
    assert page.status_code == 200
    assert "佐藤 花子" in page.content.decode()  # the dependents inline
    data = change_form_data(page)
    data.update(lost_on="2026-01-31", loss_reason="退職")

    response = clerk_client.post(url, data, follow=True)

    assert response.status_code == 200, response.content.decode()
    head.refresh_from_db()
    dep.refresh_from_db()
    cert.refresh_from_db()
    assert (head.lost_on, head.loss_reason) == (date(2026, 1, 31), "退職")
    assert (dep.lost_on, dep.loss_reason) == (date(2026, 1, 31), "被保険者の資格喪失")
    assert cert.state == "返却待ち"
    assert set(
        AuditEvent.objects.filter(action="person.loss_recorded").values_list("actor", flat=True)
    ) == {clerk.pk}
    assert "被扶養者1人" in response.content.decode()


def test_name_change_in_the_admin_goes_through_the_service(clerk_client, clerk):
    person = make_member()
    url = reverse("admin:members_person_change", args=[person.pk])
    data = change_form_data(clerk_client.get(url))
    data.update(name="𠮷田 太郎", name_kana="よしだ たろう")
    response = clerk_client.post(url, data)
    assert response.status_code == 302
    person.refresh_from_db()
    assert (person.name, person.name_kana) == ("𠮷田 太郎", "ヨシダ\u3000タロウ")
    assert AuditEvent.objects.get(action="person.name_changed").actor == clerk
    assert person.history.first().history_user == clerk


def test_person_added_in_the_admin_with_a_loss_goes_through_the_service(clerk_client, clerk):
    head = make_member(bango="1001")
    data = {
        "kigo": "１０",
        "bango": "1001",
        "edaban": "01",
        "relationship": "家族",
        "member": str(head.pk),
        "name": "佐藤 次郎",
        "name_kana": "さとう じろう",
        "birth_date": "2001-02-03",
        "sex": "男",
        "postal_code": "100-0005",
        "acquired_on": "2001-02-03",
        "lost_on": "2025-03-31",
        "loss_reason": "被扶養者でなくなった",
        "dependents-TOTAL_FORMS": "0",
        "dependents-INITIAL_FORMS": "0",
    }
    response = clerk_client.post(reverse("admin:members_person_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    person = Person.objects.get(edaban="01")
    assert (person.kigo, person.name_kana, person.postal_code) == (
        "10",
        "サトウ\u3000ジロウ",
        "1000005",
    )
    assert person.lost_on == date(2025, 3, 31)
    event = AuditEvent.objects.get(action="person.loss_recorded")
    assert event.actor == clerk and event.object_id == str(person.pk)


def test_loss_without_reason_is_refused_on_the_form(clerk_client):
    person = make_member()
    url = reverse("admin:members_person_change", args=[person.pk])
    data = change_form_data(clerk_client.get(url))
    data.update(lost_on="2026-01-31")
    response = clerk_client.post(url, data)
    assert response.status_code == 200
    assert "喪失事由を選択してください" in response.content.decode()
    person.refresh_from_db()
    assert person.lost_on is None


def test_person_list_runs_a_bounded_number_of_queries(clerk_client):
    url = reverse("admin:members_person_changelist")

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert clerk_client.get(url).status_code == 200
        return len(ctx.captured_queries)

    for _ in range(5):
        make_member()
    few = queries()
    for _ in range(30):
        make_member()
    assert queries() == few


@pytest.mark.parametrize(
    "term", ["やまだ", "ﾔﾏﾀﾞ", "山田", "1001", "10-1001", "１０－１００１－００"]
)
def test_person_search(clerk_client, term):
    wanted = make_member(bango="1001", name="山田 太郎", name_kana="ヤマダ\u3000タロウ")
    make_member(bango="2002", name="鈴木 一郎", name_kana="スズキ\u3000イチロウ")
    response = clerk_client.get(reverse("admin:members_person_changelist"), {"q": term})
    assert list(response.context["cl"].result_list) == [wanted]


def test_history_page_of_a_person(clerk_client):
    person = make_member()
    response = clerk_client.get(reverse("admin:members_person_history", args=[person.pk]))
    assert response.status_code == 200


def test_status_list_is_bounded(clerk_client):
    url = reverse("admin:members_registrationstatus_changelist")
    assert clerk_client.get(url).status_code == 200
