"""Issue 12: the payment file refuses a My Number in any writing (cells and headers, never echoed),
control characters, and a cell too large for the csv module — a clean error, not a traceback."""

import csv
import io
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from fees.payments import PaymentFileError, parse
from tests.core.test_text_safety import CONTROLS, VALID, WRITINGS
from tests.fees.test_payments_import import _today


def _file(rows, header=("請求書番号", "入金額", "入金日")) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


@pytest.mark.parametrize("value", WRITINGS)
@pytest.mark.parametrize("column", [0, 1, 2])
def test_a_my_number_in_any_writing_in_any_cell_is_refused(value, column):
    row = ["2026-000001", "1000", str(_today())]
    row[column] = value
    with pytest.raises(PaymentFileError) as exc:
        parse(_file([row]), today=_today())
    name = ("請求書番号", "入金額", "入金日")[column]
    assert f"2行目 {name}: 個人番号と思われる値があります(取り込めません)" in exc.value.problems
    assert VALID not in "".join(ch for ch in str(exc.value) if ch.isdigit())


@pytest.mark.parametrize("value", WRITINGS[:6])
def test_a_my_number_used_as_a_column_header_is_not_echoed(value):
    with pytest.raises(PaymentFileError) as exc:
        parse(_file([], header=("請求書番号", "入金額", "入金日", value)), today=_today())
    text = str(exc.value)
    assert "不明な列があります" in text and "(表示しません)" in text
    assert value not in text and VALID not in "".join(ch for ch in text if ch.isdigit())


@pytest.mark.parametrize("value", CONTROLS)
def test_control_characters_are_refused(value):
    with pytest.raises(PaymentFileError) as exc:
        parse(_file([[f"2026-000001{value}", "1000", str(_today())]]), today=_today())
    assert any("2行目 請求書番号: 使用できない制御文字" in p for p in exc.value.problems)


def test_a_cell_over_128_kb_is_a_row_error_not_a_traceback(db, clerk, tmp_path):
    content = _file([["2026-000001", "1" * 140_000, str(_today())]])
    with pytest.raises(PaymentFileError) as exc:
        parse(content, today=_today())
    assert exc.value.problems == ["2行目: 値が長すぎるか壊れたセルがあります(読み込めません)"]
    path = tmp_path / "big.csv"
    path.write_bytes(content)
    with pytest.raises(CommandError, match="2行目: 値が長すぎる"):
        call_command("import_payments", str(path), "--by", clerk.username, stdout=StringIO())
