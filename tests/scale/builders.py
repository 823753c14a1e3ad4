"""Rows for the scale tests: n of everything a changelist lists, built in bulk where the services are
not what is being tested (the services have their own tests)."""

from __future__ import annotations

import itertools
from datetime import date

from certificates.models import IssuanceRun
from certificates.services import certificate_issue
from documents.models import DocumentKind, DocumentState, GeneratedDocument
from fees.models import ApplicationRoute, Invoice, ReissueApplication, ReissueKind
from members.models import Employer, Person, RegistrationSnapshot, RegistrationStatus

STATUS_DATE = date(2025, 11, 1)
ISSUE = date(2025, 12, 1)
UNTIL = date(2026, 11, 30)

_seq = itertools.count(1)


def households(n: int, *, kana: str = "ヤマダ") -> list[Person]:
    """n 被保険者, each of their own 事業所, each with one 家族 and a 未登録 status."""
    snap = RegistrationSnapshot.objects.create(as_of=STATUS_DATE, row_count=0)
    made = []
    for _ in range(n):
        i = next(_seq)
        employer = Employer.objects.create(code=f"S{i:05d}", name=f"規模検証商事{i}")
        member = Person.objects.create(
            kigo=f"S{i:05d}",
            bango="1",
            edaban="00",
            relationship="本人",
            insured_type="一般",
            employer=employer,
            standard_remuneration=300_000,
            name=f"山田 太郎{i}",
            name_kana=f"{kana}\u3000タロウ",
            birth_date=date(1980, 5, 10),
            sex="男",
            acquired_on=date(2010, 4, 1),
        )
        dep = Person.objects.create(
            kigo=member.kigo,
            bango=member.bango,
            edaban="01",
            relationship="家族",
            member=member,
            name=f"山田 花子{i}",
            name_kana=f"{kana}\u3000ハナコ",
            birth_date=date(1982, 7, 20),
            sex="女",
            acquired_on=date(2010, 4, 1),
        )
        made += [member, dep]
    RegistrationStatus.objects.bulk_create(
        RegistrationStatus(snapshot=snap, person=p, as_of=STATUS_DATE, status="未登録")
        for p in made
    )
    return made


def certificates(persons: list[Person]):
    return [
        certificate_issue(
            person=p,
            reason="未登録",
            issue_date=ISSUE,
            valid_until=UNTIL,
            route="事業主経由",
        )
        for p in persons
    ]


def invoices(certs, *, user) -> list[Invoice]:
    made = []
    for cert in certs:
        app = ReissueApplication.objects.create(
            kind=ReissueKind.LOSS,
            route=ApplicationRoute.EMPLOYER,
            received_on=ISSUE,
            certificate=cert,
            created_by=user,
        )
        made.append(
            Invoice.objects.create(
                number=f"2025-{next(_seq):06d}",
                fiscal_year=2025,
                application=app,
                amount=1000,
                issued_on=ISSUE,
                created_by=user,
            )
        )
    return made


def stored_chunks(run: IssuanceRun, n: int) -> None:
    """n stored PDF chunks of a run, as the documents pipeline leaves them (no rendering here)."""
    start = GeneratedDocument.objects.filter(run=run).count()
    GeneratedDocument.objects.bulk_create(
        GeneratedDocument(
            kind=DocumentKind.BUNDLE,
            run=run,
            chunk_no=start + k + 1,
            label=f"事業所 その{start + k + 1}",
            state=DocumentState.STORED,
            page_count=4,
            certificate_pages=2,
        )
        for k in range(n)
    )
