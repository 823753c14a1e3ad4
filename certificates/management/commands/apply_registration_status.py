from certificates.lifecycle import certificates_apply_registration_status

from ._daily import DailyJobCommand


class Command(DailyJobCommand):
    help = (
        "最新の利用登録状況が登録済(要配慮者を除く)の加入者の有効な資格確認書を"
        "返却不要(マイナ保険証登録)にします。二度実行しても変わりません。"
    )

    def handle(self, *args, on=None, username=None, **options):
        day, user = self.parse_common(on, username)
        certs = certificates_apply_registration_status(today=day, acting_user=user)
        self.stdout.write(f"マイナ保険証登録による返却不要: {len(certs)}件")
