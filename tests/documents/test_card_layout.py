"""The card and letter as the holder reads them, measured from the PDF (`pdftotext -bbox`: a word's
box is one em high, so its height is the font size): legible sizes, the card's back registered with
its front on the duplex sheet, 性別 on the back on request, the 被保険者氏名 on 家族 cards, and the
cards on the letter sheet where they fit."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from documents import render
from documents.render import (
    CARD_HEIGHT_MM,
    CARD_WIDTH_MM,
    LETTER_FOOT_MM,
    PAGE_WIDTH_MM,
    WINDOW_HEIGHT_MM,
    WINDOW_LEFT_MM,
    WINDOW_TOP_MM,
    WINDOW_WIDTH_MM,
    Chunk,
    household_card_slots,
    render_chunk,
)

from . import samples
from .pdfprobe import compact, reading_text, words


def _render(tmp_path, hh, name="doc.pdf", **chunk_options):
    chunk = Chunk(households=(hh,), **chunk_options)
    result = render_chunk(chunk)
    assert not result.skipped
    pdf = tmp_path / name
    pdf.write_bytes(result.pdf)
    return pdf, chunk


def _in_box(ws, left, top, width=CARD_WIDTH_MM, height=CARD_HEIGHT_MM):
    return [w for w in ws if w.overlaps(left, top, left + width, top + height)]


def _family(**extra):
    member = samples.card(1, "山田\u3000太郎")
    child = samples.card(2, "山田\u3000花子", relationship="家族", sex="女", **extra)
    return samples.household((member, child))


def test_card_items_are_legible_and_use_the_card(tmp_path):
    hh = _family()
    pdf, chunk = _render(tmp_path, hh, cards_on_letter=False)
    slots = household_card_slots(hh, chunk, on_letter=False)
    sheet = 5  # letter + blank, leaflet front/back, then the card sheet
    for slot in slots:
        ws = _in_box(words(pdf, sheet), slot["page_left"], slot["page_top"])
        assert ws and all(w.size_pt >= 7 for w in ws), [w for w in ws if w.size_pt < 7]
        # the 氏名 field (the 被保険者氏名 lower down on a 家族 card is smaller)
        names = [
            w for w in ws if w.text in ("山田", "太郎", "花子") and w.y0 < slot["page_top"] + 20
        ]
        assert names and all(w.size_pt >= 14 for w in names)  # the name large
        # the card's area is used: its text reaches into the bottom fifth of the card
        assert max(w.y1 for w in ws) > slot["page_top"] + CARD_HEIGHT_MM * 0.8


def test_letter_and_leaflet_body_is_at_least_10_pt_within_their_pages(tmp_path):
    hh = _family()
    pdf, _ = _render(tmp_path, hh, cards_on_letter=False)
    ws = words(pdf)
    window = (WINDOW_LEFT_MM, WINDOW_TOP_MM, WINDOW_LEFT_MM + WINDOW_WIDTH_MM)
    letter = [
        w for w in ws if w.page == 1 and not w.overlaps(*window, WINDOW_TOP_MM + WINDOW_HEIGHT_MM)
    ]
    assert letter and min(w.size_pt for w in letter) >= 10
    leaflet = [w for w in ws if w.page in (3, 4)]
    assert min(w.size_pt for w in leaflet) >= 10
    # still two pages (one sheet): the notice in front, the whole checklist on the back
    text = {n: compact(reading_text([w for w in ws if w.page == n])) for n in (3, 4, 5)}
    assert text[3].startswith("資格確認書が届いた加入者様へ")
    assert text[4].startswith("マイナ保険証への切替チェックリスト")
    assert "3電子証明書の更新をお忘れの方は市区町村の窓口へ" in text[4]
    assert "窓口で手続きを行うことで再発行できます" in text[4]
    assert "健康保険資格確認書" in text[5]


LEAFLET_BOTTOM_MM = 297 - 14  # the letter page's bottom margin (the leaflet is a `letter` page)


@pytest.mark.parametrize(
    "steps",
    [("1→2", "2", "3→2"), ("",), ("1→2",), ("2",), ("3→2",), ("1→2", "3→2")],
    ids=["all-marked", "none", "step1", "step2", "step3", "steps1-3"],
)
def test_leaflet_is_large_print_on_its_one_sheet_for_every_marking(tmp_path, steps):
    """The notice (front) and the checklist (back) as printed for each combination of ★ marks (the
    thicker marked boxes take room): every word at least 10 pt, the body larger (the notice at 12 pt,
    the checklist at 11 pt), the whole of each on its own page inside the page's margins, and the
    front using its page rather than leaving half of it empty."""
    # one card (on the letter); the household's checklist as if its members had these steps
    hh = replace(
        samples.household((samples.card(1, "山田\u3000太郎"),)),
        checklist=tuple(
            render.ChecklistEntry(f"山田\u3000{n}", step) for n, step in enumerate(steps)
        ),
    )
    pdf, _ = _render(tmp_path, hh, cards_on_letter=True)
    ws = words(pdf)
    # letter + cards on one sheet (pages 1–2), then the leaflet's sheet, then nothing
    assert {w.page for w in ws} <= {1, 2, 3, 4}
    front = [w for w in ws if w.page == 3]
    back = [w for w in ws if w.page == 4]
    for side, body in ((front, 12), (back, 11)):
        assert side and min(w.size_pt for w in side) >= 10, [w for w in side if w.size_pt < 10]
        sizes = sorted(w.size_pt for w in side)
        assert sizes[len(sizes) // 2] >= body  # the median word: the body text
        assert max(w.y1 for w in side) <= LEAFLET_BOTTOM_MM
    front_text = compact(reading_text(front))
    back_text = compact(reading_text(back))
    assert front_text.startswith("資格確認書が届いた加入者様へ")
    assert (
        "不正に資格確認書を使用した場合、刑法により詐欺罪として拘禁刑の処分を受けることがあります。"
        in (front_text)
    )
    assert "なお、切り替え手続き等につきましては裏面をご覧ください。" in front_text
    assert max(w.y1 for w in front) > 297 * 0.75  # the notice fills most of its page
    assert back_text.startswith("マイナ保険証への切替チェックリスト")
    assert back_text.endswith("手続きを行うことで再発行できます。")


def test_card_back_is_registered_with_its_front(tmp_path):
    elderly = samples.card(
        1,
        "﨑山\u3000三郎",
        birth_date=date(1955, 6, 15),
        elderly_start=date(2025, 7, 1),
        copay_ratio="2割",
    )
    child = samples.card(2, "﨑山\u3000花子", relationship="家族", sex="女")
    hh = samples.household((elderly, child))
    pdf, chunk = _render(tmp_path, hh, cards_on_letter=False, elderly_on_certificate=False)
    slots = household_card_slots(hh, chunk, on_letter=False)
    assert len(slots) == 2  # the 高齢受給者証 is printed on its own events (elderly/), not in a run
    backs = words(pdf, 6)
    for slot in slots:
        # long-edge duplex: the sheet turns over its vertical axis, so the back is mirrored
        assert slot["back_left"] == pytest.approx(PAGE_WIDTH_MM - slot["page_left"] - CARD_WIDTH_MM)
        ws = _in_box(backs, slot["back_left"], slot["back_top"])
        assert ws and all(
            w.inside(
                slot["back_left"],
                slot["back_top"],
                slot["back_left"] + CARD_WIDTH_MM,
                slot["back_top"] + CARD_HEIGHT_MM,
            )
            for w in ws
        )
        assert all(w.size_pt >= 7 for w in ws)
        text = compact(reading_text(ws))
        assert "注意事項" in text
        if slot["kind"] == "certificate":
            assert "住所(ご自身で記入してください)" in text
            assert "5日以内に資格確認書を事業主経由で返却してください" in text
            assert "臓器提供" not in text  # off unless the society turns it on
    # nothing on the back page lies outside the backs
    boxes = [(s["back_left"], s["back_top"]) for s in slots]
    assert all(
        any(w.inside(x, y, x + CARD_WIDTH_MM, y + CARD_HEIGHT_MM) for x, y in boxes) for w in backs
    )


def test_sex_on_the_back_on_request(tmp_path):
    hh = _family(sex_on_back=True)
    pdf, chunk = _render(tmp_path, hh, cards_on_letter=False)
    member, child = household_card_slots(hh, chunk, on_letter=False)
    fronts, backs = words(pdf, 5), words(pdf, 6)
    front = compact(reading_text(_in_box(fronts, child["page_left"], child["page_top"])))
    assert "性別裏面参照" in front and "性別女" not in front
    back = compact(reading_text(_in_box(backs, child["back_left"], child["back_top"])))
    assert "性別女" in back
    other = compact(reading_text(_in_box(fronts, member["page_left"], member["page_top"])))
    assert "性別男" in other
    other_back = compact(reading_text(_in_box(backs, member["back_left"], member["back_top"])))
    assert "性別" not in other_back


def test_organ_donation_field_is_a_society_setting(tmp_path, settings):
    settings.CARD_ORGAN_DONATION = True
    hh = _family()
    pdf, chunk = _render(tmp_path, hh, cards_on_letter=False)
    for slot in household_card_slots(hh, chunk, on_letter=False):
        ws = _in_box(words(pdf, 6), slot["back_left"], slot["back_top"])
        text = compact(reading_text(ws))
        assert "臓器提供意思表示欄" in text and "住所(ご自身で記入してください)" in text
        assert "本人署名(自筆)" in text and all(w.size_pt >= 7 for w in ws)


@pytest.mark.parametrize("shown", [True, False])
def test_family_card_shows_the_insured_name(tmp_path, settings, shown):
    settings.CARD_INSURED_NAME_ON_FAMILY = shown
    hh = _family()
    pdf, chunk = _render(tmp_path, hh, cards_on_letter=False)
    member, child = household_card_slots(hh, chunk, on_letter=False)
    ws = words(pdf, 5)
    child_text = compact(reading_text(_in_box(ws, child["page_left"], child["page_top"])))
    member_text = compact(reading_text(_in_box(ws, member["page_left"], member["page_top"])))
    assert ("被保険者氏名山田太郎" in child_text) is shown
    assert "被保険者氏名" not in member_text  # a 本人 card is the 被保険者's own


def test_cards_go_on_the_letter_sheet_where_they_fit(tmp_path):
    hh = _family()
    pdf, chunk = _render(tmp_path, hh)
    ws = words(pdf)
    assert max(w.page for w in ws) == 4  # 2 sheets: letter with cards, leaflet
    slots = household_card_slots(hh, chunk, on_letter=True)
    letter = [w for w in ws if w.page == 1]
    on_cards = []
    for slot in slots:
        assert slot["page_top"] >= LETTER_FOOT_MM  # in the tri-fold's bottom panel
        card_words = _in_box(letter, slot["page_left"], slot["page_top"])
        assert "健康保険資格確認書" in compact(reading_text(card_words))
        on_cards += card_words
        back = _in_box([w for w in ws if w.page == 2], slot["back_left"], slot["back_top"])
        assert "住所(ご自身で記入してください)" in compact(reading_text(back))
    # the letter's own text ends above the card area
    assert all(
        w.y1 <= LETTER_FOOT_MM for w in letter if w not in on_cards and "キリトリ" not in w.text
    )


def test_more_cards_than_the_foot_holds_get_a_card_sheet(tmp_path):
    third = samples.card(3, "山田\u3000次郎", relationship="家族")
    hh = replace(_family(), cards=(*_family().cards, third))
    pdf, _ = _render(tmp_path, hh)
    assert max(w.page for w in words(pdf)) == 6  # letter, leaflet, card sheet


def test_cards_on_letter_is_a_society_setting(tmp_path, settings):
    settings.CARDS_ON_LETTER = False
    pdf, _ = _render(tmp_path, _family())
    assert max(w.page for w in words(pdf)) == 6


def test_a_letter_too_long_for_the_foot_area_gets_a_card_sheet(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "LETTER_FOOT_MM", 60.0)  # as if the letter ran past the fold
    pdf, _ = _render(tmp_path, _family())
    ws = words(pdf)
    assert max(w.page for w in ws) == 6
    assert "健康保険資格確認書" not in compact("".join(w.text for w in ws if w.page == 1))


@pytest.mark.parametrize("elderly_on_certificate", [True, False])
def test_fullest_card_has_no_overlapping_text(tmp_path, elderly_on_certificate):
    """Every optional row at once (高齢 line, a 被保険者氏名 that wraps, a name that wraps): the fields
    still do not run into each other or into the 保険者 rows at the foot."""
    from .test_whole_names import LONG

    member = samples.card(1, LONG[0])
    elder = samples.card(
        2,
        LONG[1],
        relationship="家族",
        birth_date=date(1955, 6, 15),
        elderly_start=date(2025, 7, 1),
        copay_ratio="2割",
    )
    hh = samples.household((member, elder))
    pdf, chunk = _render(
        tmp_path, hh, cards_on_letter=False, elderly_on_certificate=elderly_on_certificate
    )
    for slot in household_card_slots(hh, chunk, on_letter=False):
        ws = _in_box(words(pdf, 5), slot["page_left"], slot["page_top"])
        for i, a in enumerate(ws):
            assert a.inside(
                slot["page_left"],
                slot["page_top"],
                slot["page_left"] + CARD_WIDTH_MM,
                slot["page_top"] + CARD_HEIGHT_MM,
            )
            for b in ws[i + 1 :]:
                assert not a.overlaps(b.x0 + 0.2, b.y0 + 0.2, b.x1 - 0.2, b.y1 - 0.2), (a, b)


@pytest.mark.django_db
def test_the_person_flag_reaches_the_printed_card(clerk, supervisor, media_root, tmp_path):
    from documents.models import GeneratedDocument
    from members.models import Employer

    from .conftest import execute_run, make_dependent, make_member, set_status

    employer = Employer.objects.create(code="E001", name="株式会社テスト")
    member = make_member(name="山田 太郎", employer=employer)
    child = make_dependent(member, name="山田 花子", edaban="02")
    child.sex_on_back = True
    child.save()
    set_status([(member, "未登録", None), (child, "未登録", None)])
    run = execute_run(clerk, supervisor)
    doc = GeneratedDocument.objects.get(run=run)
    pdf = tmp_path / "run.pdf"
    pdf.write_bytes(doc.file.read())
    doc.file.close()
    ws = words(pdf)
    # both cards fit at the foot of the letter (cover page + its blank first)
    letter_page = next(w.page for w in ws if w.text == "資格確認書の送付について")
    fronts = [w for w in ws if w.page == letter_page and w.y0 >= LETTER_FOOT_MM]
    text = compact(reading_text(fronts))
    assert text.count("健康保険資格確認書") == 2
    assert text.count("性別裏面参照") == 1 and "性別男" in text
    backs = compact(reading_text([w for w in ws if w.page == letter_page + 1]))
    assert backs.count("性別女") == 1


def test_only_the_letters_too_long_are_laid_out_again(tmp_path, monkeypatch):
    """A chunk whose middle household's letter runs into the card area: that household alone is
    laid out again with a card sheet (the others keep theirs on the letter, in order), and the
    second layout holds only its letter."""
    short_a = samples.household((samples.card(1, "山田\u3000太郎", bango="1001"),))
    short_c = samples.household((samples.card(5, "鈴木\u3000一郎", bango="1003"),))
    member = samples.card(3, "佐藤\u3000次郎", bango="1002")
    child = replace(
        samples.card(4, "佐藤\u3000三郎", bango="1002", relationship="家族"),
        reason="登録状況不明",
    )
    long_b = replace(samples.household((member, child)), address="東京都千代田区" * 4)
    chunk = Chunk(households=(short_a, long_b, short_c))
    laid_out = []
    original = render._layout

    def spy(html):
        laid_out.append(html)
        return original(html)

    monkeypatch.setattr(render, "_layout", spy)
    monkeypatch.setattr(render, "_letters_too_long", lambda doc, on_letter: {1} & on_letter)
    result = render_chunk(chunk)
    chunk_layouts = [h for h in laid_out if "資格確認書の送付について" in h]
    assert len(chunk_layouts) == 2
    assert "佐藤" in chunk_layouts[1]
    assert "山田" not in chunk_layouts[1] and "鈴木" not in chunk_layouts[1]
    pdf = tmp_path / "chunk.pdf"
    pdf.write_bytes(result.pdf)
    ws = words(pdf)
    # A: letter with its card + leaflet (4 pages); B: letter, leaflet, card sheet (6); C: 4
    assert max(w.page for w in ws) == 14
    page_text = {p: compact("".join(w.text for w in ws if w.page == p)) for p in range(1, 15)}
    for first, name in ((1, "山田"), (5, "佐藤"), (11, "鈴木")):
        assert "資格確認書の送付について" in page_text[first] and name in page_text[first]
    assert "健康保険資格確認書" in page_text[1] and "健康保険資格確認書" in page_text[11]
    assert "健康保険資格確認書" not in page_text[5]  # B's letter has no card area
    assert page_text[9].count("健康保険資格確認書") == 2  # B's card sheet
