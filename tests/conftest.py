"""Personas and shared fixtures."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from core.roles import AUDITOR, CLERK, SUPERVISOR

PASSWORD = "test-pass-Секрет-123"  # noqa: S105


def _user(username: str, role: str | None):
    user = get_user_model().objects.create_user(
        username=username, password=PASSWORD, is_staff=role is not None
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def clerk(db):
    return _user("clerk", CLERK)


@pytest.fixture
def clerk2(db):
    return _user("clerk2", CLERK)


@pytest.fixture
def supervisor(db):
    return _user("supervisor", SUPERVISOR)


@pytest.fixture
def supervisor2(db):
    return _user("supervisor2", SUPERVISOR)


@pytest.fixture
def auditor(db):
    return _user("auditor", AUDITOR)


@pytest.fixture
def outsider(db):
    return _user("outsider", None)
