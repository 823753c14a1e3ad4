"""The 高齢受給者証 PDF of an approved batch: per household (in delivery order: 事業主経由 by 事業所,
then 自宅) a letter and a sheet with the household's cards.

Built from documents.render's parts, not beside them: the card face is templates/documents/
_elderly_card.html, the glyph check is documents.render.printable_households (a holder whose name
no font covers is left out and reported, never printed with a blank box), the card grid and the
WeasyPrint engine are documents.render's."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from certificates.models import Route
from documents.render import (
    CARD_COLUMNS,
    CARD_HEIGHT_MM,
    CARD_WIDTH_MM,
    CARDS_PER_SHEET,
    SHEET_LEFT_MM,
    SHEET_TOP_MM,
    CertificateCard,
    Household,
    Insurer,
    SkippedItem,
    back_left_mm,
    html_to_pdf,
    printable_households,
)

from .models import ElderlyCard


@dataclass(frozen=True)
class ElderlyRender:
    pdf: bytes
    skipped: tuple[SkippedItem, ...]
    printed_ids: tuple[int, ...]


def _card(card: ElderlyCard) -> CertificateCard:
    p = card.person
    return CertificateCard(
        item_id=card.pk,
        number=card.number,
        relationship=p.relationship,
        name=p.name,
        name_kana=p.name_kana,
        birth_date=p.birth_date,
        sex=p.sex,
        sex_on_back=p.sex_on_back,
        kigo=p.kigo,
        bango=p.bango,
        edaban=p.edaban,
        issue_date=card.issue_date,
        valid_until=card.valid_until,
        acquired_on=p.acquired_on,
        reason=card.get_event_display(),
        elderly_start=card.effective_from,
        copay_ratio=card.copay_ratio,
    )


def _slots(hh: Household) -> list[list[dict]]:
    """The household's cards on A4 sheets, each with the mirrored position of its back on the
    sheet's reverse (long-edge duplex, documents.render.back_left_mm) and, on a 家族 card, the
    被保険者氏名 when the society prints it (CARD_INSURED_NAME_ON_FAMILY, as on the 資格確認書)."""
    slots = []
    for i, card in enumerate(hh.cards):
        col = i % CARD_COLUMNS
        row = (i % CARDS_PER_SHEET) // CARD_COLUMNS
        left = round(SHEET_LEFT_MM + col * CARD_WIDTH_MM, 2)
        top = round(SHEET_TOP_MM + row * CARD_HEIGHT_MM, 2)
        family = card.relationship == "家族" and settings.CARD_INSURED_NAME_ON_FAMILY
        slots.append(
            {
                "kind": "elderly",
                "card": card,
                "left": left,
                "top": top,
                "back_left": back_left_mm(left),
                "back_top": top,
                "insured_name": hh.addressee_name if family else "",
            }
        )
    return [slots[i : i + CARDS_PER_SHEET] for i in range(0, len(slots), CARDS_PER_SHEET)]


def households_of(cards: list[ElderlyCard]) -> list[tuple[Household, list[ElderlyCard]]]:
    """Envelopes in delivery order: 事業主経由 grouped by 事業所 code, then 自宅; by 記号・番号."""
    groups: dict[int, list[ElderlyCard]] = {}
    for c in cards:
        groups.setdefault(c.household_id, []).append(c)
    out = []
    for group in groups.values():
        group.sort(key=lambda c: c.person.edaban)
        hh = group[0].household
        route = group[0].route
        employer = hh.employer if route == Route.EMPLOYER else None
        out.append(
            (
                Household(
                    kigo=hh.kigo,
                    bango=hh.bango,
                    addressee_name=hh.name,
                    addressee_kana=hh.name_kana,
                    route=route,
                    letter_date=timezone.localdate(),
                    cards=tuple(_card(c) for c in group),
                    postal_code=hh.postal_code,
                    address=hh.address,
                    employer_name=employer.name if employer else "",
                ),
                group,
            )
        )
    out.sort(
        key=lambda x: (
            0 if x[0].route == Route.EMPLOYER else 1,
            x[1][0].household.employer.code if x[0].employer_name else "",
            x[0].kigo,
            x[0].bango,
        )
    )
    return out


def render_elderly_cards(cards: list[ElderlyCard]) -> ElderlyRender:
    cards = list(
        ElderlyCard.objects.filter(pk__in=[c.pk for c in cards]).select_related(
            "person", "household", "household__employer", "replaces", "replaces__person"
        )
    )
    envelopes = households_of(cards)
    by_pk = {c.pk: c for c in cards}
    kept, skipped = printable_households(tuple(hh for hh, _ in envelopes))
    context_households = []
    for hh in kept:
        returns = []
        for c in hh.cards:
            old = by_pk[c.item_id].replaces
            if old is not None:
                returns.append(
                    {
                        "name": old.person.name,
                        "number": old.number,
                        "from": old.superseded_from,
                        "due": old.return_due,
                    }
                )
        context_households.append({"hh": hh, "sheets": _slots(hh), "returns": returns})
    if not context_households:
        return ElderlyRender(pdf=b"", skipped=tuple(skipped), printed_ids=())
    html = render_to_string(
        "elderly/elderly_cards.html",
        {"insurer": Insurer.from_settings(), "households": context_households},
    )
    printed = tuple(c.item_id for hh in kept for c in hh.cards)
    return ElderlyRender(pdf=html_to_pdf(html), skipped=tuple(skipped), printed_ids=printed)
