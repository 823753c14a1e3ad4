"""Reads of the certificates app.

`issuance_targets` is the one selection of a 一括職権交付 run: a Person queryset annotated, with the
expressions of certificates.rules, with every RunTarget column (`target_…`), filtered to the
targets. run_create freezes it with one INSERT … SELECT compiled from it; a single person's case is
the same queryset `.filter(pk=…)` (`issuance_decision`, the admin's 「交付判定」), and a reissue's
terms come from `person_terms`, the same expressions without the run's rules 2 and 3.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db.models import Case, DateField, F, IntegerField, Subquery, Value, When
from django.db.models.functions import Coalesce

from members.models import Person

from . import rules
from .models import IssuanceRun, Route, RunTarget

# RunTarget column → the annotation of issuance_targets that fills it.
RUN_TARGET_COLUMNS = {
    "person_id": "target_person",
    "household_id": "target_household",
    "employer_id": "target_employer",
    "reason": "target_reason",
    "valid_until": "target_valid_until",
    "route": "target_route",
    "elderly_start": "target_elderly_start",
    "copay_ratio": "target_copay_ratio",
    "registration_status": "target_registration_status",
    "ec_expiry": "target_ec_expiry",
    "replaces_id": "target_replaces",
}


def _with_terms(qs, *, status_date: date, issue_date: date, valid_until: date):
    """The terms a certificate issued on `issue_date` with the uniform expiry `valid_until` would
    carry: validity end, route, 事業所 bundle, 高齢受給者 terms, the status the letter marks."""
    latest = rules.latest_status(status_date)
    return qs.annotate(
        target_person=F("pk"),
        target_household=F("household_id"),
        target_valid_until=rules.validity_end(valid_until),
        target_route=rules.route_expression(),
        # 任意継続 households are mailed home and belong to no 事業所 bundle.
        target_employer=Case(
            When(target_route=Route.EMPLOYER, then=F("household__employer_id")),
            default=None,
            output_field=IntegerField(),
        ),
        target_elderly_start=rules.elderly_start(F("target_valid_until")),
        target_copay_ratio=rules.elderly_ratio(issue_date, F("target_valid_until")),
        target_registration_status=Coalesce(Subquery(latest.values("status")[:1]), Value("")),
        target_ec_expiry=Subquery(latest.values("ec_expiry")[:1], output_field=DateField()),
    )


def _settings(renewal_window_days, ec_lapse_months) -> tuple[int, int]:
    return (
        settings.RENEWAL_WINDOW_DAYS if renewal_window_days is None else renewal_window_days,
        settings.EC_LAPSE_MONTHS if ec_lapse_months is None else ec_lapse_months,
    )


def _decision_parts(
    qs, *, status_date, issue_date, valid_until, renewal_window_days, ec_lapse_months
):
    window, lapse = _settings(renewal_window_days, ec_lapse_months)
    covering = rules.covering_certificates(issue_date)
    qs = _with_terms(qs, status_date=status_date, issue_date=issue_date, valid_until=valid_until)
    return qs.annotate(
        target_replaces=Subquery(covering.values("pk")[:1], output_field=IntegerField()),
        cover_until=rules.cover_until(issue_date),
        status_reason=rules.status_reason(
            status_date=status_date, issue_date=issue_date, ec_lapse_months=lapse
        ),
        target_reason=rules.issue_reason(cover_until="cover_until", base="status_reason"),
    ), rules.not_blocked(
        cover_until="cover_until",
        cover_end="target_valid_until",
        limit=rules.renewal_limit(issue_date, window),
    )


def issuance_targets(
    *,
    status_date: date,
    issue_date: date,
    valid_until: date,
    renewal_window_days: int | None = None,
    ec_lapse_months: int | None = None,
    persons=None,
):
    """Every target of a run with these dates, in person-id order, annotated with every RunTarget
    column (RUN_TARGET_COLUMNS). `persons` narrows the persons considered (one person's case).

    The status used is the person's latest RegistrationStatus with as_of ≤ status_date."""
    qs = (Person.objects.all() if persons is None else persons).filter(
        rules.qualified_on(issue_date)
    )
    qs, not_blocked = _decision_parts(
        qs,
        status_date=status_date,
        issue_date=issue_date,
        valid_until=valid_until,
        renewal_window_days=renewal_window_days,
        ec_lapse_months=ec_lapse_months,
    )
    return qs.filter(rules.has_reason("status_reason")).filter(not_blocked).order_by("pk")


def issuance_target_rows(**kwargs):
    """issuance_targets as dicts keyed by RunTarget column (tests, the 交付判定 panel)."""
    qs = issuance_targets(**kwargs).values(*RUN_TARGET_COLUMNS.values())
    for row in qs:
        yield {col: row[name] for col, name in RUN_TARGET_COLUMNS.items()}


@dataclass(frozen=True)
class Decision:
    """One person's case for a run with these dates (the 「交付判定」 panel)."""

    target: dict | None  # the RunTarget columns when a target, else None
    excluded_by: list[str]  # the rules that exclude them (empty when a target)
    terms: dict  # validity end, route, 高齢受給者 terms as they would be


def issuance_decision(
    *,
    person_id: int,
    status_date: date,
    issue_date: date,
    valid_until: date,
    renewal_window_days: int | None = None,
    ec_lapse_months: int | None = None,
) -> Decision:
    """Would this person be a target of a run with these dates, on what terms, and if not, which
    rules exclude them. The target row comes from issuance_targets itself (.filter(pk=…)); the
    explanation annotates the same rule expressions one by one."""
    kwargs = dict(
        status_date=status_date,
        issue_date=issue_date,
        valid_until=valid_until,
        renewal_window_days=renewal_window_days,
        ec_lapse_months=ec_lapse_months,
    )
    one = Person.objects.filter(pk=person_id)
    rows = list(issuance_target_rows(persons=one, **kwargs))
    qs, not_blocked = _decision_parts(one, **kwargs)
    qs, columns = _check_annotations(qs, issue_date=issue_date, not_blocked=not_blocked)
    row = qs.values(*columns, "status_reason", *RUN_TARGET_COLUMNS.values()).get()
    excluded = _excluded_by(
        row,
        limit=rules.renewal_limit(issue_date, _settings(renewal_window_days, ec_lapse_months)[0]),
    )
    terms = {col: row[name] for col, name in RUN_TARGET_COLUMNS.items()}
    return Decision(target=rows[0] if rows else None, excluded_by=excluded, terms=terms)


# The labels of the rules that exclude a person (the 「交付判定」 panel, the run's changes).
COVERED = "有効な資格確認書あり"
NOT_LONGER = "更新しても有効期限が延びない"
NO_REASON = "登録済(交付事由なし)"


def _check_annotations(qs, *, issue_date: date, not_blocked):
    """Each rule as a boolean column (check_0…, check_cover, check_reason) for explaining."""
    checks = {
        f"check_{i}": rules.holds(check(issue_date))
        for i, (_, check) in enumerate(rules.QUALIFICATION_CHECKS)
    }
    return qs.annotate(
        **checks,
        check_cover=rules.holds(not_blocked),
        check_reason=rules.holds(rules.has_reason("status_reason")),
    ), [*checks, "check_cover", "check_reason", "cover_until"]


def _excluded_by(row: dict, *, limit: date) -> list[str]:
    """The labels of the rules a row of _check_annotations fails, in the rules' order."""
    excluded = [
        label for i, (label, _) in enumerate(rules.QUALIFICATION_CHECKS) if not row[f"check_{i}"]
    ]
    if not row["check_cover"]:
        excluded.append(COVERED if row["cover_until"] > limit else NOT_LONGER)
    if not row["check_reason"]:
        excluded.append(NO_REASON)
    return excluded


@dataclass(frozen=True)
class FrozenChanges:
    """The frozen targets of a run who would no longer be targets today (the approver's preview)."""

    total: int  # how many frozen targets would now be excluded
    by_rule: list[tuple[str, int]]  # rule label → how many it excludes (a person may count twice)
    rows: list[dict]  # the first `limit` of them: key, name, 資格喪失年月日, excluded_by
    unqualified: (
        int  # of them, no longer qualified on the issue date (rule 1): skipped at execution
    )
    lost_on_issue_date: int  # of them, with a 資格喪失年月日 on the issue date itself


def run_changes_since_frozen(run: IssuanceRun, *, limit: int = 100) -> FrozenChanges:
    """Which of the run's frozen targets the same selection (issuance_targets' rule expressions,
    for the run's dates) would no longer pick, and by which rule: a loss recorded since (rule 1),
    a certificate issued since (rule 2), a registration status on file since (rule 3). Rule 1's
    are skipped at execution (the target keeps the reason); the others are shown so the approver
    can decide. One query, whatever the size of the run: the frozen persons annotated with every
    rule, those failing one returned."""
    frozen = Person.objects.filter(pk__in=RunTarget.objects.filter(run=run).values("person_id"))
    qs, not_blocked = _decision_parts(
        frozen,
        status_date=run.status_date,
        issue_date=run.issue_date,
        valid_until=run.valid_until,
        renewal_window_days=None,
        ec_lapse_months=None,
    )
    qs, columns = _check_annotations(qs, issue_date=run.issue_date, not_blocked=not_blocked)
    still = rules.qualified_on(run.issue_date) & rules.has_reason("status_reason") & not_blocked
    changed = qs.annotate(still=rules.holds(still)).filter(still=False).order_by("pk")
    limit_day = rules.renewal_limit(run.issue_date, _settings(None, None)[0])
    n_checks = len(rules.QUALIFICATION_CHECKS)
    counts: dict[str, int] = {}
    rows: list[dict] = []
    unqualified = lost_on_issue = total = 0
    for row in changed.values("kigo", "bango", "edaban", "name", "lost_on", *columns):
        excluded = _excluded_by(row, limit=limit_day)
        total += 1
        for label in excluded:
            counts[label] = counts.get(label, 0) + 1
        if not all(row[f"check_{i}"] for i in range(n_checks)):
            unqualified += 1
        if row["lost_on"] == run.issue_date:
            lost_on_issue += 1
        if len(rows) < limit:
            rows.append(
                {
                    "key": f"{row['kigo']}・{row['bango']}・{row['edaban']}",
                    "name": row["name"],
                    "lost_on": row["lost_on"],
                    "excluded_by": excluded,
                }
            )
    labels = [label for label, _ in rules.QUALIFICATION_CHECKS] + [COVERED, NOT_LONGER, NO_REASON]
    return FrozenChanges(
        total=total,
        by_rule=[(label, counts[label]) for label in labels if label in counts],
        rows=rows,
        unqualified=unqualified,
        lost_on_issue_date=lost_on_issue,
    )


def person_terms(*, person_id: int, status_date: date, issue_date: date, valid_until: date) -> dict:
    """A reissue's terms for one person, from the same expressions: qualified on the issue date,
    the validity end (capped by `valid_until`), route, 高齢受給者 terms, the status on file."""
    qs = _with_terms(
        Person.objects.filter(pk=person_id),
        status_date=status_date,
        issue_date=issue_date,
        valid_until=valid_until,
    ).annotate(qualified=rules.holds(rules.qualified_on(issue_date)))
    names = [
        n for n in RUN_TARGET_COLUMNS.values() if n not in ("target_reason", "target_replaces")
    ]
    row = qs.values("qualified", *names).get()
    out = {col: row[name] for col, name in RUN_TARGET_COLUMNS.items() if name in row}
    out["qualified"] = bool(row["qualified"])
    return out


def run_targets_for_manifest(run: IssuanceRun):
    """A run's frozen targets with what the manifest CSV prints, in bundle order."""
    return (
        RunTarget.objects.filter(run=run, skip_reason="")
        .select_related("person", "employer", "household")
        .order_by(
            "route", "employer__code", "household__kigo", "household__bango", "person__edaban"
        )
    )
