"""The derived columns of Person (household, age_cover_until, elderly_from) are members.dates'
values on every write path: single saves (services, admin), the members import (new and changed
rows), seed_demo's bulk inserts, and the data migration's function. Recomputed over a seeded
society they show no difference."""

from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command

from members.dates import DERIVED_PERSON_FIELDS, derived_person_fields
from members.models import HOUSEHOLD_PENDING, Person
from members.services import person_record_loss

from .builders import (
    MEMBERS_HEADER,
    dependent_row,
    make_dependent,
    make_member,
    member_row,
    write_csv,
)

pytestmark = pytest.mark.django_db


def differences() -> list[tuple]:
    """Every person whose stored derived columns differ from members.dates' values."""
    out = []
    for p in Person.objects.order_by("pk"):
        want = derived_person_fields(birth_date=p.birth_date, member_id=p.member_id, pk=p.pk)
        got = {name: getattr(p, name) for name in DERIVED_PERSON_FIELDS}
        if got != want:
            out.append((p.pk, got, want))
    return out


def history_differences() -> list[tuple]:
    out = []
    for h in Person.history.all():
        want = derived_person_fields(birth_date=h.birth_date, member_id=h.member_id, pk=h.id)
        got = {name: getattr(h, name) for name in DERIVED_PERSON_FIELDS}
        if got != want:
            out.append((h.history_id, got, want))
    return out


@pytest.mark.parametrize(
    ("birth", "cover_until", "elderly"),
    [
        (date(1952, 2, 29), date(2027, 2, 28), date(2022, 3, 1)),  # 民法§143: 75 on 1 March
        (date(1960, 1, 1), date(2034, 12, 31), date(2030, 1, 1)),  # born on the 1st
        (date(1960, 1, 10), date(2035, 1, 9), date(2030, 2, 1)),
    ],
)
def test_single_saves_store_members_dates_values(birth, cover_until, elderly):
    m = make_member(birth_date=birth)
    assert (m.household_id, m.age_cover_until, m.elderly_from) == (m.pk, cover_until, elderly)
    m.refresh_from_db()
    assert (m.household_id, m.age_cover_until, m.elderly_from) == (m.pk, cover_until, elderly)
    d = make_dependent(m, birth_date=birth)
    d.refresh_from_db()
    assert (d.household_id, d.age_cover_until, d.elderly_from) == (m.pk, cover_until, elderly)
    # the creation history row carries the settled household, never the placeholder
    assert m.history.earliest().household_id == m.pk
    assert not Person.objects.filter(household_id=HOUSEHOLD_PENDING).exists()


def test_a_birth_date_corrected_with_update_fields_recomputes(db):
    m = make_member(birth_date=date(1960, 1, 10))
    m.birth_date = date(1952, 2, 29)
    m.save(update_fields=["birth_date", "updated_at"])
    m.refresh_from_db()
    assert m.age_cover_until == date(2027, 2, 28) and m.elderly_from == date(2022, 3, 1)
    assert differences() == []


def test_services_and_imports_leave_no_difference(tmp_path):
    rows = [
        member_row(番号="1", 生年月日="1952-02-29"),
        dependent_row(番号="1", 生年月日="1956-12-01"),
        member_row(
            番号="2",
            事業所記号="",
            事業所名称="",
            被保険者種別="任意継続",
            任意継続満了日="2027-03-31",
            生年月日="1960-01-01",
        ),
        dependent_row(番号="2", 生年月日="1990-05-05"),
    ]
    call_command(
        "import_members", str(write_csv(tmp_path, MEMBERS_HEADER, rows)), stdout=StringIO()
    )
    assert Person.objects.count() == 4
    # a re-import that corrects birth dates (bulk update path)
    rows[0]["生年月日"] = "1952-03-01"
    rows[3]["生年月日"] = "1990-02-28"
    call_command(
        "import_members",
        str(write_csv(tmp_path, MEMBERS_HEADER, rows, name="again.csv")),
        stdout=StringIO(),
    )
    head = Person.objects.get(bango="1", edaban="00")
    assert head.age_cover_until == date(2027, 2, 28)
    person_record_loss(person=head, lost_on=date(2026, 3, 31), reason="退職")
    assert differences() == []
    assert history_differences() == []


def test_seed_demo_bulk_inserts_leave_no_difference(db):
    call_command("seed_demo", "--persons", "400", "--as-of", "2025-11-01", stdout=StringIO())
    call_command(
        "seed_demo", "--persons", "100", "--as-of", "2025-11-01", "--append", stdout=StringIO()
    )
    assert Person.objects.count() == 500
    assert differences() == []
    dependents = Person.objects.filter(member__isnull=False)
    assert dependents.exists()
    assert all(p.household_id == p.member_id for p in dependents)


def test_the_migration_fills_what_members_dates_computes(db):
    """The data migration's function over rows whose derived columns are wrong."""
    from importlib import import_module

    from django.apps import apps

    m = make_member(birth_date=date(1952, 2, 29))
    d = make_dependent(m, birth_date=date(1960, 1, 1))
    Person.objects.filter(pk__in=[m.pk, d.pk]).update(
        age_cover_until=date(2000, 1, 1), elderly_from=date(2000, 1, 1), household_id=d.pk
    )
    Person.history.update(age_cover_until=date(2000, 1, 1))
    migration = import_module("members.migrations.0004_i13_person_derived_dates")
    migration.fill_derived(apps, None)
    assert differences() == []
    assert history_differences() == []
