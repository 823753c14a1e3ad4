# The certificate's life after issue moves from the fees app (issue 13, app boundaries): ReturnReminder,
# ReturnedMail and the two admin proxies ReturnPendingCertificate / HeldCertificate. State only: the
# tables keep their names (fees_returnreminder, fees_returnedmail; Meta.db_table), so no row moves.
# The content types are renamed in place, so the groups' permissions and any generic reference to
# them keep pointing at the same rows; fees 0005_s13 removes the models from the fees state.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


MOVED = ("returnreminder", "returnedmail", "returnpendingcertificate", "heldcertificate")


def _move_content_types(source: str, target: str):
    def move(apps, schema_editor):
        ContentType = apps.get_model("contenttypes", "ContentType")
        for model in MOVED:
            if not ContentType.objects.filter(app_label=target, model=model).exists():
                ContentType.objects.filter(app_label=source, model=model).update(app_label=target)

    return move


class Migration(migrations.Migration):

    dependencies = [
        ('certificates', '0008_merge_i12_i13'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('fees', '0004_historical_names_in_japanese'),
        ('documents', '0003_i12_chunk_claim'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[

                migrations.CreateModel(
                    name='HeldCertificate',
                    fields=[
                    ],
                    options={
                        'verbose_name': '送付保留',
                        'verbose_name_plural': '送付保留(宛所不明の返戻)',
                        'proxy': True,
                        'indexes': [],
                        'constraints': [],
                    },
                    bases=('certificates.certificate',),
                ),
                migrations.CreateModel(
                    name='ReturnPendingCertificate',
                    fields=[
                    ],
                    options={
                        'verbose_name': '返却管理',
                        'verbose_name_plural': '返却管理(返却待ち・期限超過)',
                        'proxy': True,
                        'indexes': [],
                        'constraints': [],
                    },
                    bases=('certificates.certificate',),
                ),
                migrations.CreateModel(
                    name='ReturnedMail',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('returned_on', models.DateField(verbose_name='返戻日')),
                        ('resolved_at', models.DateTimeField(blank=True, null=True, verbose_name='住所訂正日時')),
                        ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='登録日時')),
                        ('certificate', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='returned_mails', to='certificates.certificate', verbose_name='資格確認書')),
                        ('document', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='documents.generateddocument', verbose_name='再送帳票')),
                        ('recorded_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='登録者')),
                        ('resolved_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='住所訂正者')),
                    ],
                    options={
                        'verbose_name': '返戻記録',
                        'verbose_name_plural': '返戻記録(宛所不明・再送)',
                        'db_table': 'fees_returnedmail',
                        'ordering': ['-returned_on', '-id'],
                        'constraints': [models.UniqueConstraint(condition=models.Q(('resolved_at__isnull', True)), fields=('certificate',), name='returnedmail_one_open_per_certificate')],
                    },
                ),
                migrations.CreateModel(
                    name='ReturnReminder',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='作成日時')),
                        ('certificate', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='return_reminders', to='certificates.certificate', verbose_name='資格確認書')),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='作成者')),
                        ('document', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='documents.generateddocument', verbose_name='督促状')),
                    ],
                    options={
                        'verbose_name': '返却督促',
                        'verbose_name_plural': '返却督促',
                        'db_table': 'fees_returnreminder',
                        'ordering': ['-id'],
                        'indexes': [models.Index(fields=['certificate', 'created_at'], name='returnreminder_cert')],
                    },
                ),
            ],
        ),
        migrations.RunPython(
            _move_content_types("fees", "certificates"),
            _move_content_types("certificates", "fees"),
        ),
    ]
