"""Rendering as pure functions: plain data in, PDF bytes out (no database access here).

The costly parts of WeasyPrint are set up once per process and reused (issue 4, measured: one document
per person costs ~1 s, mostly loading and subsetting the 46 MB IPAmj font; a chunk of many households
costs a few tens of ms each): the parsed stylesheet (`CSS`), the `FontConfiguration` that holds the
@font-face fonts, and the fonts' cmaps for the glyph check. Celery workers warm them after fork
(documents/tasks.py); WeasyPrint itself is imported lazily so nothing of it exists before the fork.

A chunk (one 事業所 bundle part, or up to PDF_CHUNK_HOUSEHOLDS 自宅 households) is one HTML document and
one PDF: the bundle's 対象者一覧表, then per household the cover letter, the leaflet (front: notice and
handling notes; back: the マイナ保険証 checklist) and the cards (資格確認書, and 高齢受給者証 where the
society issues it separately): at the letter's foot where they fit (CARDS_ON_LETTER), else on a card
sheet; each card's back on the sheet's reverse, mirrored for long-edge duplex. Names and addresses
are fitted to their fields (documents/fitting.py) or the card/envelope is left out with the reason.
"""

from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string

from certificates.models import Route

from .fitting import addressee_text, refusal, via_text
from .fonts import FONT_FACES, describe_character, uncovered_characters

STYLESHEET = Path(settings.BASE_DIR) / "static" / "documents" / "print.css"
# Cards per A4 sheet: 2 columns × 5 rows of 85.6 × 54 mm (171.2 × 270 mm) leave room for cut marks.
PAGE_WIDTH_MM = 210.0
PAGE_HEIGHT_MM = 297.0
CARD_COLUMNS = 2
CARD_ROWS = 5
CARDS_PER_SHEET = CARD_COLUMNS * CARD_ROWS
CARD_WIDTH_MM = 85.6
CARD_HEIGHT_MM = 54.0
SHEET_LEFT_MM = (210 - CARD_COLUMNS * CARD_WIDTH_MM) / 2
SHEET_TOP_MM = (297 - CARD_ROWS * CARD_HEIGHT_MM) / 2
# 長形3号 (120 × 235 mm) window envelope, A4 folded in three: where its window lies on the sheet, and
# the clear space kept on every side of the address block inside it (the block's rule below is
# generated from these; tests/documents/visual checks the printed text lies inside).
WINDOW_LEFT_MM = 23.0
WINDOW_TOP_MM = 14.0
WINDOW_WIDTH_MM = 90.0
WINDOW_HEIGHT_MM = 45.0
WINDOW_CLEAR_MM = 3.0
LETTER_MARGIN_TOP_MM = 12.0
LETTER_MARGIN_LEFT_MM = 18.0
# Cards on the letter sheet (CARDS_ON_LETTER): one row of cards in the tri-fold's bottom panel (below
# the second fold), in a perforated area; the letter's text must end above LETTER_FOOT_MM, else the
# household gets a card sheet instead (render_chunk checks the laid-out letter).
LETTER_CARD_SLOTS = CARD_COLUMNS
LETTER_FOOT_MM = 198.0
LETTER_CARD_TOP_MM = LETTER_FOOT_MM + (PAGE_HEIGHT_MM - LETTER_FOOT_MM - CARD_HEIGHT_MM) / 2
# The day the old 保険証 stops being usable (the notice's first sentence).
HOKENSHO_END = date(2025, 12, 2)

# Why a certificate was issued, in the letter's words (交付事由 → explanation).
REASON_TEXT = {
    "未登録": "マイナンバーカードの健康保険証利用登録が確認できないため",
    "登録状況不明": "マイナ保険証の利用登録状況が確認できないため",
    "登録解除": "マイナ保険証の利用登録が解除されているため",
    "カード返納": "マイナンバーカードが返納されているため",
    "電子証明書失効": "マイナンバーカードの電子証明書の有効期限が切れているため",
    "要配慮者": "マイナ保険証での受診に配慮が必要な方として登録されているため",
    "更新": "お手元の資格確認書の有効期限が近づいているため(更新)",
    "再交付(滅失・き損)": "紛失・き損の届出により再交付するため",
    "再交付(記載事項変更)": "記載事項の変更により再交付するため",
}


# ---------------------------------------------------------------------------------------------
# Data (plain, frozen): what the templates print
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Insurer:
    """The society's own data (settings.INSURER_*)."""

    number: str
    name: str
    address: str
    postal_code: str = ""
    phone: str = ""

    @classmethod
    def from_settings(cls) -> Insurer:
        return cls(
            number=settings.INSURER_NUMBER,
            name=settings.INSURER_NAME,
            address=settings.INSURER_ADDRESS,
            postal_code=settings.INSURER_POSTAL_CODE,
            phone=settings.INSURER_PHONE,
        )


@dataclass(frozen=True)
class CertificateCard:
    """One 資格確認書 (and, for 70–74, the data of the 高齢受給者証).

    item_id: what a skipped entry refers to (the RunTarget id in a run; the Certificate id otherwise).
    """

    item_id: int
    number: str  # 証明書番号
    relationship: str  # 本人 | 家族
    name: str
    name_kana: str
    birth_date: date
    sex: str  # 男 | 女
    kigo: str
    bango: str
    edaban: str
    issue_date: date
    valid_until: date
    acquired_on: date
    reason: str  # 交付事由
    elderly_start: date | None = None  # 高齢受給者証発効日 (set only when ≤ 有効期限)
    copay_ratio: str = ""  # 2割 | 3割 (with elderly_start)
    sex_on_back: bool = False  # the holder asked for 性別 on the back (the front shows 裏面参照)

    @property
    def key(self) -> str:
        return f"{self.kigo}・{self.bango}・{self.edaban}"


@dataclass(frozen=True)
class ChecklistEntry:
    """This holder's next step on the マイナ保険証 checklist: "1→2", "2", "3→2" or "" (none)."""

    name: str
    step: str

    @property
    def step_display(self) -> str:
        return self.step.replace("→", " → ")


@dataclass(frozen=True)
class Household:
    """One envelope: the letter to the 被保険者 and the household's cards.

    route: 事業主経由 (handed over by the employer; no postal address printed) or 自宅 (mailed: the
    addressee block 〒/住所/氏名 様 sits in the 長形3号 window).
    """

    kigo: str
    bango: str
    addressee_name: str  # the 被保険者
    addressee_kana: str
    route: str
    letter_date: date
    cards: tuple[CertificateCard, ...]
    checklist: tuple[ChecklistEntry, ...] = ()
    postal_code: str = ""
    address: str = ""
    employer_name: str = ""
    reprint: bool = False

    @property
    def key(self) -> str:
        return f"{self.kigo}・{self.bango}"


@dataclass(frozen=True)
class BundleCover:
    """The employer's 対象者一覧表 on top of a 事業所 bundle (part `part` of `parts`)."""

    employer_code: str
    employer_name: str
    issue_date: date
    part: int = 1
    parts: int = 1
    employer_postal_code: str = ""
    employer_address: str = ""


@dataclass(frozen=True)
class Chunk:
    """What one PDF holds: an optional bundle cover, then the households in order."""

    households: tuple[Household, ...]
    cover: BundleCover | None = None
    insurer: Insurer = field(default_factory=Insurer.from_settings)
    # 一部負担金の割合 and 発効日 printed on the certificate instead of a separate 高齢受給者証.
    elderly_on_certificate: bool = field(
        default_factory=lambda: settings.ELDERLY_RATIO_ON_CERTIFICATE
    )
    reissue_fee_yen: int = field(default_factory=lambda: settings.REISSUE_FEE_YEN)
    # Households whose cards fit get them at the foot of the letter (one sheet less).
    cards_on_letter: bool = field(default_factory=lambda: settings.CARDS_ON_LETTER)
    # A 家族 card shows the 被保険者氏名 (rules.md, Documents).
    insured_name_on_family_card: bool = field(
        default_factory=lambda: settings.CARD_INSURED_NAME_ON_FAMILY
    )
    # The card's back carries a 臓器提供意思表示欄.
    organ_donation: bool = field(default_factory=lambda: settings.CARD_ORGAN_DONATION)


@dataclass(frozen=True)
class SkippedItem:
    """A card left out of printing (印刷除外): a character of the holder's data has no glyph in any
    font (`characters`), or the text cannot be printed whole in its box (`too_long`: why)."""

    item_id: int
    person: str  # 記号・番号・枝番
    name: str
    field: str  # 氏名 | 氏名カナ | 氏名(宛名) | 氏名カナ(宛名) | 住所 | 郵便番号 | 被保険者氏名 | 事業所名
    characters: tuple[str, ...] = ()  # "U+E000", ...
    too_long: str = ""  # documents.fitting.refusal: the box it does not fit

    @property
    def message(self) -> str:
        if self.too_long:
            return f"{self.person} の{self.field}が{self.too_long}。省略せずに印刷できないため印刷しません"
        chars = "、".join(describe_character(c) for c in self.characters)
        return (
            f"{self.person} の{self.field}に印刷用フォントにない文字があるため印刷しません: {chars}"
        )

    def as_json(self) -> dict:
        return {
            "item_id": self.item_id,
            "person": self.person,
            "name": self.name,
            "field": self.field,
            "characters": list(self.characters),
            "too_long": self.too_long,
            "message": self.message,
        }


@dataclass(frozen=True)
class RenderResult:
    pdf: bytes  # empty when nothing in the chunk was printable
    certificate_pages: int  # 資格確認書 cards printed: exactly one per printed certificate
    skipped: tuple[SkippedItem, ...] = ()
    printed_item_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class InvoiceData:
    """請求書 for the reissue fee (資格確認書 滅失・き損, rules.md "After issue").

    invoice_number: the 請求書番号 printed (e.g. "2025-000012").
    issue_date: 請求日 (和暦 on paper).
    due_date: 支払期限.
    amount_yen: 請求金額 in whole yen (normally settings.REISSUE_FEE_YEN).
    addressee_name: the 被保険者 the invoice is addressed to (氏名 様).
    postal_code / address: printed in the 長形3号 window block when given (自宅 delivery);
        leave empty for invoices handed over by the employer.
    holder_name / holder_key: the certificate holder concerned (記号・番号・枝番) when not the addressee.
    description: the line item (default "資格確認書 再交付手数料").
    bank_account: 振込先; defaults to settings.INSURER_BANK_ACCOUNT.
    note: free text printed under the payment instructions (e.g. the clerk's remark).
    """

    invoice_number: str
    issue_date: date
    due_date: date
    amount_yen: int
    addressee_name: str
    postal_code: str = ""
    address: str = ""
    holder_name: str = ""
    holder_key: str = ""
    description: str = "資格確認書 再交付手数料"
    bank_account: str = field(default_factory=lambda: settings.INSURER_BANK_ACCOUNT)
    note: str = ""
    insurer: Insurer = field(default_factory=Insurer.from_settings)


@dataclass(frozen=True)
class ReturnReminderData:
    """返却督促: a certificate that must be returned (資格喪失 while still valid) is overdue.

    letter_date: the date printed on the letter.
    addressee_name: who the letter is addressed to (the 被保険者 or the former holder).
    postal_code / address: window block (直接返却 of 任意継続 households); empty when sent via the employer.
    holder_name / holder_key: the holder of the certificate (記号・番号・枝番).
    certificate_number: 証明書番号 of the certificate to return.
    valid_until: its 有効期限.
    lost_on: 資格喪失年月日.
    return_due: 返却期限 (5 days after the loss, 施行規則§51).
    route: 事業主経由 (return via the employer) | 自宅 (return directly to the society).
    employer_name: the employer to return it through (route 事業主経由).
    """

    letter_date: date
    addressee_name: str
    holder_name: str
    holder_key: str
    certificate_number: str
    valid_until: date
    lost_on: date
    return_due: date
    route: str
    postal_code: str = ""
    address: str = ""
    employer_name: str = ""
    insurer: Insurer = field(default_factory=Insurer.from_settings)


class UnprintableCharacters(ValueError):
    """Member data holds a character no font can draw (single documents: invoice, reminder, reprint)."""

    def __init__(self, items: list[SkippedItem]):
        self.items = items
        super().__init__("\n".join(i.message for i in items))


# ---------------------------------------------------------------------------------------------
# Per-process singletons
# ---------------------------------------------------------------------------------------------

# One render at a time per process: the FontConfiguration and the cached pages are shared, and
# WeasyPrint makes no promise of thread safety (runserver with eager tasks runs threads).
_lock = threading.RLock()
_engine: _Engine | None = None


@dataclass
class _Engine:
    font_config: object
    css: object
    fetcher: object
    # Laid-out pages reused in every chunk: the leaflet per combination of ★ marks (and the
    # settings it prints), and an empty page for duplex padding.
    leaflets: dict = field(default_factory=dict)
    blank: list = field(default_factory=list)
    # The cards' backs per signature (which slots, 性別 printed there, the organ donation field): the
    # backs hold nothing else personal, so a page is laid out once and reused.
    backs: dict = field(default_factory=dict)


def _font_face_rules() -> str:
    # Built from documents.fonts so the check and the stylesheet name the same files.
    return "\n".join(
        f'@font-face {{ font-family: "{family}"; src: url("{path.resolve().as_uri()}"); }}'
        for family, path in FONT_FACES.items()
    )


def _geometry_rules() -> str:
    """The rules whose numbers are defined here (the window block): one home for them."""
    top = WINDOW_TOP_MM + WINDOW_CLEAR_MM - LETTER_MARGIN_TOP_MM
    left = WINDOW_LEFT_MM + WINDOW_CLEAR_MM - LETTER_MARGIN_LEFT_MM
    return (
        f"@page letter {{ size: A4; margin: {LETTER_MARGIN_TOP_MM}mm 18mm 14mm "
        f"{LETTER_MARGIN_LEFT_MM}mm; }}\n"
        f".window {{ margin: {top:g}mm 0 0 {left:g}mm; "
        f"width: {WINDOW_WIDTH_MM - 2 * WINDOW_CLEAR_MM:g}mm; "
        f"height: {WINDOW_HEIGHT_MM - 2 * WINDOW_CLEAR_MM:g}mm; }}\n"
        f".perforation-note {{ top: {LETTER_CARD_TOP_MM - LETTER_MARGIN_TOP_MM - 6:g}mm; "
        f"left: {SHEET_LEFT_MM - LETTER_MARGIN_LEFT_MM:g}mm; }}\n"
    )


def stylesheet_text() -> str:
    """The whole stylesheet: @font-face rules, the generated geometry, then print.css."""
    return "\n".join((_font_face_rules(), _geometry_rules(), STYLESHEET.read_text("utf-8")))


def engine() -> _Engine:
    """The CSS object, FontConfiguration and URL fetcher of this process (built on first use)."""
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                from weasyprint import CSS
                from weasyprint.text.fonts import FontConfiguration

                from .fetcher import LocalOnlyURLFetcher

                font_config = FontConfiguration()
                fetcher = LocalOnlyURLFetcher()
                css = CSS(
                    string=stylesheet_text(),
                    base_url=STYLESHEET.parent.as_uri() + "/",
                    url_fetcher=fetcher,
                    font_config=font_config,
                )
                _engine = _Engine(font_config=font_config, css=css, fetcher=fetcher)
    return _engine


def _dispose() -> None:
    # Drop the FontConfiguration before interpreter teardown: its __del__ needs modules that are
    # already gone at exit and would print a spurious traceback.
    global _engine
    _engine = None


atexit.register(_dispose)


def warm_up() -> None:
    """Build the singletons and load the cmaps and the advance widths (documents/fitting.py) now
    (Celery worker_process_init)."""
    from .fitting import BOXES
    from .fonts import load_advances, load_cmaps

    load_cmaps()
    load_advances({path for box in BOXES.values() for path in box.fonts})
    engine()


def _layout(html: str):
    """HTML → laid-out WeasyPrint Document, with the shared CSS, fonts and allow-list fetcher."""
    from weasyprint import HTML

    eng = engine()
    doc = HTML(string=html, base_url=STYLESHEET.parent.as_uri() + "/", url_fetcher=eng.fetcher)
    return doc.render(stylesheets=[eng.css], font_config=eng.font_config)


def pdf_options() -> dict:
    """write_pdf options of every stored PDF: the archival variant (settings.DOCUMENT_PDF_VARIANT,
    PDF/A by default: fonts embedded, sRGB output intent, XMP metadata with the title and 'ja')."""
    variant = settings.DOCUMENT_PDF_VARIANT
    return {"pdf_variant": variant} if variant else {}


def html_to_pdf(html: str) -> bytes:
    """The one-document path (invoice, reminder): lay out and write."""
    with _lock:
        return _layout(html).write_pdf(**pdf_options())


# ---------------------------------------------------------------------------------------------
# Glyph check
# ---------------------------------------------------------------------------------------------


def _check(item_id: int, person: str, name: str, fields: dict[str, str]) -> list[SkippedItem]:
    out = []
    for label, text in fields.items():
        missing = uncovered_characters(text or "")
        if missing:
            out.append(SkippedItem(item_id, person, name, label, tuple(missing)))
    return out


def _check_fit(
    item_id: int, person: str, name: str, fields: dict[str, tuple[str, str]]
) -> list[SkippedItem]:
    """fields: {label: (text, box name)}; the ones that cannot be printed whole in their box."""
    out = []
    for label, (text, box) in fields.items():
        why = refusal(text or "", box)
        if why:
            out.append(SkippedItem(item_id, person, name, label, too_long=why))
    return out


def _window_fields(hh: Household) -> dict[str, tuple[str, str]]:
    """What the 長形3号 window prints (documents/_addressee.html), with the box each goes in."""
    fields = {"氏名(宛名)": (addressee_text(hh.addressee_name), "window_name")}
    if hh.route == "自宅":
        fields["住所"] = (hh.address, "window_address")
    elif hh.employer_name:
        fields["事業所名"] = (via_text(hh.employer_name), "window_via")
    return fields


def _card_fields(card: CertificateCard, hh: Household, chunk: Chunk) -> dict:
    fields = {"氏名": (card.name, "card_name")}
    insured = _insured_name(card, hh, chunk)
    if insured:
        fields["被保険者氏名"] = (insured, "card_insured")
    return fields


def _insured_name(card: CertificateCard, hh: Household, chunk: Chunk) -> str:
    """The 被保険者氏名 a 家族 card shows (the household's member: the letter's addressee)."""
    if card.relationship == "家族" and chunk.insured_name_on_family_card:
        return hh.addressee_name
    return ""


def printable_households(
    households: tuple[Household, ...], chunk: Chunk | None = None
) -> tuple[list[Household], list[SkippedItem]]:
    """Drop what cannot be printed whole and without a blank box, and say why.

    The letter is addressed to the 被保険者 (and, for 自宅, carries their address): if that cannot be
    printed (a character without a glyph, or text that does not fit the envelope's window), no card
    of the household can go out in that envelope, so the whole household is held back. Otherwise
    only the card whose holder's name or kana has an uncovered character, or whose name (or, on a
    家族 card, 被保険者氏名) does not fit its field, is left out (and left off the letter's list and
    checklist).
    """
    chunk = chunk or Chunk(households=households)
    kept: list[Household] = []
    skipped: list[SkippedItem] = []
    for hh in households:
        head_fields = {"氏名(宛名)": hh.addressee_name, "氏名カナ(宛名)": hh.addressee_kana}
        if hh.route == Route.HOME:
            head_fields |= {"住所": hh.address, "郵便番号": hh.postal_code}
        head_problems = _check(0, hh.key, hh.addressee_name, head_fields)
        head_problems = head_problems or _check_fit(
            0, hh.key, hh.addressee_name, _window_fields(hh)
        )
        if head_problems:
            for card in hh.cards:
                for p in head_problems:
                    skipped.append(replace(p, item_id=card.item_id, person=card.key))
            continue
        cards = []
        dropped_names = set()
        for card in hh.cards:
            problems = _check(
                card.item_id, card.key, card.name, {"氏名": card.name, "氏名カナ": card.name_kana}
            )
            problems = problems or _check_fit(
                card.item_id, card.key, card.name, _card_fields(card, hh, chunk)
            )
            if problems:
                skipped += problems
                dropped_names.add(card.name)
            else:
                cards.append(card)
        if cards:
            checklist = tuple(e for e in hh.checklist if e.name not in dropped_names)
            kept.append(replace(hh, cards=tuple(cards), checklist=checklist))
    return kept, skipped


# ---------------------------------------------------------------------------------------------
# Templates → PDF
# ---------------------------------------------------------------------------------------------


def back_left_mm(left_mm: float, width_mm: float = CARD_WIDTH_MM) -> float:
    """Where the back of a card printed at `left_mm` goes on the next page: a long-edge duplex print
    turns the sheet over its vertical axis, so the back is mirrored left to right (same top)."""
    return round(PAGE_WIDTH_MM - left_mm - width_mm, 2)


def _card_slots(hh: Household, chunk: Chunk) -> list[dict]:
    """Cards of one household laid out on A4 sheets (10 per sheet), each with its position and the
    position of its back on the sheet's reverse.

    Only 資格確認書: the 高齢受給者証 is issued on its own events, numbered, with its effective date and
    the ratio of that date (elderly/, rules.md "高齢受給者証 (70–74), as events"), never printed here
    with a start that may be years after the run."""
    slots: list[dict] = []
    for card in hh.cards:
        slots.append(
            {"kind": "certificate", "card": card, "insured_name": _insured_name(card, hh, chunk)}
        )
    for i, slot in enumerate(slots):
        col = i % CARD_COLUMNS
        row = (i % CARDS_PER_SHEET) // CARD_COLUMNS
        slot["left"] = round(SHEET_LEFT_MM + col * CARD_WIDTH_MM, 2)
        slot["top"] = round(SHEET_TOP_MM + row * CARD_HEIGHT_MM, 2)
        slot["back_left"] = back_left_mm(slot["left"])
        slot["back_top"] = slot["top"]
    return slots


def _sheets(slots: list[dict]) -> list[list[dict]]:
    return [slots[i : i + CARDS_PER_SHEET] for i in range(0, len(slots), CARDS_PER_SHEET)]


STEP_ORDER = ("1→2", "2", "3→2")


def _marks(hh: Household) -> tuple[bool, bool, bool]:
    """Which of the checklist's three NO boxes apply to someone in this household."""
    steps = {e.step for e in hh.checklist}
    return tuple(step in steps for step in STEP_ORDER)


def _letter_slots(slots: list[dict]) -> list[dict]:
    """The same cards placed in the letter's perforated foot area: left/top relative to the letter's
    page area (the template's anchor), page_left/page_top and back_left in page coordinates."""
    placed = []
    for i, slot in enumerate(slots):
        page_left = round(SHEET_LEFT_MM + i * CARD_WIDTH_MM, 2)
        placed.append(
            {
                **slot,
                "page_left": page_left,
                "page_top": LETTER_CARD_TOP_MM,
                "left": round(page_left - LETTER_MARGIN_LEFT_MM, 2),
                "top": round(LETTER_CARD_TOP_MM - LETTER_MARGIN_TOP_MM, 2),
                "back_left": back_left_mm(page_left),
                "back_top": LETTER_CARD_TOP_MM,
            }
        )
    return placed


def household_card_slots(hh: Household, chunk: Chunk, *, on_letter: bool) -> list[dict]:
    """Where each card of the household is printed (page coordinates in page_left/page_top):
    at the letter's foot when `on_letter`, else on card sheets."""
    slots = _card_slots(hh, chunk)
    if on_letter:
        return _letter_slots(slots)
    for slot in slots:
        slot |= {"page_left": slot["left"], "page_top": slot["top"]}
    return slots


def _fits_on_letter(hh: Household, chunk: Chunk) -> bool:
    return chunk.cards_on_letter and len(_card_slots(hh, chunk)) <= LETTER_CARD_SLOTS


def letter_households(chunk: Chunk, households: list[Household]) -> frozenset[int]:
    """The households (by position) whose cards are planned at the foot of their letter; render_chunk
    moves one to a card sheet if its laid-out letter runs into the card area."""
    return frozenset(n for n, hh in enumerate(households) if _fits_on_letter(hh, chunk))


def _household_context(n: int, hh: Household, chunk: Chunk, on_letter: bool) -> dict:
    reasons = []
    for card in hh.cards:
        text = REASON_TEXT.get(card.reason, card.reason)
        if text not in reasons:
            reasons.append(text)
    return {
        "hh": hh,
        "reasons": reasons,
        "letter_id": f"hh{n}",
        "cards_id": f"hh{n}-cards",
        "sheets": [] if on_letter else _sheets(_card_slots(hh, chunk)),
        "on_letter": _letter_slots(_card_slots(hh, chunk)) if on_letter else [],
    }


def _cover_context(cover: BundleCover, households: list[Household]) -> dict:
    rows = []
    for n, hh in enumerate(households, start=1):
        rows.append(
            {
                "no": n,
                "hh": hh,
                "count": len(hh.cards),
                "numbers": [c.number for c in hh.cards],
            }
        )
    return {
        "cover": cover,
        "rows": rows,
        "certificate_total": sum(r["count"] for r in rows),
    }


def chunk_html(
    chunk: Chunk,
    households: list[Household],
    on_letter: frozenset[int] = frozenset(),
    *,
    backs: bool = True,
    only: tuple[int, ...] | None = None,
) -> str:
    """The personalised pages of a chunk: cover, then per household its letter and card sheets
    (or, for the households numbered in `on_letter`, the letter with the cards at its foot), each
    followed by the page of the cards' backs unless `backs` is False (render_chunk inserts its
    cached back pages instead). `only`: just these households (by position, ids kept), no cover —
    the letters render_chunk lays out again with a card sheet."""
    numbers = range(len(households)) if only is None else only
    context = {
        "backs": backs,
        "insurer": chunk.insurer,
        "elderly_on_certificate": chunk.elderly_on_certificate,
        "organ_donation": chunk.organ_donation,
        "cover": _cover_context(chunk.cover, households) if chunk.cover and only is None else None,
        "households": [
            _household_context(n, households[n], chunk, n in on_letter) for n in numbers
        ],
    }
    return render_to_string("documents/chunk.html", context)


def leaflet_html(chunk: Chunk, marks: tuple[bool, bool, bool]) -> str:
    one, two, three = marks
    context = {
        "insurer": chunk.insurer,
        "fee": chunk.reissue_fee_yen,
        "hokensho_end": HOKENSHO_END,
        "marked": {"one": one, "two": two, "three": three},
    }
    return render_to_string("documents/leaflet.html", context)


def _leaflet_pages(chunk: Chunk, marks: tuple[bool, bool, bool]) -> list:
    """The notice (front) and checklist (back), laid out once per process and per marks."""
    eng = engine()
    key = (marks, chunk.insurer, chunk.reissue_fee_yen)
    if key not in eng.leaflets:
        eng.leaflets[key] = _layout(leaflet_html(chunk, marks)).pages
    return eng.leaflets[key]


def _blank_page():
    eng = engine()
    if not eng.blank:
        eng.blank = _layout(render_to_string("documents/blank.html", {})).pages
    return eng.blank[0]


def _back_page(chunk: Chunk, slots: list[dict]):
    """The page of the cards' backs for these slots (laid out once per process and signature)."""
    eng = engine()
    key = (
        chunk.organ_donation,
        tuple(
            (s["kind"], s["back_left"], s["back_top"], s["card"].sex_on_back and s["card"].sex)
            for s in slots
        ),
    )
    if key not in eng.backs:
        html = render_to_string(
            "documents/card_backs.html", {"sheet": slots, "organ_donation": chunk.organ_donation}
        )
        eng.backs[key] = _layout(html).pages[0]
    return eng.backs[key]


def _household_parts(doc, numbers) -> tuple[list, dict[int, tuple[list, list]]]:
    """A laid-out chunk cut into its parts: the pages before the first household (the cover), and
    per household (by position) its letter pages and its card sheet fronts."""
    at = {name: i for i, page in enumerate(doc.pages) for name in page.anchors}
    ends = [at[f"hh{n}"] for n in numbers[1:]] + [len(doc.pages)]
    parts = {}
    for n, end in zip(numbers, ends, strict=True):
        start = at[f"hh{n}"]
        cards = at.get(f"hh{n}-cards", end)  # no card sheet: the cards are on the letter
        parts[n] = (doc.pages[start:cards], doc.pages[cards:end])
    return doc.pages[: at[f"hh{numbers[0]}"]], parts


def _compose(
    chunk: Chunk,
    households: list[Household],
    on_letter: frozenset[int],
    cover: list,
    parts: dict[int, tuple[list, list]],
) -> list:
    """Page order of the envelope contents, each part padded to an even page count (duplex):
    [cover], then per household: letter (with the cards' backs on its reverse when they are at its
    foot), leaflet (notice / checklist), card sheet(s) each followed by its backs."""
    pages: list = []

    def add(part: list) -> None:
        pages.extend(part)
        if len(part) % 2:
            pages.append(_blank_page())

    if chunk.cover is not None:
        add(cover)
    for n, hh in enumerate(households):
        letter, fronts = parts[n]
        slots = _card_slots(hh, chunk)
        if n in on_letter:  # one page, checked by _letters_too_long
            add([*letter, _back_page(chunk, _letter_slots(slots))])
        else:
            add(letter)
        add(_leaflet_pages(chunk, _marks(hh)))
        sheets = _sheets(slots)
        if fronts:
            assert len(fronts) == len(sheets), (len(fronts), len(sheets))
            for front, sheet in zip(fronts, sheets, strict=True):
                add([front, _back_page(chunk, sheet)])
    return pages


PX_MM = 25.4 / 96  # WeasyPrint's anchors are boxes (x1, y1, x2, y2) in CSS pixels


def _letters_too_long(doc, on_letter: frozenset[int]) -> set[int]:
    """Households whose letter text does not end above the card area of its first page."""
    where = {name: (i, xy) for i, page in enumerate(doc.pages) for name, xy in page.anchors.items()}
    bad = set()
    for n in on_letter:
        first_page, _ = where[f"hh{n}"]
        end_page, (_x, y, *_rest) = where[f"hh{n}-end"]
        if end_page != first_page or y * PX_MM > LETTER_FOOT_MM:
            bad.add(n)
    return bad


def render_chunk(chunk: Chunk) -> RenderResult:
    """Render one chunk to one PDF. Holders with an unprintable character are left out and reported
    in `skipped`; everything else is printed. `certificate_pages` counts the 資格確認書 printed."""
    households, skipped = printable_households(chunk.households, chunk)
    if not households:
        return RenderResult(pdf=b"", certificate_pages=0, skipped=tuple(skipped))
    on_letter = letter_households(chunk, households)
    with _lock:
        doc = _layout(chunk_html(chunk, households, on_letter, backs=False))
        cover, parts = _household_parts(doc, range(len(households)))
        too_long = _letters_too_long(doc, on_letter)
        if too_long:  # a long letter (many reasons or names): those households get a card sheet;
            # only their pages are laid out again (a letter's pages do not depend on the others')
            on_letter -= too_long
            again = tuple(sorted(too_long))
            redo = _layout(chunk_html(chunk, households, on_letter, backs=False, only=again))
            parts |= _household_parts(redo, again)[1]
        pages = _compose(chunk, households, on_letter, cover, parts)
        pdf = doc.copy(pages).write_pdf(**pdf_options())
    printed = tuple(c.item_id for hh in households for c in hh.cards)
    return RenderResult(
        pdf=pdf, certificate_pages=len(printed), skipped=tuple(skipped), printed_item_ids=printed
    )


def _single_check(
    fields: dict[str, str], who: str, name: str, window: dict[str, tuple[str, str]]
) -> None:
    problems = _check(0, who, name, fields) or _check_fit(0, who, name, window)
    if problems:
        raise UnprintableCharacters(problems)


def _single_window(name: str, address: str, via: str = "") -> dict[str, tuple[str, str]]:
    window = {"宛名": (addressee_text(name), "window_name")}
    if address:
        window["住所"] = (address, "window_address")
    if via:
        window["事業所名"] = (via_text(via), "window_via")
    return window


def render_invoice(data: InvoiceData) -> bytes:
    """請求書 (reissue fee) as PDF bytes. UnprintableCharacters when a name or the address holds a
    character no font covers (nothing is rendered then)."""
    _single_check(
        {
            "宛名": data.addressee_name,
            "住所": data.address,
            "郵便番号": data.postal_code,
            "氏名": data.holder_name,
        },
        data.holder_key or data.invoice_number,
        data.addressee_name,
        _single_window(data.addressee_name, data.address),
    )
    html = render_to_string("documents/invoice.html", {"d": data, "insurer": data.insurer})
    return html_to_pdf(html)


def _reminder_check(data: ReturnReminderData) -> None:
    _single_check(
        {
            "宛名": data.addressee_name,
            "住所": data.address,
            "郵便番号": data.postal_code,
            "氏名": data.holder_name,
            "事業所名": data.employer_name,
        },
        data.holder_key,
        data.addressee_name,
        _single_window(data.addressee_name, data.address, data.employer_name),
    )


def render_return_reminder(data: ReturnReminderData) -> bytes:
    """返却督促 as PDF bytes. UnprintableCharacters as for render_invoice."""
    _reminder_check(data)
    html = render_to_string("documents/return_reminder.html", {"d": data, "insurer": data.insurer})
    return html_to_pdf(html)


def render_return_reminders(
    reminders: list[ReturnReminderData], cover: BundleCover | None = None
) -> bytes:
    """Several 返却督促 letters as one PDF with the bundle structure of an issue run: for letters
    handed over by the employer, the 対象者一覧表 (`cover`) on top; each part (cover, each letter)
    padded to an even page count for duplex. UnprintableCharacters (nothing rendered) when any
    letter cannot be printed whole."""
    problems: list[SkippedItem] = []
    for data in reminders:
        try:
            _reminder_check(data)
        except UnprintableCharacters as exc:
            problems += exc.items
    if problems:
        raise UnprintableCharacters(problems)
    insurer = reminders[0].insurer if reminders else Insurer.from_settings()
    html = render_to_string(
        "documents/return_reminders.html",
        {"reminders": reminders, "cover": cover, "insurer": insurer},
    )
    with _lock:
        doc = _layout(html)
        at = {name: i for i, page in enumerate(doc.pages) for name in page.anchors}
        starts = ([at["cover"]] if cover is not None else []) + [
            at[f"r{n}"] for n in range(len(reminders))
        ]
        pages: list = []
        for start, end in zip(starts, [*starts[1:], len(doc.pages)], strict=True):
            pages += doc.pages[start:end]
            if (end - start) % 2:
                pages.append(_blank_page())
        return doc.copy(pages).write_pdf(**pdf_options())


__all__ = [
    "BundleCover",
    "CertificateCard",
    "ChecklistEntry",
    "Chunk",
    "Household",
    "Insurer",
    "InvoiceData",
    "RenderResult",
    "ReturnReminderData",
    "SkippedItem",
    "UnprintableCharacters",
    "render_chunk",
    "render_invoice",
    "render_return_reminder",
    "render_return_reminders",
]
