"""The three roles, as Django groups with exactly these names (created by a data migration; their
permissions are re-synchronised after every migrate, since permissions only exist after migrate)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

CLERK = "事務担当"
SUPERVISOR = "承認者"
AUDITOR = "監査"
ROLES = (CLERK, SUPERVISOR, AUDITOR)

# Models a clerk maintains (add/change/view; deletes stay with nobody: history is kept, not erased).
_CLERK_MODELS = {
    "members": ["employer", "person", "registrationsnapshot", "registrationstatus"],
    "certificates": ["issuancerun", "runtarget", "certificate"],
    "documents": ["generateddocument"],
    "fees": [],
}
_CLERK_EXTRA = [("documents", "download_generateddocument")]
_SUPERVISOR_EXTRA = [
    ("certificates", "approve_issuancerun"),
    ("certificates", "execute_issuancerun"),
]
_AUDITED_APPS = ["members", "certificates", "documents", "fees", "core", "auth"]


class RoleError(Exception):
    """A user is unknown or lacks the role an action needs (the message names both)."""


def _perms(app_label: str, codenames: list[str]):
    return Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)


def role_permissions(role: str) -> list[Permission]:
    clerk: list[Permission] = []
    for app_label, models in _CLERK_MODELS.items():
        codes = [f"{action}_{m}" for m in models for action in ("add", "change", "view")]
        clerk += list(_perms(app_label, codes))
    for app_label, code in _CLERK_EXTRA:
        clerk += list(_perms(app_label, [code]))
    if role == CLERK:
        return clerk
    if role == SUPERVISOR:
        extra = [p for app_label, code in _SUPERVISOR_EXTRA for p in _perms(app_label, [code])]
        return clerk + extra
    if role == AUDITOR:
        return list(
            Permission.objects.filter(
                content_type__app_label__in=_AUDITED_APPS, codename__startswith="view_"
            )
        ) + list(_perms("documents", ["download_generateddocument"]))
    raise ValueError(role)


def sync_role_permissions(**_kwargs) -> None:
    """post_migrate handler: give each role group exactly its permissions."""
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(role_permissions(role))


def user_has_role(user, role: str) -> bool:
    return user.is_active and user.groups.filter(name=role).exists()


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
