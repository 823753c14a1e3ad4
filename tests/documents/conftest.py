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


def card_positions(pdf: Path, page: int) -> list[tuple[float, float]]:
    """The card slots (left, top in mm) of a page: a card sheet's 2 × 5 grid, or, on a letter that
    carries the household's cards (CARDS_ON_LETTER), the row at its foot."""
    from documents.render import (
        CARD_COLUMNS,
        CARD_HEIGHT_MM,
        CARD_WIDTH_MM,
        CARDS_PER_SHEET,
        LETTER_CARD_SLOTS,
        LETTER_CARD_TOP_MM,
        SHEET_LEFT_MM,
        SHEET_TOP_MM,
    )

    args = ["pdftotext", "-enc", "UTF-8", "-f", str(page), "-l", str(page), str(pdf), "-"]
    text = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    if "資格確認書の送付について" in text:
        return [
            (SHEET_LEFT_MM + i * CARD_WIDTH_MM, LETTER_CARD_TOP_MM)
            for i in range(LETTER_CARD_SLOTS)
        ]
    return [
        (
            SHEET_LEFT_MM + (slot % CARD_COLUMNS) * CARD_WIDTH_MM,
            SHEET_TOP_MM + (slot // CARD_COLUMNS) * CARD_HEIGHT_MM,
        )
        for slot in range(CARDS_PER_SHEET)
    ]


def card_texts(pdf: Path, page: int) -> list[str]:
    """The text inside each card slot of a page (page is 1-based), empty slots left out.
    Cropping to the slot proves a field is printed on *that* card, not elsewhere on the sheet."""
    from documents.render import CARD_HEIGHT_MM, CARD_WIDTH_MM

    pt = 72 / 25.4
    texts = []
    for x, y in card_positions(pdf, page):
        args = ["pdftotext", "-layout", "-enc", "UTF-8", "-f", str(page), "-l", str(page)]
        args += ["-x", str(int(x * pt) + 1), "-y", str(int(y * pt) + 1)]
        args += ["-W", str(int(CARD_WIDTH_MM * pt) - 2), "-H", str(int(CARD_HEIGHT_MM * pt) - 2)]
        out = subprocess.run([*args, str(pdf), "-"], check=True, capture_output=True, text=True)
        text = " ".join(out.stdout.split())
        if text:
            texts.append(text)
    return texts


def region_text(pdf: Path, page: int, *, x_mm, y_mm, w_mm, h_mm) -> str:
    pt = 72 / 25.4
    args = ["pdftotext", "-layout", "-enc", "UTF-8", "-f", str(page), "-l", str(page)]
    args += ["-x", str(int(x_mm * pt)), "-y", str(int(y_mm * pt))]
    args += ["-W", str(int(w_mm * pt)), "-H", str(int(h_mm * pt))]
    out = subprocess.run([*args, str(pdf), "-"], check=True, capture_output=True, text=True)
    return " ".join(out.stdout.split())


def squash(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
