from certificates.lifecycle import daily_jobs_run

from ._daily import DailyJobCommand


class Command(DailyJobCommand):
    help = (
        "夜間処理をまとめて実行します: 75歳到達による資格喪失、有効期限切れ(返却不要)、"
        "マイナ保険証登録による返却不要、返却期限超過の記録。二度実行しても変わりません。"
    )

    def handle(self, *args, on=None, username=None, **options):
        day, user = self.parse_common(on, username)
        counts = daily_jobs_run(today=day, acting_user=user)
        self.stdout.write(f"処理日 {day:%Y-%m-%d}")
        for step, n in counts.items():
            self.stdout.write(f"{step}: {n}件")
