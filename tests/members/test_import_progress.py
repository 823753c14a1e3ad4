"""The import commands show progress on stderr (stdout keeps the result lines): a bar redrawn in
place on a terminal, a few plain lines otherwise."""

from io import StringIO

import pytest
from django.core.management import call_command

from .builders import MEMBERS_HEADER, STATUS_HEADER, member_row, status_row, write_csv

pytestmark = pytest.mark.django_db


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal(tmp_path):
    out, err = StringIO(), StringIO()
    path = write_csv(tmp_path, MEMBERS_HEADER, [member_row(番号=str(i)) for i in range(1, 30)])
    call_command("import_members", str(path), stdout=out, stderr=err)
    lines = err.getvalue().splitlines()
    assert "加入者の取込: 読込・検証 100%" in lines
    assert lines[-1] == "加入者の取込: 完了 100%"
    assert "\r" not in err.getvalue()
    assert "読込・検証" not in out.getvalue()
    assert out.getvalue().startswith("加入者の取込: 29行 / 新規 29")


def test_a_bar_on_a_terminal(tmp_path):
    from members.models import Person

    Person.objects.all().delete()
    out, err = StringIO(), Terminal()
    path = write_csv(tmp_path, MEMBERS_HEADER, [member_row()])
    call_command("import_members", str(path), stdout=out, stderr=err)
    text = err.getvalue()
    assert "\r加入者の取込 [" in text and "] 100% 完了" in text
    assert text.endswith("\n") and text.count("\n") == 1


def test_status_import_progress(tmp_path):
    from .builders import make_member

    make_member(bango="1001")
    err = StringIO()
    path = write_csv(tmp_path, STATUS_HEADER, [status_row(番号="1001")])
    call_command(
        "import_registration_status",
        str(path),
        "--as-of",
        "2025-11-30",
        stdout=StringIO(),
        stderr=err,
    )
    assert err.getvalue().splitlines()[-1] == "利用登録状況の取込: 完了 100%"
