"""Small builders for registry rows used by the certificates tests (no factory library needed)."""

from __future__ import annotations

import itertools
from datetime import date

from members.models import Employer, Person, RegistrationSnapshot, RegistrationStatus

_seq = itertools.count(1)


def employer(code: str = "E001", name: str = "テスト商事") -> Employer:
    return Employer.objects.get_or_create(code=code, defaults={"name": name})[0]


def member(
    *,
    bango: str | None = None,
    kigo: str = "100",
    birth_date: date = date(1980, 5, 10),
    acquired_on: date = date(2010, 4, 1),
    lost_on: date | None = None,
    insured_type: str = "一般",
    employer_obj: Employer | None = None,
    voluntary_until: date | None = None,
    standard_remuneration: int | None = 300_000,
    needs_consideration: bool = False,
    name: str = "山田 太郎",
    name_kana: str = "ヤマダ タロウ",
) -> Person:
    if insured_type == "一般" and employer_obj is None:
        employer_obj = employer()
    return Person.objects.create(
        kigo=kigo,
        bango=bango or str(next(_seq)),
        edaban="00",
        relationship="本人",
        insured_type=insured_type,
        employer=employer_obj if insured_type == "一般" else None,
        voluntary_until=voluntary_until,
        standard_remuneration=standard_remuneration,
        name=name,
        name_kana=name_kana,
        birth_date=birth_date,
        sex="男",
        acquired_on=acquired_on,
        lost_on=lost_on,
        needs_consideration=needs_consideration,
    )


def dependent(
    of: Person,
    *,
    edaban: str = "01",
    birth_date: date = date(1982, 7, 20),
    acquired_on: date | None = None,
    lost_on: date | None = None,
    needs_consideration: bool = False,
    name: str = "山田 花子",
    name_kana: str = "ヤマダ ハナコ",
) -> Person:
    return Person.objects.create(
        kigo=of.kigo,
        bango=of.bango,
        edaban=edaban,
        relationship="家族",
        member=of,
        name=name,
        name_kana=name_kana,
        birth_date=birth_date,
        sex="女",
        acquired_on=acquired_on or of.acquired_on,
        lost_on=lost_on,
        needs_consideration=needs_consideration,
    )


def snapshot(as_of: date, rows: list[tuple[Person, str, date | None]]) -> RegistrationSnapshot:
    snap = RegistrationSnapshot.objects.create(as_of=as_of, row_count=len(rows))
    RegistrationStatus.objects.bulk_create(
        RegistrationStatus(snapshot=snap, person=p, as_of=as_of, status=s, ec_expiry=ec)
        for p, s, ec in rows
    )
    return snap
