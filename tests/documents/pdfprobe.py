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


# --- PDF/A-2u: what can be checked here without a conformance validator -----------------------

_PDFA_TITLE = re.compile(r"<dc:title>.*?<rdf:li[^>]*>(.*?)</rdf:li>", re.S)
_PDFA_PRODUCER = re.compile(r'pdf:Producer="([^"]*)"')
# PDF/A-2 allows transparency with the blend modes of ISO 32000-1 (11.3.5) only, and a transparency
# group's colour space must be device-independent or covered by the output intent (RGB here).
_BLEND_MODES = {
    f"/{m}"
    for m in (
        "Normal Compatible Multiply Screen Overlay Darken Lighten ColorDodge ColorBurn HardLight"
        " SoftLight Difference Exclusion Hue Saturation Color Luminosity"
    ).split()
}
_GROUP_SPACES = {"/ICCBased", "/DeviceRGB", "/DeviceGray"}


def _group_problem(group, where: str) -> str | None:
    if group is None:
        return None
    group = group.get_object()
    if group.get("/S") != "/Transparency" or "/CS" not in group:
        return None
    space = group["/CS"]
    name = str(space[0] if isinstance(space, list) else space)
    if name not in _GROUP_SPACES:
        return f"{where}: transparency group in colour space {name}"
    return None


def _walk_resources(resources, seen: set, problems: list[str], where: str) -> None:
    """Fonts, graphics states, colour spaces and XObjects of one resource dictionary, and of the
    form XObjects it uses (once each)."""
    if resources is None:
        return
    resources = resources.get_object()
    for name, gs in (resources.get("/ExtGState") or {}).items():
        blend = gs.get_object().get("/BM")
        for mode in blend if isinstance(blend, list) else [blend]:
            if mode is not None and str(mode) not in _BLEND_MODES:
                problems.append(f"{where}: graphics state {name} blend mode {mode}")
    for name, space in (resources.get("/ColorSpace") or {}).items():
        text = str(space.get_object())
        if "DeviceCMYK" in text:
            problems.append(
                f"{where}: colour space {name} is DeviceCMYK (the output intent is RGB)"
            )
    for name, font in (resources.get("/Font") or {}).items():
        font = font.get_object()
        for part in [font, *[d.get_object() for d in font.get("/DescendantFonts", [])]]:
            if part.get("/Subtype") in ("/Type0", "/Type3"):
                continue
            descriptor = part.get("/FontDescriptor")
            files = descriptor.get_object().keys() if descriptor is not None else ()
            if not {"/FontFile", "/FontFile2", "/FontFile3"} & set(files):
                problems.append(f"{where}: font {name} ({part.get('/BaseFont')}) not embedded")
        if "/ToUnicode" not in font:
            problems.append(f"{where}: font {name} has no ToUnicode map (PDF/A-2u)")
    for name, ref in (resources.get("/XObject") or {}).items():
        key = getattr(ref, "idnum", None) or id(ref)
        if key in seen:
            continue
        seen.add(key)
        xobject = ref.get_object()
        problems += filter(None, [_group_problem(xobject.get("/Group"), f"{where} {name}")])
        if xobject.get("/Subtype") == "/Image":
            if xobject.get("/Interpolate"):
                problems.append(f"{where}: image {name} has /Interpolate true")
        _walk_resources(xobject.get("/Resources"), seen, problems, f"{where} {name}")


def pdfa_problems(pdf: Path) -> list[str]:
    """Every departure from PDF/A-2u this checker can see, with pypdf and poppler (empty = none seen).

    Checked: PDF 1.7 header and a trailer /ID; no encryption; the catalog's XMP metadata declaring
    pdfaid:part 2 / conformance U, its dc:title and pdf:Producer equal to the Info dictionary's and no
    other Info entry; /Lang; one /GTS_PDFA1 output intent whose DestOutputProfile is an RGB monitor ICC
    profile ('acsp' signature, /N 3); every font embedded with a ToUnicode map (the PDF's own font
    dictionaries and `pdffonts`); transparency only as PDF/A-2 allows it (standard blend modes,
    transparency groups in sRGB/device RGB or gray), no DeviceCMYK, no interpolated images; no
    JavaScript, additional actions or embedded files; annotations printable, with an appearance.
    NOT a conformance validation (no veraPDF): content streams and font programs are not parsed."""
    from pypdf import PdfReader

    problems: list[str] = []
    reader = PdfReader(pdf, strict=True)
    if reader.pdf_header != "%PDF-1.7":
        problems.append(f"header {reader.pdf_header}, not %PDF-1.7")
    trailer = reader.trailer
    if "/Encrypt" in trailer or reader.is_encrypted:
        problems.append("encrypted")
    ids = trailer.get("/ID")
    if ids is None or len(ids) != 2:
        problems.append("no file identifier (/ID) in the trailer")
    root = trailer["/Root"]
    if root.get("/Lang") != "ja":
        problems.append(f"catalog /Lang is {root.get('/Lang')!r}, not 'ja'")
    for key in ("/AA", "/OpenAction"):
        if key in root:
            problems.append(f"catalog has {key}")
    names = root.get("/Names")
    if names is not None and ({"/JavaScript", "/EmbeddedFiles"} & set(names.get_object().keys())):
        problems.append("catalog names JavaScript or embedded files")
    meta = root.get("/Metadata")
    xmp = meta.get_object().get_data().decode("utf-8") if meta is not None else ""
    if 'pdfaid:part="2"' not in xmp or 'pdfaid:conformance="U"' not in xmp:
        problems.append("XMP metadata does not declare PDF/A-2u (pdfaid:part 2, conformance U)")
    docinfo = trailer.get("/Info")
    docinfo = dict(docinfo.get_object()) if docinfo is not None else {}
    title = _PDFA_TITLE.search(xmp)
    if (
        not docinfo.get("/Title")
        or title is None
        or html.unescape(title.group(1)) != docinfo["/Title"]
    ):
        problems.append("dc:title missing or not equal to the Info /Title")
    producer = _PDFA_PRODUCER.search(xmp)
    if producer is None or html.unescape(producer.group(1)) != docinfo.get("/Producer"):
        problems.append("pdf:Producer missing or not equal to the Info /Producer")
    if set(docinfo) - {"/Title", "/Producer"}:
        problems.append(
            f"Info entries without their XMP twin checked: {set(docinfo) - {'/Title', '/Producer'}}"
        )
    intents = [i.get_object() for i in root.get("/OutputIntents", [])]
    pdfa = [i for i in intents if i.get("/S") == "/GTS_PDFA1"]
    if len(pdfa) != 1:
        problems.append(f"{len(pdfa)} /GTS_PDFA1 output intents, not one")
    else:
        profile = pdfa[0].get("/DestOutputProfile")
        icc = profile.get_object().get_data() if profile is not None else b""
        if icc[36:40] != b"acsp" or icc[16:20] != b"RGB " or profile.get_object().get("/N") != 3:
            problems.append("output intent's DestOutputProfile is not an RGB ICC profile")
    seen: set = set()
    for n, page in enumerate(reader.pages, start=1):
        where = f"page {n}"
        if "/AA" in page:
            problems.append(f"{where} has additional actions")
        problems += filter(None, [_group_problem(page.get("/Group"), where)])
        for annot in page.get("/Annots", []) or []:
            annot = annot.get_object()
            if annot.get("/Subtype") == "/Popup":
                continue
            if not int(annot.get("/F", 0)) & 4:
                problems.append(f"{where}: annotation {annot.get('/Subtype')} not printable")
            if annot.get("/Subtype") != "/Link" and "/AP" not in annot:
                problems.append(f"{where}: annotation {annot.get('/Subtype')} has no appearance")
        _walk_resources(page.get("/Resources"), seen, problems, where)
    poppler = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True)
    for key in ("Encrypted", "JavaScript"):
        value = re.search(rf"^{key}:\s+(\S+)", poppler.stdout, re.M)
        if value is None or value.group(1) != "no":
            problems.append(f"pdfinfo: {key} {value and value.group(1)}")
    rows = fonts(pdf)
    if not rows:
        problems.append("pdffonts lists no font")
    problems += [
        f"pdffonts: {r['name']} emb={r['emb']} uni={r['uni']}"
        for r in rows
        if (r["emb"], r["uni"]) != ("yes", "yes")
    ]
    return problems
