"""What happens to certificates after issue (returns, disposal, holds).

rules.md "After issue". Everything here changes stored certificate states; each function locks the rows
it changes, writes an audit event per certificate, and is safe to run twice (a second run finds nothing
left to do). `certificates_require_return` is called by the registry's services inside their
transaction; the others are called by fees.services, the admin, the management commands and the
Celery beat tasks (certificates/tasks.py).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.models import AuditEvent, audit_event
from members.models import Person, RegistrationStatus, RegistrationStatusValue

from .models import Certificate, CertificateState, Route

RETURN_DAYS = (
    5  # 健康保険法施行規則§51: returned within 5 days of the 資格喪失 (seed notice: 5日以内)
)
NOTE_MYNA_REGISTERED = "マイナ保険証登録"
NOTE_EXPIRED = "有効期限切れ"
NOTE_EXPIRED_UNRETURNED = "有効期限切れ(未返却)"

_STATE_FIELDS = ["state", "state_note", "state_changed_at", "updated_at"]


def return_route_for(person: Person) -> str:
    """返却経路: 任意継続 members and their dependents return directly to the society (規則§51②);
    everyone else through the employer."""
    return Route.HOME if person.household_member.insured_type == "任意継続" else Route.EMPLOYER


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
    """
    route = return_route_for(person)
    today = timezone.localdate()
    changed = []
    qs = Certificate.objects.select_for_update().filter(
        person=person, state=CertificateState.ACTIVE
    )
    for cert in qs:
        if cert.valid_until < lost_on or cert.valid_until < today:
            cert.state = CertificateState.NO_RETURN
            cert.state_note = NOTE_EXPIRED
        elif cert.held_since is not None:
            cert.state = CertificateState.RETURNED
            cert.returned_on = cert.held_since
            cert.state_note = "宛所不明で返戻され組合で保管中に資格喪失"
        else:
            cert.state = CertificateState.RETURN_PENDING
            cert.return_due = lost_on + timedelta(days=RETURN_DAYS)
            cert.return_route = route
            cert.state_note = f"資格喪失({person.loss_reason or '喪失'})"
        cert.state_changed_at = timezone.now()
        cert.save(update_fields=[*_STATE_FIELDS, "return_due", "return_route", "returned_on"])
        audit_event(
            action="certificate.return_required",
            actor=acting_user,
            obj=cert,
            state=cert.state,
            lost_on=lost_on.isoformat(),
            return_due=cert.return_due.isoformat() if cert.return_due else None,
            return_route=cert.return_route,
        )
        changed.append(cert)
    return changed


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
    wanted = list(dict.fromkeys(normalize_number(n) for n in numbers if normalize_number(n)))
    if not wanted:
        raise ValidationError("証明書番号が入力されていません")
    if returned_on > timezone.localdate():
        raise ValidationError(f"返却日({returned_on:%Y-%m-%d})が未来の日付です")
    certs = {
        c.number: c
        for c in Certificate.objects.select_for_update(of=("self",))
        .select_related("person")
        .filter(number__in=wanted)
    }
    problems: list[tuple[str, str]] = []
    for number in wanted:
        cert = certs.get(number)
        if cert is None:
            problems.append((number, "該当する資格確認書がありません"))
        elif cert.state != CertificateState.RETURN_PENDING:
            when = f" ({cert.returned_on:%Y-%m-%d})" if cert.returned_on else ""
            problems.append(
                (number, f"返却待ちではありません(状態: {cert.effective_state()}{when})")
            )
    if problems:
        raise ReturnsError(problems)
    now = timezone.now()
    done = []
    for number in wanted:
        cert = certs[number]
        cert.state = CertificateState.RETURNED
        cert.returned_on = returned_on
        cert.state_changed_at = now
        cert.save(update_fields=[*_STATE_FIELDS, "returned_on"])
        audit_event(
            action="certificate.returned",
            actor=acting_user,
            obj=cert,
            number=cert.number,
            returned_on=returned_on.isoformat(),
            overdue=returned_on > cert.return_due,
        )
        done.append(cert)
    return done


@transaction.atomic
def certificates_expire(*, today: date, acting_user=None) -> list[Certificate]:
    """Store what effective_state() already shows: a certificate past its 有効期限 needs no return.

    Stored 有効 → 返却不要 (有効期限切れ). A 返却待ち certificate whose 有効期限 has passed is no longer
    chased either: it cannot be used any more, and the seed notice tells holders to dispose of
    expired ones (返却不要, 有効期限切れ(未返却)). Safe to run twice: the second run finds nothing.
    """
    now = timezone.now()
    changed = []
    qs = Certificate.objects.select_for_update().filter(
        state__in=[CertificateState.ACTIVE, CertificateState.RETURN_PENDING],
        valid_until__lt=today,
    )
    for cert in qs:
        was = cert.state
        cert.state = CertificateState.NO_RETURN
        cert.state_note = (
            NOTE_EXPIRED if was == CertificateState.ACTIVE else NOTE_EXPIRED_UNRETURNED
        )
        cert.state_changed_at = now
        cert.save(update_fields=_STATE_FIELDS)
        audit_event(
            action="certificate.expired",
            actor=acting_user,
            obj=cert,
            previous_state=was,
            valid_until=cert.valid_until.isoformat(),
        )
        changed.append(cert)
    return changed


def _latest_status_by_person(
    person_ids: Iterable[int], *, on: date
) -> dict[int, RegistrationStatus]:
    latest: dict[int, RegistrationStatus] = {}
    rows = (
        RegistrationStatus.objects.filter(person_id__in=list(person_ids), as_of__lte=on)
        .order_by("person_id", "-as_of", "-snapshot_id")
        .only("person_id", "as_of", "status", "snapshot_id")
    )
    for row in rows:
        latest.setdefault(row.person_id, row)
    return latest


def _registration_basis(cert: Certificate) -> date:
    """The status date the certificate was decided on: the run's 基準日, else its 交付年月日."""
    return cert.run.status_date if cert.run_id else cert.issue_date


def _apply_registered(certs: list[Certificate], *, today: date, acting_user) -> list[Certificate]:
    """Certificates made unnecessary by マイナ保険証 registration become 返却不要.

    A holder's *latest* status (on or before today) must be 登録済, dated after the status the
    certificate was decided on, and the holder must not be 要配慮者 (who keeps theirs, rules.md)."""
    latest = _latest_status_by_person({c.person_id for c in certs}, on=today)
    now = timezone.now()
    changed = []
    for cert in certs:
        status = latest.get(cert.person_id)
        if status is None or status.status != RegistrationStatusValue.REGISTERED:
            continue
        if cert.person.needs_consideration or status.as_of <= _registration_basis(cert):
            continue
        cert.state = CertificateState.NO_RETURN
        cert.state_note = NOTE_MYNA_REGISTERED
        cert.state_changed_at = now
        cert.save(update_fields=_STATE_FIELDS)
        audit_event(
            action="certificate.no_return_registered",
            actor=acting_user,
            obj=cert,
            status_as_of=status.as_of.isoformat(),
            snapshot=status.snapshot_id,
        )
        changed.append(cert)
    return changed


def _locked(ids) -> list[Certificate]:
    """Lock the still-有効 certificates among `ids` (a subquery: the join through the statuses may
    repeat a certificate, and PostgreSQL allows no FOR UPDATE with DISTINCT)."""
    return list(
        Certificate.objects.select_for_update(of=("self",))
        .select_related("person", "run")
        .filter(pk__in=ids, state=CertificateState.ACTIVE)
        .order_by("pk")
    )


@transaction.atomic
def certificates_apply_registration_snapshot(*, snapshot, acting_user=None) -> list[Certificate]:
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
    return _apply_registered(_locked(ids), today=today, acting_user=acting_user)


@transaction.atomic
def certificates_apply_registration_status(*, today: date, acting_user=None) -> list[Certificate]:
    """The daily sweep of the same rule over every active certificate (catches a snapshot imported
    without the hook, or a 要配慮者 flag removed since)."""
    ids = Certificate.objects.filter(
        state=CertificateState.ACTIVE,
        valid_until__gte=today,
        person__registration_statuses__status=RegistrationStatusValue.REGISTERED,
        person__needs_consideration=False,
    ).values("pk")
    return _apply_registered(_locked(ids), today=today, acting_user=acting_user)


def overdue_returns_q(today: date) -> Q:
    """返却待ち past the due date and still within 有効期限 (an expired one is no longer chased)."""
    return Q(state=CertificateState.RETURN_PENDING, return_due__lt=today, valid_until__gte=today)


@transaction.atomic
def certificates_mark_overdue(*, today: date, acting_user=None) -> list[Certificate]:
    """Flag the returns that became overdue: one audit event per certificate the first time it is
    seen overdue (the overdue list itself is computed live, so nothing else is stored). Running twice
    on the same day, or the next day, flags nothing new."""
    overdue = list(
        Certificate.objects.select_for_update().filter(overdue_returns_q(today)).order_by("pk")
    )
    flagged_ids = set(
        AuditEvent.objects.filter(
            action="certificate.return_overdue",
            object_type=Certificate._meta.label,
            object_id__in=[str(c.pk) for c in overdue],
        ).values_list("object_id", flat=True)
    )
    flagged = []
    for cert in overdue:
        if str(cert.pk) in flagged_ids:
            continue
        audit_event(
            action="certificate.return_overdue",
            actor=acting_user,
            obj=cert,
            number=cert.number,
            return_due=cert.return_due.isoformat(),
            as_of=today.isoformat(),
        )
        flagged.append(cert)
    return flagged


@transaction.atomic
def certificate_record_undeliverable(*, number: str, returned_on: date, acting_user) -> Certificate:
    """宛所不明の返戻: the post brought an envelope back. The addressee's address is flagged (the
    household's 被保険者: letters are addressed to the member) and the certificate is held by the
    society (送付保留) until fees.services.person_correct_address sends it again."""
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
    from members.services import persons_apply_75th_birthday  # members imports this module

    return {
        "75歳到達": len(persons_apply_75th_birthday(on=today, acting_user=acting_user)),
        "有効期限切れ": len(certificates_expire(today=today, acting_user=acting_user)),
        "マイナ保険証登録": len(
            certificates_apply_registration_status(today=today, acting_user=acting_user)
        ),
        "返却期限超過": len(certificates_mark_overdue(today=today, acting_user=acting_user)),
        **_elderly_daily_jobs(today=today, acting_user=acting_user),
    }


def _elderly_daily_jobs(*, today: date, acting_user=None) -> dict[str, int]:
    # 高齢受給者証: losses, overdue returns and the day's events (elderly.services), after the steps
    # above so that today's losses and expiries are already recorded.
    from elderly.services import elderly_daily_jobs

    return elderly_daily_jobs(today=today, acting_user=acting_user)
