"""Japanese everywhere a person looks: every admin page, as each role, on a seeded society (real
ids), and the pages around them (403, 404, 500, the lockout page). A page fails on an English word
outside the allow-list (formats such as PDF/CSV, the personas' login names)."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from members.import_jobs import ImportJob, ImportJobState, ImportKind
from tests.admin_ui.crawl import admin_urls, english_words

pytestmark = pytest.mark.django_db


def _ids_for(model, param):
    if param in ("object_id", "pk", "id"):
        row = model._default_manager.order_by("pk").first()
        return row.pk if row is not None else None
    if param == "job_id":  # a background import's page (its requester's; others get the 403)
        row = ImportJob.objects.order_by("pk").first()
        return row.pk if row is not None else None
    if param == "history_id":
        history = getattr(model, "history", None)
        if history is None:
            return None
        row = history.order_by("history_id").first()
        return row.history_id if row is not None else None
    return None


def _crawl(client: Client) -> dict[str, list[str]]:
    failures = {}
    # the admin's pages outside any one model
    extra = [(reverse("admin_recovery"), "recovery")]
    for url, label in admin_urls(_ids_for) + extra:
        response = client.get(url)
        if "text/html" not in response.get("Content-Type", ""):
            continue
        if response.status_code in (301, 302):
            continue
        words = english_words(response.content.decode())
        if words:
            failures[f"{label} {url} ({response.status_code})"] = sorted(set(words))[:15]
    return failures


@pytest.mark.parametrize("role", ["clerk", "supervisor", "auditor"])
def test_every_admin_page_is_in_japanese(role, society, auditor, request):
    user = request.getfixturevalue(role)
    client = Client()
    client.force_login(user)
    # a refused background import of this user's, so that its page (and its report) is crawled
    job = ImportJob.objects.create(
        kind=ImportKind.MEMBERS,
        requested_by=user,
        source_name="加入者.csv",
        state=ImportJobState.REFUSED,
        summary="1件のエラーのため取り込みませんでした",
        errors=[[3, "性別", "性別は 男 または 女 で入力してください"]],
        error_total=1,
    )
    failures = _crawl(client)
    fragment = client.get(
        reverse("admin:members_person_import_job", args=[job.pk]), HTTP_HX_REQUEST="true"
    )
    if words := english_words(fragment.content.decode()):
        failures["import job fragment"] = words
    assert not failures, "\n".join(f"{k}: {v}" for k, v in failures.items())


def test_the_crawl_reaches_every_registered_model(society, clerk):
    ImportJob.objects.create(kind=ImportKind.MEMBERS, requested_by=clerk, source_name="a.csv")
    urls = [u for u, _ in admin_urls(_ids_for)]
    assert any("/import/job/" in u for u in urls)  # a background import's page
    for model in admin.site._registry:
        changelist = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert changelist in urls, changelist
    # the change and history page of every model that has a row
    assert any(u.endswith("/history/") for u in urls)
    assert sum(u.endswith("/change/") for u in urls) >= 10


def test_the_checker_catches_english():
    assert english_words("<p>Change history</p>") == ["Change", "history"]
    assert english_words('<input type="submit" value="Save">') == ["Save"]
    assert english_words("<p>PDF を表示</p><script>var x</script>") == []


# --- the pages around the admin ---------------------------------------------------------------


def test_403_404_500_are_in_japanese(client, clerk, rf):
    from django.views.defaults import server_error

    client.force_login(clerk)
    denied = client.get("/admin/auth/user/")
    assert denied.status_code == 403
    assert "権限がありません" in denied.content.decode()
    assert english_words(denied.content.decode()) == []
    missing = client.get("/admin/certificates/issuancerun/999999/change/")
    assert missing.status_code in (302, 404)
    gone = client.get("/documents/999999/download/")
    assert gone.status_code == 404
    assert "見つかりません" in gone.content.decode()
    assert english_words(gone.content.decode()) == []
    crashed = server_error(rf.get("/admin/"))
    assert crashed.status_code == 500
    assert "システムエラー" in crashed.content.decode()
    assert english_words(crashed.content.decode()) == []


def test_the_lockout_page_is_japanese_and_says_how_long_to_wait(client, clerk, settings):
    settings.AXES_ENABLED = True
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/admin/login/", {"username": "clerk", "password": "wrong"})
    response = client.post("/admin/login/", {"username": "clerk", "password": "wrong"})
    assert response.status_code == 429
    html = response.content.decode()
    assert "ログインを一時停止しています" in html
    assert "15分" in html  # AXES_COOLOFF_TIME 0.25 h
    assert english_words(html) == []


def test_import_library_messages_are_japanese(client, clerk):
    client.force_login(clerk)
    page = client.get("/admin/members/person/import/").content.decode()
    assert english_words(page) == []
    assert "取り込むファイル" in page or "取込" in page


def test_seeded_people_have_their_creation_in_the_history(db, clerk):
    from django.core.management import call_command

    from core.admin import history_changes
    from members.models import Person

    call_command("seed_demo", persons=30, seed=3, stdout=__import__("io").StringIO())
    person = Person.objects.order_by("pk").first()
    records = list(person.history.all())
    assert len(records) == 1 and records[0].history_type == "+"
    assert records[0].history_change_reason == "デモデータの作成"
    # a first change shows the value before it, never "(空) →" for a field set at creation
    person._history_user = clerk
    old_address = person.address
    person.address = "東京都港区芝公園一丁目1番1号"
    person.save()
    latest = person.history.order_by("-history_date", "-history_id").first()
    (change,) = [c for c in history_changes(latest) if c[0] == "住所"]
    assert change[1] == old_address and old_address
    assert Person.history.count() == Person.objects.count() + 1


def test_titles_are_in_japan_time(society):
    from datetime import UTC, datetime

    from certificates.models import ReturnReminder
    from core.models import AuditEvent

    event = AuditEvent.objects.first()
    event.at = datetime(2026, 3, 31, 16, 30, tzinfo=UTC)  # 2026-04-01 01:30 in Tokyo
    assert str(event).startswith("2026-04-01 01:30 ")
    reminder = ReturnReminder.objects.first()
    reminder.created_at = datetime(2026, 3, 31, 16, 30, tzinfo=UTC)
    assert str(reminder).endswith("2026-04-01")
    record = society.takahashi.history.first()
    record.history_date = datetime(2026, 3, 31, 16, 30, tzinfo=UTC)
    assert "2026-04-01 01:30" in str(record) and "+00:00" not in str(record)


def test_the_japanese_texts_change_no_model_state():
    """The labels are display only: no migration is needed for them (makemigrations --check)."""
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
