"""manage.py import_payments PATH [--by USERNAME]

Bank-transfer file for the 資格確認書 reissue fee (see fees/payments.py for the format):

    請求書番号,入金額,入金日
    2026-000001,1000,2026-05-01

UTF-8, UTF-8 with BOM or CP932. Rows that match an unpaid invoice (same 請求書番号, amount equal to the
請求金額) are applied as 入金済; every other row (unknown number, wrong amount, already paid, 免除, 取消,
the same invoice twice) is listed and NEVER applied. A file that cannot be read as a whole (wrong
columns, an unreadable cell) is refused and nothing is applied; the command then exits non-zero.

Progress goes to stderr (a bar on a terminal, plain lines otherwise); stdout keeps the result lines.
"""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.roles import CLERK, SUPERVISOR, RoleError, user_for_role
from fees.payments import ReportedSource
from fees.services import payments_import
from members.progress import ProgressPrinter


class Command(BaseCommand):
    help = (
        "振込データ(CSV: 請求書番号,入金額,入金日)を取り込み、請求書番号と金額が一致する行だけ入金済にします。"
        "一致しない行(番号不明・金額相違・入金済・免除・取消・重複)は一覧表示し、反映しません。"
        "読めない行がある場合はファイル全体を取り込みません。"
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="振込データのCSVファイル(UTF-8 / UTF-8 BOM / CP932)")
        parser.add_argument(
            "--by",
            dest="username",
            help="取込を行う担当者のユーザー名(事務担当または承認者)。入金確認者として記録されます。",
        )

    def handle(self, *args, path, username=None, **options):
        user = None
        if username:
            try:
                user = user_for_role(username, CLERK, SUPERVISOR)
            except RoleError as exc:
                raise CommandError(str(exc)) from exc
        file = Path(path)
        if not file.is_file():
            raise CommandError(f"ファイル {path} が存在しません")
        progress = ProgressPrinter(self.stderr, label="振込データの取込")
        try:
            with file.open("rb") as fh:
                imp = payments_import(
                    source=ReportedSource(fh, progress), source_name=file.name, acting_user=user
                )
        except ValidationError as exc:
            raise CommandError(
                "取り込めません(何も反映していません):\n" + "\n".join(exc.messages)
            ) from exc
        except OSError as exc:
            raise CommandError(f"ファイルを読み込めません: {path}（{exc.strerror}）") from None
        progress("完了", 1.0)
        self.stdout.write(f"取込 #{imp.pk} {imp.source_name}: {imp.row_count}行")
        self.stdout.write(f"入金反映: {imp.applied_count}件")
        for row in imp.applied_rows().iterator():
            self.stdout.write(
                f"  {row.row}行目 {row.number} {row.amount:,}円 {row.paid_on:%Y-%m-%d}"
            )
        self.stdout.write(f"不一致(未反映): {imp.rejected_count}件")
        for row in imp.rejected_rows().iterator():
            self.stdout.write(f"  {row.row}行目 {row.number}: {row.reason}")
