"""What happens to certificates after issue (returns, disposal, holds).

rules.md "After issue". Everything here changes stored certificate states; each function locks the rows
it changes, writes an audit event per certificate, and is safe to run twice (a second run finds nothing
left to do). `certificates_require_return` is called by the registry's services inside their
transaction; the others are called by certificates.returns, fees.services, the admin, the management commands and the
Celery beat tasks (certificates/tasks.py).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import CharField, Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from core.models import AuditEvent, audit_event
from members.models import Person, RegistrationStatus, RegistrationStatusValue
from members.services import persons_apply_75th_birthday

from . import retire_sql
from .models import Certificate, CertificateState
from .retire_sql import NOTE_EXPIRED
from .rules import route_for_insured_type

RETURN_DAYS = (
    5  # 健康保険法施行規則§51: returned within 5 days of the 資格喪失 (seed notice: 5日以内)
)
NOTE_MYNA_REGISTERED = "マイナ保険証登録"
NOTE_EXPIRED_UNRETURNED = "有効期限切れ(未返却)"

_STATE_FIELDS = ["state", "state_note", "state_changed_at", "updated_at"]


def return_route_for(person: Person) -> str:
    """返却経路: 任意継続 members and their dependents return directly to the society (規則§51②);
    everyone else through the employer."""
    return route_for_insured_type(person.household_member.insured_type)


def normalize_number(raw: str) -> str:
    """証明書番号 as a clerk types or pastes it: full-width digits and dashes are folded (NFKC) and
    surrounding blanks dropped, so "２０２５－０００００１２" finds 2025-0000012."""
    text = unicodedata.normalize("NFKC", raw).strip()
    return text.replace("‐", "-").replace("−", "-").replace("ー", "-")


@transaction.atomic
def certificates_require_return(*, person, lost_on: date, acting_user=None) -> list[Certificate]:
    """A holder lost qualification (退職, 被扶養者でなくなった, a member's loss taking their dependents,
    the 75th birthday): each certificate still 有効 becomes 返却待ち, due 5 days after the
    資格喪失年月日, via the employer — or directly to the society for 任意継続 members and their
    dependents.

    Exceptions, each with its reason in state_note:
    - a certificate whose 有効期限 ends before the loss date, or has already passed today, needs no
      return (返却不要: the seed notice tells holders to dispose of expired ones). This is the usual
      75th-birthday case: the validity end is the day before the 75th birthday (rules.md), so such a
      certificate has already expired on the day of loss;
    - a certificate held by the society after a 宛所不明 return never reached the holder: it is
      recorded as 返却済 on the day the envelope came back (nothing to chase).
    Certificates already 返却待ち keep their first due date (running the loss twice changes nothing).

    One person's case of certificates_require_return_for (the rule's only home).
    """
    ids = certificates_require_return_for([(person, lost_on)], acting_user=acting_user)
    return list(Certificate.objects.filter(pk__in=ids).order_by("pk"))


@transaction.atomic
def certificates_require_return_for(
    losses: Iterable[tuple[Person, date]], *, acting_user=None
) -> list[int]:
    """certificates_require_return over a set of (person, lost_on), set-wise: the 有効 certificates
    of all these persons are locked by one statement, then each group of certificates going to the
    same state with the same note, due date and route is written by retire_sql.set_state (one
    UPDATE, one history INSERT, one audit INSERT), so the statement count depends on the number of
    distinct loss dates and routes, not on the number of persons. `person.loss_reason` (the note)
    and the household's 被保険者 (the route) are read from the given objects. Returns the ids of
    the certificates changed."""
    by_pk = {person.pk: (person, lost_on) for person, lost_on in losses}
    if not by_pk:
        return []
    today = timezone.localdate()
    now = timezone.now()
    of_persons, person_ids = retire_sql.in_persons(list(by_pk))
    ids = retire_sql.locked_ids(
        f"c.state = %s AND {of_persons}", [CertificateState.ACTIVE, person_ids]
    )
    rows = Certificate.objects.filter(pk__in=ids).values_list(
        "pk", "person_id", "issue_date", "valid_until", "held_since"
    )
    groups: dict[tuple, list[int]] = {}
    for pk, person_id, issue_date, valid_until, held_since in rows:
        person, lost_on = by_pk[person_id]
        # It covers the days before the loss (certificate_no_overlapping_cover): none when the loss
        # came before its 交付年月日.
        cover = (("covers_until", max(issue_date, lost_on) - timedelta(days=1)),)
        if valid_until < lost_on:
            key = (CertificateState.NO_RETURN, NOTE_EXPIRED, lost_on, ())
        elif valid_until < today:
            key = (CertificateState.NO_RETURN, NOTE_EXPIRED, lost_on, cover)
        elif held_since is not None:
            note = "宛所不明で返戻され組合で保管中に資格喪失"
            key = (CertificateState.RETURNED, note, lost_on, (("returned_on", held_since),))
        else:
            also = (
                ("return_due", lost_on + timedelta(days=RETURN_DAYS)),
                ("return_route", return_route_for(person)),
                *cover,
            )
            note = f"資格喪失({person.loss_reason or '喪失'})"
            key = (CertificateState.RETURN_PENDING, note, lost_on, also)
        groups.setdefault(key, []).append(pk)
    user_id = _user_id(acting_user)
    changed: list[int] = []
    for (state, note, lost_on, also), group in groups.items():
        audit = retire_sql.Audit(
            action="certificate.return_required",
            constants={"state": state, "lost_on": lost_on},
            columns={"return_due": "return_due", "return_route": "return_route"},
        )
        retire_sql.set_state(
            group, state=state, note=note, now=now, user_id=user_id, also=dict(also), audit=audit
        )
        changed += group
    return sorted(changed)


@transaction.atomic
def certificate_require_return_after_change(
    *, certificate: Certificate, received_on: date, acting_user=None
) -> Certificate:
    """記載事項変更: the old certificate must come back (due 5 days after the application was received),
    by the same route as a return on loss. Called by fees.services before the new one is issued."""
    cert = Certificate.objects.select_for_update().get(pk=certificate.pk)
    if cert.effective_state() != CertificateState.ACTIVE:
        raise ValidationError(
            f"資格確認書 {cert.number} は{cert.effective_state()}のため返却待ちにできません"
        )
    cert.state = CertificateState.RETURN_PENDING
    cert.return_due = received_on + timedelta(days=RETURN_DAYS)
    cert.return_route = return_route_for(cert.person)
    cert.state_note = "記載事項変更による再交付"
    cert.state_changed_at = timezone.now()
    cert.save(update_fields=[*_STATE_FIELDS, "return_due", "return_route"])
    audit_event(
        action="certificate.return_required",
        actor=acting_user,
        obj=cert,
        state=cert.state,
        return_due=cert.return_due.isoformat(),
        return_route=cert.return_route,
        cause="記載事項変更",
    )
    return cert


class ReturnsError(ValidationError):
    """A list of 証明書番号 could not be recorded. `problems` holds (number, reason) pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__([f"{number}: {reason}" for number, reason in problems])


def parse_number_list(text: str) -> list[str]:
    """One 証明書番号 per line (commas, tabs and blanks also separate; a pasted Excel column works).
    Duplicates are kept once, in first-seen order."""
    seen: dict[str, None] = {}
    for chunk in text.replace(",", "\n").replace("\t", "\n").splitlines():
        for token in chunk.split():
            number = normalize_number(token)
            if number:
                seen.setdefault(number, None)
    return list(seen)


@transaction.atomic
def certificates_record_returns(
    *, numbers: Iterable[str], returned_on: date, acting_user
) -> list[Certificate]:
    """Record received certificates (返却済 with the date of receipt), one or many at once.

    All-or-nothing: when any number is unknown, or its certificate is not 返却待ち (already returned,
    never asked for, expired…), nothing is recorded and ReturnsError lists every such number with
    its reason, so a clerk fixes the list and submits it again without wondering which half went in.
    """
    return returns_record(
        Certificate.objects.select_related("person"),
        numbers=numbers,
        returned_on=returned_on,
        acting_user=acting_user,
        number_label="証明書番号",
        action="certificate.returned",
    )


def returns_record(
    queryset,
    *,
    numbers: Iterable[str],
    returned_on: date,
    acting_user,
    number_label: str,
    action: str,
) -> list:
    """The return of cards of one kind, by number: 資格確認書 (certificates_record_returns) and
    高齢受給者証 (elderly.services.elderly_cards_record_returns) alike. All-or-nothing, with every
    refused number and its reason in ReturnsError; one audit event `action` per card."""
    thing = queryset.model._meta.verbose_name
    wanted = list(dict.fromkeys(normalize_number(n) for n in numbers if normalize_number(n)))
    if not wanted:
        raise ValidationError(f"{number_label}が入力されていません")
    if returned_on > timezone.localdate():
        raise ValidationError(f"返却日({returned_on:%Y-%m-%d})が未来の日付です")
    cards = {
        c.number: c for c in queryset.select_for_update(of=("self",)).filter(number__in=wanted)
    }
    problems: list[tuple[str, str]] = []
    for number in wanted:
        card = cards.get(number)
        if card is None:
            problems.append((number, f"該当する{thing}がありません"))
        elif card.state != CertificateState.RETURN_PENDING:
            when = f" ({card.returned_on:%Y-%m-%d})" if card.returned_on else ""
            problems.append(
                (number, f"返却待ちではありません(状態: {card.effective_state()}{when})")
            )
    if problems:
        raise ReturnsError(problems)
    now = timezone.now()
    done = []
    for number in wanted:
        card = cards[number]
        card.state = CertificateState.RETURNED
        card.returned_on = returned_on
        card.state_changed_at = now
        card.save(update_fields=[*_STATE_FIELDS, "returned_on"])
        audit_event(
            action=action,
            actor=acting_user,
            obj=card,
            number=card.number,
            returned_on=returned_on.isoformat(),
            overdue=returned_on > card.return_due,
        )
        done.append(card)
    return done


def _user_id(user) -> int | None:
    return user.pk if user is not None else None


@transaction.atomic
def certificates_expire(*, today: date, acting_user=None) -> list[int]:
    """Store what effective_state() already shows: a certificate past its 有効期限 needs no return.

    Stored 有効 → 返却不要 (有効期限切れ). A 返却待ち certificate whose 有効期限 has passed is no longer
    chased either: it cannot be used any more, and the seed notice tells holders to dispose of
    expired ones (返却不要, 有効期限切れ(未返却)). Safe to run twice: the second run finds nothing.

    Set-wise (certificates.retire_sql; a run's uniform expiry makes the whole population expire
    on one night): per previous state, one locking SELECT, one UPDATE, one INSERT … SELECT of the
    history rows and one of the audit events. Returns the ids of the certificates changed."""
    now = timezone.now()
    changed: list[int] = []
    for was, note in (
        (CertificateState.ACTIVE, NOTE_EXPIRED),
        (CertificateState.RETURN_PENDING, NOTE_EXPIRED_UNRETURNED),
    ):
        ids = retire_sql.locked_ids("c.state = %s AND c.valid_until < %s", [was, today])
        retire_sql.set_state(
            ids,
            state=CertificateState.NO_RETURN,
            note=note,
            now=now,
            user_id=_user_id(acting_user),
            audit=retire_sql.Audit(
                "certificate.expired",
                constants={"previous_state": was.value},
                columns={"valid_until": "valid_until"},
            ),
        )
        changed += ids
    return sorted(changed)


def _apply_registered(candidates, *, today: date, acting_user) -> list[int]:
    """Certificates made unnecessary by マイナ保険証 registration become 返却不要.

    A holder's *latest* status (on or before today) must be 登録済, dated after the status the
    certificate was decided on (the run's 基準日, else its 交付年月日), and the holder must not be
    要配慮者 (who keeps theirs, rules.md). `candidates`: a queryset of certificate pks. One
    locking query decides; the changes are written set-wise, one set per status file (snapshot)
    that made them. Returns the ids of the certificates changed."""
    latest = RegistrationStatus.objects.filter(
        person_id=OuterRef("person_id"), as_of__lte=today
    ).order_by("-as_of", "-snapshot_id")
    rows = list(
        Certificate.objects.select_for_update(of=("self",))
        .filter(pk__in=candidates, state=CertificateState.ACTIVE)
        .filter(person__needs_consideration=False)
        .annotate(
            latest_status=Subquery(latest.values("status")[:1]),
            latest_as_of=Subquery(latest.values("as_of")[:1]),
            latest_snapshot=Subquery(latest.values("snapshot_id")[:1]),
            basis=Coalesce("run__status_date", "issue_date"),
        )
        .filter(latest_status=RegistrationStatusValue.REGISTERED, latest_as_of__gt=F("basis"))
        .order_by("pk")
        .values_list("pk", "latest_as_of", "latest_snapshot")
    )
    by_status: dict[tuple[date, int], list[int]] = {}
    for pk, as_of, snapshot_id in rows:
        by_status.setdefault((as_of, snapshot_id), []).append(pk)
    now = timezone.now()
    for (as_of, snapshot_id), ids in sorted(by_status.items()):
        retire_sql.set_state(
            ids,
            state=CertificateState.NO_RETURN,
            note=NOTE_MYNA_REGISTERED,
            now=now,
            user_id=_user_id(acting_user),
            audit=retire_sql.Audit(
                "certificate.no_return_registered",
                constants={"status_as_of": as_of.isoformat(), "snapshot": snapshot_id},
            ),
        )
    return [pk for pk, _, _ in rows]


@transaction.atomic
def certificates_apply_registration_snapshot(*, snapshot, acting_user=None) -> list[int]:
    """Run after each registration-status import (members' import calls this with the new
    RegistrationSnapshot): active certificates of the persons in the snapshot whose latest status is
    now 登録済 become 返却不要 (state_note マイナ保険証登録), except for 要配慮者."""
    today = max(timezone.localdate(), snapshot.as_of)
    ids = Certificate.objects.filter(
        state=CertificateState.ACTIVE,
        valid_until__gte=timezone.localdate(),
        person__registration_statuses__snapshot=snapshot,
        person__registration_statuses__status=RegistrationStatusValue.REGISTERED,
    ).values("pk")
    return _apply_registered(ids, today=today, acting_user=acting_user)


@transaction.atomic
def certificates_apply_registration_status(*, today: date, acting_user=None) -> list[int]:
    """The daily sweep of the same rule over every active certificate (catches a snapshot imported
    without the hook, or a 要配慮者 flag removed since)."""
    ids = Certificate.objects.filter(
        state=CertificateState.ACTIVE,
        valid_until__gte=today,
        person__registration_statuses__status=RegistrationStatusValue.REGISTERED,
        person__needs_consideration=False,
    ).values("pk")
    return _apply_registered(ids, today=today, acting_user=acting_user)


def overdue_returns_q(today: date) -> Q:
    """返却待ち past the due date and still within 有効期限 (an expired one is no longer chased)."""
    return Q(state=CertificateState.RETURN_PENDING, return_due__lt=today, valid_until__gte=today)


@transaction.atomic
def certificates_mark_overdue(*, today: date, acting_user=None) -> list[int]:
    """Flag the returns that became overdue: one audit event per certificate the first time it is
    seen overdue (the overdue list itself is computed live, so nothing else is stored). Running twice
    on the same day, or the next day, flags nothing new. Set-wise: the overdue certificates are
    locked (a concurrent run waits here), then the ones never flagged get their events in one
    INSERT … SELECT. Returns their ids."""
    overdue = Certificate.objects.filter(overdue_returns_q(today))
    list(overdue.select_for_update().order_by("pk").values_list("pk", flat=True))
    flagged = AuditEvent.objects.filter(
        action="certificate.return_overdue",
        object_type=Certificate._meta.label,
        object_id=Cast(OuterRef("pk"), CharField()),
    )
    # a new statement: sees the events a concurrent run committed while this one waited
    ids = list(overdue.filter(~Exists(flagged)).order_by("pk").values_list("pk", flat=True))
    retire_sql.insert_audit_events(
        ids,
        audit=retire_sql.Audit(
            "certificate.return_overdue",
            constants={"as_of": today.isoformat()},
            columns={"number": "number", "return_due": "return_due"},
        ),
        now=timezone.now(),
        user_id=_user_id(acting_user),
    )
    return ids


@transaction.atomic
def certificate_record_undeliverable(*, number: str, returned_on: date, acting_user) -> Certificate:
    """宛所不明の返戻: the post brought an envelope back. The addressee's address is flagged (the
    household's 被保険者: letters are addressed to the member) and the certificate is held by the
    society (送付保留) until certificates.returns.address_correct_and_resend sends it again."""
    number = normalize_number(number)
    if returned_on > timezone.localdate():
        raise ValidationError(f"返戻日({returned_on:%Y-%m-%d})が未来の日付です")
    cert = (
        Certificate.objects.select_for_update(of=("self",))
        .select_related("person", "person__member")
        .filter(number=number)
        .first()
    )
    if cert is None:
        raise ValidationError(f"証明書番号 {number}: 該当する資格確認書がありません")
    if cert.held_since is not None:
        raise ValidationError(
            f"証明書番号 {number}: すでに送付保留中です({cert.held_since:%Y-%m-%d} から)"
        )
    if cert.effective_state() != CertificateState.ACTIVE:
        raise ValidationError(
            f"証明書番号 {number}: 状態が{cert.effective_state()}のため送付保留にできません"
        )
    addressee = Person.objects.select_for_update().get(pk=cert.person.household_member.pk)
    if addressee.address_unknown_since is None:
        addressee.address_unknown_since = returned_on
        addressee.save(update_fields=["address_unknown_since", "updated_at"])
    cert.held_since = returned_on
    cert.save(update_fields=["held_since", "updated_at"])
    audit_event(
        action="certificate.undeliverable",
        actor=acting_user,
        obj=cert,
        number=cert.number,
        returned_on=returned_on.isoformat(),
        addressee=addressee.key,
    )
    return cert


def daily_jobs_run(*, today: date, acting_user=None) -> dict[str, int]:
    """The nightly work (Celery beat → certificates.tasks.run_daily_jobs; also `manage.py
    run_daily_jobs`), in the order the rules need: 75th birthdays first (their losses put
    certificates to 返却待ち or 返却不要), then expiries, then マイナ保険証 registrations, then overdue
    flags. Each step is its own transaction and safe to run twice. Returns counts per step."""

    return {
        "75歳到達": len(persons_apply_75th_birthday(on=today, acting_user=acting_user)),
        "有効期限切れ": len(certificates_expire(today=today, acting_user=acting_user)),
        "マイナ保険証登録": len(
            certificates_apply_registration_status(today=today, acting_user=acting_user)
        ),
        "返却期限超過": len(certificates_mark_overdue(today=today, acting_user=acting_user)),
        **{
            k: v
            for step in DAILY_STEPS
            for k, v in step(today=today, acting_user=acting_user).items()
        },
    }


# Nightly steps of other apps (each `step(*, today, acting_user) -> dict[str, int]`), run after the
# ones above so that today's losses and expiries are already recorded. Apps append theirs in
# AppConfig.ready (elderly: the 高齢受給者証), so this module imports none of them.
DAILY_STEPS: list = []
