"""Issue 12, item 7: the admin import's smaller refusals — a confirm step sent twice, a header-only
or binary upload — answer in Japanese, never with a 500 or the library's English."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from members.models import Person

from .builders import MEMBERS_HEADER, STATUS_HEADER, csv_text, member_row, write_csv
from .test_admin import confirm, upload


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def clerk_client(client, clerk):
    client.force_login(clerk)
    return client


def test_a_confirm_step_sent_twice_gets_a_message_not_a_500(clerk_client, media):
    preview = upload(
        clerk_client, "admin:members_person_import", csv_text(MEMBERS_HEADER, [member_row()])
    )
    first = confirm(clerk_client, "admin:members_person_process_import", preview)
    assert first.status_code == 200 and Person.objects.count() == 1
    second = confirm(clerk_client, "admin:members_person_process_import", preview)
    assert second.status_code == 200  # (followed) the list, with a message
    text = second.content.decode()
    assert "既に取り込み済み" in text
    assert Person.objects.count() == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ((MEMBERS_HEADER + "\r\n").encode("utf-8"), "データの行がありません"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01" * 20, "CSVとして読めません"),
    ],
    ids=["header-only", "binary"],
)
def test_header_only_and_binary_uploads_get_a_japanese_message(
    clerk_client, media, content, expected
):
    page = clerk_client.get(reverse("admin:members_person_import"))
    form = page.context["form"]
    data = {
        name: field.initial or "" for name, field in form.fields.items() if name != "import_file"
    }
    data["format"] = "0"
    data["import_file"] = SimpleUploadedFile("members.csv", content, content_type="text/csv")
    response = clerk_client.post(reverse("admin:members_person_import"), data)
    assert response.status_code == 200
    text = response.content.decode()
    assert expected in text
    assert "No valid data to import" not in text and "Invalid file" not in text
    assert Person.objects.count() == 0


def test_registration_status_as_of_after_today_is_refused(db, tmp_path):
    path = write_csv(tmp_path, STATUS_HEADER, [])
    tomorrow = timezone.localdate() + timedelta(days=1)
    with pytest.raises(CommandError, match="今日より後の日付"):
        call_command(
            "import_registration_status",
            str(path),
            "--as-of",
            f"{tomorrow:%Y-%m-%d}",
            stdout=StringIO(),
        )
    with pytest.raises(CommandError, match="今日より後の日付"):
        call_command(
            "import_registration_status", str(path), "--as-of", "2099-01-01", stdout=StringIO()
        )
