"""No blank boxes: characters without a glyph are found before rendering and the holder is held
back with a message naming the person and the character."""

from datetime import date

import pytest

from certificates.models import RunState
from documents.fonts import describe_character, uncovered_characters
from documents.models import GeneratedDocument
from documents.selectors import run_progress
from members.models import Employer

from .conftest import execute_run, make_dependent, make_member, pdf_text, set_status, squash


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("𠮷田 髙橋 﨑山 渡邊 齋藤", []),  # IPAmj: non-BMP, variants
        ("ヨシダ タロウ", []),
        ("東京都千代田区丸の内一丁目1番1号 101号室", []),
        ("山田\u3000太郎\t", []),  # whitespace needs no glyph
        ("山田\ue000太郎", ["U+E000"]),  # private use: no font has it
        ("🙂 山田", ["U+1F642"]),  # emoji
        ("\ue000\ue000", ["U+E000"]),  # reported once
        ("葛\U000e0100城", []),  # IVS sequence registered in IPAmj
        ("山\U000e0100", ["U+E0100"]),  # selector on a base with no such variant
    ],
)
def test_uncovered_characters(text, missing):
    assert uncovered_characters(text) == missing


def test_describe_character_names_it():
    assert describe_character("U+1F642") == "U+1F642 (SLIGHTLY SMILING FACE)"
    assert describe_character("U+E000").startswith("U+E000 (")


@pytest.mark.django_db
def test_a_holder_with_an_uncovered_character_is_reported_not_printed(
    clerk, supervisor, media_root, tmp_path
):
    employer = Employer.objects.create(code="E001", name="株式会社テスト")
    ok = make_member(name="山田 太郎", employer=employer)
    bad = make_member(name="田中\ue000子", kana="タナカ ヒロコ", employer=employer)
    bad_dependent_home = make_member(name="佐藤 一郎", employer=employer)
    child = make_dependent(bad_dependent_home, name="佐藤 🙂", edaban="02")
    set_status([(p, "未登録", None) for p in (ok, bad, bad_dependent_home, child)])

    run = execute_run(clerk, supervisor)

    # the rest of the run goes on; the run is not 完了 but 印刷未了, naming who was left out and
    # what to do (issue 12: 完了 means every target has its printed page)
    assert run.state == RunState.PRINT_INCOMPLETE
    assert bad.key in run.error and child.key in run.error and "render_certificate" in run.error
    assert "2名の資格確認書は交付済みですが印刷されていません" in run.error
    doc = GeneratedDocument.objects.get(run=run)
    skipped = {s["person"]: s for s in doc.skipped}
    assert set(skipped) == {bad.key, child.key}
    assert skipped[bad.key]["characters"] == ["U+E000"]
    assert skipped[bad.key]["field"] == "氏名(宛名)"
    assert bad.key in skipped[bad.key]["message"] and "U+E000" in skipped[bad.key]["message"]
    assert skipped[child.key]["characters"] == ["U+1F642"]
    assert "SLIGHTLY SMILING FACE" in skipped[child.key]["message"]
    assert run_progress(run)["skipped"] == 2
    assert {s["person"] for s in run.summary["print_skipped"]} == {bad.key, child.key}
    assert doc.certificate_pages == 2  # 山田 太郎 and 佐藤 一郎

    text = squash("".join(pdf_text(doc.file.read(), tmp_path)))
    doc.file.close()
    assert "山田 太郎" in text and "佐藤 一郎" in text
    assert "田中" not in text  # not printed at all: no letter, no card, no list row
    assert "佐藤 🙂" not in text and "佐藤 様" not in text
    assert "封筒 2 通 / 資格確認書 2 枚" in text


@pytest.mark.django_db
def test_admin_finds_the_chunks_that_left_holders_out(client, clerk, supervisor, media_root):
    from django.urls import reverse

    e1 = Employer.objects.create(code="E001", name="株式会社テスト")
    e2 = Employer.objects.create(code="E002", name="第二工業")
    ok = make_member(name="山田 太郎", employer=e1)
    bad = make_member(name="田中\ue000子", employer=e2)
    set_status([(p, "未登録", None) for p in (ok, bad)])
    run = execute_run(clerk, supervisor)
    with_skips = GeneratedDocument.objects.get(run=run, employer=e2)
    client.force_login(clerk)
    url = reverse("admin:documents_generateddocument_changelist")
    listed = client.get(url, {"skipped": "yes"}).context["cl"].result_list
    assert [d.pk for d in listed] == [with_skips.pk]
    listed = client.get(url, {"skipped": "no"}).context["cl"].result_list
    assert with_skips.pk not in [d.pk for d in listed] and len(listed) == 1
    detail = client.get(reverse("admin:documents_generateddocument_change", args=[with_skips.pk]))
    assert bad.key in detail.content.decode() and "U+E000" in detail.content.decode()


@pytest.mark.django_db
def test_unprintable_address_holds_back_the_whole_home_household(clerk, supervisor, media_root):
    m = make_member(
        name="鈴木 一郎",
        voluntary_until=date(2026, 9, 30),
        postal_code="1500001",
        address="東京都渋谷区\ue001",
    )
    d = make_dependent(m, name="鈴木 花子")
    set_status([(m, "未登録", None), (d, "未登録", None)])
    run = execute_run(clerk, supervisor)
    doc = GeneratedDocument.objects.get(run=run)
    assert {s["person"] for s in doc.skipped} == {m.key, d.key}
    assert all(s["field"] == "住所" and s["characters"] == ["U+E001"] for s in doc.skipped)
    assert not doc.file and doc.page_count == 0 and doc.certificate_pages == 0
    assert run.state == RunState.PRINT_INCOMPLETE and m.key in run.error


@pytest.mark.django_db
def test_a_run_with_every_page_printed_is_done(clerk, supervisor, media_root):
    employer = Employer.objects.create(code="E001", name="株式会社テスト")
    ok = make_member(name="山田 太郎", employer=employer)
    set_status([(ok, "未登録", None)])
    run = execute_run(clerk, supervisor)
    assert run.state == RunState.DONE and run.error == ""


@pytest.mark.django_db(transaction=True)
def test_execute_wait_exits_non_zero_saying_who_was_not_printed(clerk, supervisor, media_root):
    """issuance_run execute --wait on a run that left holders out of printing: exit status non-zero,
    the last line names them and what to do; the run list and the run page show 印刷未了."""
    from io import StringIO

    from django.core.management import CommandError, call_command
    from django.test import Client
    from django.urls import reverse

    from certificates.services import run_approve, run_create

    from .conftest import ISSUE, STATUS_DATE, VALID_UNTIL

    employer = Employer.objects.create(code="E001", name="株式会社テスト")
    ok = make_member(name="山田 太郎", employer=employer)
    bad = make_member(name="田中\ue000子", kana="タナカ ヒロコ", employer=employer)
    set_status([(p, "未登録", None) for p in (ok, bad)])
    run = run_create(
        status_date=STATUS_DATE, issue_date=ISSUE, valid_until=VALID_UNTIL, acting_user=clerk
    )
    run_approve(run=run, acting_user=supervisor)
    out = StringIO()
    # committed for real: the hand-over to documents runs on commit, the tasks in-process
    with pytest.raises(CommandError) as exc:
        call_command("issuance_run", "execute", str(run.pk), "--wait", "--poll", "0.01", stdout=out)
    last_line = str(exc.value).splitlines()[-1]
    assert bad.key in last_line and "印刷されていません" in last_line
    assert "render_certificate" in last_line
    run.refresh_from_db()
    assert run.state == RunState.PRINT_INCOMPLETE
    client = Client()
    client.force_login(clerk)
    listing = client.get(reverse("admin:certificates_issuancerun_changelist")).content.decode()
    assert "印刷未了" in listing
    page = client.get(reverse("admin:certificates_issuancerun_change", args=[run.pk]))
    assert "印刷未了" in page.content.decode() and bad.key in page.content.decode()
    # executing it again changes nothing and says why
    with pytest.raises(CommandError, match="印刷未了"):
        call_command("issuance_run", "execute", str(run.pk), stdout=StringIO())
