"""manage.py issuance_run create|approve|execute — the 一括職権交付 batch commands (rules.md)."""

import time
from argparse import SUPPRESS as SUPPRESS_HELP
from datetime import date, datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from certificates.models import IssuanceRun, IssueReason, RunState, RunTarget
from certificates.services import run_approve, run_create, run_execute
from core.roles import CLERK, SUPERVISOR, RoleError, user_for_role


def _date(label: str, value: str) -> date:
    for fmt in ("%Y-%m-%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(value, fmt).date()  # noqa: DTZ007 (a calendar date)
        except ValueError:
            continue
    raise CommandError(f"{label}「{value}」は日付(YYYY-MM-DD)として読めません")


def _run(run_id: int) -> IssuanceRun:
    try:
        return IssuanceRun.objects.get(pk=run_id)
    except IssuanceRun.DoesNotExist:
        raise CommandError(f"一括交付 #{run_id} は存在しません") from None


def _user(username: str, *roles: str):
    try:
        return user_for_role(username, *roles)
    except RoleError as exc:
        raise CommandError(str(exc)) from None


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(exc)


class Command(BaseCommand):
    help = "一括職権交付: create (対象者一覧の作成), approve (承認), execute (交付・帳票作成)"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="対象者一覧を作成し、最終行に一括交付IDを出力")
        create.add_argument("--as-of", required=True, help="基準日(登録状況) YYYY-MM-DD")
        create.add_argument("--issue-date", required=True, help="交付年月日 YYYY-MM-DD")
        create.add_argument("--valid-until", required=True, help="有効期限(一律) YYYY-MM-DD")
        create.add_argument("--by", required=True, help="作成者のユーザー名(事務担当・承認者)")
        approve = sub.add_parser("approve", help="作成者以外の承認者が承認")
        approve.add_argument("run_id", type=int)
        approve.add_argument("--by", required=True, help="承認者のユーザー名")
        execute = sub.add_parser("execute", help="資格確認書を交付し、帳票作成を開始")
        execute.add_argument("run_id", type=int)
        execute.add_argument("--by", help="実行者のユーザー名(承認者)")
        execute.add_argument("--wait", action="store_true", help="完了または失敗まで待つ")
        execute.add_argument("--timeout", type=float, default=3600, help="--wait の上限秒数")
        execute.add_argument("--poll", type=float, default=1.0, help=SUPPRESS_HELP)

    def handle(self, *args, **opts):
        try:
            return getattr(self, f"_{opts['action']}")(opts)
        except (ValidationError, PermissionDenied) as exc:
            raise CommandError(_message(exc)) from None

    def _create(self, opts):
        status_date = _date("--as-of", opts["as_of"])
        issue_date = _date("--issue-date", opts["issue_date"])
        valid_until = _date("--valid-until", opts["valid_until"])
        user = _user(opts["by"], CLERK, SUPERVISOR)
        run = run_create(
            status_date=status_date,
            issue_date=issue_date,
            valid_until=valid_until,
            acting_user=user,
        )
        by_reason = run.summary.get("by_reason", {})
        for reason in IssueReason.values:
            if reason in by_reason:
                self.stdout.write(f"{reason}: {by_reason[reason]}")
        self.stdout.write(f"合計: {run.target_count}")
        self.stdout.write(str(run.pk))

    def _approve(self, opts):
        run = _run(opts["run_id"])
        user = _user(opts["by"], SUPERVISOR)
        run = run_approve(run=run, acting_user=user)
        self.stdout.write(f"一括交付 #{run.pk} を承認しました（対象者 {run.target_count}件）")

    def _execute(self, opts):
        run = _run(opts["run_id"])
        user = _user(opts["by"], SUPERVISOR) if opts["by"] else None
        if run.state == RunState.RUNNING:
            # another execute (or the admin's) is on it: this one only continues what is left
            self.stdout.write(
                f"一括交付 #{run.pk} は実行中です。残りがあれば続きを交付し、完了を待ちます"
            )
        run = run_execute(run=run, acting_user=user)
        self.stdout.write(
            f"一括交付 #{run.pk}: 交付 {run.issued_count}/{run.target_count}件（{run.get_state_display()}）"
        )
        if run.skipped_count:
            # rules.md: execution re-checks rule 1; who was skipped and why stays on the targets
            by_reason = dict(
                RunTarget.objects.filter(run=run)
                .exclude(skip_reason="")
                .order_by()
                .values_list("skip_reason")
                .annotate(n=Count("pk"))
            )
            detail = "、".join(f"{r} {n}件" for r, n in sorted(by_reason.items()))
            self.stdout.write(f"交付見送り(資格なし): {run.skipped_count}件（{detail}）")
        if not opts["wait"]:
            run.refresh_from_db()
            if run.state == RunState.PRINT_INCOMPLETE:  # rendered in-process (no broker)
                raise CommandError(run.error)
            return
        deadline = time.monotonic() + opts["timeout"]
        while True:
            run.refresh_from_db()
            if run.state == RunState.DONE:
                self.stdout.write(f"一括交付 #{run.pk} は完了しました")
                return
            if run.state == RunState.PRINT_INCOMPLETE:
                # not 完了: exits non-zero, the last line says who is missing and what to do
                raise CommandError(run.error)
            if run.state == RunState.FAILED:
                raise CommandError(f"一括交付 #{run.pk} は失敗しました: {run.error}")
            if time.monotonic() >= deadline:
                raise CommandError(
                    f"一括交付 #{run.pk} は{opts['timeout']:g}秒以内に完了しませんでした"
                    f"（状態: {run.get_state_display()}）"
                )
            self._resume_documents(run.pk)
            time.sleep(opts["poll"])

    def _resume_documents(self, run_id: int) -> None:
        """While waiting, enqueue again the PDF chunks whose messages the broker lost (a Redis
        restarted without its data); a no-op while the run is moving (documents.services)."""
        from kombu.exceptions import OperationalError

        from documents.services import run_documents_resume

        try:
            resumed = run_documents_resume(run_id=run_id)
        except OperationalError as exc:  # the broker is down: try again on a later poll
            self.stderr.write(f"帳票作成を再投入できません(ブローカーに接続できません): {exc}")
            return
        if resumed:
            self.stdout.write(
                f"一括交付 #{run_id}: 進んでいない帳票 {len(resumed)}件を再投入しました"
            )
