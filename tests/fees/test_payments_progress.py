"""import_payments shows progress on stderr like the registry imports (a bar redrawn in place on a
terminal, a few plain lines otherwise); stdout keeps the result lines, which are the contract."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from fees.services import reissue_application_receive_loss
from tests.fees.builders import issue, member

pytestmark = pytest.mark.django_db


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def _invoice(clerk):
    t = timezone.localdate()
    cert = issue(member(), issue_date=t - timedelta(days=30), valid_until=t + timedelta(days=700))
    return reissue_application_receive_loss(
        certificate=cert, route="事業主経由", received_on=t, acting_user=clerk
    ).invoice


def _write(path, rows):
    path.write_text("\n".join(["請求書番号,入金額,入金日", *rows]) + "\n", encoding="utf-8")
    return path


def test_plain_lines_when_not_a_terminal(tmp_path, clerk):
    inv = _invoice(clerk)
    today = timezone.localdate().isoformat()
    rows = [f"{inv.number},1000,{today}", *(f"1999-{i:06d},1000,{today}" for i in range(11_000))]
    out, err = StringIO(), StringIO()
    call_command("import_payments", str(_write(tmp_path / "p.csv", rows)), stdout=out, stderr=err)
    lines = err.getvalue().splitlines()
    reading = [int(line.rsplit(" ", 1)[1][:-1]) for line in lines if "読込・検証" in line]
    assert reading[0] == 0 and reading[-1] == 100
    assert any(0 < p < 100 for p in reading)  # a long file reports on the way
    assert "振込データの取込: 照合・反映 0%" in lines
    assert lines[-1] == "振込データの取込: 完了 100%"
    assert "\r" not in err.getvalue()
    assert "読込・検証" not in out.getvalue()
    assert out.getvalue().splitlines()[1] == "入金反映: 1件"


def test_a_bar_on_a_terminal(tmp_path, clerk):
    inv = _invoice(clerk)
    out, err = StringIO(), Terminal()
    path = _write(tmp_path / "p.csv", [f"{inv.number},1000,{timezone.localdate()}"])
    call_command("import_payments", str(path), stdout=out, stderr=err)
    text = err.getvalue()
    assert "\r振込データの取込 [" in text and "] 100% 完了" in text
    assert text.endswith("\n") and text.count("\n") == 1
    assert "入金反映: 1件" in out.getvalue()


def test_a_refused_file_never_reports_done(tmp_path):
    err = StringIO()
    path = _write(tmp_path / "p.csv", ["2026-000001,千円,2026-01-05"])
    with pytest.raises(CommandError, match="2行目 入金額: 円単位の整数で入力してください"):
        call_command("import_payments", str(path), stdout=StringIO(), stderr=err)
    assert "完了" not in err.getvalue() and "照合・反映" not in err.getvalue()
