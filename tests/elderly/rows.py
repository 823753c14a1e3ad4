"""One row of each elderly model, for screens that are tried on real rows (tests/core)."""

from datetime import date


def make_elderly_rows(*, person, certificate, snapshot, run, clerk) -> None:
    from elderly.models import (
        ElderlyBatch,
        ElderlyCard,
        ElderlyEvent,
        MonthlyPreparation,
    )
    from members.models import IncomeBasisApplication

    IncomeBasisApplication.objects.create(
        member=person, valid_from=date(2025, 8, 1), decided_on=date(2025, 9, 1), recorded_by=clerk
    )
    batch = ElderlyBatch.objects.create(detected_on=date(2025, 12, 2), event_count=1)
    card = ElderlyCard.objects.create(
        number="K2025-0000001",
        person=person,
        household=person,
        certificate=certificate,
        event="資格確認書交付",
        issue_date=date(2025, 12, 2),
        effective_from=date(2025, 12, 2),
        valid_until=date(2026, 7, 31),
        copay_ratio="2割",
        route="事業主経由",
        batch=batch,
    )
    ElderlyEvent.objects.create(
        batch=batch,
        person=person,
        household=person,
        certificate=certificate,
        kind="資格確認書交付",
        effective_from=date(2025, 12, 2),
        valid_until=date(2026, 7, 31),
        copay_ratio="2割",
        route="事業主経由",
        card=card,
    )
    MonthlyPreparation.objects.create(snapshot=snapshot, run=run, state="作成", message="x")
