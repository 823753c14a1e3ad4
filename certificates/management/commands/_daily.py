"""Shared options of the scheduled-job commands: --date (default today) and --by (optional)."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.roles import CLERK, SUPERVISOR, RoleError, user_for_role


class DailyJobCommand(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument(
            "--date",
            dest="on",
            help="処理日 YYYY-MM-DD(省略時は今日)。同じ日に何度実行しても結果は変わりません。",
        )
        parser.add_argument(
            "--by", dest="username", help="実行者として記録するユーザー名(省略時はシステム)"
        )

    def parse_common(self, on: str | None, username: str | None):
        try:
            day = date.fromisoformat(on.replace("/", "-")) if on else timezone.localdate()
        except ValueError:
            raise CommandError(f"--date の値 {on!r} は日付(YYYY-MM-DD)ではありません") from None
        user = None
        if username:
            try:
                user = user_for_role(username, CLERK, SUPERVISOR)
            except RoleError as exc:
                raise CommandError(str(exc)) from exc
        return day, user
