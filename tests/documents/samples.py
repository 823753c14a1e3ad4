"""Plain render data with fixed dates and ids (no database): deterministic documents for the
layout, legibility and visual regression tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from documents.render import CertificateCard, ChecklistEntry, Household

ISSUE = date(2025, 12, 1)
VALID_UNTIL = date(2030, 11, 30)


def card(
    n: int,
    name: str,
    *,
    relationship: str = "本人",
    kana: str = "テスト タロウ",
    birth_date: date = date(1980, 5, 10),
    sex: str = "男",
    bango: str = "1001",
    **extra,
) -> CertificateCard:
    return CertificateCard(
        item_id=n,
        number=f"2025-{n:07d}",
        relationship=relationship,
        name=name,
        name_kana=kana,
        birth_date=birth_date,
        sex=sex,
        kigo="10",
        bango=bango,
        edaban="00" if relationship == "本人" else f"{n % 100:02d}",
        issue_date=ISSUE,
        valid_until=VALID_UNTIL,
        acquired_on=date(2015, 4, 1),
        reason="未登録",
        **extra,
    )


def household(
    cards: tuple[CertificateCard, ...],
    *,
    route: str = "自宅",
    address: str = "北海道札幌市中央区北一条西1丁目2-3 北斗レジデンス205",
    postal_code: str = "0600001",
    employer_name: str = "",
    step: str = "1→2",
) -> Household:
    head = cards[0]
    return Household(
        kigo=head.kigo,
        bango=head.bango,
        addressee_name=head.name,
        addressee_kana=head.name_kana,
        route=route,
        letter_date=ISSUE,
        cards=cards,
        checklist=tuple(ChecklistEntry(c.name, step) for c in cards),
        postal_code=postal_code if route == "自宅" else "",
        address=address if route == "自宅" else "",
        employer_name=employer_name,
    )


def with_insured(hh: Household, name: str) -> Household:
    return replace(hh, addressee_name=name)
