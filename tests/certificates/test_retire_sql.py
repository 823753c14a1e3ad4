"""Retiring superseded certificates set-wise (certificates.retire_sql, issue 18).

A first run with a short validity, then a renewal run over the same persons: the batch path issues
a constant number of statements whatever the batch size (no query per certificate), none of them a
`CASE WHEN` over the batch (Django's bulk_update, which made a renewal quadratic on PostgreSQL),
and the certificates and history rows it leaves are those the old bulk_update_with_history path
left. Runs on SQLite and PostgreSQL (scripts/test.sh)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from simple_history.utils import bulk_update_with_history

from certificates import retire_sql, services
from certificates.models import Certificate, CertificateState, IssuanceRun
from certificates.services import run_approve, run_create, run_execute

from .factories import member, snapshot

pytestmark = pytest.mark.django_db

STATUS = date(2026, 11, 15)
FIRST = date(2026, 12, 1)
FIRST_UNTIL = date(2027, 1, 31)  # short: the second run renews every certificate
RENEWAL = date(2027, 1, 4)  # 27 days before FIRST_UNTIL, inside the 60-day renewal window
RENEWAL_UNTIL = date(2031, 12, 31)


def _society(n: int) -> list:
    """n persons with no usable マイナ保険証; every third holds a 有効 certificate that ended before
    the first run (retired 有効期限切れ by the first run's batches)."""
    persons = [member(name=f"試験 {i}", name_kana="シケン") for i in range(n)]
    snapshot(STATUS, [(p, "未登録", None) for p in persons])
    for i, p in enumerate(persons[::3]):
        Certificate.objects.create(
            number=f"2024-9{i:06d}",
            person=p,
            reason="未登録",
            issue_date=date(2024, 12, 1),
            valid_until=date(2026, 11, 30),
            route="事業主経由",
            printed_name=p.name,
            printed_name_kana=p.name_kana,
        )
    return persons


def _run(issue, until, clerk, supervisor, batch_size, queries=None) -> IssuanceRun:
    run = run_create(status_date=STATUS, issue_date=issue, valid_until=until, acting_user=clerk)
    run_approve(run=run, acting_user=supervisor)
    if queries is None:
        return run_execute(run=run, acting_user=supervisor, batch_size=batch_size)
    with CaptureQueriesContext(connection) as ctx:
        run = run_execute(run=run, acting_user=supervisor, batch_size=batch_size)
    # ANALYZE runs as the certificates double (before batches 1, 2, 4, …), not per row
    queries.extend(
        q["sql"] for q in ctx.captured_queries if not q["sql"].upper().startswith("ANALYZE")
    )
    return run


def _renewal_execute(n, clerk, supervisor, batch_size=10_000) -> list[str]:
    """The statements of executing the renewal run of a society of n persons."""
    _society(n)
    _run(FIRST, FIRST_UNTIL, clerk, supervisor, batch_size)
    queries: list[str] = []
    run = _run(RENEWAL, RENEWAL_UNTIL, clerk, supervisor, batch_size, queries)
    assert Certificate.objects.filter(run=run, reason="更新").count() == n
    assert Certificate.objects.filter(state_note="更新", state="返却不要").count() == n
    return queries


def test_the_renewal_batch_runs_the_same_statements_for_few_and_many(clerk, supervisor):
    with transaction.atomic():
        few = _renewal_execute(3, clerk, supervisor)
        transaction.set_rollback(True)
    many = _renewal_execute(30, clerk, supervisor)
    assert len(few) == len(many)
    # no statement spells the batch out as a CASE over its rows
    assert not [sql for sql in many if "CASE" in sql.upper()]
    # the certificates are retired by one UPDATE per note (none expired here: 更新 only)
    updates = [sql for sql in many if sql.lstrip().upper().startswith("UPDATE")]
    retiring = [sql for sql in updates if "state_note" in sql]
    assert len(retiring) == 1


def test_a_batch_takes_a_constant_number_of_statements(clerk, supervisor):
    """30 renewals in batches of 10 take the statements of 10 in one batch plus twice one batch's."""
    with transaction.atomic():
        one = _renewal_execute(10, clerk, supervisor, batch_size=10)
        transaction.set_rollback(True)
    with transaction.atomic():
        two = _renewal_execute(20, clerk, supervisor, batch_size=10)
        transaction.set_rollback(True)
    three = _renewal_execute(30, clerk, supervisor, batch_size=10)
    per_batch = len(two) - len(one)
    assert per_batch > 0 and len(three) - len(two) == per_batch
    assert not [sql for sql in three if "CASE" in sql.upper()]


def _old_retire(
    *, person_ids, issue_date, replaced_ids, replaced_note, acting_user, history_reason, now
):
    """The path retire_sql replaced, kept as the reference: the persons' 有効 certificates loaded
    as objects and bulk_update_with_history'd, one audit event each."""
    from core.models import AuditEvent

    retired, blocking = [], []
    for cert in Certificate.objects.filter(
        person_id__in=person_ids, state=CertificateState.ACTIVE
    ).order_by("pk"):
        if cert.valid_until < issue_date:
            cert.state_note = "有効期限切れ"
        elif cert.pk in replaced_ids:
            cert.state_note = replaced_note
            cert.covers_until = issue_date - timedelta(days=1)  # issue 14: its cover ends
        else:
            blocking.append(cert)
            continue
        cert.state = CertificateState.NO_RETURN
        cert.state_changed_at = now
        retired.append(cert)
    if blocking or not retired:
        return [], blocking
    bulk_update_with_history(
        retired,
        Certificate,
        ["state", "state_note", "state_changed_at", "updated_at", "covers_until"],
        default_user=acting_user,
        default_change_reason=history_reason,
    )
    AuditEvent.objects.bulk_create(
        AuditEvent(
            action="certificate.expired"
            if c.state_note == "有効期限切れ"
            else "certificate.replaced",
            actor=acting_user,
            object_type=Certificate._meta.label,
            object_id=str(c.pk),
            detail={"valid_until": c.valid_until.isoformat(), "reason": c.state_note},
        )
        for c in retired
    )
    return [c.pk for c in retired], []


def _outcome(runs) -> dict:
    """Per certificate (by holder and issue date): state, note, whether it changed when its
    successor was issued, and its history as (type, state, note, user, reason); runs by order."""
    named = {f"一括交付 #{run.pk}": f"run {i}" for i, run in enumerate(runs)}
    out = {}
    for c in Certificate.objects.order_by("number"):
        successor = Certificate.objects.filter(person_id=c.person_id, issue_date__gt=c.issue_date)
        first = successor.order_by("issue_date").first()
        history = [
            (
                h.history_type,
                h.state,
                h.state_note,
                h.history_user_id,
                named.get(h.history_change_reason, h.history_change_reason),
            )
            for h in Certificate.history.filter(id=c.pk).order_by("history_id")
        ]
        out[(c.person.name, c.issue_date)] = (
            c.state,
            c.state_note,
            c.covers_until,
            first is not None and c.state_changed_at == first.created_at,
            history,
        )
    return out


def test_results_equal_those_of_the_old_bulk_update_path(clerk, supervisor, monkeypatch):
    with transaction.atomic():
        with monkeypatch.context() as m:
            m.setattr(services, "_retire_superseded", _old_retire)
            _society(7)
            runs = [
                _run(FIRST, FIRST_UNTIL, clerk, supervisor, 3),
                _run(RENEWAL, RENEWAL_UNTIL, clerk, supervisor, 3),
            ]
            old = _outcome(runs)
        transaction.set_rollback(True)
    _society(7)
    runs = [
        _run(FIRST, FIRST_UNTIL, clerk, supervisor, 3),
        _run(RENEWAL, RENEWAL_UNTIL, clerk, supervisor, 3),
    ]
    new = _outcome(runs)
    assert new == old
    notes = [v[1] for v in new.values() if v[0] == CertificateState.NO_RETURN]
    ended = {v[2] for v in new.values() if v[1] == "更新"}
    assert ended == {RENEWAL - timedelta(days=1)}  # the renewed ones cover up to the renewal
    assert sorted(set(notes)) == ["更新", "有効期限切れ"]
    assert notes.count("更新") == 7 and notes.count("有効期限切れ") == 3
    # the retired certificates changed when their successors were issued
    assert all(v[3] for v in new.values() if v[0] == CertificateState.NO_RETURN)


def test_a_certificate_issued_after_the_list_was_frozen_blocks_the_batch(clerk, supervisor):
    persons = _society(2)
    run = run_create(
        status_date=STATUS, issue_date=FIRST, valid_until=FIRST_UNTIL, acting_user=clerk
    )
    run_approve(run=run, acting_user=supervisor)
    Certificate.objects.create(
        number="2026-8000001",
        person=persons[1],
        reason="未登録",
        issue_date=FIRST,
        valid_until=FIRST_UNTIL,
        route="事業主経由",
        printed_name=persons[1].name,
        printed_name_kana=persons[1].name_kana,
    )
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="2026-8000001"):
        run_execute(run=run, acting_user=supervisor)
    # nothing of the batch was written: the expired certificate is still stored 有効
    assert not Certificate.objects.filter(run=run).exists()
    assert Certificate.objects.filter(person=persons[0], state="有効").count() == 1


def test_set_state_refuses_unknown_columns_and_states():
    with pytest.raises(RuntimeError, match="no_such_column"):
        retire_sql.set_state([1], state="返却不要", note="", now=None, also={"no_such_column": 1})
    with pytest.raises(ValueError, match="廃棄"):
        retire_sql.set_state([1], state="廃棄", note="", now=None)
    with pytest.raises(RuntimeError, match="no_such_column"):
        retire_sql.insert_audit_events(
            [1],
            audit=retire_sql.Audit("x", columns={"k": "no_such_column"}),
            now=None,
            user_id=None,
        )
