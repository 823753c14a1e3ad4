"""`manage.py create_demo_users`: one demo login per role, for `make demo` only.

Idempotent: re-running resets each demo user's password, staff flag and role group to the values
below and changes nothing else. The passwords are printed on purpose: they are demo logins, and the
command refuses to run in production (PRODUCTION=1) where such accounts must never exist.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from config.env import env_bool
from core.models import audit_event
from core.roles import AUDITOR, CLERK, SUPERVISOR

# (username, password, role, description). Two supervisors so that the four-eyes rule can be
# shown: the creator of a run cannot approve it, and a second approver is available.
DEMO_USERS = [
    ("clerk", "demo-clerk-2025", CLERK, "事務担当(取込・一括交付の作成・再交付)"),
    ("supervisor", "demo-supervisor-2025", SUPERVISOR, "承認者(一括交付の承認・実行)"),
    ("supervisor2", "demo-supervisor2-2025", SUPERVISOR, "承認者(2人目)"),
    ("auditor", "demo-auditor-2025", AUDITOR, "監査(閲覧・出力のみ)"),
]


class Command(BaseCommand):
    help = "デモ用のログイン(役割ごと)を作成します。Creates demo logins for each role."

    def handle(self, *args, **options):
        if env_bool("PRODUCTION"):
            raise CommandError(
                "本番環境(PRODUCTION=1)ではデモ用ユーザーを作成できません"
                " (refusing to create demo users with PRODUCTION=1)"
            )
        missing = [
            role
            for role in (CLERK, SUPERVISOR, AUDITOR)
            if not Group.objects.filter(name=role).exists()
        ]
        if missing:
            raise CommandError(
                f"役割グループ {'・'.join(missing)} がありません。先に migrate を実行してください"
                " (role groups missing: run migrate first)"
            )
        User = get_user_model()
        with transaction.atomic():
            for username, password, role, _ in DEMO_USERS:
                user, created = User.objects.get_or_create(username=username)
                user.is_staff = True
                user.is_active = True
                user.is_superuser = False
                user.set_password(password)
                user.save()
                user.groups.set([Group.objects.get(name=role)])
                if created:
                    audit_event(action="demo_user_created", obj=user, role=role)
        self.stdout.write("デモ用ログイン (ユーザー名 / パスワード / 役割):")
        for username, password, role, description in DEMO_USERS:
            self.stdout.write(f"  {username:<12} {password:<22} {role}  {description}")
