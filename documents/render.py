"""Rendering as pure functions: plain data in, PDF bytes out (no database access here).

The costly parts of WeasyPrint are set up once per process and reused (issue 4, measured: one document
per person costs ~1 s, mostly loading and subsetting the 46 MB IPAmj font; a chunk of many households
costs a few tens of ms each): the parsed stylesheet (`CSS`), the `FontConfiguration` that holds the
@font-face fonts, and the fonts' cmaps for the glyph check. Celery workers warm them after fork
(documents/tasks.py); WeasyPrint itself is imported lazily so nothing of it exists before the fork.

A chunk (one 事業所 bundle part, or up to PDF_CHUNK_HOUSEHOLDS 自宅 households) is one HTML document and
one PDF: the bundle's 対象者一覧表, then per household the cover letter (front: notice and handling
notes; back: the マイナ保険証 checklist) and a sheet of cards (資格確認書, and 高齢受給者証 where the
society issues it separately).
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

from .fonts import FONT_FACES, describe_character, uncovered_characters

STYLESHEET = Path(settings.BASE_DIR) / "static" / "documents" / "print.css"
# Cards per A4 sheet: 2 columns × 5 rows of 85.6 × 54 mm (171.2 × 270 mm) leave room for cut marks.
CARD_COLUMNS = 2
CARD_ROWS = 5
CARDS_PER_SHEET = CARD_COLUMNS * CARD_ROWS
CARD_WIDTH_MM = 85.6
CARD_HEIGHT_MM = 54.0
SHEET_LEFT_MM = (210 - CARD_COLUMNS * CARD_WIDTH_MM) / 2
SHEET_TOP_MM = (297 - CARD_ROWS * CARD_HEIGHT_MM) / 2
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


@dataclass(frozen=True)
class SkippedItem:
    """A card left out because a character of the holder's data has no glyph in any font."""

    item_id: int
    person: str  # 記号・番号・枝番
    name: str
    field: str  # 氏名 | 氏名カナ | 氏名(宛名) | 氏名カナ(宛名) | 住所 | 郵便番号
    characters: tuple[str, ...]  # "U+E000", ...

    @property
    def message(self) -> str:
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


def _font_face_rules() -> str:
    # Built from documents.fonts so the check and the stylesheet name the same files.
    return "\n".join(
        f'@font-face {{ font-family: "{family}"; src: url("{path.resolve().as_uri()}"); }}'
        for family, path in FONT_FACES.items()
    )


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
                    string=_font_face_rules() + "\n" + STYLESHEET.read_text(encoding="utf-8"),
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
    """Build the singletons and load the cmaps now (Celery worker_process_init)."""
    from .fonts import load_cmaps

    load_cmaps()
    engine()


def _layout(html: str):
    """HTML → laid-out WeasyPrint Document, with the shared CSS, fonts and allow-list fetcher."""
    from weasyprint import HTML

    eng = engine()
    doc = HTML(string=html, base_url=STYLESHEET.parent.as_uri() + "/", url_fetcher=eng.fetcher)
    return doc.render(stylesheets=[eng.css], font_config=eng.font_config)


def html_to_pdf(html: str) -> bytes:
    """The one-document path (invoice, reminder): lay out and write."""
    with _lock:
        return _layout(html).write_pdf()


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


def printable_households(
    households: tuple[Household, ...],
) -> tuple[list[Household], list[SkippedItem]]:
    """Drop what cannot be printed without a blank box, and say why.

    The letter is addressed to the 被保険者 (and, for 自宅, carries their address): if that cannot be
    printed, no card of the household can go out in that envelope, so the whole household is held
    back. Otherwise only the card whose holder's name or kana has an uncovered character is left out
    (and left off the letter's list and checklist).
    """
    kept: list[Household] = []
    skipped: list[SkippedItem] = []
    for hh in households:
        head_fields = {"氏名(宛名)": hh.addressee_name, "氏名カナ(宛名)": hh.addressee_kana}
        if hh.route == Route.HOME:
            head_fields |= {"住所": hh.address, "郵便番号": hh.postal_code}
        head_problems = _check(0, hh.key, hh.addressee_name, head_fields)
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


def _card_slots(hh: Household, elderly_on_certificate: bool) -> list[dict]:
    """Cards of one household laid out on A4 sheets (10 per sheet), each with its position."""
    slots: list[dict] = []
    for card in hh.cards:
        slots.append({"kind": "certificate", "card": card})
        if card.elderly_start and not elderly_on_certificate:
            slots.append({"kind": "elderly", "card": card})
    for i, slot in enumerate(slots):
        col = i % CARD_COLUMNS
        row = (i % CARDS_PER_SHEET) // CARD_COLUMNS
        slot["left"] = round(SHEET_LEFT_MM + col * CARD_WIDTH_MM, 2)
        slot["top"] = round(SHEET_TOP_MM + row * CARD_HEIGHT_MM, 2)
    return slots


def _sheets(slots: list[dict]) -> list[list[dict]]:
    return [slots[i : i + CARDS_PER_SHEET] for i in range(0, len(slots), CARDS_PER_SHEET)]


STEP_ORDER = ("1→2", "2", "3→2")


def _marks(hh: Household) -> tuple[bool, bool, bool]:
    """Which of the checklist's three NO boxes apply to someone in this household."""
    steps = {e.step for e in hh.checklist}
    return tuple(step in steps for step in STEP_ORDER)


def _household_context(n: int, hh: Household, chunk: Chunk) -> dict:
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
        "sheets": _sheets(_card_slots(hh, chunk.elderly_on_certificate)),
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


def chunk_html(chunk: Chunk, households: list[Household]) -> str:
    """The personalised pages of a chunk: cover, then per household its letter and card sheets."""
    context = {
        "insurer": chunk.insurer,
        "elderly_on_certificate": chunk.elderly_on_certificate,
        "cover": _cover_context(chunk.cover, households) if chunk.cover else None,
        "households": [_household_context(n, hh, chunk) for n, hh in enumerate(households)],
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


def _compose(doc, chunk: Chunk, households: list[Household]) -> list:
    """Page order of the envelope contents, each part padded to an even page count (duplex):
    [cover], then per household: letter, leaflet (notice / checklist), card sheet(s)."""
    at = {name: i for i, page in enumerate(doc.pages) for name in page.anchors}
    pages: list = []

    def add(part: list) -> None:
        pages.extend(part)
        if len(part) % 2:
            pages.append(_blank_page())

    if chunk.cover is not None:
        add(doc.pages[: at["hh0"]])
    for n, hh in enumerate(households):
        start, cards = at[f"hh{n}"], at[f"hh{n}-cards"]
        end = at.get(f"hh{n + 1}", len(doc.pages))
        add(doc.pages[start:cards])
        add(_leaflet_pages(chunk, _marks(hh)))
        add(doc.pages[cards:end])
    return pages


def render_chunk(chunk: Chunk) -> RenderResult:
    """Render one chunk to one PDF. Holders with an unprintable character are left out and reported
    in `skipped`; everything else is printed. `certificate_pages` counts the 資格確認書 printed."""
    households, skipped = printable_households(chunk.households)
    if not households:
        return RenderResult(pdf=b"", certificate_pages=0, skipped=tuple(skipped))
    html = chunk_html(chunk, households)
    with _lock:
        doc = _layout(html)
        pdf = doc.copy(_compose(doc, chunk, households)).write_pdf()
    printed = tuple(c.item_id for hh in households for c in hh.cards)
    return RenderResult(
        pdf=pdf, certificate_pages=len(printed), skipped=tuple(skipped), printed_item_ids=printed
    )


def _single_check(fields: dict[str, str], who: str, name: str) -> None:
    problems = _check(0, who, name, fields)
    if problems:
        raise UnprintableCharacters(problems)


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
    )
    html = render_to_string("documents/invoice.html", {"d": data, "insurer": data.insurer})
    return html_to_pdf(html)


def render_return_reminder(data: ReturnReminderData) -> bytes:
    """返却督促 as PDF bytes. UnprintableCharacters as for render_invoice."""
    _single_check(
        {
            "宛名": data.addressee_name,
            "住所": data.address,
            "郵便番号": data.postal_code,
            "氏名": data.holder_name,
        },
        data.holder_key,
        data.addressee_name,
    )
    html = render_to_string("documents/return_reminder.html", {"d": data, "insurer": data.insurer})
    return html_to_pdf(html)


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
]
