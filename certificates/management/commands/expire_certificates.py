from certificates.lifecycle import certificates_expire

from ._daily import DailyJobCommand


class Command(DailyJobCommand):
    help = (
        "有効期限を過ぎた資格確認書(有効・返却待ち)を返却不要にします。二度実行しても変わりません。"
    )

    def handle(self, *args, on=None, username=None, **options):
        day, user = self.parse_common(on, username)
        certs = certificates_expire(today=day, acting_user=user)
        self.stdout.write(f"有効期限切れ: {len(certs)}件")
