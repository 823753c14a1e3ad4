from members.services import persons_apply_75th_birthday

from ._daily import DailyJobCommand


class Command(DailyJobCommand):
    help = (
        "75歳の誕生日を迎えた加入者(と、その被扶養者)の資格喪失を記録し、有効な資格確認書を"
        "返却待ち(有効期限切れなら返却不要)にします。二度実行しても変わりません。"
    )

    def handle(self, *args, on=None, username=None, **options):
        day, user = self.parse_common(on, username)
        persons = persons_apply_75th_birthday(on=day, acting_user=user)
        for p in persons:
            self.stdout.write(f"{p.key} {p.name}: 資格喪失 {p.lost_on:%Y-%m-%d} ({p.loss_reason})")
        self.stdout.write(f"75歳到達: {len(persons)}件")
