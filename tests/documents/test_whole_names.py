"""A name is printed whole, exactly as stored (rules.md, Documents): shrunk to fit, then wrapped; a
document that still cannot hold it is refused with the reason and counted as not printed."""

from __future__ import annotations

import random

import pytest

from certificates.models import RunState
from documents.fitting import BOXES, fit, refusal
from documents.models import GeneratedDocument
from documents.render import Chunk, render_chunk
from documents.selectors import run_progress
from members.models import Employer

from . import samples
from .conftest import card_texts, execute_run, make_dependent, make_member, pdf_text
from .pdfprobe import compact, words

# Parts of the long names a register really holds: foreign-born members written in katakana with
# several parts, 異体字 and non-BMP kanji, full-width spaces between the parts.
_PARTS = [
    "ファン・デル・ヴェステルハウゼン", "マクシミリアン", "アレクサンドラ", "エリザベート",
    "クリストファー", "ジョナサン", "フォン・ハプスブルク", "ウィリアムズ", "セバスチャン",
    "𠮷田", "髙橋", "山﨑", "ヴィクトリア", "グエン・ティ・タン",
]  # fmt: skip


def generated_register(count: int = 300, seed: int = 17) -> list[str]:
    """A register's names (deterministic): two to five parts joined by full-width spaces."""
    rng = random.Random(seed)
    return ["\u3000".join(rng.sample(_PARTS, rng.randint(2, 5))) for _ in range(count)]


def longest(n: int, limit: int) -> list[str]:
    names = sorted(set(generated_register()), key=lambda n: (-len(n), n))
    return [x for x in names if len(x) <= limit][:n]


LONG = longest(4, 60)


def test_the_register_holds_the_long_names_this_is_about():
    assert all(len(n) >= 40 for n in LONG)
    assert any("𠮷" in n for n in longest(40, 60))
    assert all("\u3000" in n for n in LONG)


@pytest.mark.parametrize("name", [*LONG, "𠮷田\u3000太郎", "山田 花子"])
def test_fit_keeps_every_character(name):
    for box in ("card_name", "window_name"):
        result = fit(name, box)
        assert result is not None, refusal(name, box)
        assert "".join(result.lines) == name  # nothing dropped, nothing added
        assert result.size_pt >= BOXES[box].min_pt


def test_shrinks_before_it_wraps():
    short = fit("山田\u3000太郎", "card_name")
    assert short.lines == ("山田\u3000太郎",) and short.size_pt == BOXES["card_name"].max_pt
    medium = fit("ウィリアムズ\u3000クリストファー\u3000ジョン", "card_name")  # 18 characters
    assert len(medium.lines) == 1 and medium.size_pt < BOXES["card_name"].max_pt
    long = fit(LONG[0], "card_name")
    assert len(long.lines) > 1


def test_names_wrap_at_their_spaces_when_they_can():
    result = fit(LONG[0], "card_name")
    for line in result.lines[:-1]:
        assert line.endswith("\u3000") or line.endswith(" ") or "\u3000" not in LONG[0]


def test_too_long_is_refused_with_the_reason():
    name = "ア" * 100
    assert fit(name, "card_name") is None
    why = refusal(name, "card_name")
    assert "資格確認書の氏名欄に収まりません" in why and "100文字" in why


def test_longest_names_print_whole_on_card_letter_and_window(tmp_path):
    member = samples.card(1, LONG[0])
    dependents = tuple(
        samples.card(n, name, relationship="家族", sex="女") for n, name in enumerate(LONG[1:], 2)
    )
    hh = samples.household((member, *dependents))
    result = render_chunk(Chunk(households=(hh,)))
    assert result.skipped == () and result.certificate_pages == len(LONG)
    pdf = tmp_path / "long.pdf"
    pdf.write_bytes(result.pdf)
    pages = pdf_text(result.pdf, tmp_path)
    letter = compact(pages[0])
    assert compact(LONG[0] + " 様") in letter  # the window's 宛名
    for name in LONG:
        assert compact(name) in letter  # the list of enclosed certificates
    sheet = next(n for n, t in enumerate(pages, 1) if "健康保険資格確認書" in compact(t))
    cards = [compact(t) for t in card_texts(pdf, sheet)]
    for name, text in zip(LONG, cards, strict=True):
        assert compact(f"氏名{name}") in text
    # on the card, nothing leaves the card's box (a cut name would): every word of the sheet lies
    # inside one of the cards, and the name is at least 7 pt
    from documents.render import CARD_HEIGHT_MM, CARD_WIDTH_MM, _card_slots

    slots = _card_slots(hh, Chunk(households=(hh,)))
    boxes = [
        (s["left"], s["top"], s["left"] + CARD_WIDTH_MM, s["top"] + CARD_HEIGHT_MM) for s in slots
    ]
    for w in words(pdf, sheet):
        assert any(w.inside(*b) for b in boxes), w
        assert w.size_pt >= 7, w


@pytest.mark.django_db
def test_a_name_no_card_can_hold_is_refused_and_counted_not_printed(
    clerk, supervisor, media_root, tmp_path
):
    employer = Employer.objects.create(code="E001", name="株式会社テスト")
    member = make_member(name="山田\u3000太郎", employer=employer)
    long_child = make_dependent(member, name="ア" * 99, edaban="02")
    long_member = make_member(name="イ" * 99, employer=employer)
    from .conftest import set_status

    set_status([(p, "未登録", None) for p in (member, long_child, long_member)])
    run = execute_run(clerk, supervisor)

    # every PDF is stored, but two certificates were left out of printing: the run says so
    assert run.state == RunState.PRINT_INCOMPLETE
    doc = GeneratedDocument.objects.get(run=run)
    skipped = {s["person"]: s for s in doc.skipped}
    assert set(skipped) == {long_child.key, long_member.key}
    assert skipped[long_child.key]["field"] == "氏名"
    assert "資格確認書の氏名欄に収まりません" in skipped[long_child.key]["message"]
    # the member's own name is the letter's 宛名: the envelope cannot go out at all
    assert skipped[long_member.key]["field"] == "氏名(宛名)"
    assert "封筒の窓(宛名)に収まりません" in skipped[long_member.key]["message"]
    assert run_progress(run)["skipped"] == 2
    assert {s["person"] for s in run.summary["print_skipped"]} == set(skipped)
    assert doc.certificate_pages == 1
    text = compact("".join(pdf_text(doc.file.read(), tmp_path)))
    doc.file.close()
    assert "山田太郎" in text and "アアアア" not in text and "イイイイ" not in text
