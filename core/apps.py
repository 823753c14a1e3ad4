from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "監査・共通"

    def ready(self) -> None:
        from .admin import secure_admin_site
        from .roles import sync_role_permissions

        post_migrate.connect(sync_role_permissions, dispatch_uid="core.sync_role_permissions")
        from . import admin_texts

        admin_texts.install()
        # django.contrib.admin comes first in INSTALLED_APPS: every admin module is loaded by now.
        secure_admin_site()
