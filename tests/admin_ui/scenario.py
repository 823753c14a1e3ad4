"""A small society with one of everything a clerk's day touches, built through the services: a run
issued (and its documents rendered when asked), a loss with its invoice, a payment, a name change, a
certificate put up for return and overdue, a returned envelope, a reminder, a registration snapshot.

Used by the page crawler (every admin page as each role) and the 加入者カルテ/dashboard tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.utils import timezone

from certificates.models import Certificate, IssuanceRun
from certificates.returns import mail_record_returned, returns_generate_reminders
from certificates.services import run_approve, run_create, run_execute
from fees.models import Invoice, ReissueApplication
from fees.services import (
    invoice_confirm_payment,
    reissue_application_receive_change,
    reissue_application_receive_loss,
)
from members.models import Person
from members.services import person_record_loss
from tests.certificates.factories import dependent, employer, member, snapshot


@dataclass
class Society:
    today: date
    run: IssuanceRun
    takahashi: Person  # 10-19-00 髙橋 𠮷男 (事業主経由), with a dependent
    takahashi_wife: Person
    sato: Person  # 任意継続 (自宅)
    suzuki: Person  # lost his qualification: certificate 返却待ち, overdue, reminded
    yamada: Person  # loss reported, invoice paid, ready to issue
    ito: Person  # name changed
    kato: Person  # returned mail (送付保留)
    loss_app: ReissueApplication
    invoice: Invoice


def build_society(*, clerk, supervisor, supervisor2=None) -> Society:
    today = timezone.localdate()
    issue_date = today - timedelta(days=40)
    toho = employer("10002", "東邦電機株式会社")
    other = employer("10003", "丸の内商事株式会社")
    takahashi = member(
        kigo="10", bango="19", name="髙橋 𠮷男", name_kana="タカハシ ヨシオ", employer_obj=toho
    )
    wife = dependent(takahashi, name="髙橋 花子", name_kana="タカハシ ハナコ")
    sato = member(
        kigo="20",
        bango="1",
        name="佐藤 次郎",
        name_kana="サトウ ジロウ",
        insured_type="任意継続",
        voluntary_until=today + timedelta(days=300),
    )
    suzuki = member(
        kigo="10", bango="21", name="鈴木 一郎", name_kana="スズキ イチロウ", employer_obj=toho
    )
    yamada = member(
        kigo="10", bango="22", name="山田 太郎", name_kana="ヤマダ タロウ", employer_obj=other
    )
    ito = member(
        kigo="10", bango="23", name="伊藤 美咲", name_kana="イトウ ミサキ", employer_obj=other
    )
    kato = member(
        kigo="20",
        bango="2",
        name="加藤 健",
        name_kana="カトウ ケン",
        insured_type="任意継続",
        voluntary_until=today + timedelta(days=300),
    )
    people = [takahashi, wife, sato, suzuki, yamada, ito, kato]
    snapshot(issue_date - timedelta(days=10), [(p, "未登録", None) for p in people])
    run = run_create(
        status_date=issue_date - timedelta(days=1),
        issue_date=issue_date,
        valid_until=issue_date + timedelta(days=730),
        acting_user=clerk,
    )
    run_approve(run=run, acting_user=supervisor)
    run = run_execute(run=run, acting_user=supervisor)

    def cert(p):
        return Certificate.objects.get(person=p, run=run)

    # 資格喪失 three weeks ago: the certificate is asked back, overdue, reminded.
    person_record_loss(
        person=suzuki, lost_on=today - timedelta(days=21), reason="退職", acting_user=clerk
    )
    returns_generate_reminders(certificates=[cert(suzuki)], acting_user=clerk)
    # 滅失 reported, fee paid: ready to issue.
    loss_app = reissue_application_receive_loss(
        certificate=cert(yamada), route="事業主経由", received_on=today, acting_user=clerk
    )
    invoice = loss_app.invoice
    invoice_confirm_payment(invoice=invoice, paid_on=today, acting_user=clerk)
    # 記載事項変更 (氏名).
    reissue_application_receive_change(
        certificate=cert(ito),
        route="事業主経由",
        received_on=today,
        new_name="伊藤 みさき",
        new_name_kana="イトウ ミサキ",
        acting_user=clerk,
    )
    # A returned envelope.
    mail_record_returned(number=cert(kato).number, returned_on=today, acting_user=clerk)
    for p in people:
        p.refresh_from_db()
    loss_app.refresh_from_db()
    invoice.refresh_from_db()
    return Society(
        today=today,
        run=run,
        takahashi=takahashi,
        takahashi_wife=wife,
        sato=sato,
        suzuki=suzuki,
        yamada=yamada,
        ito=ito,
        kato=kato,
        loss_app=loss_app,
        invoice=invoice,
    )
