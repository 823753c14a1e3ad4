"""Issuing a run's batch in SQL (certificates.issue_sql): every certificate carries exactly what its
frozen target and person say, gets its django-simple-history "+" row, and a column the SQL does not
know stops issuing instead of being left to a default. Runs on SQLite and PostgreSQL."""

from datetime import date

import pytest

from certificates import issue_sql
from certificates.models import Certificate, RunTarget
from certificates.services import run_approve, run_create, run_execute

from . import society

pytestmark = pytest.mark.django_db


def _executed_run(clerk, supervisor, batch_size):
    society.build()
    run = run_create(
        status_date=society.STATUS_DATE,
        issue_date=society.ISSUE,
        valid_until=society.RUN_UNTIL,
        acting_user=clerk,
    )
    run_approve(run=run, acting_user=supervisor)
    return run_execute(run=run, acting_user=supervisor, batch_size=batch_size)


def test_certificates_copy_their_frozen_target_and_the_persons_printed_names(clerk, supervisor):
    run = _executed_run(clerk, supervisor, batch_size=3)
    targets = RunTarget.objects.filter(run=run).select_related("person").order_by("pk")
    certs = {c.person_id: c for c in Certificate.objects.filter(run=run)}
    assert len(certs) == len(targets) == len(society.EXPECTED)
    for t in targets:
        c = certs[t.person_id]
        assert (
            c.reason,
            c.valid_until,
            c.route,
            c.elderly_start,
            c.copay_ratio,
            c.registration_status,
            c.ec_expiry,
            c.replaces_id,
        ) == (
            t.reason,
            t.valid_until,
            t.route,
            t.elderly_start,
            t.copay_ratio,
            t.registration_status,
            t.ec_expiry,
            t.replaces_id,
        )
        assert (c.printed_name, c.printed_name_kana) == (t.person.name, t.person.name_kana)
        assert c.issue_date == society.ISSUE and c.created_at == c.updated_at
        assert (c.state_note, c.return_route, c.return_due, c.returned_on, c.held_since) == (
            "",
            "",
            None,
            None,
            None,
        )
    # numbered in target order, zero-padded to 7 digits, from the 年度's sequence
    ordered = [certs[t.person_id].number for t in targets]
    assert ordered == [f"2026-{i:07d}" for i in range(1, len(targets) + 1)]


def test_each_issued_certificate_has_one_created_history_row_by_the_executor(clerk, supervisor):
    run = _executed_run(clerk, supervisor, batch_size=4)
    history = Certificate.history.filter(run_id=run.pk, history_type="+")
    assert history.count() == Certificate.objects.filter(run=run).count()
    for h in history:
        cert = Certificate.objects.get(pk=h.id)
        assert (h.number, h.person_id, h.valid_until, h.state, h.printed_name) == (
            cert.number,
            cert.person_id,
            cert.valid_until,
            cert.state,
            cert.printed_name,
        )
        assert h.history_user_id == supervisor.pk
        assert h.history_change_reason == f"一括交付 #{run.pk}"
    # the renewed certificate's retirement is recorded too (an ORM update with history)
    old = Certificate.history.filter(history_type="~", state="返却不要")
    assert old.filter(state_note="更新").exists()


def test_a_certificate_column_the_sql_does_not_know_stops_issuing(monkeypatch):
    real = issue_sql._select_expressions

    def without_held_since(vendor):
        expressions = real(vendor)
        del expressions["held_since"]
        return expressions

    monkeypatch.setattr(issue_sql, "_select_expressions", without_held_since)
    with pytest.raises(RuntimeError, match="held_since"):
        issue_sql._insert_sql("postgresql")


def test_a_number_block_beyond_seven_digits_is_refused():
    with pytest.raises(ValueError, match="7桁"):
        issue_sql.insert_certificates(
            run_id=1,
            after_pk=0,
            last_pk=10,
            issue_date=date(2026, 12, 1),
            numbers=("2026-9999999", "2026-10000000"),
            now=None,
        )


def test_every_certificate_has_one_issued_audit_event_on_both_paths(clerk, supervisor):
    """One writer (services._write_certificates): a run's batches and a single issue both write one
    "certificate.issued" event per certificate, with the same detail."""
    from certificates.services import certificate_issue
    from core.models import AuditEvent

    run = _executed_run(clerk, supervisor, batch_size=3)
    certs = {str(c.pk): c for c in Certificate.objects.filter(run=run).select_related("person")}
    events = AuditEvent.objects.filter(action="certificate.issued")
    assert sorted(events.values_list("object_id", flat=True)) == sorted(certs)
    for ev in events:
        c = certs[ev.object_id]
        assert ev.actor_id == supervisor.pk and ev.object_type == "certificates.Certificate"
        assert ev.detail == {
            "number": c.number,
            "person": c.person.key,
            "reason": c.reason,
            "run": run.pk,
            "replaces": c.replaces.number if c.replaces_id else None,
        }
    renewed = Certificate.objects.get(run=run, reason="更新")
    replaced = AuditEvent.objects.get(action="certificate.replaced", object_id=renewed.replaces_id)
    assert replaced.detail["reason"] == "更新"
    old = (
        Certificate.objects.filter(run=run, reason="未登録", person__lost_on__isnull=True)
        .order_by("pk")
        .first()
    )
    old.state = "無効"
    old.save(update_fields=["state"])
    one = certificate_issue(
        person=old.person,
        reason="再交付(滅失・き損)",
        issue_date=date(2026, 12, 10),
        valid_until=old.valid_until,
        route=old.route,
        replaces=old,
        acting_user=clerk,
    )
    ev = AuditEvent.objects.get(action="certificate.issued", object_id=str(one.pk))
    assert ev.actor_id == clerk.pk
    assert ev.detail == {
        "number": one.number,
        "person": one.person.key,
        "reason": "再交付(滅失・き損)",
        "run": None,
        "replaces": old.number,
    }
    assert one.history.get().history_type == "+" and one.history.get().history_user == clerk
