"""Roles in the admin: an auditor views (and exports) every registered model and changes none; the
groups carry exactly the permissions of their role."""

import re
from datetime import date

import pytest
from axes.models import AccessAttempt, AccessLog
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db.models import Max
from django.forms.models import model_to_dict
from django.test import RequestFactory
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone

from certificates.lifecycle import certificates_require_return
from certificates.models import IssuanceRun, RunTarget
from core.models import AuditEvent, ExportJob, audit_event
from core.roles import AUDITOR, CLERK, SUPERVISOR, role_permissions
from documents.models import GeneratedDocument
from members.models import RegistrationSnapshot, RegistrationStatus
from tests.core.conftest import make_certificate, make_person
from tests.elderly.rows import make_elderly_rows

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
EXPORT_ACTIONS = {"export_csv", "export_csv_cp932"}


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def everything(db, employer, clerk, supervisor, auditor):
    """At least one row in the main models, so change and delete pages are tried on real rows."""
    person = make_person(employer=employer, bango="1")
    person._history_user = clerk
    person.name = "山田　次郎"
    person.save()
    snapshot = RegistrationSnapshot.objects.create(as_of=date(2025, 11, 1), row_count=1)
    RegistrationStatus.objects.create(
        snapshot=snapshot, person=person, as_of=snapshot.as_of, status="未登録"
    )
    from members.import_jobs import ImportJob

    ImportJob.objects.create(kind="加入者", requested_by=clerk, source_name="members.csv")
    run = IssuanceRun.objects.create(
        status_date=date(2025, 11, 1),
        issue_date=date(2025, 12, 2),
        valid_until=date(2030, 12, 1),
        created_by=clerk,
    )
    RunTarget.objects.create(
        run=run,
        person=person,
        household=person,
        employer=employer,
        reason="未登録",
        valid_until=date(2030, 12, 1),
        route="事業主経由",
    )
    cert = make_certificate(person, "2025-0000001", run=run)
    GeneratedDocument.objects.create(
        kind="一括交付", run=run, chunk_no=1, label="E001 デモ商事", state="失敗", error="x"
    )
    _fees_rows(employer, clerk)
    make_elderly_rows(person=person, certificate=cert, snapshot=snapshot, run=run, clerk=clerk)
    audit_event(action="run.created", actor=clerk, obj=run)
    ExportJob.objects.create(
        requested_by=auditor,
        dataset="certificates",
        model_label="certificates.Certificate",
        encoding="utf-8-sig",
    )
    AccessAttempt.objects.create(
        username="x",
        ip_address="10.0.0.1",
        user_agent="t",
        get_data="",
        post_data="",
        http_accept="",
        path_info="/admin/login/",
        failures_since_start=1,
    )
    AccessLog.objects.create(
        username="clerk",
        ip_address="10.0.0.1",
        user_agent="t",
        http_accept="",
        path_info="/admin/login/",
    )
    return {"person": person, "run": run, "certificate": cert}


def _fees_rows(employer, clerk) -> None:
    """An open loss application with its invoice, a certificate awaiting return and a held one, so
    the fees and after-issue screens and their actions have rows to act on."""
    from certificates.returns import mail_record_returned
    from fees.services import reissue_application_receive_loss

    today = timezone.localdate()
    lost = make_certificate(
        make_person(employer=employer, bango="2"), "2025-0000002", issue_date=today
    )
    reissue_application_receive_loss(
        certificate=lost, route="事業主経由", received_on=today, acting_user=clerk
    )
    leaver = make_person(employer=employer, bango="3")
    make_certificate(leaver, "2025-0000003", issue_date=today)
    certificates_require_return(person=leaver, lost_on=today, acting_user=clerk)
    # returned 宛所不明: held, with its ReturnedMail record (certificates.returns)
    make_certificate(make_person(employer=employer, bango="4"), "2025-0000004", issue_date=today)
    mail_record_returned(number="2025-0000004", returned_on=today, acting_user=clerk)


def db_fingerprint() -> dict[str, tuple]:
    """Row count and latest updated_at of every table the business writes (history rows and audit
    events included), so an insert, delete or update anywhere shows up."""
    skip = {"sessions", "axes", "contenttypes"}
    prints = {}
    for m in apps.get_models():
        if m._meta.app_label in skip or m._meta.proxy:
            continue
        has_updated = any(f.name == "updated_at" for f in m._meta.concrete_fields)
        latest = m._default_manager.aggregate(x=Max("updated_at"))["x"] if has_updated else None
        prints[m._meta.label] = (m._default_manager.count(), latest)
    return prints


def test_the_three_roles_exist_with_exactly_these_names(db):
    assert set(Group.objects.values_list("name", flat=True)) >= {"事務担当", "承認者", "監査"}


def test_auditor_has_only_view_permissions_plus_export_and_download(db):
    codes = {p.codename for p in Group.objects.get(name=AUDITOR).permissions.all()}
    assert {c for c in codes if not c.startswith("view_")} == {
        "export_csv",
        "download_generateddocument",
    }
    for needed in (
        "view_person",
        "view_certificate",
        "view_issuancerun",
        "view_auditevent",
        "view_historicalperson",
        "view_historicalcertificate",
        "view_user",
    ):
        assert needed in codes


def test_clerk_maintains_business_data_but_cannot_approve_execute_waive_or_delete(db):
    codes = {p.codename for p in Group.objects.get(name=CLERK).permissions.all()}
    assert {
        "add_person",
        "change_person",
        "view_certificate",
        "change_certificate",
        "add_issuancerun",
    } <= codes
    assert not {c for c in codes if c.startswith("delete_")}
    assert not {"approve_issuancerun", "execute_issuancerun", "waive_invoice"} & codes
    # nobody edits the change history
    assert not {c for c in codes if "historical" in c}


def test_supervisor_is_a_clerk_who_also_approves_executes_and_waives(db):
    clerk = {p.codename for p in role_permissions(CLERK)}
    supervisor = {p.codename for p in Group.objects.get(name=SUPERVISOR).permissions.all()}
    assert supervisor - clerk >= {"approve_issuancerun", "execute_issuancerun"}
    fees_invoice = pytest.importorskip("fees.models")
    if hasattr(fees_invoice, "Invoice"):
        assert "waive_invoice" in supervisor
        assert {"add_invoice", "change_invoice", "view_invoice"} <= clerk


def test_every_main_model_is_in_the_admin_registry():
    labels = {model._meta.label for model, _ in REGISTERED}
    assert {
        "core.AuditEvent",
        "core.ExportJob",
        "members.HistoricalPerson",
        "certificates.HistoricalCertificate",
        "certificates.HistoricalIssuanceRun",
    } <= labels


@pytest.mark.parametrize(
    "model", [model for model, _ in REGISTERED], ids=[m._meta.label for m, _ in REGISTERED]
)
def test_auditor_views_but_cannot_add_change_or_delete(client, auditor, everything, model):
    client.force_login(auditor)
    assert client.get(_url(model, "changelist")).status_code == 200

    assert client.get(_url(model, "add")).status_code == 403
    assert client.post(_url(model, "add"), {}).status_code == 403

    # the first row the screen itself lists (a proxy screen shows a subset of its table)
    obj = admin.site._registry[model].get_queryset(_request(auditor)).first()
    assert obj is not None or model._meta.app_label in ("axes", "auth", "fees"), model
    pk = obj.pk if obj is not None else 999999
    before = model_to_dict(obj) if obj is not None else None
    count = model._default_manager.count()
    if obj is not None:
        page = client.get(_url(model, "change", pk))
        assert page.status_code == 200  # the read-only detail view
        assert b'name="_save"' not in page.content
    # a hand-made POST (no form needed: refused before any validation)
    tampered = {
        f.name: "改ざん"
        for f in model._meta.concrete_fields
        if f.get_internal_type() == "CharField"
    }
    fingerprint = db_fingerprint()
    response = client.post(_url(model, "change", pk), tampered)
    if type(admin.site._registry[model]).change_view is admin.ModelAdmin.change_view:
        assert response.status_code == 403
    else:
        # a screen's own read-only page (e.g. a run's preview) need not refuse a POST, but it
        # must not act on one
        assert response.status_code in (403, 405, 200)
    assert db_fingerprint() == fingerprint
    assert client.get(_url(model, "delete", pk)).status_code == 403
    assert client.post(_url(model, "delete", pk), {"post": "yes"}).status_code == 403
    # the bulk delete action is not offered either
    client.post(
        _url(model, "changelist"),
        {"action": "delete_selected", "_selected_action": [pk], "post": "yes"},
    )

    assert model._default_manager.count() == count
    if obj is not None:
        assert model_to_dict(model._default_manager.get(pk=pk)) == before


@pytest.mark.parametrize(
    "model", [model for model, _ in REGISTERED], ids=[m._meta.label for m, _ in REGISTERED]
)
def test_every_action_offered_to_an_auditor_is_an_export_or_refused(
    client, auditor, everything, model
):
    """Screens may list their actions to everyone who can view; what matters is that an auditor
    running one (on every row of the list) is refused and nothing changes."""
    actions = set(admin.site._registry[model].get_actions(_request(auditor))) - EXPORT_ACTIONS
    client.force_login(auditor)
    for action in sorted(actions):
        before = db_fingerprint()
        response = client.post(
            _url(model, "changelist"),
            {"action": action, "index": 0, "select_across": "1", "_selected_action": ["0"]},
        )
        # refused outright, or by the service with a message on the list
        assert response.status_code in (302, 403), (action, response.status_code)
        assert db_fingerprint() == before, action


def _request(user):
    request = RequestFactory().get("/")
    request.user = user
    return request


def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif not re.search(r"[(^$]", str(p.pattern)):  # regex routes: covered per model
            yield prefix + str(p.pattern)


# The admin's own pages for a user's session and password (an auditor may change their password).
_ACCOUNT_PAGES = {"admin/logout/", "admin/password_change/", "admin/password_change/done/"}


def test_an_auditor_posting_to_any_admin_url_changes_nothing(client, auditor, everything):
    """Custom admin pages (bulk forms, upload pages, buttons) included: walk every admin URL."""
    urls = [
        "/" + re.sub(r"<(?:\w+:)?\w+>", "1", route)
        for route in _walk(get_resolver().url_patterns)
        if route.startswith("admin/") and route not in _ACCOUNT_PAGES
    ]
    assert len(urls) > 50
    client.force_login(auditor)
    before = db_fingerprint()
    for url in urls:
        response = client.post(url, {"post": "yes", "returned_on": "2026-01-01", "reason": "x"})
        assert response.status_code < 500, (url, response.status_code)
    # reading is logged too (downloads, exports): those are the only events an auditor leaves
    reads = AuditEvent.objects.filter(actor=auditor)
    assert all(re.search(r"download|export", e.action) for e in reads), [e.action for e in reads]
    after = db_fingerprint()
    assert after.pop("core.AuditEvent")[0] - before.pop("core.AuditEvent")[0] == reads.count()
    assert after == before


def test_history_and_audit_rows_cannot_be_edited_even_by_a_superuser(admin_client, everything):
    from certificates.models import Certificate
    from core.models import AuditEvent

    for model in (Certificate.history.model, AuditEvent):
        record = model._default_manager.first()
        assert admin_client.get(_url(model, "add")).status_code == 403
        assert admin_client.get(_url(model, "change", record.pk)).status_code == 200
        assert admin_client.post(_url(model, "change", record.pk), {}).status_code == 403
        assert (
            admin_client.post(_url(model, "delete", record.pk), {"post": "yes"}).status_code == 403
        )
        assert model._default_manager.filter(pk=record.pk).exists()
