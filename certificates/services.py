"""Writes of the certificates app: issuing one certificate, and the 一括職権交付 run
(create → approve → execute). Admin, commands and tasks call only these."""

from __future__ import annotations

from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import BooleanField, Count, ExpressionWrapper, IntegerField, Value
from django.utils import timezone

from core.db import analyze, analyze_if_stale
from core.models import audit_event
from core.roles import CLERK, SUPERVISOR, require_role, require_second_person
from members.models import Person, RegistrationStatus

from . import issue_sql, retire_sql, rules
from .lifecycle import certificates_require_return_for
from .models import (
    Certificate,
    CertificateState,
    IssuanceRun,
    IssueReason,
    Route,
    RunState,
    RunTarget,
)
from .numbering import allocate_certificate_numbers
from .retire_sql import NOTE_EXPIRED
from .selectors import RUN_TARGET_COLUMNS, issuance_targets

# --- issuing, written once ----------------------------------------------------------------------


def _retire_superseded(
    *,
    person_ids,
    issue_date: date,
    replaced_ids: set[int],
    replaced_note: str,
    acting_user,
    history_reason: str | None,
    now: datetime,
) -> tuple[int, list[Certificate]]:
    """Before new certificates starting on `issue_date` are written for these persons (`person_ids`:
    a list, or a sub-select of person ids such as a batch's targets), their stored
    有効 certificates that the new ones supersede become 返却不要: those ending before the issue
    date (an expired certificate needs no return, rules.md "After issue") and those being replaced
    (`replaced_ids`: a renewal, a reissue). This keeps certificate_one_active_per_person
    satisfiable. Any other 有効 certificate blocks: returned as the second value, and then nothing
    is changed (the caller refuses). Each retired certificate gets its history row and its audit
    event, set-wise (certificates.retire_sql). Returns (how many retired, blocking).

    The one retire step of issuing, for bulk batches and single reissues alike."""
    active = list(
        Certificate.objects.select_for_update()
        .filter(person_id__in=person_ids, state=CertificateState.ACTIVE)
        .order_by("pk")
        .values_list("pk", "valid_until")
    )
    expired = [pk for pk, until in active if until < issue_date]
    replaced = [pk for pk, until in active if until >= issue_date and pk in replaced_ids]
    blocking_ids = [pk for pk, until in active if until >= issue_date and pk not in replaced_ids]
    if blocking_ids:
        return 0, list(Certificate.objects.select_related("person").filter(pk__in=blocking_ids))
    # The replaced certificates, whatever their state (返却待ち after a 記載事項変更 too), stop
    # covering the day the new ones start: certificate_no_overlapping_cover (issue 14).
    ended = retire_sql.end_cover(sorted(replaced_ids), before=issue_date, now=now)
    common = {
        "state": CertificateState.NO_RETURN,
        "now": now,
        "user_id": acting_user.pk if acting_user is not None else None,
        "history_reason": history_reason,
    }
    retired = 0
    for ids, note, action in (
        (expired, NOTE_EXPIRED, "certificate.expired"),
        (replaced, replaced_note, "certificate.replaced"),
    ):
        audit = retire_sql.Audit(
            action, constants={"reason": note}, columns={"valid_until": "valid_until"}
        )
        retired += retire_sql.set_state(ids, note=note, audit=audit, **common)
    kept_state = sorted(set(ended) - set(replaced))  # their history row, as set_state's above
    retire_sql.insert_history(kept_state, now=now, user_id=common["user_id"], reason=history_reason)
    return retired, []


def _write_certificates(
    *,
    count: int,
    run: IssuanceRun | None,
    issue_date: date,
    acting_user,
    history_reason: str | None,
    now: datetime,
    after_pk: int = 0,
    last_pk: int = 0,
    one: dict | None = None,
) -> tuple[str, str]:
    """The one writer of new certificates, for a batch of a run's frozen targets (after_pk <
    pk ≤ last_pk) or for one certificate (`one`: its own columns): numbers allocated in one
    block, the rows, their django-simple-history "+" rows and one "certificate.issued" audit
    event per certificate, each written set-wise by the database. Returns the number block."""
    numbers = allocate_certificate_numbers(count, on=issue_date)
    block = (numbers[0], numbers[-1])
    issued = issue_sql.insert_certificates(
        run_id=run.pk if run is not None else None,
        issue_date=issue_date,
        numbers=block,
        now=now,
        after_pk=after_pk,
        last_pk=last_pk,
        one=one,
    )
    if issued != count:
        raise RuntimeError(f"{count}件の予定が{issued}件交付されました")
    user_id = acting_user.pk if acting_user is not None else None
    issue_sql.insert_certificate_history(
        numbers=block, now=now, user_id=user_id, reason=history_reason
    )
    issue_sql.insert_issue_audit(numbers=block, now=now, user_id=user_id)
    return block


@transaction.atomic
def certificate_issue(
    *,
    person: Person,
    reason: str,
    issue_date: date,
    valid_until: date,
    route: str,
    acting_user=None,
    elderly_start: date | None = None,
    copay_ratio: str = "",
    registration_status: str = "",
    ec_expiry: date | None = None,
    replaces: Certificate | None = None,
    run: IssuanceRun | None = None,
) -> Certificate:
    """Issue one 資格確認書 (reissue flows; a bulk run uses run_execute, which issues in batches
    through the same writer).

    The person's row is locked so two concurrent issues for the same person serialise here; the
    database constraint certificate_one_active_per_person stays the final guard.

    `replaces`: the certificate this one supersedes. If it is still 有効 it becomes 返却不要
    (state_note names the reason). A caller that needs another state for it (無効 for 滅失・き損,
    返却待ち for 記載事項変更) sets that state before calling.
    """
    if valid_until < issue_date:
        raise ValidationError(
            f"有効期限({valid_until:%Y-%m-%d})が交付年月日({issue_date:%Y-%m-%d})より前です"
        )
    locked = Person.objects.select_for_update().get(pk=person.pk)
    if replaces is not None and replaces.person_id != locked.pk:
        raise ValidationError(
            f"置き換える資格確認書 {replaces.number} は {locked.key} のものではありません"
        )
    now = timezone.now()  # one time for the retired and the new certificate
    _, blocking = _retire_superseded(
        now=now,
        person_ids=[locked.pk],
        issue_date=issue_date,
        replaced_ids={replaces.pk} if replaces is not None else set(),
        replaced_note=f"{reason}により置換",
        acting_user=acting_user,
        history_reason=None,
    )
    if blocking:
        numbers = "、".join(c.number for c in blocking)
        raise ValidationError(
            f"{locked.key} {locked.name} には有効な資格確認書({numbers})があるため交付できません"
        )
    block = _write_certificates(
        now=now,
        count=1,
        run=run,
        issue_date=issue_date,
        acting_user=acting_user,
        history_reason=None,
        one={
            "person_id": locked.pk,
            "reason": reason,
            "valid_until": valid_until,
            "route": route,
            "elderly_start": elderly_start,
            "copay_ratio": copay_ratio,
            "registration_status": registration_status,
            "ec_expiry": ec_expiry,
            "replaces_id": replaces.pk if replaces is not None else None,
        },
    )
    return Certificate.objects.get(number=block[0])


# --- 一括職権交付 runs --------------------------------------------------------------------------

ISSUE_BATCH = 20_000  # certificates per committed batch (about a second each at 1.2M persons)


def run_dates_validate(*, status_date: date, issue_date: date, valid_until: date) -> None:
    """The dates of a run (command, admin form, 「交付判定」): the only place they are checked."""
    if valid_until < issue_date:
        raise ValidationError(
            f"有効期限が交付年月日より前です(有効期限 {valid_until:%Y-%m-%d}、"
            f"交付年月日 {issue_date:%Y-%m-%d})"
        )
    latest = rules.max_valid_until(issue_date)
    if valid_until > latest:
        raise ValidationError(
            f"有効期限({valid_until:%Y-%m-%d})は交付年月日から5年以内"
            f"({latest:%Y-%m-%d}まで)にしてください"
        )
    if status_date > issue_date:
        raise ValidationError(
            f"基準日({status_date:%Y-%m-%d})が交付年月日({issue_date:%Y-%m-%d})より後です"
        )


def _insert_run_targets(
    run: IssuanceRun, *, status_date: date, issue_date: date, valid_until: date
) -> int:
    """Freeze a run's target list: one INSERT … SELECT compiled from the selector's queryset
    (the same SQL on PostgreSQL and SQLite). Returns how many targets."""
    qs = issuance_targets(
        status_date=status_date, issue_date=issue_date, valid_until=valid_until
    ).annotate(target_run=Value(run.pk, output_field=IntegerField()))
    names = {"target_run": "run_id", **{v: k for k, v in RUN_TARGET_COLUMNS.items()}}
    qs = qs.values(*names)
    # The SELECT lists the annotations in the order the query holds them: the INSERT's column
    # list is read from the same place, so the two cannot drift apart.
    compiler = qs.query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    column_of = {f.attname: f.column for f in RunTarget._meta.concrete_fields}
    columns = [column_of[names[alias]] for _, _, alias in compiler.select]
    qn = connection.ops.quote_name
    insert = f"INSERT INTO {qn(RunTarget._meta.db_table)} ({', '.join(map(qn, columns))}) {sql}"  # noqa: S608
    with connection.cursor() as cur:
        cur.execute(insert, params)
        count = cur.rowcount
    # The planner's statistics for what follows (the summary, executing, planning the PDF
    # chunks): the table has just grown by up to hundreds of thousands of rows.
    analyze(RunTarget._meta.db_table)
    return count


def _run_summary(run: IssuanceRun) -> tuple[dict, int]:
    """Counts of the frozen list by 交付事由, 事業所 and 送付先 (the preview), read back in SQL."""
    targets = RunTarget.objects.filter(run=run).order_by()
    by_reason = dict(targets.values_list("reason").annotate(n=Count("pk")))
    by_route = dict(targets.values_list("route").annotate(n=Count("pk")))
    by_employer = dict(
        targets.filter(employer__isnull=False).values_list("employer__code").annotate(n=Count("pk"))
    )
    summary = {
        "by_reason": {r: by_reason[r] for r in IssueReason.values if by_reason.get(r)},
        "by_employer": {code: by_employer[code] for code in sorted(by_employer)},
        "by_route": {r: by_route[r] for r in Route.values if by_route.get(r)},
        "previous": None,
    }
    return summary, sum(by_reason.values())


@transaction.atomic
def run_create(
    *, status_date: date, issue_date: date, valid_until: date, acting_user
) -> IssuanceRun:
    """Freeze the target list of a new run (the preview the approver sees) with its summary."""
    require_role(acting_user, CLERK, SUPERVISOR, action="一括交付を作成")
    run_dates_validate(status_date=status_date, issue_date=issue_date, valid_until=valid_until)
    analyze_if_stale(Person, RegistrationStatus, Certificate)  # issue 18: right after an import
    # Refuse while an approved run waits or is still issuing: its certificates would make this
    # run's frozen list wrong (rules.md: a person never holds two). A run approved while this one
    # is being built is caught later by _refuse_stale (it starts after this run's created_at).
    busy = (
        IssuanceRun.objects.select_for_update()
        .filter(state__in=[RunState.APPROVED, RunState.RUNNING], issued_at__isnull=True)
        .order_by("pk")
        .first()
    )
    if busy is not None:
        raise ValidationError(
            f"一括交付 #{busy.pk}（{busy.get_state_display()}）の交付が終わっていないため、"
            "新しい一括交付は作成できません"
        )
    previous = IssuanceRun.objects.order_by("-pk").first()
    run = IssuanceRun.objects.create(
        status_date=status_date,
        issue_date=issue_date,
        valid_until=valid_until,
        created_by=acting_user,
    )

    _insert_run_targets(
        run, status_date=status_date, issue_date=issue_date, valid_until=valid_until
    )
    summary, total = _run_summary(run)
    if previous is not None:
        common = RunTarget.objects.filter(
            run=run, person_id__in=RunTarget.objects.filter(run=previous).values("person_id")
        ).count()
        summary["previous"] = {
            "run_id": previous.pk,
            "targets": previous.target_count,
            "common": common,
            "new": total - common,
            "dropped": previous.target_count - common,
        }
    run.target_count = total
    run.summary = summary
    run.save(update_fields=["target_count", "summary", "updated_at"])
    audit_event(
        action="run.created",
        actor=acting_user,
        obj=run,
        status_date=status_date.isoformat(),
        issue_date=issue_date.isoformat(),
        valid_until=valid_until.isoformat(),
        target_count=total,
        by_reason=summary["by_reason"],
    )
    return run


def _refuse_stale(run: IssuanceRun, *, action: str) -> None:
    """A run whose list was frozen before another run started issuing is out of date."""
    newer = (
        IssuanceRun.objects.exclude(pk=run.pk)
        .filter(started_at__gt=run.created_at)
        .order_by("pk")
        .first()
    )
    if newer is not None:
        raise ValidationError(
            f"一括交付 #{run.pk} の作成後に一括交付 #{newer.pk} が実行されたため、"
            f"対象者一覧が古くなっています。{action}せずに作成し直してください"
        )


@transaction.atomic
def run_approve(*, run: IssuanceRun, acting_user) -> IssuanceRun:
    """A second person holding 承認者 approves the frozen list; never the creator."""
    run = IssuanceRun.objects.select_for_update().get(pk=run.pk)
    if run.state != RunState.CREATED:
        raise ValidationError(
            f"一括交付 #{run.pk} は「{run.get_state_display()}」のため承認できません"
            "（承認できるのは作成状態のみ）"
        )
    require_role(acting_user, SUPERVISOR, action="一括交付を承認")
    require_second_person(acting_user, prepared_by_id=run.created_by_id, what=f"一括交付 #{run.pk}")
    _refuse_stale(run, action="承認")
    pending = (
        IssuanceRun.objects.exclude(pk=run.pk)
        .filter(state__in=[RunState.APPROVED, RunState.RUNNING], issued_at__isnull=True)
        .order_by("pk")
        .first()
    )
    if pending is not None:
        # One approved run at a time: two approved lists over the same persons cannot both issue.
        raise ValidationError(
            f"一括交付 #{pending.pk}（{pending.get_state_display()}）の交付が終わっていないため、"
            f"一括交付 #{run.pk} は承認できません"
        )
    run.state = RunState.APPROVED
    run.approved_by = acting_user
    run.approved_at = timezone.now()
    run.save(update_fields=["state", "approved_by", "approved_at", "updated_at"])
    audit_event(action="run.approved", actor=acting_user, obj=run, target_count=run.target_count)
    return run


class RunConflict(Exception):
    """Targets of a run hold another active certificate issued after the run was created."""


@transaction.atomic
def _run_start(*, run_id: int, acting_user) -> IssuanceRun:
    # The row lock makes concurrent executes take turns; the state decides what each may do.
    run = IssuanceRun.objects.select_for_update().get(pk=run_id)
    if run.state == RunState.DONE:
        raise ValidationError(f"一括交付 #{run.pk} は既に完了しています。何も変更しません")
    if run.state == RunState.PRINT_INCOMPLETE:
        raise ValidationError(f"一括交付 #{run.pk} は交付済みです(印刷未了)。{run.error}")
    if run.state == RunState.CREATED:
        raise ValidationError(f"一括交付 #{run.pk} はまだ承認されていないため実行できません")
    if run.state == RunState.APPROVED:
        _refuse_stale(run, action="実行")
        run.state = RunState.RUNNING
        run.executed_by = acting_user
        run.started_at = timezone.now()
        run.error = ""
        run.save(update_fields=["state", "executed_by", "started_at", "error", "updated_at"])
        audit_event(action="run.started", actor=acting_user, obj=run)
    else:
        # 実行中 (a crashed or concurrent execute) or 失敗: resume; the batches below only take
        # targets that have no certificate yet.
        if run.state == RunState.FAILED:
            run.state = RunState.RUNNING
            run.error = ""
            run.save(update_fields=["state", "error", "updated_at"])
        audit_event(action="run.resumed", actor=acting_user, obj=run)
    return run


@transaction.atomic
def _run_issue_batch(*, run_id: int, acting_user, batch_size: int) -> tuple[int, int]:
    """Issue the next batch of a run's certificates: the targets after the run's high-water mark
    (IssuanceRun.issued_through), in target order. Returns (how many targets the batch took:
    issued and skipped, the new mark); (0, mark) when every target holds its certificate.

    Batches run under the run row lock and each commits its certificates together with the new
    mark, so the mark divides issued targets from the rest exactly: a crashed batch leaves both
    unchanged, and a concurrent or resumed execute continues from the mark without rescanning or
    probing what is issued. certificate_run_person_unique stays the guard in the database.

    A constant number of statements whatever the batch size: the batch's persons and
    certificates are named by the target range (a sub-select), never by a list of ids."""
    run = IssuanceRun.objects.select_for_update().get(pk=run_id)
    if run.state != RunState.RUNNING:
        return 0, run.issued_through
    after_pk = run.issued_through
    pks = list(
        RunTarget.objects.filter(run_id=run.pk, pk__gt=after_pk)
        .order_by("pk")
        .values_list("pk", flat=True)[:batch_size]
    )
    if not pks:
        return 0, after_pk
    last_pk = pks[-1]
    batch = RunTarget.objects.filter(run_id=run.pk, pk__gt=after_pk, pk__lte=last_pk)
    # Lock the persons in a fixed order, as certificate_issue does, so a reissue cannot slip in.
    locked = (
        Person.objects.select_for_update()
        .filter(pk__in=batch.values("person_id"))
        .order_by("pk")
        .values_list("lost_on", flat=True)
    )
    leaving = any(lost_on is not None for lost_on in locked)
    # Rule 1 again, as of now: a target who lost qualification after the list was frozen is
    # skipped (the reason kept on the target); the run never adds anyone.
    skipped = _skip_unqualified(run=run, batch=batch)
    count = len(pks) - skipped
    if not count:
        IssuanceRun.objects.filter(pk=run.pk).update(
            issued_through=last_pk, updated_at=timezone.now()
        )
        return len(pks), last_pk
    issuing = batch.filter(skip_reason="")
    reason = f"一括交付 #{run.pk}"
    now = timezone.now()  # one time for the batch's retired and new certificates
    retired, blocking = _retire_superseded(
        now=now,
        person_ids=issuing.values("person_id"),
        issue_date=run.issue_date,
        replaced_ids=set(
            issuing.filter(replaces_id__isnull=False).values_list("replaces_id", flat=True)
        ),
        replaced_note=IssueReason.RENEWAL.value,
        acting_user=acting_user,
        history_reason=reason,
    )
    if blocking:
        names = "、".join(f"{c.person} (証明書番号 {c.number})" for c in blocking[:20])
        more = f" ほか{len(blocking) - 20}件" if len(blocking) > 20 else ""
        raise RunConflict(
            f"一括交付の作成後に有効な資格確認書が交付された対象者がいます: {names}{more}。"
            "その資格確認書を処理してから再実行してください"
        )
    # The certificates, their history rows and audit events are written by PostgreSQL/SQLite
    # from the frozen targets (issue 8: building model objects was most of the issuing time).
    block = _write_certificates(
        now=now,
        count=count,
        run=run,
        issue_date=run.issue_date,
        acting_user=acting_user,
        history_reason=reason,
        after_pk=after_pk,
        last_pk=last_pk,
    )
    # A 資格喪失年月日 already on file (a future loss imported before the run, or a loss recorded
    # after the list was frozen) found no certificate to put up for return when it was recorded:
    # apply it now, in the same transaction, so the new certificate is tracked for return — for
    # the batch's leavers at once (certificates_require_return_for is set-wise).
    if leaving:
        certificates_require_return_for(
            [
                (person, person.lost_on)
                for person in Person.objects.filter(pk__in=batch.values("person_id"))
                .exclude(lost_on__isnull=True)
                .select_related("member")
                .order_by("pk")
            ],
            acting_user=acting_user,
        )
    # The mark is internal bookkeeping: an UPDATE, not a save() with a history row per batch.
    IssuanceRun.objects.filter(pk=run.pk).update(issued_through=last_pk, updated_at=timezone.now())
    audit_event(
        action="run.batch_issued",
        actor=acting_user,
        obj=run,
        count=count,
        first=block[0],
        last=block[1],
        retired=retired,
        skipped=skipped,
    )
    return len(pks), last_pk


def _skip_unqualified(*, run: IssuanceRun, batch) -> int:
    """Mark the batch's targets (a RunTarget queryset) no longer qualified on the run's issue date
    (rules.qualified_on, the expression that selected them) with the first rule that now excludes
    them: one SELECT of the failing persons with each check's outcome, then one UPDATE per label
    that occurs (none on a normal night). Returns how many were skipped."""
    checks = {
        f"check_{i}": ExpressionWrapper(check(run.issue_date), output_field=BooleanField())
        for i, (_, check) in enumerate(rules.QUALIFICATION_CHECKS)
    }
    failing = (
        Person.objects.filter(pk__in=batch.values("person_id"))
        .exclude(rules.qualified_on(run.issue_date))
        .annotate(**checks)
        .order_by("pk")
        .values_list("pk", *checks)
    )
    by_label: dict[str, list[int]] = {}
    for pk, *passed in failing:
        # a check that is not true (false, or NULL as exclude() counts it) excludes the person
        first = next(i for i, ok in enumerate(passed) if ok is not True)
        by_label.setdefault(rules.QUALIFICATION_CHECKS[first][0], []).append(pk)
    for label, person_ids in by_label.items():
        batch.filter(person_id__in=person_ids).update(skip_reason=label)
    return sum(len(ids) for ids in by_label.values())


@transaction.atomic
def _run_fail(*, run_id: int, error: str, acting_user) -> None:
    run = IssuanceRun.objects.select_for_update().get(pk=run_id)
    run.state = RunState.FAILED
    run.error = error
    run.issued_count = Certificate.objects.filter(run=run).count()
    run.save(update_fields=["state", "error", "issued_count", "updated_at"])
    audit_event(action="run.failed", actor=acting_user, obj=run, error=error[:500])


@transaction.atomic
def _run_finish_issue(*, run_id: int, acting_user) -> IssuanceRun:
    run = IssuanceRun.objects.select_for_update().get(pk=run_id)
    if run.state != RunState.RUNNING:
        return run  # another execute finished first (and handed over to documents)
    run.issued_count = Certificate.objects.filter(run=run).count()
    run.skipped_count = RunTarget.objects.filter(run=run).exclude(skip_reason="").count()
    fields = ["issued_count", "skipped_count", "updated_at"]
    if run.issued_at is None:
        run.issued_at = timezone.now()
        fields.append("issued_at")
        audit_event(
            action="run.executed",
            actor=acting_user,
            obj=run,
            issued_count=run.issued_count,
            target_count=run.target_count,
            skipped_count=run.skipped_count,
        )
    run.save(update_fields=fields)
    _hand_over_to_documents(run)
    return run


def _hand_over_to_documents(run: IssuanceRun) -> None:
    """After commit, documents (receiving certificates.signals.run_issued) plans and enqueues the
    PDF chunks and sets the run to 完了 when all are stored (a task must never read rows before they
    are committed). Scheduling is idempotent, so a resumed or concurrent execute may hand over
    again."""
    from .signals import run_issued

    run_id = run.pk
    transaction.on_commit(lambda: run_issued.send(sender=IssuanceRun, run_id=run_id))


def run_execute_begin(*, run: IssuanceRun, acting_user=None) -> IssuanceRun:
    """Check that the run may be executed by this user and mark it 実行中 (or resume it). The
    admin calls this in the request, so refusals reach the clerk, then issues in a task."""
    if acting_user is not None:
        require_role(acting_user, SUPERVISOR, action="一括交付を実行")
    return _run_start(run_id=run.pk, acting_user=acting_user)


def _refresh_certificate_statistics() -> None:
    """ANALYZE the certificates table on PostgreSQL. A run adds up to hundreds of thousands of
    有効 certificates within minutes, faster than autovacuum notices; with statistics from before
    the run, PostgreSQL reads every 有効 certificate (the state indexes) for each batch's check of
    its persons instead of probing certificate_one_active_per_person — slower batch after batch.
    Refreshed as the table doubles (before batches 1, 2, 4, 8, …): a few sampled reads per run."""
    analyze(Certificate._meta.db_table)


def run_issue_remaining(
    *, run_id: int, acting_user=None, batch_size: int = ISSUE_BATCH
) -> IssuanceRun:
    """Issue every target of a 実行中 run that has no certificate yet, then hand over to documents.

    Deliberately not one transaction: certificates are committed in batches so a crash loses at
    most one batch, and executing again (the run is then 実行中 or 失敗) issues only the targets
    that have no certificate yet. Each batch locks the run row first, so concurrent executes take
    turns and never issue one target twice; certificate_run_person_unique and
    certificate_one_active_per_person back this in the database.
    """
    try:
        batches = 0
        while True:
            if batches & (batches - 1) == 0:  # before batches 1, 2, 4, 8, …
                _refresh_certificate_statistics()
            taken, _ = _run_issue_batch(
                run_id=run_id, acting_user=acting_user, batch_size=batch_size
            )
            batches += 1
            # A batch that took fewer targets than it could was the last: the frozen list never
            # grows, so no empty batch (and no ANALYZE before it) is run to find that out.
            if taken < batch_size:
                break
    except RunConflict as exc:
        _run_fail(run_id=run_id, error=str(exc), acting_user=acting_user)
        raise ValidationError(str(exc)) from exc
    except Exception as exc:
        # Shown on the run (the admin task has no one to tell); a killed process instead leaves
        # the run 実行中, and executing again resumes it either way.
        _run_fail(run_id=run_id, error=f"{type(exc).__name__}: {exc}", acting_user=acting_user)
        raise
    return _run_finish_issue(run_id=run_id, acting_user=acting_user)


def run_execute(
    *, run: IssuanceRun, acting_user=None, batch_size: int = ISSUE_BATCH
) -> IssuanceRun:
    """Issue the certificates of an approved run, then hand it to document generation
    (`issuance_run execute`; see run_issue_remaining for batching and concurrency)."""
    run = run_execute_begin(run=run, acting_user=acting_user)
    return run_issue_remaining(run_id=run.pk, acting_user=acting_user, batch_size=batch_size)
