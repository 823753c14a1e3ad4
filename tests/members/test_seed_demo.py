"""manage.py seed_demo: a believable society, bulk-inserted, deterministic, refusing to double up."""

import re
from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from members.dates import add_months, age_on, is_late_elderly_on, late_elderly_start, month_end
from members.models import (
    Employer,
    InsuredType,
    LossReason,
    Person,
    RegistrationSnapshot,
    RegistrationStatus,
    RegistrationStatusValue,
    Relationship,
)

AS_OF = date(2025, 12, 1)
N = 3000
FULL_WIDTH_KANA = re.compile(r"^[ァ-ヶー]+\u3000[ァ-ヶー]+$")


def seed(persons=N, seed=7, *extra):
    out = StringIO()
    call_command(
        "seed_demo",
        "--persons",
        str(persons),
        "--seed",
        str(seed),
        "--as-of",
        AS_OF.isoformat(),
        *extra,
        stdout=out,
    )
    return out.getvalue()


def qualified_on(person: Person, day: date) -> bool:
    return (
        person.acquired_on <= day
        and (person.lost_on is None or person.lost_on > day)
        and not is_late_elderly_on(person.birth_date, day)
    )


@pytest.fixture
def society(db):
    seed()
    return list(Person.objects.all())


def test_makes_exactly_the_requested_number_of_people(society):
    assert len(society) == N
    members = [p for p in society if p.relationship == Relationship.SELF]
    dependents = [p for p in society if p.relationship == Relationship.DEPENDENT]
    assert 0.65 <= len(dependents) / len(members) <= 0.95  # about 0.8 per member
    voluntary = [p for p in members if p.insured_type == InsuredType.VOLUNTARY]
    assert 0.01 <= len(voluntary) / len(members) <= 0.06  # a few percent
    assert Employer.objects.count() >= 5
    assert not Employer.objects.filter(name="").exists()
    assert not Employer.objects.filter(address="").exists()


def test_households_share_kigo_bango_and_number_dependents_from_01(society):
    by_id = {p.pk: p for p in society}
    for p in society:
        if p.relationship == Relationship.SELF:
            assert p.edaban == "00"
            assert p.member_id is None
        else:
            member = by_id[p.member_id]
            assert (p.kigo, p.bango) == (member.kigo, member.bango)
            assert p.edaban != "00" and re.fullmatch(r"\d{2}", p.edaban)
    households = {}
    for p in society:
        if p.relationship == Relationship.DEPENDENT:
            households.setdefault(p.member_id, []).append(int(p.edaban))
    for edabans in households.values():
        assert sorted(edabans) == list(range(1, len(edabans) + 1))


def test_general_members_have_employers_and_voluntary_ones_end_within_two_years(society):
    for p in society:
        if p.insured_type == InsuredType.GENERAL:
            assert p.employer_id is not None and p.voluntary_until is None
            assert p.kigo == p.employer.code
        elif p.insured_type == InsuredType.VOLUNTARY:
            assert p.employer_id is None
            assert p.acquired_on <= AS_OF
            if p.loss_reason == LossReason.VOLUNTARY_END:
                assert p.lost_on == p.voluntary_until + timedelta(days=1) <= AS_OF
            else:
                assert AS_OF < p.voluntary_until <= add_months(AS_OF, 24)
            # 任意継続 lasts at most two years (健康保険法§38)
            assert p.voluntary_until <= add_months(p.acquired_on, 24)


def test_people_look_real(society):
    names = "".join(p.name for p in society)
    for char in "𠮷髙﨑":
        assert char in names, f"no name with {char}"
    assert any(len(p.name) != len(p.name.encode("utf-16-le")) // 2 for p in society)  # non-BMP kept
    for p in society:
        assert FULL_WIDTH_KANA.match(p.name_kana), p.name_kana
        assert re.fullmatch(r"\d{7}", p.postal_code), p.postal_code
        assert p.address
        assert p.birth_date <= AS_OF and p.acquired_on <= AS_OF
        assert p.acquired_on >= p.birth_date
    members = [p for p in society if p.relationship == Relationship.SELF]
    assert any(p.standard_remuneration >= 280_000 for p in members)
    assert any(p.standard_remuneration < 280_000 for p in members)
    assert all(p.standard_remuneration for p in members)


def test_includes_people_aged_70_to_74_and_some_about_to_turn_75(society):
    current = [p for p in society if qualified_on(p, AS_OF)]
    ages = [age_on(p.birth_date, AS_OF) for p in current]
    assert sum(70 <= a <= 74 for a in ages) >= 30
    assert max(ages) <= 74, "nobody still qualified may be 75 or older"
    near = [p for p in current if late_elderly_start(p.birth_date) <= AS_OF + timedelta(days=180)]
    assert len(near) >= 3
    elderly_members = [
        p
        for p in current
        if p.relationship == Relationship.SELF and 70 <= age_on(p.birth_date, AS_OF) <= 74
    ]
    assert any(p.standard_remuneration >= 280_000 for p in elderly_members)  # 3割 case exists


def test_losses_take_dependents_along_on_the_same_date(society):
    by_id = {p.pk: p for p in society}
    lost_members = [p for p in society if p.relationship == Relationship.SELF and p.lost_on]
    assert lost_members
    assert any(p.loss_reason == LossReason.AGE_75 for p in lost_members) or len(lost_members) < 20
    for p in lost_members:
        assert p.lost_on <= AS_OF and p.lost_on >= p.acquired_on
        if p.loss_reason == LossReason.AGE_75:
            assert p.lost_on == late_elderly_start(p.birth_date)
    for p in society:
        if p.member_id and by_id[p.member_id].lost_on:
            assert p.lost_on == by_id[p.member_id].lost_on
            assert p.loss_reason == LossReason.MEMBER_LOST


def test_a_few_people_need_consideration(society):
    flagged = sum(p.needs_consideration for p in society)
    assert 1 <= flagged <= N * 0.02


def test_one_snapshot_where_about_30_percent_lack_a_usable_card(society):
    snapshot = RegistrationSnapshot.objects.get()
    assert snapshot.as_of == AS_OF
    statuses = {s.person_id: s for s in RegistrationStatus.objects.all()}
    assert snapshot.row_count == len(statuses)
    current = [p for p in society if qualified_on(p, AS_OF)]
    lapse_limit = month_end(AS_OF)
    lacking = 0
    kinds = set()
    for p in current:
        row = statuses.get(p.pk)
        if row is None:
            lacking += 1
            kinds.add("なし")
            continue
        assert row.as_of == AS_OF
        kinds.add(row.status)
        if row.status == RegistrationStatusValue.EC_EXPIRED:
            assert row.ec_expiry is not None and row.ec_expiry <= AS_OF
            if month_end(add_months(row.ec_expiry, 3)) <= lapse_limit:
                lacking += 1
        elif row.status != RegistrationStatusValue.REGISTERED:
            lacking += 1
    assert kinds == {*RegistrationStatusValue.values, "なし"}
    assert 0.26 <= lacking / len(current) <= 0.34
    # people who are no longer qualified are not in the month's data
    lost = {p.pk for p in society if p.lost_on and p.lost_on <= AS_OF}
    assert lost and not lost & statuses.keys()


def test_rows_pass_model_validation_including_database_constraints(society):
    for p in society[:: len(society) // 60]:
        p.full_clean()
    for s in RegistrationStatus.objects.all()[:60]:
        s.full_clean()


def test_same_seed_gives_the_same_society_and_another_seed_does_not(db):
    def fingerprint():
        return [
            (p.kigo, p.bango, p.edaban, p.name, p.name_kana, p.birth_date, p.address, p.lost_on)
            for p in Person.objects.order_by("kigo", "bango", "edaban")
        ]

    def wipe():
        RegistrationStatus.objects.all().delete()
        RegistrationSnapshot.objects.all().delete()
        Person.objects.filter(relationship=Relationship.DEPENDENT).delete()
        Person.objects.all().delete()
        Employer.objects.all().delete()

    seed(500, 11)
    first = fingerprint()
    wipe()
    seed(500, 11)
    assert fingerprint() == first
    wipe()
    seed(500, 12)
    assert fingerprint() != first


def test_uses_bulk_inserts_not_a_query_per_person(db):
    with CaptureQueriesContext(connection) as small:
        seed(300)
    RegistrationStatus.objects.all().delete()
    Person.objects.filter(relationship=Relationship.DEPENDENT).delete()
    Person.objects.all().delete()
    with CaptureQueriesContext(connection) as large:
        seed(3000)
    # SQLite caps parameters per statement, so the number of INSERTs still grows with N, but
    # by rows per statement, not one per person.
    assert len(large.captured_queries) < 3000 / 10
    assert len(large.captured_queries) < len(small.captured_queries) * 15


def test_refuses_when_people_exist_and_changes_nothing(society):
    with pytest.raises(CommandError, match="--append"):
        seed(100)
    assert Person.objects.count() == N
    assert RegistrationSnapshot.objects.count() == 1


def test_append_adds_people_without_key_collisions(society):
    out = seed(400, 8, "--append")
    assert "400人" in out
    assert Person.objects.count() == N + 400
    keys = list(Person.objects.values_list("kigo", "bango", "edaban"))
    assert len(set(keys)) == len(keys)
    voluntary_kigo = set(
        Person.objects.filter(insured_type=InsuredType.VOLUNTARY).values_list("kigo", flat=True)
    )
    assert not voluntary_kigo & set(Employer.objects.values_list("code", flat=True))


def test_rejects_a_non_positive_count(db):
    with pytest.raises(CommandError, match="--persons"):
        seed(0)
    assert not Person.objects.exists()


def test_append_avoids_kigo_already_used_by_imported_people(db):
    employer = Employer.objects.create(code="900001", name="既存事業所", address="東京都")
    Person.objects.create(
        kigo="900001",
        bango="1",
        edaban="00",
        relationship=Relationship.SELF,
        insured_type=InsuredType.GENERAL,
        employer=employer,
        standard_remuneration=300_000,
        name="既存\u3000太郎",
        name_kana="キゾン\u3000タロウ",
        birth_date=date(1980, 1, 1),
        sex="男",
        acquired_on=date(2020, 4, 1),
    )
    seed(2000, 5, "--append")
    assert Person.objects.count() == 2001
    assert not Person.objects.filter(kigo="900001").exclude(name="既存\u3000太郎").exists()
