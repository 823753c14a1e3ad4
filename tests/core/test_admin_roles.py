"""Roles in the admin: an auditor views (and exports) every registered model and changes none; the
groups carry exactly the permissions of their role."""

from datetime import date

import pytest
from axes.models import AccessAttempt, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group
from django.forms.models import model_to_dict
from django.test import RequestFactory
from django.urls import reverse

from certificates.models import IssuanceRun, RunTarget
from core.models import ExportJob, audit_event
from core.roles import AUDITOR, CLERK, SUPERVISOR, role_permissions
from members.models import RegistrationSnapshot, RegistrationStatus
from tests.core.conftest import make_certificate, make_person

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

    obj = model._default_manager.first()
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
    assert client.post(_url(model, "change", pk), tampered).status_code == 403
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
def test_auditor_is_offered_no_action_but_the_exports(auditor, model):
    request = RequestFactory().get("/")
    request.user = auditor
    actions = admin.site._registry[model].get_actions(request)
    assert set(actions) <= EXPORT_ACTIONS


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
