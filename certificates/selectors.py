"""Reads of the certificates app.

`issuance_targets` applies certificates.rules.evaluate to the whole registry set-wise: persons are
read in primary-key chunks, each chunk with two queries (persons with their member's facts and their
latest status; the active certificates of the chunk's pk range), so a society of
1.2 million persons is selected in minutes with bounded memory. The SQL pre-filters only drop persons
the rules would drop anyway (tests/certificates/test_selectors.py compares with a naive evaluation).
run_create uses it on SQLite; on PostgreSQL it freezes the list with certificates.selection_sql.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db.models import Count, OuterRef, Q, Subquery

from members.dates import LATE_ELDERLY_AGE, add_months
from members.models import Person, RegistrationStatus

from . import rules
from .models import Certificate, CertificateState, IssuanceRun, RunTarget

CHUNK_SIZE = 5000


class Target(NamedTuple):
    person_id: int
    household_id: int
    employer_id: int | None
    decision: rules.Decision
    status: rules.Status | None
    # The active certificate a 更新 target renews (it expires within the renewal window).
    replaces_id: int | None


_PERSON_FIELDS = (
    "pk",
    "member_id",
    "birth_date",
    "acquired_on",
    "lost_on",
    "needs_consideration",
    "insured_type",
    "employer_id",
    "voluntary_until",
    "standard_remuneration",
    "member__birth_date",
    "member__lost_on",
    "member__insured_type",
    "member__employer_id",
    "member__voluntary_until",
    "member__standard_remuneration",
    "status_value",
    "status_ec_expiry",
)


def _prefiltered_persons(issue_date: date):
    """Persons who can be qualified on the issue date (rules.is_qualified_on decides exactly).

    Each filter is weaker than the rule it mirrors: acquired on or before the issue date; no loss
    (of their own or, for a dependent, of their member) on or before it; born after a date a few
    days before "75 years before the issue date" (the exact 75th-birthday rule, with its 29 February
    case, stays in members.dates)."""
    born_after = add_months(issue_date, -12 * LATE_ELDERLY_AGE) - timedelta(days=3)
    return Person.objects.filter(
        Q(acquired_on__lte=issue_date),
        Q(lost_on__isnull=True) | Q(lost_on__gt=issue_date),
        Q(birth_date__gt=born_after),
        Q(member__isnull=True)
        | Q(member__lost_on__isnull=True)
        | Q(member__lost_on__gt=issue_date),
    )


def _holder(row: dict) -> rules.Holder:
    if row["member_id"] is None:
        return rules.Holder(
            birth_date=row["birth_date"],
            acquired_on=row["acquired_on"],
            lost_on=row["lost_on"],
            needs_consideration=row["needs_consideration"],
            insured_type=row["insured_type"],
            voluntary_until=row["voluntary_until"],
            standard_remuneration=row["standard_remuneration"],
        )
    return rules.Holder(
        birth_date=row["birth_date"],
        acquired_on=row["acquired_on"],
        lost_on=row["lost_on"],
        needs_consideration=row["needs_consideration"],
        insured_type=row["member__insured_type"],
        voluntary_until=row["member__voluntary_until"],
        standard_remuneration=row["member__standard_remuneration"],
        is_dependent=True,
        member_birth_date=row["member__birth_date"],
        member_lost_on=row["member__lost_on"],
    )


def issuance_targets(
    *,
    status_date: date,
    issue_date: date,
    valid_until: date,
    renewal_window_days: int | None = None,
    ec_lapse_months: int | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[Target]:
    """Every target of a run with these dates, in person-id order (a generator: bounded memory).

    The status used is the person's latest RegistrationStatus with as_of ≤ status_date; snapshots
    dated after the status date are ignored (rules.md: "latest registration status on or before the
    status date")."""
    if renewal_window_days is None:
        renewal_window_days = settings.RENEWAL_WINDOW_DAYS
    if ec_lapse_months is None:
        ec_lapse_months = settings.EC_LAPSE_MONTHS
    renewal_limit = issue_date + timedelta(days=renewal_window_days)

    # Correlated subqueries on the (person, -as_of, -snapshot) index: one index probe per person,
    # both ordered identically so they read the same status row.
    latest_status = RegistrationStatus.objects.filter(
        person_id=OuterRef("pk"), as_of__lte=status_date
    ).order_by("-as_of", "-snapshot_id")
    persons = (
        _prefiltered_persons(issue_date)
        .annotate(
            status_value=Subquery(latest_status.values("status")[:1]),
            status_ec_expiry=Subquery(latest_status.values("ec_expiry")[:1]),
        )
        # 登録済 and not 要配慮者: never a target (rules.evaluate: no 交付事由, renewal or not). About
        # 70% of a society: dropping them in SQL spares reading and evaluating them (issue 8). No
        # status at all (NULL) is 登録状況不明 and stays.
        .filter(
            Q(status_value__isnull=True)
            | ~Q(status_value=rules.REGISTERED)
            | Q(needs_consideration=True)
        )
        .order_by("pk")
        .values(*_PERSON_FIELDS)
    )

    last_pk = 0
    while True:
        rows = list(persons.filter(pk__gt=last_pk)[:chunk_size])
        if not rows:
            return
        first_pk, last_pk = rows[0]["pk"], rows[-1]["pk"]

        # A pk range rather than a list of 5,000 ids: the same index scan, a far smaller query.
        # Persons of the range that the pre-filter dropped are simply not looked up.
        actives: dict[int, list[tuple[date, int]]] = defaultdict(list)
        for person_id, until, cert_id in Certificate.objects.filter(
            person_id__gte=first_pk, person_id__lte=last_pk, state=CertificateState.ACTIVE
        ).values_list("person_id", "valid_until", "pk"):
            actives[person_id].append((until, cert_id))

        for row in rows:
            pid = row["pk"]
            held = actives.get(pid, ())
            status = (
                rules.Status(row["status_value"], row["status_ec_expiry"])
                if row["status_value"] is not None
                else None
            )
            decision = rules.evaluate(
                _holder(row),
                status,
                [until for until, _ in held],
                issue_date=issue_date,
                run_valid_until=valid_until,
                renewal_window_days=renewal_window_days,
                ec_lapse_months=ec_lapse_months,
            )
            if decision is None:
                continue
            replaces_id = None
            if decision.renews:
                # the one certificate valid on the issue date that ends within the window
                replaces_id = max(
                    (until, cid) for until, cid in held if issue_date <= until <= renewal_limit
                )[1]
            if row["member_id"] is None:
                household_id, employer_id = pid, row["employer_id"]
            else:
                household_id, employer_id = row["member_id"], row["member__employer_id"]
            yield Target(pid, household_id, employer_id, decision, status, replaces_id)


def run_progress(run: IssuanceRun) -> tuple[int, int]:
    """(stored documents, all documents) of a run, read from documents.GeneratedDocument."""
    from documents.models import DocumentState, GeneratedDocument

    counts = dict(
        GeneratedDocument.objects.filter(run=run)
        .order_by()  # the model's default ordering would split the GROUP BY
        .values("state")
        .annotate(n=Count("pk"))
        .values_list("state", "n")
    )
    return counts.get(DocumentState.STORED, 0), sum(counts.values())


def run_targets_for_manifest(run: IssuanceRun):
    """A run's frozen targets with what the manifest CSV prints, in bundle order."""
    return (
        RunTarget.objects.filter(run=run)
        .select_related("person", "employer", "household")
        .order_by(
            "route", "employer__code", "household__kigo", "household__bango", "person__edaban"
        )
    )
