"""manage.py import_registration_status PATH --as-of YYYY-MM-DD [--dry-run] [--by USERNAME]
(rules.md "Registration-status import")."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from members.importing import ImportRefused, parse_date
from members.progress import ProgressPrinter
from members.services import registration_status_import

from .import_members import acting_user, check_readable


class Command(BaseCommand):
    help = (
        "マイナ保険証の利用登録状況CSV（記号,番号,枝番,登録状況,電子証明書有効期限）を基準日付きの"
        "履歴として取り込みます。エラーが1件でもあれば何も保存しません。"
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="CSVファイル（UTF-8、BOM付きUTF-8またはCP932）")
        parser.add_argument("--as-of", dest="as_of", required=True, help="基準日 YYYY-MM-DD")
        parser.add_argument(
            "--dry-run", action="store_true", help="検証と件数の確認のみ（保存しない）"
        )
        parser.add_argument("--by", dest="username", help="取込を行う事務担当者のユーザー名")

    def handle(self, *args, path: str, as_of: str, dry_run: bool, username: str | None, **options):
        try:
            as_of_date = parse_date(as_of)
        except ValueError as exc:
            raise CommandError(f"--as-of: {exc}") from None
        user = acting_user(username)
        check_readable(path)
        try:
            summary = registration_status_import(
                source=path,
                as_of=as_of_date,
                source_name=Path(path).name,
                acting_user=user,
                dry_run=dry_run,
                progress=ProgressPrinter(self.stderr, label="利用登録状況の取込"),
            )
        except ImportRefused as exc:
            raise CommandError(exc.summary()) from None
        counts = " / ".join(f"{k} {v}" for k, v in sorted(summary.by_status.items()))
        prefix = "【試行】何も保存していません。" if dry_run else ""
        self.stdout.write(
            f"{prefix}利用登録状況の取込（基準日 {as_of_date.isoformat()}）: {summary.rows}行 / {counts}"
        )
        if not dry_run:
            self.stdout.write(f"取込ID: {summary.snapshot.pk}")
