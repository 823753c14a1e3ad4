"""Data for the core tests, built through the ORM (the models' own constraints apply)."""

from datetime import date

import pytest

from certificates.models import Certificate, IssuanceRun
from members.models import Employer, Person


def make_employer(code: str = "E001", name: str = "デモ商事株式会社") -> Employer:
    return Employer.objects.create(code=code, name=name)


def make_person(
    *,
    employer: Employer,
    bango: str,
    name: str = "山田　太郎",
    kana: str = "ヤマダ　タロウ",
    kigo: str = "100",
    edaban: str = "00",
) -> Person:
    return Person.objects.create(
        kigo=kigo,
        bango=bango,
        edaban=edaban,
        relationship="本人",
        insured_type="一般",
        employer=employer,
        name=name,
        name_kana=kana,
        birth_date=date(1980, 4, 1),
        sex="男",
        acquired_on=date(2010, 4, 1),
        standard_remuneration=300000,
    )


def make_certificate(
    person: Person,
    number: str,
    *,
    run: IssuanceRun | None = None,
    state: str = "有効",
    issue_date: date = date(2025, 12, 2),
    valid_until: date = date(2030, 12, 1),
    **extra,
) -> Certificate:
    return Certificate.objects.create(
        number=number,
        person=person,
        run=run,
        reason="未登録",
        issue_date=issue_date,
        valid_until=valid_until,
        route="事業主経由",
        printed_name=person.name,
        printed_name_kana=person.name_kana,
        state=state,
        **extra,
    )


@pytest.fixture
def employer(db) -> Employer:
    return make_employer()
