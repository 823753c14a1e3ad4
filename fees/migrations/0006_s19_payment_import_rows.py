# The rows an import applied and listed move from two JSON lists on PaymentImport to rows of their
# own (written a chunk at a time: flat memory for a file of any size). Existing lists are copied.

import django.db.models.deletion
from django.db import migrations, models


def lists_to_rows(apps, schema_editor):
    PaymentImport = apps.get_model("fees", "PaymentImport")
    Row = apps.get_model("fees", "PaymentImportRow")
    for imp in PaymentImport.objects.order_by("pk").iterator():
        rows = [
            Row(
                payment_import=imp,
                row=r["row"],
                number=r["number"][:16],
                amount=r["amount"],
                paid_on=r["paid_on"],
                applied=applied,
                reason="" if applied else (r.get("reason") or "不一致")[:200],
            )
            for applied, listed in ((True, imp.applied), (False, imp.rejected))
            for r in listed or ()
        ]
        Row.objects.bulk_create(rows, batch_size=2000)


def rows_to_lists(apps, schema_editor):
    PaymentImport = apps.get_model("fees", "PaymentImport")
    for imp in PaymentImport.objects.order_by("pk").iterator():
        lists = {True: [], False: []}
        for r in imp.rows.order_by("row"):
            line = {"row": r.row, "number": r.number, "amount": r.amount,
                    "paid_on": r.paid_on.isoformat()}
            if not r.applied:
                line["reason"] = r.reason
            lists[r.applied].append(line)
        imp.applied, imp.rejected = lists[True], lists[False]
        imp.save(update_fields=["applied", "rejected"])


class Migration(migrations.Migration):

    dependencies = [
        ('fees', '0005_s13_after_issue_to_certificates'),
    ]

    operations = [
        migrations.CreateModel(
            name='PaymentImportRow',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('row', models.PositiveIntegerField(verbose_name='行')),
                ('number', models.CharField(max_length=16, verbose_name='請求書番号')),
                ('amount', models.BigIntegerField(verbose_name='入金額')),
                ('paid_on', models.DateField(verbose_name='入金日')),
                ('applied', models.BooleanField(verbose_name='反映')),
                ('reason', models.CharField(blank=True, max_length=200, verbose_name='理由(未反映)')),
                ('payment_import', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='rows', to='fees.paymentimport', verbose_name='振込データ取込')),
            ],
            options={
                'verbose_name': '振込データの行',
                'verbose_name_plural': '振込データの行',
                'ordering': ['payment_import', 'row'],
                'indexes': [models.Index(fields=['payment_import', 'applied', 'row'], name='paymentimportrow_listed')],
                'constraints': [models.UniqueConstraint(fields=('payment_import', 'row'), name='paymentimportrow_one_per_line'), models.CheckConstraint(condition=models.Q(models.Q(('applied', True), ('reason', '')), models.Q(('applied', False), models.Q(('reason', ''), _negated=True)), _connector='OR'), name='paymentimportrow_reason_iff_listed')],
            },
        ),
        migrations.RunPython(lists_to_rows, rows_to_lists),
        migrations.RemoveField(
            model_name='paymentimport',
            name='applied',
        ),
        migrations.RemoveField(
            model_name='paymentimport',
            name='rejected',
        ),
    ]
