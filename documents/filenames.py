"""The names a PDF is offered under in the browser: what it holds, in Japanese, with an ASCII
fallback for clients that do not read RFC 6266's filename* (the stored file keeps its fixed name,
documents.services.document_file_name).

- 一括交付2_事業所10002_東邦電機株式会社.pdf (a 事業所 bundle; _分冊1of3 when split), 一括交付2_自宅_0003.pdf
- 資格確認書_10-19-00_髙橋𠮷男.pdf (one person's reprint)
- 請求書_2026-000001_山田太郎.pdf and the like for the after-issue documents (kind and label).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from .models import DocumentKind, GeneratedDocument

_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]')
_SPACES = re.compile(r"[\s\u3000]+")


def _part(text: str) -> str:
    text = _UNSAFE.sub("", unicodedata.normalize("NFC", str(text)))
    return _SPACES.sub("", text)


def _join(*parts) -> str:
    return "_".join(p for p in (_part(x) for x in parts) if p)


def document_filenames(doc: GeneratedDocument) -> tuple[str, str]:
    """(Japanese name, ASCII fallback) of a stored document."""
    if doc.run_id is not None and doc.kind == DocumentKind.BUNDLE:
        if doc.employer_id is not None:
            employer = doc.employer
            split = f"分冊{doc.part_no}of{doc.part_count}" if doc.part_count > 1 else ""
            name = _join(f"一括交付{doc.run_id}", f"事業所{employer.code}", employer.name, split)
            ascii_name = f"run{doc.run_id}-employer{_ascii(employer.code)}"
            if split:
                ascii_name += f"-part{doc.part_no}of{doc.part_count}"
        else:
            name = _join(f"一括交付{doc.run_id}", "自宅", f"{doc.chunk_no or 0:04d}")
            ascii_name = f"run{doc.run_id}-home-{doc.chunk_no or 0:04d}"
        return name + ".pdf", ascii_name + ".pdf"
    label = _SPACES.sub(" ", doc.label).strip()
    words = label.split(" ")
    if words and words[0] == doc.kind:
        words = words[1:]
    return _join(doc.kind, *words)[:150] + ".pdf", f"document-{doc.pk}.pdf"


def reprint_filenames(*, kigo: str, bango: str, edaban: str, name: str) -> tuple[str, str]:
    key = f"{kigo}-{bango}-{edaban}"
    return _join("資格確認書", key, name) + ".pdf", f"certificate-{_ascii(key)}.pdf"


def _ascii(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "", unicodedata.normalize("NFKC", text)) or "x"


def content_disposition(name: str, ascii_name: str, *, inline: bool) -> str:
    """RFC 6266: the ASCII fallback first, then the UTF-8 name (percent-encoded, RFC 5987)."""
    kind = "inline" if inline else "attachment"
    fallback = ascii_name.replace("\\", "").replace('"', "")
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
