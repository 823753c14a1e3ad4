"""Writes of the elderly app: 基準収入額適用, the 高齢受給者証 issued on events (detected nightly,
approved by a second person), their return, and the month's draft run after a status import.

rules.md "高齢受給者証 (70–74), as events": a 資格確認書 holder aged 70–74 needs a 高齢受給者証 showing
their ratio; it is issued on events, each with its effective date, and the card it replaces is
recovered like a certificate. Every function here is @transaction.atomic, validates, and writes an
audit event per object in the same transaction.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from certificates.lifecycle import RETURN_DAYS, return_route_for, returns_record
from certificates.models import Certificate, CertificateState
from certificates.rules import copay_ratio_on
from core.models import AuditEvent, NumberSequence, audit_event
from core.roles import CLERK, SUPERVISOR, require_role, require_second_person
from core.text_safety import check_texts
from members.dates import fiscal_year, month_end
from members.models import IncomeBasisApplication, Person, Relationship

from .models import (
    BatchState,
    ElderlyBatch,
    ElderlyCard,
    ElderlyEvent,
    ElderlyEventKind,
)

logger = logging.getLogger(__name__)

NUMBER_DIGITS = 7


# --- 基準収入額適用 ------------------------------------------------------------------------------


def income_basis_validate(
    *,
    member: Person,
    valid_from: date,
    valid_to: date | None,
    decided_on: date,
    exclude_pk: int | None = None,
) -> None:
    """The checks of a 基準収入額適用 record (the service and the admin form use this one):
    for a 被保険者, dates in order, decided not in the future, no overlap with another of theirs."""
    if member.relationship != Relationship.SELF:
        raise ValidationError(
            f"{member.key}: 基準収入額適用は被保険者(本人)について記録します(被扶養者には記録できません)"
        )
    if valid_to is not None and valid_to < valid_from:
        raise ValidationError(
            f"適用終了日({valid_to:%Y-%m-%d})が適用開始日({valid_from:%Y-%m-%d})より前です"
        )
    if decided_on > timezone.localdate():
        raise ValidationError(f"決定日({decided_on:%Y-%m-%d})が未来の日付です")
    others = IncomeBasisApplication.objects.filter(member=member)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    for other in others:
        ends_before = valid_to is not None and valid_to < other.valid_from
        starts_after = other.valid_to is not None and other.valid_to < valid_from
        if not (ends_before or starts_after):
            end = f"{other.valid_to:%Y-%m-%d}" if other.valid_to else "終了日なし"
            raise ValidationError(
                f"{member.key}: 適用期間が既存の基準収入額適用({other.valid_from:%Y-%m-%d}〜{end})"
                "と重なっています"
            )


@transaction.atomic
def income_basis_record(
    *,
    member: Person,
    valid_from: date,
    decided_on: date,
    valid_to: date | None = None,
    note: str = "",
    acting_user,
) -> IncomeBasisApplication:
    """Record a 基準収入額適用 decision for a 被保険者 (a clerk, on the member's application)."""
    require_role(acting_user, CLERK, SUPERVISOR, action="基準収入額適用を記録")
    check_texts({"備考": note}, multiline=frozenset({"備考"}))
    # The member's row lock serialises two clerks recording for the same household.
    member = Person.objects.select_for_update().get(pk=member.pk)
    income_basis_validate(
        member=member, valid_from=valid_from, valid_to=valid_to, decided_on=decided_on
    )
    app = IncomeBasisApplication.objects.create(
        member=member,
        valid_from=valid_from,
        valid_to=valid_to,
        decided_on=decided_on,
        note=note,
        recorded_by=acting_user,
    )
    audit_event(
        action="income_basis.recorded",
        actor=acting_user,
        obj=app,
        member=member.key,
        valid_from=valid_from.isoformat(),
        valid_to=valid_to.isoformat() if valid_to else None,
        decided_on=decided_on.isoformat(),
    )
    return app


@transaction.atomic
def income_basis_end(
    *, application: IncomeBasisApplication, valid_to: date, acting_user
) -> IncomeBasisApplication:
    """End a 基準収入額適用 (its last day): from the next day the household's ratio is re-decided."""
    require_role(acting_user, CLERK, SUPERVISOR, action="基準収入額適用を終了")
    app = IncomeBasisApplication.objects.select_for_update().get(pk=application.pk)
    Person.objects.select_for_update().get(pk=app.member_id)
    income_basis_validate(
        member=app.member,
        valid_from=app.valid_from,
        valid_to=valid_to,
        decided_on=app.decided_on,
        exclude_pk=app.pk,
    )
    was = app.valid_to
    app.valid_to = valid_to
    app.save(update_fields=["valid_to", "updated_at"])
    audit_event(
        action="income_basis.ended",
        actor=acting_user,
        obj=app,
        member=app.member.key,
        valid_to=valid_to.isoformat(),
        previous_valid_to=was.isoformat() if was else None,
    )
    return app


# --- detection ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    person: Person
    certificate: Certificate
    kind: str
    effective_from: date
    ratio: str
    replaces: ElderlyCard | None = None
    detail: str = ""


def next_redetermination(after: date) -> date | None:
    """The first yearly re-determination day after `after` (ELDERLY_REDETERMINATION_MONTH's 1st)."""
    month = settings.ELDERLY_REDETERMINATION_MONTH
    if not month:
        return None
    candidate = date(after.year, month, 1)
    return candidate if candidate > after else date(after.year + 1, month, 1)


def last_redetermination(on: date) -> date | None:
    """The latest yearly re-determination day on or before `on` (None without the setting)."""
    month = settings.ELDERLY_REDETERMINATION_MONTH
    if not month:
        return None
    candidate = date(on.year, month, 1)
    return candidate if candidate <= on else date(on.year - 1, month, 1)


def card_valid_until(person: Person, certificate: Certificate, effective_from: date) -> date:
    """Never past the day before the 75th birthday, nor the 資格確認書's end of cover, nor the day
    before the next yearly re-determination (rules.md)."""
    candidates = [
        person.age_cover_until,  # the day before the 75th birthday (members.dates)
        certificate.valid_until,
    ]
    yearly = next_redetermination(effective_from)
    if yearly is not None:
        candidates.append(yearly - timedelta(days=1))
    return min(candidates)


def _covering_certificate(on: date):
    """The 資格確認書 of the outer Person in force on the day (certificate_one_active_per_person
    keeps it to one)."""
    return Certificate.objects.filter(
        person_id=OuterRef("pk"),
        state=CertificateState.ACTIVE,
        issue_date__lte=on,
        valid_until__gte=on,
    ).values("pk")[:1]


def _covering_card(on: date):
    return ElderlyCard.objects.covering(on).filter(person_id=OuterRef("pk")).values("pk")[:1]


def _elderly_on(on: date) -> Q:
    """The person is a 高齢受給者 on the day (start come, not 75) and still qualified."""
    return Q(elderly_from__lte=on, age_cover_until__gte=on, acquired_on__lte=on) & (
        Q(lost_on__isnull=True) | Q(lost_on__gt=on)
    )


def _candidates(on: date):
    """Persons who are 高齢受給者 on the day and hold a 資格確認書 covering it, with that certificate,
    the card covering the day and their ratio on the day — one query, the ratio from certificates.rules.copay_ratio_on."""
    return (
        Person.objects.filter(_elderly_on(on))
        .annotate(
            cert_id=Subquery(_covering_certificate(on)),
            cert_ratio=Subquery(
                Certificate.objects.filter(pk=OuterRef("cert_id")).values("copay_ratio")[:1]
            ),
            card_id=Subquery(_covering_card(on)),
            card_ratio=Subquery(
                ElderlyCard.objects.filter(pk=OuterRef("card_id")).values("copay_ratio")[:1]
            ),
            card_household_id=Subquery(
                ElderlyCard.objects.filter(pk=OuterRef("card_id")).values("household_id")[:1]
            ),
            ratio=copay_ratio_on(on),
        )
        .filter(cert_id__isnull=False)
        .select_related("member")
    )


def _member_changed_on(person: Person, since: date) -> date | None:
    """The day the person's current member was recorded (the change history), if after `since`."""
    days = []
    previous = None
    for h in person.history.order_by("history_date", "history_id").only(
        "member_id", "history_date"
    ):
        if previous is not None and h.member_id != previous:
            days.append(timezone.localdate(h.history_date))
        previous = h.member_id
    return days[-1] if days and days[-1] > since else None


def _change_cause(
    person: Person, since: date, household_id: int | None, today: date
) -> tuple[str, date, str]:
    """Why the card (or ratio-printing certificate) in force since `since` no longer fits, and
    from when (rules.md's table). `household_id`: the 被保険者 it was issued for, when known."""
    household = person.household_member
    if household_id is not None and household_id != household.pk:
        changed = _member_changed_on(person, since) or today
        return ElderlyEventKind.MEMBER_CHANGE, changed, f"被保険者 {household.key}"
    for app in IncomeBasisApplication.objects.filter(member=household).order_by("valid_from"):
        if since < app.valid_from <= today:
            return ElderlyEventKind.INCOME_BASIS, app.valid_from, f"決定日 {app.decided_on}"
        if app.valid_to is not None and since < app.valid_to + timedelta(1) <= today:
            return (
                ElderlyEventKind.INCOME_BASIS_END,
                app.valid_to + timedelta(days=1),
                f"適用終了 {app.valid_to}",
            )
    if person.member_id is not None:
        m_start = household.elderly_from
        if since < m_start <= today:
            return ElderlyEventKind.MEMBER_ELDERLY, m_start, f"被保険者 {household.key}"
    return (
        ElderlyEventKind.REMUNERATION,
        remuneration_effective_from(household, since=since, today=today),
        f"標準報酬月額 {household.standard_remuneration or 0:,}円",
    )


def remuneration_effective_from(member: Person, *, since: date, today: date) -> date:
    """月額変更: a 標準報酬月額 change takes effect on the 1st of the month of the new 標準報酬月額
    (rules.md). The members CSV carries no month for it, so the month is the one in which the
    current amount was recorded (the import or a clerk's edit, read from the member's change
    history) — not the day the nightly job notices it: an import on 31 January found on 1 February
    is January's. Without a recorded change, the month of `today`. Never before `since` (the day
    the card or certificate it replaces took effect). The one place this date is decided."""
    recorded = None
    first = previous = object()
    for h in member.history.order_by("history_date", "history_id").only(
        "standard_remuneration", "history_date"
    ):
        if previous is not first and h.standard_remuneration != previous:
            recorded = h.history_date.astimezone(timezone.get_current_timezone()).date()
        previous = h.standard_remuneration
    return max((recorded or today).replace(day=1), since)


def detect_events(*, today: date) -> list[Found]:
    """Everything that calls for a 高齢受給者証 as of `today` (read-only; see elderly_events_prepare).

    - reaching 70: persons whose start is the 1st of next month (the month of their 70th
      birthday-eve is this one), holding a 資格確認書 that covers that day;
    - a 高齢受給者 holding a 資格確認書 but no card in force today: a new dependent already 70–74
      (from the recognition date) or a new 資格確認書 holder (from its 交付年月日);
    - a card in force whose ratio or household no longer fits (member change, 基準収入額適用 granted or
      ended, the member becoming a 高齢受給者, 標準報酬月額);
    - in the month before the yearly re-determination (ELDERLY_REDETERMINATION_MONTH), everyone who
      will hold a 資格確認書 on that day, at the ratio of that day.
    Persons with a line still awaiting approval are left for that line."""
    found: list[Found] = []
    pending = set(
        ElderlyEvent.objects.filter(
            card__isnull=True, batch__state=BatchState.PREPARED
        ).values_list("person_id", flat=True)
    )
    certs: dict[int, Certificate] = {}

    def cert(pk: int) -> Certificate:
        if pk not in certs:
            certs[pk] = Certificate.objects.get(pk=pk)
        return certs[pk]

    on_cert = settings.ELDERLY_RATIO_ON_CERTIFICATE

    def fits(p) -> bool:
        """With the ratio printed on the 資格確認書, its printed ratio is what must fit."""
        return p.cert_ratio == p.ratio

    # Reaching 70: effective on the 1st of next month (born on the 1st: that is the birthday month).
    nxt = month_end(today) + timedelta(days=1)
    for p in _candidates(nxt).filter(elderly_from=nxt):
        if p.pk in pending or p.card_id is not None or (on_cert and fits(p)):
            continue
        found.append(Found(p, cert(p.cert_id), ElderlyEventKind.REACHING_70, nxt, p.ratio))
    seen = {f.person.pk for f in found}

    for p in _candidates(today):
        if p.pk in pending or p.pk in seen:
            continue
        has_card = bool(p.cert_ratio) if on_cert else p.card_id is not None
        if has_card and on_cert and fits(p):
            continue
        if has_card and not on_cert:
            if p.card_ratio == p.ratio and p.card_household_id == p.household_member.pk:
                continue
        c = cert(p.cert_id)
        if not has_card:
            start = p.elderly_from
            if p.member_id is not None and p.acquired_on > start:
                kind, effective = ElderlyEventKind.NEW_DEPENDENT, p.acquired_on
            else:
                kind, effective = ElderlyEventKind.NEW_HOLDER, max(c.issue_date, start)
            # The card must cover today: not from before this year's re-determination.
            effective = max(effective, last_redetermination(today) or effective)
            found.append(Found(p, c, kind, effective, p.ratio))
            continue
        if on_cert:
            kind, effective, detail = _change_cause(p, c.issue_date, None, today)
            found.append(Found(p, c, kind, effective, p.ratio, None, detail))
            continue
        # Only a card that no longer fits (compared above in the query's columns) is loaded.
        card = ElderlyCard.objects.get(pk=p.card_id)
        kind, effective, detail = _change_cause(p, card.effective_from, card.household_id, today)
        found.append(Found(p, c, kind, effective, p.ratio, card, detail))
    seen |= {f.person.pk for f in found}

    yearly = next_redetermination(today)
    if yearly is not None and (yearly - timedelta(days=1)).month == today.month:
        for p in _candidates(yearly):
            if p.pk in pending or p.pk in seen or (on_cert and fits(p)):
                continue
            replaces = None
            if not on_cert:
                replaces = (
                    ElderlyCard.objects.covering(yearly - timedelta(days=1))
                    .filter(person=p)
                    .order_by("-effective_from")
                    .first()
                )
            found.append(
                Found(p, cert(p.cert_id), ElderlyEventKind.YEARLY, yearly, p.ratio, replaces)
            )
    return found


@transaction.atomic
def elderly_events_prepare(*, today: date, acting_user=None) -> ElderlyBatch | None:
    """The nightly job: list the events found today as a batch awaiting a supervisor's approval.
    Safe to repeat: a line already listed (same person, kind and effective date, in any batch) is
    not listed again, and a person with a line awaiting approval is left for it. None when there is
    nothing new."""
    if acting_user is not None:
        require_role(acting_user, CLERK, SUPERVISOR, action="高齢受給者証の交付リストを作成")
    found = detect_events(today=today)
    listed = set(
        ElderlyEvent.objects.filter(person_id__in=[f.person.pk for f in found]).values_list(
            "person_id", "effective_from", "kind"
        )
    )
    new = [f for f in found if (f.person.pk, f.effective_from, f.kind) not in listed]
    if not new:
        return None
    batch = ElderlyBatch.objects.create(detected_on=today, prepared_by=acting_user)
    events = []
    for f in new:
        household = f.person.household_member
        events.append(
            ElderlyEvent(
                batch=batch,
                person=f.person,
                household=household,
                certificate=f.certificate,
                kind=f.kind,
                effective_from=f.effective_from,
                valid_until=(
                    f.certificate.valid_until
                    if settings.ELDERLY_RATIO_ON_CERTIFICATE
                    else card_valid_until(f.person, f.certificate, f.effective_from)
                ),
                copay_ratio=f.ratio,
                route=return_route_for(f.person),
                replaces=f.replaces,
                detail=f.detail,
            )
        )
    ElderlyEvent.objects.bulk_create(events)
    by_kind: dict[str, int] = {}
    for e in events:
        by_kind[e.kind] = by_kind.get(e.kind, 0) + 1
    batch.event_count = len(events)
    batch.summary = {"by_kind": by_kind}
    batch.save(update_fields=["event_count", "summary", "updated_at"])
    audit_event(
        action="elderly_batch.prepared",
        actor=acting_user,
        obj=batch,
        detected_on=today.isoformat(),
        event_count=len(events),
        by_kind=by_kind,
    )
    return batch


# --- issuance -----------------------------------------------------------------------------------


def allocate_elderly_numbers(count: int, *, on: date) -> list[str]:
    """高齢受給者証番号 "KYYYY-NNNNNNN": the 年度 of issue and a gap-free sequence within it."""
    year = fiscal_year(on)
    return [
        f"K{year}-{n:0{NUMBER_DIGITS}d}"
        for n in NumberSequence.allocate("elderly_card", year, count)
    ]


def _still_due(event: ElderlyEvent) -> str:
    """Why a listed line is no longer to be issued at approval ("" when it still is)."""
    person = Person.objects.get(pk=event.person_id)
    day = event.effective_from
    if person.lost_on is not None and person.lost_on <= day:
        return f"資格喪失({person.lost_on:%Y-%m-%d})"
    if person.age_cover_until < day:
        return "75歳到達"
    cert = Certificate.objects.get(pk=event.certificate_id)
    if cert.state != CertificateState.ACTIVE or cert.valid_until < day:
        return f"資格確認書 {cert.number} が{cert.effective_state()}"
    if settings.ELDERLY_RATIO_ON_CERTIFICATE:
        return ""
    if ElderlyCard.objects.filter(
        person_id=event.person_id, effective_from=day, state=CertificateState.ACTIVE
    ).exists():
        return "同じ発効期日の高齢受給者証が交付済み"
    return ""


@transaction.atomic
def elderly_batch_approve(*, batch: ElderlyBatch, acting_user) -> ElderlyBatch:
    """A supervisor who did not prepare the list approves it: each line still due is issued as a
    numbered 高齢受給者証, the card it replaces is put up for return from the new one's effective
    date, and the batch's PDF (one letter and card per household) is rendered and stored."""
    batch = ElderlyBatch.objects.select_for_update().get(pk=batch.pk)
    if batch.state != BatchState.PREPARED:
        raise ValidationError(
            f"交付リスト #{batch.pk} は「{batch.get_state_display()}」のため承認できません"
        )
    require_role(acting_user, SUPERVISOR, action="高齢受給者証の交付を承認")
    require_second_person(
        acting_user, prepared_by_id=batch.prepared_by_id, what=f"交付リスト #{batch.pk}"
    )
    today = timezone.localdate()
    events = list(
        ElderlyEvent.objects.select_for_update(of=("self",))
        .filter(batch=batch, card__isnull=True)
        .select_related("person", "household", "replaces")
        .order_by("pk")
    )
    # Lock the holders in a fixed order, as certificate_issue does, so a loss or reissue recorded
    # meanwhile is seen by the re-check below, not after it.
    list(
        Person.objects.select_for_update()
        .filter(pk__in=[e.person_id for e in events])
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    due = []
    for e in events:
        why = _still_due(e)
        if why:
            e.detail = f"交付せず: {why}"[:200]
            e.save(update_fields=["detail"])
        else:
            due.append(e)
    now = timezone.now()
    if settings.ELDERLY_RATIO_ON_CERTIFICATE:
        return _approve_as_certificates(
            batch, due, skipped=len(events) - len(due), user=acting_user
        )
    numbers = allocate_elderly_numbers(len(due), on=today) if due else []
    issued: list[ElderlyCard] = []
    for e, number in zip(due, numbers, strict=True):
        if e.replaces is not None:
            _supersede(e.replaces, from_day=e.effective_from, today=today, acting_user=acting_user)
        card = ElderlyCard.objects.create(
            number=number,
            person=e.person,
            household=e.household,
            certificate_id=e.certificate_id,
            event=e.kind,
            issue_date=today,
            effective_from=e.effective_from,
            valid_until=e.valid_until,
            copay_ratio=e.copay_ratio,
            route=e.route,
            replaces=e.replaces,
            batch=batch,
            state_changed_at=now,
        )
        e.card = card
        e.save(update_fields=["card"])
        audit_event(
            action="elderly_card.issued",
            actor=acting_user,
            obj=card,
            number=number,
            person=e.person.key,
            event=e.kind,
            effective_from=e.effective_from.isoformat(),
            valid_until=e.valid_until.isoformat(),
            copay_ratio=e.copay_ratio,
            replaces=e.replaces.number if e.replaces else None,
        )
        issued.append(card)
    batch.state = BatchState.ISSUED if issued else BatchState.EMPTY
    batch.approved_by = acting_user
    batch.approved_at = now
    batch.save(update_fields=["state", "approved_by", "approved_at", "updated_at"])
    audit_event(
        action="elderly_batch.approved",
        actor=acting_user,
        obj=batch,
        issued=len(issued),
        skipped=len(events) - len(issued),
    )
    if issued:
        _render_and_store(batch, issued)
    return batch


def _approve_as_certificates(batch, due: list[ElderlyEvent], *, skipped: int, user) -> ElderlyBatch:
    """ELDERLY_RATIO_ON_CERTIFICATE=1 (施行規則§52): the 資格確認書 prints the ratio, so an event
    re-issues it (再交付(記載事項変更): the old one is returned like after a change of details) with
    the ratio of the event's effective date. Its 高齢受給者証発効日 keeps the certificates export's
    meaning: the holder's own 高齢受給者 start."""
    from certificates.lifecycle import certificate_require_return_after_change
    from certificates.models import IssueReason
    from certificates.services import certificate_issue
    from documents.render import Chunk, render_chunk
    from documents.selectors import household_data

    today = timezone.localdate()
    issued: list[Certificate] = []
    for e in due:
        old = certificate_require_return_after_change(
            certificate=Certificate.objects.get(pk=e.certificate_id),
            received_on=today,
            acting_user=user,
        )
        new = certificate_issue(
            person=e.person,
            reason=IssueReason.REISSUE_CHANGE,
            issue_date=today,
            valid_until=old.valid_until,
            route=old.route,
            acting_user=user,
            elderly_start=e.person.elderly_from,
            copay_ratio=e.copay_ratio,
            registration_status=old.registration_status,
            ec_expiry=old.ec_expiry,
            replaces=old,
        )
        e.new_certificate = new
        e.save(update_fields=["new_certificate"])
        issued.append(new)
    batch.state = BatchState.ISSUED if issued else BatchState.EMPTY
    batch.approved_by = user
    batch.approved_at = timezone.now()
    batch.save(update_fields=["state", "approved_by", "approved_at", "updated_at"])
    audit_event(
        action="elderly_batch.approved",
        actor=user,
        obj=batch,
        issued=len(issued),
        skipped=skipped,
        on_certificate=True,
    )
    if issued:
        groups: dict[int, list[Certificate]] = {}
        for c in Certificate.objects.filter(pk__in=[c.pk for c in issued]).select_related(
            "person", "person__member", "person__member__employer", "person__employer"
        ):
            groups.setdefault(c.person.household_member.pk, []).append(c)
        households = tuple(
            household_data(
                certs[0].person.household_member,
                [(c, c.pk) for c in certs],
                route=certs[0].route,
                letter_date=today,
            )
            for certs in groups.values()
        )
        result = render_chunk(Chunk(households=households))
        _store_pdf(batch, result.pdf, result.skipped)
    return batch


def _supersede(card: ElderlyCard, *, from_day: date, today: date, acting_user) -> None:
    """The replaced card is recovered like a certificate: 返却待ち from the day the new one takes
    effect, due 5 days after that day (or after today, when the new one is issued afterwards)."""
    card = ElderlyCard.objects.select_for_update().get(pk=card.pk)
    if card.state != CertificateState.ACTIVE:
        return
    # It ends before its successor starts (the yearly re-determination): nothing to recover.
    returns = card.valid_until >= from_day
    _card_end(
        card,
        from_day=from_day,
        due_from=max(from_day, today),
        returns=returns,
        note="新しい高齢受給者証の交付" if returns else "有効期限切れ(次の証へ)",
    )
    if not returns:
        return
    audit_event(
        action="elderly_card.return_required",
        actor=acting_user,
        obj=card,
        number=card.number,
        superseded_from=from_day.isoformat(),
        return_due=card.return_due.isoformat(),
        return_route=card.return_route,
    )


_CARD_END_FIELDS = [
    "state",
    "state_note",
    "superseded_from",
    "return_due",
    "return_route",
    "state_changed_at",
    "updated_at",
]


def _card_end(
    card: ElderlyCard, *, from_day: date, due_from: date, returns: bool, note: str
) -> None:
    """A card stops being its holder's on `from_day` (a new card, a loss of qualification): it is
    returned like a certificate (施行規則§51 applied to the 高齢受給者証) — 返却待ち, due RETURN_DAYS
    after `due_from`, by the household's route — or, when it ended before (`returns` false), it needs
    no return. `note` is the state's reason."""
    if returns:
        card.state = CertificateState.RETURN_PENDING
        card.superseded_from = from_day
        card.return_due = due_from + timedelta(days=RETURN_DAYS)
        card.return_route = return_route_for(card.person)
    else:
        card.state = CertificateState.NO_RETURN
    card.state_note = note
    card.state_changed_at = timezone.now()
    card.save(update_fields=_CARD_END_FIELDS)


def _render_and_store(batch: ElderlyBatch, cards: list[ElderlyCard]) -> None:
    from .documents import render_elderly_cards

    result = render_elderly_cards(cards)
    _store_pdf(batch, result.pdf, result.skipped)


def _store_pdf(batch: ElderlyBatch, pdf: bytes, skipped) -> None:
    from pypdf import PdfReader

    if pdf:
        batch.pdf.save(f"elderly/batch-{batch.pk}.pdf", ContentFile(pdf), save=False)
        batch.page_count = len(PdfReader(io.BytesIO(pdf)).pages)
    batch.skipped = [s.as_json() for s in skipped]
    batch.save(update_fields=["pdf", "page_count", "skipped", "updated_at"])
    audit_event(
        action="elderly_batch.rendered",
        obj=batch,
        pages=batch.page_count,
        skipped=len(batch.skipped),
    )


# --- after issue ---------------------------------------------------------------------------------


@transaction.atomic
def elderly_cards_record_returns(
    *, numbers: list[str], returned_on: date, acting_user
) -> list[ElderlyCard]:
    """Record received 高齢受給者証 (all or nothing, the rule of certificates_record_returns)."""
    require_role(acting_user, CLERK, SUPERVISOR, action="高齢受給者証の返却を記録")
    return returns_record(
        ElderlyCard.objects.all(),
        numbers=numbers,
        returned_on=returned_on,
        acting_user=acting_user,
        number_label="高齢受給者証番号",
        action="elderly_card.returned",
    )


@transaction.atomic
def elderly_cards_apply_losses(*, today: date, acting_user=None) -> list[ElderlyCard]:
    """A holder who lost qualification returns their 高齢受給者証 too: a card still 有効 on the
    資格喪失年月日 becomes 返却待ち, due 5 days after it, by the household's route; one that ended
    before the loss needs no return. Safe to repeat (only stored-有効 cards are looked at)."""
    changed = []
    for card in (
        ElderlyCard.objects.select_for_update(of=("self",))
        .filter(
            state=CertificateState.ACTIVE,
            person__lost_on__isnull=False,
            person__lost_on__lte=today,
        )
        .select_related("person", "person__member")
        .order_by("pk")
    ):
        lost_on = card.person.lost_on
        returns = not (card.valid_until < lost_on or card.valid_until < today)
        _card_end(
            card,
            from_day=lost_on,
            due_from=lost_on,
            returns=returns,
            note="資格喪失" if returns else "有効期限切れ",
        )
        audit_event(
            action="elderly_card.return_required",
            actor=acting_user,
            obj=card,
            number=card.number,
            state=card.state,
            lost_on=lost_on.isoformat(),
            return_due=card.return_due.isoformat() if card.return_due else None,
        )
        changed.append(card)
    return changed


@transaction.atomic
def elderly_cards_mark_overdue(*, today: date, acting_user=None) -> list[ElderlyCard]:
    """One audit event per card the first time it is seen overdue (the list itself is live)."""
    overdue = [
        c
        for c in ElderlyCard.objects.filter(
            state=CertificateState.RETURN_PENDING, return_due__lt=today, valid_until__gte=today
        ).order_by("pk")
        if c.is_overdue(today)
    ]
    flagged_ids = set(
        AuditEvent.objects.filter(
            action="elderly_card.return_overdue",
            object_type=ElderlyCard._meta.label,
            object_id__in=[str(c.pk) for c in overdue],
        ).values_list("object_id", flat=True)
    )
    flagged = []
    for card in overdue:
        if str(card.pk) in flagged_ids:
            continue
        audit_event(
            action="elderly_card.return_overdue",
            actor=acting_user,
            obj=card,
            number=card.number,
            return_due=card.return_due.isoformat(),
            as_of=today.isoformat(),
        )
        flagged.append(card)
    return flagged


def elderly_daily_jobs(*, today: date, acting_user=None) -> dict[str, int]:
    """The elderly part of the nightly work (certificates.lifecycle.daily_jobs_run calls it after
    the 75th birthdays and expiries): losses, overdue returns, then the day's events."""
    losses = elderly_cards_apply_losses(today=today, acting_user=acting_user)
    overdue = elderly_cards_mark_overdue(today=today, acting_user=acting_user)
    batch = elderly_events_prepare(today=today, acting_user=acting_user)
    return {
        "高齢受給者証の返却(資格喪失)": len(losses),
        "高齢受給者証の返却期限超過": len(overdue),
        "高齢受給者証の交付リスト": batch.event_count if batch else 0,
    }
