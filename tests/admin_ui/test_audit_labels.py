"""The audit trail on screen: Japanese labels for every action code the code can write, a link to
the object, search by 記号・番号 and 証明書番号."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

from core import services as core_services
from core.audit_labels import ACTION_LABELS, action_label

ROOT = Path(__file__).resolve().parents[2]
_CALL = re.compile(r"audit_event\(\s*action=\"([^\"]+)\"", re.S)


def _codes_in_source() -> set[str]:
    codes = set()
    for path in ROOT.glob("*/**/*.py"):
        parts = path.relative_to(ROOT).parts
        if parts[0] in ("tests", ".venv", "var") or "migrations" in parts:
            continue
        codes |= set(_CALL.findall(path.read_text(encoding="utf-8")))
    return codes


def test_every_action_written_anywhere_has_a_japanese_label():
    codes = _codes_in_source() | {
        core_services.EXPORT_ACTION,
        core_services.EXPORT_DOWNLOAD_ACTION,
    }
    assert len(codes) > 30  # the scan finds the calls (a broken pattern would find none)
    missing = sorted(c for c in codes if c not in ACTION_LABELS)
    assert not missing, f"no label in core/audit_labels.py for {missing}"
    assert action_label("something.new") == "something.new"  # unknown codes stay visible


pytestmark = pytest.mark.django_db


def test_trail_shows_labels_and_links_and_is_searched_by_key_and_number(society, auditor):
    client = Client()
    client.force_login(auditor)
    page = client.get("/admin/core/auditevent/").content.decode()
    assert "一括交付の帳票作成完了" in page and ">run.documents_done<" not in page
    assert f'href="/admin/certificates/issuancerun/{society.run.pk}/change/"' in page
    # 記号・番号: the person's events and their certificates' events, nobody else's
    found = client.get("/admin/core/auditevent/", {"q": "10-21"}).context["cl"].result_list
    kinds = {(e.object_type, e.action) for e in found}
    assert ("members.Person", "person.loss_recorded") in kinds
    assert ("certificates.Certificate", "certificate.return_required") in kinds
    suzuki_cert = society.suzuki.certificates.get()
    assert {e.object_id for e in found if e.object_type == "certificates.Certificate"} == {
        str(suzuki_cert.pk)
    }
    # 証明書番号
    found = (
        client.get("/admin/core/auditevent/", {"q": suzuki_cert.number}).context["cl"].result_list
    )
    assert found and all(e.object_id == str(suzuki_cert.pk) for e in found)
