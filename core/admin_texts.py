"""What the stock admin and its libraries would otherwise show in English (or in UTC):

- the True/False/None alt text of a boolean icon;
- django-simple-history's own columns (history date, history user…) and its "X as of <UTC time>"
  title of a historical record;
- django-axes' record titles ("Access Log for … @ …");
- the names of the default permissions ("Can add …"), rewritten after every migrate.

The translatable texts of import-export, simple-history and axes are in core/locale/ja.
"""

from django.db.models.signals import post_migrate
from django.templatetags.static import static
from django.utils import timezone
from django.utils.html import format_html

_BOOLEAN_TEXT = {True: ("yes", "はい"), False: ("no", "いいえ"), None: ("unknown", "不明")}

HISTORY_FIELD_LABELS = {
    "history_id": "履歴ID",
    "history_date": "変更日時",
    "history_type": "種別",
    "history_user": "変更者",
    "history_change_reason": "変更理由",
    "history_relation": "元データ",
}
PERMISSION_VERBS = {"add": "追加", "change": "変更", "delete": "削除", "view": "閲覧"}


def _boolean_icon(field_val):
    icon, text = _BOOLEAN_TEXT.get(field_val, _BOOLEAN_TEXT[None])
    return format_html('<img src="{}" alt="{}">', static(f"admin/img/icon-{icon}.svg"), text)


def _local(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment else ""


def _historical_str(self) -> str:
    return f"{self.history_object}({_local(self.history_date)}時点)"


def _install_history_texts() -> None:
    from django.apps import apps

    from .roles import is_history_model

    for model in apps.get_models():
        if not is_history_model(model):
            continue
        model.__str__ = _historical_str
        for field in model._meta.fields:
            if field.name in HISTORY_FIELD_LABELS:
                field.verbose_name = HISTORY_FIELD_LABELS[field.name]
        # history_type's choices (Created/Changed/Deleted) are translated by core/locale/ja;
        # rewriting them here would change the models' migration state.


def _install_axes_texts() -> None:
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    AccessAttempt.__str__ = lambda self: (
        f"ログイン失敗: {self.username}({self.ip_address}){_local(self.attempt_time)}"
    )
    AccessFailureLog.__str__ = lambda self: (
        f"ログイン失敗: {self.username}{' ロック' if self.locked_out else ''}"
        f"({self.ip_address}){_local(self.attempt_time)}"
    )
    AccessLog.__str__ = lambda self: f"ログイン: {self.username} {_local(self.attempt_time)}"


def permission_name_ja(codename: str, verbose_name: str) -> str | None:
    verb, _, _model = codename.partition("_")
    if verb not in PERMISSION_VERBS:
        return None
    return f"{verbose_name}の{PERMISSION_VERBS[verb]}"


def rename_default_permissions(**_kwargs) -> None:
    """post_migrate: Django names its default permissions "Can add 加入者"; name them 加入者の追加."""
    from django.contrib.auth.models import Permission

    changed = []
    for perm in Permission.objects.select_related("content_type"):
        model = perm.content_type.model_class()
        if model is None or not perm.name.startswith("Can "):
            continue
        name = permission_name_ja(perm.codename, str(model._meta.verbose_name))
        if name and name != perm.name:
            perm.name = name[:255]
            changed.append(perm)
    Permission.objects.bulk_update(changed, ["name"])


def install() -> None:
    from django.contrib.admin.templatetags import admin_list

    admin_list._boolean_icon = _boolean_icon
    _install_history_texts()
    _install_axes_texts()
    post_migrate.connect(rename_default_permissions, dispatch_uid="core.rename_default_permissions")
