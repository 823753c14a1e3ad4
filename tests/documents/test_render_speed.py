"""The measured cost of rendering: one chunk of 100 households (`pytest -m bench -s`).

Not a pass/fail benchmark of the machine: it prints seconds per household (wall and CPU) for the
report, and fails only when a chunk is grossly slower than the design assumes (the reuse of the CSS,
FontConfiguration and the laid-out leaflet broken, say)."""

import time
from datetime import date

import pytest

from documents import render

pytestmark = pytest.mark.bench

HOUSEHOLDS = 100


def _chunk() -> render.Chunk:
    households = []
    for h in range(HOUSEHOLDS):
        cards = [
            render.CertificateCard(
                item_id=h * 3 + 1,
                number=f"2025-{h * 3 + 1:07d}",
                relationship="本人",
                name=f"𠮷田 太郎{h}",
                name_kana="ヨシダ タロウ",
                birth_date=date(1975, 3, 1),
                sex="男",
                kigo="1234",
                bango=str(h),
                edaban="00",
                issue_date=date(2025, 12, 1),
                valid_until=date(2030, 11, 30),
                acquired_on=date(2019, 5, 1),
                reason="未登録",
            )
        ]
        if h % 2:  # every other household has a dependent: 1.5 certificates per envelope
            cards.append(
                render.CertificateCard(
                    item_id=h * 3 + 2,
                    number=f"2025-{h * 3 + 2:07d}",
                    relationship="家族",
                    name=f"髙橋 花子{h}",
                    name_kana="タカハシ ハナコ",
                    birth_date=date(1980, 3, 1),
                    sex="女",
                    kigo="1234",
                    bango=str(h),
                    edaban="01",
                    issue_date=date(2025, 12, 1),
                    valid_until=date(2030, 11, 30),
                    acquired_on=date(2019, 5, 1),
                    reason="登録状況不明",
                )
            )
        households.append(
            render.Household(
                kigo="1234",
                bango=str(h),
                addressee_name=f"𠮷田 太郎{h}",
                addressee_kana="ヨシダ タロウ",
                route="事業主経由",
                letter_date=date(2025, 12, 1),
                cards=tuple(cards),
                checklist=tuple(
                    render.ChecklistEntry(c.name, "2" if c.relationship == "本人" else "1→2")
                    for c in cards
                ),
                employer_name="株式会社デモ",
            )
        )
    return render.Chunk(
        households=tuple(households),
        cover=render.BundleCover("E001", "株式会社デモ", date(2025, 12, 1)),
    )


def test_seconds_per_household_for_a_100_household_chunk():
    chunk = _chunk()
    t0 = time.perf_counter()
    render.warm_up()
    warm = time.perf_counter() - t0
    figures = []
    for _ in range(2):
        wall, cpu = time.perf_counter(), time.process_time()
        result = render.render_chunk(chunk)
        figures.append((time.perf_counter() - wall, time.process_time() - cpu))
    wall, cpu = min(figures)
    print(
        f"\nwarm-up {warm:.2f}s; {HOUSEHOLDS} households, {result.certificate_pages} certificates,"
        f" {len(result.pdf) // 1024} KiB: {wall:.1f}s wall = {wall / HOUSEHOLDS:.3f} s/household"
        f" (CPU {cpu / HOUSEHOLDS:.3f} s/household)"
    )
    assert result.certificate_pages == 150
    assert cpu / HOUSEHOLDS < 1.0
