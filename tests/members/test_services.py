"""Life-event services: 資格喪失 with the household cascade, 氏名変更, the 75th-birthday rule."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from certificates.models import Certificate
from core.models import AuditEvent
from members.models import Person
from members.selectors import late_elderly_birth_cutoff, persons_reaching_late_elderly
from members.services import person_change_name, person_record_loss, persons_apply_75th_birthday

from .builders import make_dependent, make_member

pytestmark = pytest.mark.django_db


def certificate(person, number, valid_until=date(2030, 11, 30)):
    return Certificate.objects.create(
        number=number,
        person=person,
        reason="未登録",
        issue_date=date(2025, 12, 1),
        valid_until=valid_until,
        route="事業主経由",
        printed_name=person.name,
        printed_name_kana=person.name_kana,
    )


# --- person_record_loss --------------------------------------------------------------------------


def test_member_loss_takes_dependents_on_the_same_date(clerk):
    head = make_member()
    spouse = make_dependent(head, edaban="01")
    child = make_dependent(
        head, edaban="02", birth_date=date(2005, 6, 1), acquired_on=date(2005, 6, 1)
    )

    changed = person_record_loss(
        person=head, lost_on=date(2026, 1, 31), reason="退職", acting_user=clerk
    )

    assert [p.pk for p in changed] == [head.pk, spouse.pk, child.pk]
    for p in (head, spouse, child):
        p.refresh_from_db()
        assert p.lost_on == date(2026, 1, 31)
    assert head.loss_reason == "退職"
    assert spouse.loss_reason == child.loss_reason == "被保険者の資格喪失"
    events = AuditEvent.objects.filter(action="person.loss_recorded")
    assert events.count() == 3 and {e.actor for e in events} == {clerk}
    assert spouse.history.first().history_user == clerk


def test_dependents_earlier_loss_is_never_moved():
    head = make_member()
    early = make_dependent(
        head, edaban="01", lost_on=date(2025, 6, 30), loss_reason="被扶養者でなくなった"
    )
    later = make_dependent(
        head, edaban="02", lost_on=date(2026, 12, 31), loss_reason="被扶養者でなくなった"
    )

    person_record_loss(person=head, lost_on=date(2026, 1, 31), reason="退職")

    early.refresh_from_db()
    later.refresh_from_db()
    assert (early.lost_on, early.loss_reason) == (date(2025, 6, 30), "被扶養者でなくなった")
    assert (later.lost_on, later.loss_reason) == (date(2026, 1, 31), "被保険者の資格喪失")


def test_recording_the_same_loss_twice_changes_nothing():
    head = make_member()
    make_dependent(head)
    person_record_loss(person=head, lost_on=date(2026, 1, 31), reason="退職")
    before = AuditEvent.objects.count()
    assert person_record_loss(person=head, lost_on=date(2026, 1, 31), reason="退職") == []
    assert AuditEvent.objects.count() == before


def test_dependent_loss_does_not_touch_the_member():
    head = make_member()
    dep = make_dependent(head)
    changed = person_record_loss(
        person=dep, lost_on=date(2026, 1, 31), reason="被扶養者でなくなった"
    )
    head.refresh_from_db()
    assert changed == [dep] and head.lost_on is None


def test_loss_puts_valid_certificates_to_return_pending_and_expired_ones_to_no_return():
    head = make_member(insured_type="任意継続", employer=None)
    dep = make_dependent(head)
    valid = certificate(head, "C-1")
    expired = certificate(dep, "C-2", valid_until=date(2026, 1, 15))

    person_record_loss(person=head, lost_on=date(2026, 1, 31), reason="任意継続満了")

    valid.refresh_from_db()
    expired.refresh_from_db()
    assert valid.state == "返却待ち" and valid.return_due == date(2026, 2, 5)
    assert valid.return_route == "自宅"  # 任意継続: returned directly to the society
    assert expired.state == "返却不要"


def test_loss_before_acquisition_is_refused_and_changes_nothing():
    head = make_member(acquired_on=date(2020, 4, 1))
    with pytest.raises(ValidationError) as exc:
        person_record_loss(person=head, lost_on=date(2020, 3, 31), reason="退職")
    assert "資格取得年月日より前" in str(exc.value)
    head.refresh_from_db()
    assert head.lost_on is None


def test_dependent_acquired_after_the_loss_refuses_the_whole_loss():
    head = make_member()
    dep = make_dependent(head, acquired_on=date(2026, 3, 1))
    with pytest.raises(ValidationError):
        person_record_loss(person=head, lost_on=date(2026, 1, 31), reason="退職")
    assert not Person.objects.filter(lost_on__isnull=False).exists()
    dep.refresh_from_db()
    assert dep.lost_on is None


def test_unknown_reason_is_refused():
    with pytest.raises(ValidationError):
        person_record_loss(person=make_member(), lost_on=date(2026, 1, 31), reason="転勤")


def _loss_statements(dependents: int, user) -> list[str]:
    """The statements of recording a 本人's loss whose household has `dependents` dependents, each
    (and the 本人) holding a 有効 certificate; rolled back."""
    with transaction.atomic():
        head = make_member()
        certificate(head, "S-00")
        for i in range(1, dependents + 1):
            dep = make_dependent(head, edaban=f"{i:02d}")
            certificate(dep, f"S-{i:02d}")
        with CaptureQueriesContext(connection) as ctx:
            changed = person_record_loss(
                person=head, lost_on=date(2026, 1, 31), reason="退職", acting_user=user
            )
        assert [p.edaban for p in changed] == [f"{i:02d}" for i in range(dependents + 1)]
        assert Certificate.objects.filter(state="返却待ち").count() == dependents + 1
        assert AuditEvent.objects.filter(action="person.loss_recorded").count() == dependents + 1
        assert AuditEvent.objects.filter(action="certificate.return_required").count() == (
            dependents + 1
        )
        assert Person.history.filter(history_user=user, lost_on=date(2026, 1, 31)).count() == (
            dependents + 1
        )
        transaction.set_rollback(True)
    return [q["sql"] for q in ctx.captured_queries]


def test_a_loss_takes_the_same_statements_for_2_and_12_dependents(clerk):
    """person_record_loss is one call of the set-wise writer of losses (the nightly 75th birthdays'
    too): no statement per dependent or per certificate, no CASE over the household."""
    few, many = _loss_statements(2, clerk), _loss_statements(12, clerk)
    assert len(few) == len(many)
    assert not [sql for sql in many if "CASE" in sql.upper()]


# --- person_change_name --------------------------------------------------------------------------


def test_change_name_keeps_name_exactly_and_normalises_kana(clerk):
    person = make_member()
    person_change_name(person=person, name="𠮷田 髙﨑", name_kana="ﾖｼﾀﾞ たかさき", acting_user=clerk)
    person.refresh_from_db()
    assert person.name == "𠮷田 髙﨑"
    assert person.name_kana == "ヨシダ\u3000タカサキ"
    event = AuditEvent.objects.get(action="person.name_changed")
    assert event.actor == clerk and event.detail["fields"] == ["name", "name_kana"]
    assert person.history.first().history_user == clerk


def test_change_name_refuses_non_katakana_and_changes_nothing():
    person = make_member()
    with pytest.raises(ValidationError) as exc:
        person_change_name(person=person, name="新しい名前", name_kana="Yamada")
    assert "カタカナ" in str(exc.value)
    person.refresh_from_db()
    assert person.name == "佐藤 一郎"
    assert not AuditEvent.objects.exists()


def test_change_name_to_the_same_name_writes_nothing():
    person = make_member()
    person_change_name(person=person, name=person.name, name_kana="サトウ イチロウ")
    assert not AuditEvent.objects.filter(action="person.name_changed").exists()


# --- persons_apply_75th_birthday -----------------------------------------------------------------


def test_75th_birthday_ends_cover_on_the_birthday_and_dependents_follow():
    on = date(2025, 7, 1)
    turning = make_member(birth_date=date(1950, 7, 1))  # 75 on 2025-07-01
    tomorrow = make_member(birth_date=date(1950, 7, 2))
    dep = make_dependent(turning, birth_date=date(1960, 1, 1))
    cert = certificate(turning, "C-1")

    changed = persons_apply_75th_birthday(on=on)

    assert {p.pk for p in changed} == {turning.pk, dep.pk}
    turning.refresh_from_db()
    dep.refresh_from_db()
    tomorrow.refresh_from_db()
    assert (turning.lost_on, turning.loss_reason) == (date(2025, 7, 1), "75歳到達")
    assert (dep.lost_on, dep.loss_reason) == (date(2025, 7, 1), "被保険者の資格喪失")
    assert tomorrow.lost_on is None
    cert.refresh_from_db()
    assert cert.state == "返却待ち"


def test_75th_birthday_run_is_idempotent():
    make_member(birth_date=date(1950, 7, 1))
    assert len(persons_apply_75th_birthday(on=date(2025, 7, 1))) == 1
    losses = AuditEvent.objects.filter(action="person.loss_recorded").count()
    assert persons_apply_75th_birthday(on=date(2025, 7, 1)) == []
    assert persons_apply_75th_birthday(on=date(2025, 8, 1)) == []
    assert AuditEvent.objects.filter(action="person.loss_recorded").count() == losses


def test_dependents_own_earlier_75th_birthday_is_kept():
    head = make_member(birth_date=date(1950, 9, 10))  # 75 on 2025-09-10
    dep = make_dependent(head, birth_date=date(1950, 3, 5))  # 75 on 2025-03-05
    persons_apply_75th_birthday(on=date(2025, 10, 1))
    dep.refresh_from_db()
    head.refresh_from_db()
    assert (dep.lost_on, dep.loss_reason) == (date(2025, 3, 5), "75歳到達")
    assert (head.lost_on, head.loss_reason) == (date(2025, 9, 10), "75歳到達")


def test_dependent_turning_75_after_member_follows_the_member():
    head = make_member(birth_date=date(1950, 3, 5))
    dep = make_dependent(head, birth_date=date(1950, 9, 10))
    persons_apply_75th_birthday(on=date(2025, 10, 1))
    dep.refresh_from_db()
    assert (dep.lost_on, dep.loss_reason) == (date(2025, 3, 5), "被保険者の資格喪失")


def test_already_lost_persons_are_left_alone():
    person = make_member(birth_date=date(1950, 7, 1), lost_on=date(2020, 3, 31), loss_reason="退職")
    assert persons_apply_75th_birthday(on=date(2025, 7, 1)) == []
    person.refresh_from_db()
    assert (person.lost_on, person.loss_reason) == (date(2020, 3, 31), "退職")


@pytest.mark.parametrize(
    ("on", "lost"),
    [(date(2027, 2, 28), None), (date(2027, 3, 1), date(2027, 3, 1))],
)
def test_29_february_birth_reaches_75_on_1_march_in_a_common_year(on, lost):
    person = make_member(birth_date=date(1952, 2, 29))
    persons_apply_75th_birthday(on=on)
    person.refresh_from_db()
    assert person.lost_on == lost


def test_the_search_is_one_query_whatever_the_number_of_persons(django_assert_num_queries):
    for i in range(20):
        make_member(birth_date=date(1949, 1, 1 + i))
    make_member(birth_date=date(1990, 1, 1))
    with django_assert_num_queries(1):
        found = persons_reaching_late_elderly(on=date(2025, 1, 1))
    assert len(found) == 20


@pytest.mark.parametrize(
    ("on", "cutoff"),
    [
        (date(2025, 7, 1), date(1950, 7, 1)),
        (date(2024, 2, 29), date(1949, 2, 28)),  # 1949 has no 29 February
        (date(2027, 2, 28), date(1952, 2, 28)),  # a 1952-02-29 birth is after it: 75 on 1 March
        (date(2025, 12, 31), date(1950, 12, 31)),
    ],
)
def test_birth_cutoff(on, cutoff):
    assert late_elderly_birth_cutoff(on) == cutoff
