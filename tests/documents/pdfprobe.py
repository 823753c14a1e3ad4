"""Reading a PDF back the way a recipient or a print shop would: words with their boxes
(`pdftotext -bbox`, in mm from the page's top left), fonts (`pdffonts`), metadata (`pdfinfo`)."""

from __future__ import annotations

import html
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

MM = 25.4 / 72  # one PDF point in mm

_PAGE = re.compile(r"<page width=\"([\d.]+)\" height=\"([\d.]+)\">(.*?)</page>", re.S)
_WORD = re.compile(
    r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>'
)


@dataclass(frozen=True)
class Word:
    page: int  # 1-based
    text: str
    x0: float  # mm
    y0: float
    x1: float
    y1: float

    @property
    def size_pt(self) -> float:
        """The font size: poppler's word box is exactly one em high for these fonts."""
        return round((self.y1 - self.y0) / MM, 2)

    def inside(self, x0: float, y0: float, x1: float, y1: float, tol: float = 0.05) -> bool:
        return (
            self.x0 >= x0 - tol
            and self.y0 >= y0 - tol
            and self.x1 <= x1 + tol
            and self.y1 <= y1 + tol
        )

    def overlaps(self, x0: float, y0: float, x1: float, y1: float) -> bool:
        return self.x0 < x1 and self.x1 > x0 and self.y0 < y1 and self.y1 > y0


def words(pdf: Path, page: int | None = None) -> list[Word]:
    args = ["pdftotext", "-bbox", "-enc", "UTF-8"]
    if page is not None:
        args += ["-f", str(page), "-l", str(page)]
    out = subprocess.run([*args, str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    found = []
    for n, m in enumerate(_PAGE.finditer(out), start=page or 1):
        for w in _WORD.finditer(m.group(3)):
            x0, y0, x1, y1 = (float(v) * MM for v in w.groups()[:4])
            found.append(Word(n, html.unescape(w.group(5)), x0, y0, x1, y1))
    return found


def page_size_mm(pdf: Path) -> list[tuple[float, float]]:
    out = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    return [(float(w) * MM, float(h) * MM) for w, h, _ in _PAGE.findall(out)]


def fonts(pdf: Path) -> list[dict]:
    """pdffonts rows: name, type, emb (yes/no), sub, uni."""
    out = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines()[2:]:
        parts = line.split()
        # name type [type…] encoding emb sub uni object ID
        rows.append({"name": parts[0], "emb": parts[-5], "sub": parts[-4], "uni": parts[-3]})
    return rows


def info(pdf: Path) -> dict[str, str]:
    out = subprocess.run(
        ["pdfinfo", "-meta", str(pdf)], check=True, capture_output=True, text=True
    ).stdout
    data = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep and key and not key.startswith(" ") and "<" not in key:
            data.setdefault(key.strip(), value.strip())
    data["_raw"] = out
    return data


def compact(text: str) -> str:
    """Text without any whitespace (line breaks of wrapped text, full-width spaces)."""
    return "".join(text.split())


def reading_text(ws: list[Word], tolerance_mm: float = 1.6) -> str:
    """Words in reading order: grouped into lines by their vertical centre, lines top to bottom,
    words left to right (pdftotext -bbox lists them in drawing order)."""
    lines: list[list[Word]] = []
    for w in sorted(ws, key=lambda w: (w.y0 + w.y1) / 2):
        centre = (w.y0 + w.y1) / 2
        if lines and abs(centre - (lines[-1][0].y0 + lines[-1][0].y1) / 2) <= tolerance_mm:
            lines[-1].append(w)
        else:
            lines.append([w])
    return "\n".join(" ".join(w.text for w in sorted(line, key=lambda w: w.x0)) for line in lines)
