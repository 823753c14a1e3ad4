"""manage.py import_members PATH [--dry-run] [--by USERNAME] (rules.md "Members import")."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.roles import CLERK, SUPERVISOR, RoleError, user_for_role
from members.importing import ImportRefused
from members.progress import ProgressPrinter
from members.services import members_import


def check_readable(path: str) -> None:
    """The file is streamed by the import; refuse at once when it cannot be opened."""
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise CommandError(f"ファイルを読み込めません: {path}（{exc.strerror}）") from None


def acting_user(username: str | None):
    if not username:
        return None
    try:
        return user_for_role(username, CLERK, SUPERVISOR)
    except RoleError as exc:
        raise CommandError(str(exc)) from None


class Command(BaseCommand):
    help = (
        "加入者CSV（事業所記号,事業所名称,記号,番号,枝番,…）を取り込みます。"
        "エラーが1件でもあれば何も保存せず、行と列を示して終了コード1で終わります。"
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="CSVファイル（UTF-8、BOM付きUTF-8またはCP932）")
        parser.add_argument(
            "--dry-run", action="store_true", help="検証と件数の確認のみ（保存しない）"
        )
        parser.add_argument("--by", dest="username", help="取込を行う事務担当者のユーザー名")

    def handle(self, *args, path: str, dry_run: bool, username: str | None, **options):
        user = acting_user(username)
        check_readable(path)
        try:
            summary = members_import(
                source=path,
                source_name=Path(path).name,
                acting_user=user,
                dry_run=dry_run,
                progress=ProgressPrinter(self.stderr, label="加入者の取込"),
            )
        except ImportRefused as exc:
            raise CommandError(exc.summary()) from None
        prefix = "【試行】何も保存していません。" if dry_run else ""
        self.stdout.write(
            f"{prefix}加入者の取込: {summary.rows}行 / 新規 {summary.created} / 更新 {summary.updated}"
            f" / 変更なし {summary.unchanged} / 資格喪失の記録 {summary.losses_recorded}（被扶養者を含む）"
            f" / 事業所 新規 {summary.employers_created}・名称変更 {summary.employers_updated}"
        )
        if summary.losses_kept:
            self.stdout.write(
                f"資格喪失年月日が記録済みの日付より後のため変更しなかった行: {summary.losses_kept}"
                "（訂正は管理画面で行ってください）"
            )
