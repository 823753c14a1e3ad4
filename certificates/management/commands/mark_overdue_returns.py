from certificates.lifecycle import certificates_mark_overdue
from certificates.models import Certificate

from ._daily import DailyJobCommand


class Command(DailyJobCommand):
    help = (
        "返却期限を過ぎた返却待ちの資格確認書を記録(監査ログ)し、一覧表示します。"
        "記録は1件につき1回だけです。"
    )

    def handle(self, *args, on=None, username=None, **options):
        day, user = self.parse_common(on, username)
        ids = certificates_mark_overdue(today=day, acting_user=user)
        for start in range(0, len(ids), 1000):  # read back a page at a time
            page = Certificate.objects.filter(pk__in=ids[start : start + 1000]).order_by("pk")
            for c in page.only("number", "return_due", "return_route"):
                self.stdout.write(
                    f"{c.number} 返却期限 {c.return_due:%Y-%m-%d} ({c.get_return_route_display()})"
                )
        self.stdout.write(f"新たに返却期限超過: {len(ids)}件")
