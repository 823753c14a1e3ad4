"""Fixtures for documents: a small registry and an executed run, rendered through the real path
(certificates.services.run_execute → documents.services.run_documents_schedule → the Celery task,
eager in tests)."""

from __future__ import annotations

import itertools
import subprocess
from datetime import date
from pathlib import Path

import pytest

from members.models import Employer, Person, RegistrationSnapshot, RegistrationStatus

ISSUE = date(2025, 12, 1)
VALID_UNTIL = date(2030, 11, 30)
STATUS_DATE = date(2025, 11, 1)

_bango = itertools.count(1001)


def make_member(
    *,
    name: str,
    kana: str = "テスト タロウ",
    employer: Employer | None = None,
    voluntary_until: date | None = None,
    birth_date: date = date(1980, 5, 10),
    postal_code: str = "",
    address: str = "",
    kigo: str = "10",
    remuneration: int = 300_000,
) -> Person:
    return Person.objects.create(
        kigo=kigo,
        bango=str(next(_bango)),
        edaban="00",
        relationship="本人",
        insured_type="任意継続" if voluntary_until else "一般",
        employer=None if voluntary_until else employer,
        voluntary_until=voluntary_until,
        standard_remuneration=remuneration,
        name=name,
        name_kana=kana,
        birth_date=birth_date,
        sex="男",
        postal_code=postal_code,
        address=address,
        acquired_on=date(2015, 4, 1),
    )


def make_dependent(
    of: Person, *, name: str, edaban: str = "01", kana: str = "テスト ハナコ", birth_date=None
) -> Person:
    return Person.objects.create(
        kigo=of.kigo,
        bango=of.bango,
        edaban=edaban,
        relationship="家族",
        member=of,
        name=name,
        name_kana=kana,
        birth_date=birth_date or date(1985, 2, 3),
        sex="女",
        acquired_on=date(2016, 4, 1),
    )


def set_status(rows: list[tuple[Person, str, date | None]], as_of: date = STATUS_DATE) -> None:
    snap = RegistrationSnapshot.objects.create(as_of=as_of, row_count=len(rows))
    RegistrationStatus.objects.bulk_create(
        RegistrationStatus(snapshot=snap, person=p, as_of=as_of, status=s, ec_expiry=ec)
        for p, s, ec in rows
    )


def execute_run(creator, approver):
    """Create, approve and execute a run. The test's transaction never commits, so the on-commit
    hand-over (schedule → enqueue → eager task) is run explicitly, as a commit would run it."""
    from django.test import TestCase

    from certificates.services import run_approve, run_create, run_execute

    run = run_create(
        status_date=STATUS_DATE, issue_date=ISSUE, valid_until=VALID_UNTIL, acting_user=creator
    )
    run = run_approve(run=run, acting_user=approver)
    with TestCase.captureOnCommitCallbacks(execute=True):
        run_execute(run=run, acting_user=approver)
    run.refresh_from_db()
    return run


def pdf_text(data: bytes, tmp_path: Path, *, layout: bool = False) -> list[str]:
    """The text of each page, extracted by poppler's pdftotext (what a reader's copy/paste sees)."""
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(data)
    args = ["pdftotext", "-enc", "UTF-8"] + (["-layout"] if layout else []) + [str(pdf), "-"]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return out.split("\f")[:-1]


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
