"""A run rendered end to end: run_execute → run_documents_schedule → the Celery task (eager) →
stored PDFs, read back with pdftotext/pypdf.

The run is built and rendered once per module; everything the tests look at is copied out as plain
data before the transaction is rolled back, so the tests themselves need no database.
"""

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from django.db import transaction
from pypdf import PdfReader

from certificates.models import Certificate, RunState
from core.roles import CLERK, SUPERVISOR
from documents.models import DocumentState, GeneratedDocument
from documents.selectors import run_progress
from members.models import Employer
from tests.conftest import _user

from .conftest import (
    card_texts,
    execute_run,
    make_dependent,
    make_member,
    pdf_text,
    region_text,
    set_status,
    squash,
)
from .pdfprobe import compact, pdfa_problems


def build_population():
    e1 = Employer.objects.create(code="E001", name="株式会社テスト")
    e2 = Employer.objects.create(code="E002", name="テスト工業株式会社")
    yoshida = make_member(name="𠮷田 太郎", kana="ヨシダ タロウ", employer=e1)
    takahashi = make_dependent(yoshida, name="髙橋 花子", kana="タカハシ ハナコ")
    yamada = make_member(name="山田 一郎", kana="ヤマダ イチロウ", employer=e1)
    sato = make_member(name="佐藤 次郎", kana="サトウ ジロウ", employer=e2)
    # 70–74: 高齢受給者 from 2025-07-01 (70th birthday 2025-06-15), 3割 (標準報酬月額 ≥ 280,000)
    elder = make_member(
        name="﨑山 三郎", kana="サキヤマ サブロウ", employer=e2, birth_date=date(1955, 6, 15)
    )
    suzuki = make_member(
        name="鈴木 四郎",
        kana="スズキ シロウ",
        voluntary_until=date(2026, 9, 30),
        postal_code="1500001",
        address="東京都渋谷区神宮前一丁目2番3号 髙木マンション101",
    )
    set_status(
        [
            (yoshida, "未登録", None),
            (yamada, "電子証明書失効", date(2025, 6, 30)),
            (sato, "登録解除", None),
            (elder, "未登録", None),
            (suzuki, "カード返納", None),
        ]
    )
    # takahashi has no status on file: 登録状況不明 → no valid card known → 1→2
    return {
        "yoshida": yoshida,
        "takahashi": takahashi,
        "yamada": yamada,
        "sato": sato,
        "elder": elder,
        "suzuki": suzuki,
    }


@pytest.fixture
def population(db):
    return build_population()


@dataclass
class Doc:
    chunk_no: int
    employer: str | None
    path: Path
    state: str
    page_count: int
    certificate_pages: int


@dataclass
class Rendered:
    run_state: str
    run_finished: bool
    progress: dict
    people: dict  # who → {"name", "kigo", "bango", "edaban", "relationship", "number"}
    docs: list[Doc]
    pages: list[tuple[int, int, str]]  # (doc index, 1-based page, text)
    cards: list[tuple[int, int, str]]  # (doc index, page, text cropped to one card)
    cover_layout: str  # first page of the E001 bundle, pdftotext -layout


@pytest.fixture(scope="module")
def rendered(django_db_setup, django_db_blocker, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    from django.conf import settings

    old_media = settings.MEDIA_ROOT
    settings.MEDIA_ROOT = tmp / "media"
    try:
        with django_db_blocker.unblock(), transaction.atomic():
            people = build_population()
            run = execute_run(_user("c1", CLERK), _user("s1", SUPERVISOR))
            certs = {c.person_id: c.number for c in Certificate.objects.filter(run=run)}
            docs = [
                Doc(
                    d.chunk_no,
                    d.employer.code if d.employer else None,
                    Path(d.file.path),
                    d.state,
                    d.page_count,
                    d.certificate_pages,
                )
                for d in GeneratedDocument.objects.filter(run=run).order_by("chunk_no")
            ]
            result = Rendered(
                run_state=run.state,
                run_finished=run.finished_at is not None,
                progress=run_progress(run),
                people={
                    who: {
                        "name": p.name,
                        "kigo": p.kigo,
                        "bango": p.bango,
                        "edaban": p.edaban,
                        "relationship": p.relationship,
                        "number": certs.get(p.pk),
                    }
                    for who, p in people.items()
                },
                docs=docs,
                pages=[],
                cards=[],
                cover_layout="",
            )
            transaction.set_rollback(True)
    finally:
        settings.MEDIA_ROOT = old_media
    for i, doc in enumerate(result.docs):
        for n, text in enumerate(pdf_text(doc.path.read_bytes(), tmp), start=1):
            result.pages.append((i, n, text))
            if "健康保険 資格確認書" in squash(text):
                result.cards += [(i, n, c) for c in card_texts(doc.path, n)]
    result.cover_layout = pdf_text(result.docs[0].path.read_bytes(), tmp, layout=True)[0]
    return result


def test_eager_path_completes_the_run(rendered):
    assert rendered.run_state == RunState.DONE
    assert rendered.run_finished
    assert [d.state for d in rendered.docs] == [DocumentState.STORED] * 3
    # one bundle per 事業所 (E001, E002), then the 自宅 households
    assert [d.employer for d in rendered.docs] == ["E001", "E002", None]
    assert rendered.progress == {
        "total": 3,
        "stored": 3,
        "failed": 0,
        "rendering": 0,
        "pending": 0,
        "skipped": 0,
        "certificate_pages": 6,
    }
    for doc in rendered.docs:
        assert len(PdfReader(doc.path).pages) == doc.page_count


def test_the_stored_run_documents_pass_the_pdfa_checks(rendered):
    # both bundles via the employer and the 自宅 chunk, as stored by the task (tests/documents/test_pdfa.py
    # has the other kinds)
    for doc in rendered.docs:
        assert pdfa_problems(doc.path) == [], doc.employer


def test_each_certificate_is_on_exactly_one_page_and_card(rendered):
    numbers = [p["number"] for p in rendered.people.values()]
    assert len(set(numbers)) == 6 and None not in numbers
    for number in numbers:
        on_pages = [(i, n) for i, n, t in rendered.pages if f"証明書番号 {number}" in squash(t)]
        assert len(on_pages) == 1, (number, on_pages)
    certificate_cards = [c for _, _, c in rendered.cards if "健康保険 資格確認書" in c]
    assert len(certificate_cards) == 6
    assert sum(d.certificate_pages for d in rendered.docs) == 6


def _card_of(rendered, who):
    number = rendered.people[who]["number"]
    found = [c for _, _, c in rendered.cards if f"証明書番号 {number}" in c]
    assert len(found) == 1, (who, found)
    return found[0]


@pytest.mark.parametrize(
    ("who", "name", "expiry"),
    [
        ("yoshida", "𠮷田 太郎", "令和12年11月30日"),
        ("takahashi", "髙橋 花子", "令和12年11月30日"),
        ("yamada", "山田 一郎", "令和12年11月30日"),
        # the day before the 75th birthday (2030-06-15)
        ("elder", "﨑山 三郎", "令和12年6月14日"),
        # 任意継続: the 任意継続満了日
        ("suzuki", "鈴木 四郎", "令和8年9月30日"),
    ],
)
def test_each_card_prints_holder_dates_and_insurer(rendered, who, name, expiry):
    p = rendered.people[who]
    card = _card_of(rendered, who)
    # pdftotext extracts the IPAmj glyphs as the original code points (𠮷 U+20BB7, 髙, 﨑)
    assert name in card
    assert "健康保険 資格確認書" in card
    assert "交付年月日 令和7年12月1日" in card
    assert f"有効期限 {expiry}" in card
    assert "保険者番号 06139018" in card
    assert "保険者名称 デモ健康保険組合" in card
    assert "保険者所在地 東京都千代田区丸の内一丁目1番1号" in card
    assert f"記号 {p['kigo']} 番号 {p['bango']} 枝番 {p['edaban']}" in card
    assert p["relationship"] in card
    # the 住所 the holder writes in is on the card's back, the page after its front
    i, n = next((i, n) for i, n, c in rendered.cards if f"証明書番号 {p['number']}" in c)
    back = next(t for j, m, t in rendered.pages if (j, m) == (i, n + 1))
    assert "住所(ご自身で記入してください)" in squash(back)


def test_birthdates_print_in_wareki_back_to_showa(rendered):
    card = _card_of(rendered, "elder")
    assert "生年月日 昭和30年6月15日" in card
    assert "資格取得年月日 平成27年4月1日" in card


BOXES = {
    "1 → 2": "NO → やることリスト 1 → 2 を対応ください",
    "2": "NO → やることリスト 2 を対応ください",
    "3 → 2": "NO → やることリスト 3 → 2 * を対応ください",
}


def _letter_and_checklist(rendered, name):
    """The household letter naming this holder, and the checklist page of the leaflet that follows
    it in the same envelope."""
    letters = [
        (i, n)
        for i, n, t in rendered.pages
        if "資格確認書の送付について" in t and f"【{name} 様のやること】" in squash(t)
    ]
    assert len(letters) == 1, name
    i, n = letters[0]
    letter = squash(next(t for j, m, t in rendered.pages if (j, m) == (i, n)))
    checklist = next(
        squash(t)
        for j, m, t in rendered.pages
        if j == i and m > n and "マイナ保険証への切替チェックリスト" in t
    )
    return letter, checklist


@pytest.mark.parametrize(
    ("name", "step", "household_steps"),
    [
        # 未登録: card but not registered → 2 (same envelope as 髙橋 花子: no status → 1 → 2)
        ("𠮷田 太郎", "2", {"2", "1 → 2"}),
        ("髙橋 花子", "1 → 2", {"2", "1 → 2"}),
        # 電子証明書失効 → 3 → 2
        ("山田 一郎", "3 → 2", {"3 → 2"}),
        # 登録解除 → 2
        ("佐藤 次郎", "2", {"2"}),
        # カード返納 → 1 → 2
        ("鈴木 四郎", "1 → 2", {"1 → 2"}),
    ],
)
def test_checklist_marks_this_holders_step(rendered, name, step, household_steps):
    letter, checklist = _letter_and_checklist(rendered, name)
    assert f"【{name} 様のやること】 やることリスト {step} を対応ください" in letter
    # the enclosed checklist stars exactly the boxes of this envelope's holders
    for box_step, box in BOXES.items():
        assert box in checklist
        assert (f"★ {box}" in checklist) == (box_step in household_steps), box_step


def test_household_letter_lists_its_certificates_reason_and_notice(rendered):
    letter = next(
        squash(t)
        for _, _, t in rendered.pages
        if "資格確認書の送付について" in t and "𠮷田 太郎 様" in t
    )
    assert rendered.people["yoshida"]["number"] in letter
    assert rendered.people["takahashi"]["number"] in letter
    assert "マイナンバーカードの健康保険証利用登録が確認できないため" in letter
    assert "マイナ保険証の利用登録状況が確認できないため" in letter
    assert "詐欺罪として拘禁刑の処分を受けることがあります" in letter
    assert "交付事由 未登録" in letter and "交付事由 登録状況不明" in letter
    assert "(株式会社テスト 経由)" in letter
    assert "デモ健康保険組合" in letter


def test_every_envelope_carries_the_notice_with_dates_and_fee(rendered):
    letters = [(i, n) for i, n, t in rendered.pages if "資格確認書の送付について" in t]
    notices = [(i, n) for i, n, t in rendered.pages if "資格確認書の取扱いにあたっての留意点" in t]
    assert len(letters) == len(notices) == 5  # one per household
    # without line breaks: the notice is set large, so a phrase may wrap anywhere
    notice = compact(next(t for i, n, t in rendered.pages if (i, n) == notices[0]))
    assert "令和7年12月2日以降、従来の健康保険証が利用できなくなるため" in notice
    assert "直ちに住所欄に住所を記載してください" in notice
    assert "手数料1,000円を徴収します" in notice
    assert "詐欺罪として拘禁刑の処分を受けることがあります" in notice
    # duplex: the notice is an odd page and its checklist the even page on its back
    for i, n in notices:
        assert n % 2 == 1
        back = next(t for j, m, t in rendered.pages if (j, m) == (i, n + 1))
        assert "マイナ保険証への切替チェックリスト" in back


def test_bundle_cover_lists_the_envelopes_of_its_own_employer(rendered):
    first_page = {i: squash(t) for i, n, t in rendered.pages if n == 1}
    numbers = {who: p["number"] for who, p in rendered.people.items()}
    cover1 = first_page[0]
    assert "資格確認書 対象者一覧表" in cover1
    assert "株式会社テスト 御中" in cover1 and "事業所記号 E001" in cover1
    assert "開封せずに" in cover1
    assert "封筒 2 通 / 資格確認書 3 枚" in cover1
    for who in ("yoshida", "takahashi", "yamada"):
        assert numbers[who] in cover1
    assert "𠮷田 太郎" in cover1 and "山田 一郎" in cover1
    assert "佐藤 次郎" not in cover1 and "鈴木 四郎" not in cover1
    cover2 = first_page[1]
    assert "テスト工業株式会社 御中" in cover2 and "封筒 2 通 / 資格確認書 2 枚" in cover2
    assert "𠮷田" not in cover2 and numbers["sato"] in cover2 and numbers["elder"] in cover2
    # 自宅 households get no employer list
    assert "対象者一覧表" not in first_page[2]
    # a row of the list: No, 記号・番号, name, count, the envelope's 証明書番号
    p = rendered.people["yoshida"]
    row = next(line for line in rendered.cover_layout.splitlines() if "𠮷田 太郎" in line)
    assert row.split()[:2] == ["1", f"{p['kigo']}・{p['bango']}"]
    assert numbers["yoshida"] in row and numbers["takahashi"] in row


def test_home_delivery_letter_shows_the_address_in_the_envelope_window(rendered):
    home = rendered.docs[2]
    page = next(n for i, n, t in rendered.pages if i == 2 and "資格確認書の送付について" in t)
    # 長形3号 window: about 23 mm from the left, 14 mm from the top, 90 × 45 mm
    window = region_text(home.path, page, x_mm=20, y_mm=12, w_mm=92, h_mm=47)
    text = compact(window)
    assert "〒150-0001" in text
    assert "東京都渋谷区神宮前一丁目2番3号髙木マンション101" in text
    assert "鈴木四郎様" in text
    # an employer-delivered letter shows no postal address in the window
    e1 = rendered.docs[0]
    page = next(n for i, n, t in rendered.pages if i == 0 and "資格確認書の送付について" in t)
    window = region_text(e1.path, page, x_mm=20, y_mm=12, w_mm=92, h_mm=47)
    assert "𠮷田 太郎 様" in window and "〒" not in window


def test_the_run_prints_no_koreijukyushasho_it_is_issued_on_its_own_event(rendered):
    # rules.md "高齢受給者証 (70–74), as events": the run's envelope holds the 資格確認書 with its
    # reminder; the numbered 高齢受給者証 comes from the elderly events (tests/elderly), never from
    # the run with a start that may be years after it.
    card = _card_of(rendered, "elder")
    assert "令和7年7月1日以降は高齢受給者証を添えて提示してください" in card
    assert not [c for _, _, c in rendered.cards if "健康保険 高齢受給者証" in c]
    letter = next(
        squash(t) for _, _, t in rendered.pages if "﨑山 三郎 様の高齢受給者証" in squash(t)
    )
    assert "別途お送りします" in letter.replace(" ", "") and "同封しています" not in letter


@pytest.mark.django_db
def test_ratio_on_the_certificate_when_the_setting_says_so(
    population, clerk, supervisor, media_root, tmp_path, settings
):
    settings.ELDERLY_RATIO_ON_CERTIFICATE = True
    run = execute_run(clerk, supervisor)
    e2 = GeneratedDocument.objects.get(run=run, employer__code="E002")
    path = Path(e2.file.path)
    cards = [
        c
        for n, t in enumerate(pdf_text(path.read_bytes(), tmp_path), start=1)
        if "健康保険 資格確認書" in squash(t)
        for c in card_texts(path, n)
    ]
    elder = next(c for c in cards if "﨑山 三郎" in c)
    assert "一部負担金の割合 3割" in elder and "発効日 令和7年7月1日" in elder
    assert not any("高齢受給者証" in c for c in cards)


@pytest.mark.django_db
def test_fee_and_society_name_come_from_settings(
    population, clerk, supervisor, media_root, tmp_path, settings
):
    settings.REISSUE_FEE_YEN = 1500
    settings.INSURER_NAME = "さくら健康保険組合"
    run = execute_run(clerk, supervisor)
    doc = GeneratedDocument.objects.filter(run=run).order_by("chunk_no").first()
    text = squash("".join(pdf_text(Path(doc.file.path).read_bytes(), tmp_path)))
    assert "手数料1,500円を徴収します" in text
    assert "保険者名称 さくら健康保険組合" in text
    assert run.state == RunState.DONE
