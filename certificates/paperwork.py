"""The letters a certificate's life after issue asks for: the 返却督促 of certificates awaiting return
and the resend (再印刷) of held certificates after an address correction (certificates.returns).

Planning and rendering them is documents' (documents/receivers.py). documents registers its planner
here from DocumentsConfig.ready, so that certificates never imports documents (README "Layout", the
import contract in pyproject.toml). Each planner creates the document row inside the caller's
transaction and renders it after commit; it returns the planned documents.GeneratedDocument.
"""

from __future__ import annotations

from typing import Protocol

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model


class Letters(Protocol):
    def plan_reminder(self, *, label: str, certificate_ids: list[int]) -> Model:
        """返却督促: a letter per certificate (all of one 事業所, or of one household)."""

    def plan_resend(self, *, label: str, certificate_ids: list[int]) -> Model:
        """The household's letter with its certificates printed again (all of one household)."""


_letters: Letters | None = None


def register_letters(letters: Letters) -> None:
    """documents' AppConfig.ready hands over its planner."""
    global _letters
    _letters = letters


def letters() -> Letters:
    if _letters is None:
        raise ImproperlyConfigured(
            "certificates.paperwork: no letters registered (is the documents app installed?)"
        )
    return _letters
