"""The nightly 75th-birthday job is set-wise (issue 18): persons_apply_75th_birthday stages every
loss of the night and writes them with the import's writer of losses, and its result is the one
the single-person path (person_record_loss, taken person by person earliest birthday first, as the
job used to do) gives: the same persons' columns, certificate states and notes, history rows and
audit rows. Its statement count does not grow with the number of persons. Runs on SQLite and
PostgreSQL (scripts/test.sh)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from certificates.models import Certificate
from core.models import AuditEvent, audit_event
from members.dates import late_elderly_start
from members.models import LossReason, Person
from members.selectors import persons_reaching_late_elderly
from members.services import person_record_loss, persons_apply_75th_birthday
from tests.fees.builders import issue

from .builders import make_dependent, make_member

pytestmark = pytest.mark.django_db

T = timezone.localdate()
_VOLATILE = {"history_id", "history_date", "updated_at", "state_changed_at"}


def born_75_years_before(day: date) -> date:
    """A birth date whose 75th birthday is `day` (29 February folded to 28)."""
    try:
        return day.replace(year=day.year - 75)
    except ValueError:  # pragma: no cover - only when the suite runs on a 29 February
        return date(day.year - 75, 2, 28)


def _single_person_path(*, on: date, acting_user=None) -> list[Person]:
    """The job as it was: person_record_loss for each person reaching 75, earliest first."""
    changed: list[Person] = []
    done: set[int] = set()
    for person in persons_reaching_late_elderly(on=on):
        if person.pk in done:
            continue
        result = person_record_loss(
            person=person,
            lost_on=late_elderly_start(person.birth_date),
            reason=LossReason.AGE_75,
            acting_user=acting_user,
        )
        done.update(p.pk for p in result)
        changed.extend(result)
    audit_event(
        action="person.late_elderly_applied",
        actor=acting_user,
        on=on.isoformat(),
        persons=len(changed),
    )
    return changed


def _rows(model) -> list[tuple]:
    names = [f.attname for f in model._meta.concrete_fields if f.attname not in _VOLATILE]
    return sorted(model.objects.values_list(*names), key=repr)


def _snapshot() -> dict:
    audits = sorted(
        AuditEvent.objects.values_list("action", "actor_id", "object_type", "object_id", "detail"),
        key=repr,
    )
    return {
        "persons": _rows(Person),
        "person_history": _rows(Person.history.model),
        "certificates": _rows(Certificate),
        "certificate_history": _rows(Certificate.history.model),
        "audit": audits,
    }


def _outcome(apply) -> tuple[set[int], dict]:
    with transaction.atomic():
        changed = {p.pk for p in apply()}
        snapshot = _snapshot()
        transaction.set_rollback(True)
    return changed, snapshot


def _population():
    """Every case of the rule: today's and earlier birthdays (a night missed), dependents whose own
    75th birthday comes before, with or after the member's, a dependent with a later recorded loss,
    a 任意継続 household (returns to the society), expired and 宛所不明-held certificates, a member
    not yet 75 with a dependent who is, and a person whose loss is already recorded."""
    today, missed = T, T - timedelta(days=20)
    h1 = make_member(birth_date=born_75_years_before(today))
    d1 = make_dependent(h1, birth_date=date(1980, 5, 5))
    issue(h1, issue_date=T - timedelta(days=300), valid_until=T + timedelta(days=400))
    issue(d1, issue_date=T - timedelta(days=300), valid_until=T + timedelta(days=400))

    h2 = make_member(birth_date=born_75_years_before(missed))
    make_dependent(h2, birth_date=born_75_years_before(T - timedelta(days=10)))
    issue(h2, issue_date=T - timedelta(days=400), valid_until=missed - timedelta(days=1))

    h3 = make_member(birth_date=born_75_years_before(today))
    make_dependent(h3, edaban="01", birth_date=born_75_years_before(T - timedelta(days=30)))
    make_dependent(h3, edaban="02", birth_date=born_75_years_before(today))
    make_dependent(
        h3, edaban="03", lost_on=T + timedelta(days=40), loss_reason="被扶養者でなくなった"
    )

    h4 = make_member(insured_type="任意継続", birth_date=born_75_years_before(today))
    held = issue(h4, issue_date=T - timedelta(days=200), valid_until=T + timedelta(days=300))
    Certificate.objects.filter(pk=held.pk).update(held_since=T - timedelta(days=7))
    d4 = make_dependent(h4, birth_date=date(1985, 1, 1))
    issue(d4, issue_date=T - timedelta(days=100), valid_until=T + timedelta(days=300))

    h5 = make_member(birth_date=born_75_years_before(T + timedelta(days=1)))
    d5 = make_dependent(h5, birth_date=born_75_years_before(today))
    issue(d5, issue_date=T - timedelta(days=300), valid_until=T + timedelta(days=400))

    make_member(birth_date=born_75_years_before(today), lost_on=T - timedelta(days=90),
                loss_reason="退職")  # fmt: skip


def test_the_set_wise_job_gives_the_single_person_paths_result(clerk):
    _population()
    expected_changed, expected = _outcome(lambda: _single_person_path(on=T, acting_user=clerk))
    changed, got = _outcome(lambda: persons_apply_75th_birthday(on=T, acting_user=clerk))

    assert len(expected_changed) == 11  # the population reaches every case
    assert changed == expected_changed
    for part in expected:
        assert got[part] == expected[part], part


def test_the_set_wise_job_refuses_a_loss_before_the_acquisition_and_writes_nothing():
    from django.core.exceptions import ValidationError

    head = make_member(birth_date=born_75_years_before(T))
    make_dependent(head, birth_date=date(1990, 1, 1), acquired_on=T + timedelta(days=3))
    with pytest.raises(ValidationError, match="被扶養者（記号10"):
        persons_apply_75th_birthday(on=T)
    head.refresh_from_db()
    assert head.lost_on is None
    assert not AuditEvent.objects.filter(action="person.loss_recorded").exists()


def _households(persons: int) -> list[Person]:
    heads = []
    for _ in range(persons // 3):
        head = make_member(birth_date=born_75_years_before(T))
        for edaban in ("01", "02"):
            dep = make_dependent(head, edaban=edaban, birth_date=date(1980, 1, 1))
            issue(dep, issue_date=T - timedelta(days=300), valid_until=T + timedelta(days=400))
        issue(head, issue_date=T - timedelta(days=300), valid_until=T + timedelta(days=400))
        heads.append(head)
    return heads


def _statements(persons: int, user) -> list[str]:
    with transaction.atomic():
        _households(persons)
        with CaptureQueriesContext(connection) as ctx:
            changed = persons_apply_75th_birthday(on=T, acting_user=user)
        assert len(changed) == persons
        assert Person.objects.filter(lost_on=T).count() == persons
        assert Certificate.objects.filter(state="返却待ち").count() == persons
        losses = AuditEvent.objects.filter(action="person.loss_recorded", actor=user)
        assert losses.count() == persons
        returns = AuditEvent.objects.filter(action="certificate.return_required", actor=user)
        assert returns.count() == persons
        history = Certificate.history.filter(history_user_id=user.pk, state="返却待ち")
        assert history.count() == persons
        assert Person.history.filter(history_user_id=user.pk, lost_on=T).count() == persons
        transaction.set_rollback(True)
    return [q["sql"] for q in ctx.captured_queries]


def test_the_statement_count_does_not_grow_with_the_number_of_persons(clerk):
    small, large = _statements(3, clerk), _statements(30, clerk)
    assert len(small) == len(large)
    assert not [sql for sql in large if "CASE WHEN" in sql.upper()]
