from certificates.lifecycle import certificates_mark_overdue

from ._daily import DailyJobCommand


class Command(DailyJobCommand):
    help = (
        "返却期限を過ぎた返却待ちの資格確認書を記録(監査ログ)し、一覧表示します。"
        "記録は1件につき1回だけです。"
    )

    def handle(self, *args, on=None, username=None, **options):
        day, user = self.parse_common(on, username)
        certs = certificates_mark_overdue(today=day, acting_user=user)
        for c in certs:
            self.stdout.write(
                f"{c.number} 返却期限 {c.return_due:%Y-%m-%d} ({c.get_return_route_display()})"
            )
        self.stdout.write(f"新たに返却期限超過: {len(certs)}件")
