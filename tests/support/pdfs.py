"""Reading the rendered PDFs back the way a person at the printer would see them."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

# A 資格確認書 card ends with "証明書番号 2025-0000001" (templates/documents/_certificate.html). The
# letter's and the bundle cover's tables have "証明書番号" as a column head with the numbers on the
# rows below; with -layout a head and its rows are on different lines, so this pattern (spaces only,
# no line break between label and number) matches the cards and nothing else.
CARD_NUMBER = re.compile(r"証明書番号 +(\d{4}-\d{7})")


def page_texts(pdf: Path) -> list[str]:
    """The text of each page, laid out (poppler's pdftotext -layout)."""
    out = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split("\f")[:-1]


def card_numbers(pdf: Path) -> list[str]:
    """The 証明書番号 printed on the 資格確認書 cards of a PDF, in order, repeats kept."""
    return [n for text in page_texts(pdf) for n in CARD_NUMBER.findall(text)]


def certificate_card_count(pdfs: list[Path]) -> Counter:
    """How many times each 証明書番号 is printed on a card across the files."""
    counts: Counter = Counter()
    for pdf in pdfs:
        counts.update(card_numbers(pdf))
    return counts
