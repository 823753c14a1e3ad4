"""The renderer reads nothing but our static files and fonts; member data prints as text."""

import io
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings
from pypdf import PdfReader

from documents import render
from documents.fetcher import LocalOnlyURLFetcher, RefusedURL
from documents.fonts import IPAMJ_MINCHO

from .conftest import pdf_text, squash

STYLESHEET = Path(settings.BASE_DIR) / "static" / "documents" / "print.css"


@pytest.fixture
def fetcher():
    return LocalOnlyURLFetcher()


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "file:///etc/hostname",
        f"file://{settings.BASE_DIR}/config/settings.py",
        # ../ and encoded ../ resolve outside the allowed directory
        f"file://{STYLESHEET.parent}/../../config/settings.py",
        f"file://{STYLESHEET.parent}/%2e%2e/%2e%2e/config/settings.py",
        "file://otherhost/etc/passwd",
        "http://127.0.0.1:9/",
        "https://example.com/logo.png",
        "ftp://example.com/x",
        "data:text/plain;base64,aGVsbG8=",
    ],
)
def test_fetcher_refuses_files_and_network(fetcher, url):
    with pytest.raises(RefusedURL):
        fetcher.fetch(url)


def test_fetcher_refuses_a_symlink_out_of_the_static_dir(fetcher, tmp_path, settings):
    static = tmp_path / "static"
    (static / "documents").mkdir(parents=True)
    (static / "documents" / "leak.css").symlink_to("/etc/passwd")
    settings.STATICFILES_DIRS = [static]
    with pytest.raises(RefusedURL):
        LocalOnlyURLFetcher().fetch((static / "documents" / "leak.css").as_uri())


def test_fetcher_serves_our_stylesheet_and_the_fonts(fetcher):
    css = fetcher.fetch(STYLESHEET.as_uri())
    assert b"@page" in css.read()
    font = fetcher.fetch(IPAMJ_MINCHO.as_uri())
    assert font.read(4) in (b"\x00\x01\x00\x00", b"OTTO", b"true")


def _card(name: str) -> render.CertificateCard:
    return render.CertificateCard(
        item_id=1,
        number="2025-0000001",
        relationship="本人",
        name=name,
        name_kana="テスト",
        birth_date=date(1980, 1, 2),
        sex="男",
        kigo="1",
        bango="2",
        edaban="00",
        issue_date=date(2025, 12, 1),
        valid_until=date(2030, 11, 30),
        acquired_on=date(2010, 4, 1),
        reason="未登録",
    )


def test_markup_in_a_name_prints_as_text_and_reads_nothing(monkeypatch, tmp_path):
    asked = []
    original = LocalOnlyURLFetcher.fetch

    def spy(self, url, headers=None):
        asked.append(url)
        return original(self, url, headers)

    monkeypatch.setattr(LocalOnlyURLFetcher, "fetch", spy)
    name = '<img src="file:///etc/passwd">'
    hh = render.Household(
        kigo="1",
        bango="2",
        addressee_name=name,
        addressee_kana="テスト",
        route="自宅",
        letter_date=date(2025, 12, 1),
        cards=(_card(name),),
        address='<link rel="attachment" href="file:///etc/passwd">',
        postal_code="1000001",
    )
    result = render.render_chunk(render.Chunk(households=(hh,)))
    text = squash("".join(pdf_text(result.pdf, tmp_path)))
    assert '<img src="file:///etc/passwd"> 様' in text
    assert '<link rel="attachment" href="file:///etc/passwd">' in text
    assert not any("passwd" in url for url in asked)
    reader = PdfReader(io.BytesIO(result.pdf))
    assert not reader.attachments
    assert b"root:" not in result.pdf


def test_even_unescaped_markup_cannot_embed_a_local_file(tmp_path):
    # Belt and braces: were a template ever to print member data with |safe, the fetcher still
    # refuses, so nothing of the file reaches the PDF (WeasyPrint logs and renders without it).
    html = (
        '<html><body><p>x</p><img src="file:///etc/passwd">'
        '<link rel="attachment" href="file:///etc/passwd">'
        '<img src="http://127.0.0.1:9/x.png"></body></html>'
    )
    pdf = render.html_to_pdf(html)
    reader = PdfReader(io.BytesIO(pdf))
    assert not reader.attachments
    assert b"root:" not in pdf
    for page in reader.pages:
        assert not page["/Resources"].get("/XObject")  # no image was embedded
