"""The three roles, as Django groups with exactly these names (created by the data migration
core/0002; their permissions are re-synchronised after every migrate, since permissions only exist
after migrate and other apps keep adding models).

- 事務担当 (clerk): add/change/view on the business models of members, certificates, documents and
  fees (members, imports, preparing runs, returns, reissue applications, payments). No deletes:
  history is kept, not erased.
- 承認者 (supervisor): a clerk's rights plus approving and executing runs and waiving fees.
- 監査 (auditor): view on everything (including the change history and the login log), CSV exports;
  no add, change or delete anywhere.
"""

from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied

CLERK = "事務担当"
SUPERVISOR = "承認者"
AUDITOR = "監査"
ROLES = (CLERK, SUPERVISOR, AUDITOR)

# Who may name themselves with --by for an action (commands check with user_for_role).
APPROVER_ROLES = (SUPERVISOR,)
EXPORT_ROLES = (AUDITOR,)

# Apps whose models a clerk maintains. Taken by app label, not by a fixed model list, so that models
# added later (fees.Invoice, applications, returns…) are covered as soon as they are migrated.
_CLERK_APPS = ("members", "certificates", "documents", "fees", "elderly")
_CLERK_EXTRA = [("documents", "download_generateddocument")]
_SUPERVISOR_EXTRA = [
    ("certificates", "approve_issuancerun"),
    ("certificates", "execute_issuancerun"),
    # fees is written separately; the permission is granted once it exists (after its migrate).
    ("fees", "waive_invoice"),
    ("elderly", "approve_elderlybatch"),
]
_AUDITED_APPS = [
    "members",
    "certificates",
    "documents",
    "fees",
    "elderly",
    "core",
    "auth",
    "axes",
]
_AUDITOR_EXTRA = [
    ("documents", "download_generateddocument"),
    ("core", "export_csv"),
]


class RoleError(Exception):
    """A user is unknown or lacks the role an action needs (the message names both)."""


def _perms(app_label: str, codenames: list[str]):
    return Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)


def is_history_model(model) -> bool:
    # django-simple-history's Historical* models: written only by the library, never by a role.
    return hasattr(model, "instance_type") and hasattr(model, "history_object")


def _clerk_codenames(app_label: str) -> list[str]:
    try:
        app_config = django_apps.get_app_config(app_label)
    except LookupError:
        return []
    return [
        f"{action}_{model._meta.model_name}"
        for model in app_config.get_models()
        if not is_history_model(model)
        for action in ("add", "change", "view")
    ]


def role_permissions(role: str) -> list[Permission]:
    if role == AUDITOR:
        return list(
            Permission.objects.filter(
                content_type__app_label__in=_AUDITED_APPS, codename__startswith="view_"
            )
        ) + [p for app_label, code in _AUDITOR_EXTRA for p in _perms(app_label, [code])]
    if role not in (CLERK, SUPERVISOR):
        raise ValueError(role)
    clerk: list[Permission] = []
    for app_label in _CLERK_APPS:
        clerk += list(_perms(app_label, _clerk_codenames(app_label)))
    for app_label, code in _CLERK_EXTRA:
        clerk += list(_perms(app_label, [code]))
    if role == CLERK:
        return clerk
    extra = [p for app_label, code in _SUPERVISOR_EXTRA for p in _perms(app_label, [code])]
    return clerk + extra


def sync_role_permissions(**_kwargs) -> None:
    """post_migrate handler: give each role group exactly its permissions."""
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(role_permissions(role))


def user_has_role(user, role: str) -> bool:
    return user.is_active and user.groups.filter(name=role).exists()


def require_role(user, *roles: str, action: str) -> None:
    """A service's check that the acting user holds one of `roles` to do `action` (PermissionDenied
    naming the user, the roles and the act)."""
    if user is None or not any(user_has_role(user, r) for r in roles):
        name = getattr(user, "username", "(なし)")
        raise PermissionDenied(
            f"ユーザー「{name}」には{'・'.join(roles)}の権限がないため{action}できません"
        )


def require_second_person(user, *, prepared_by_id: int | None, what: str) -> None:
    """Four eyes: whoever prepared `what` (a run, a 交付リスト) does not approve it. Something prepared
    by no user (a nightly job) may be approved by any approver."""
    if prepared_by_id is not None and prepared_by_id == user.pk:
        raise PermissionDenied(
            f"{what} を作成した「{user.username}」は承認できません"
            "（作成者以外の承認者が承認してください）"
        )


def user_for_role(username: str, *roles: str):
    """The active user named `username` holding one of `roles`, else RoleError."""
    User = get_user_model()
    try:
        user = User.objects.get(username=username)
    except User.DoesNotExist:
        raise RoleError(f"ユーザー「{username}」は存在しません") from None
    if not user.is_active:
        raise RoleError(f"ユーザー「{username}」は無効化されています")
    if not user.groups.filter(name__in=roles).exists():
        raise RoleError(f"ユーザー「{username}」には{'・'.join(roles)}の権限がありません")
    return user
