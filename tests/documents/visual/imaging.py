"""PDF pages to small grayscale PNGs (pdftoppm) and their comparison with the committed references."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops

REFERENCES = Path(__file__).parent / "references"
DPI = 30  # 1 pixel ≈ 0.85 mm: a shift of a millimetre shows, the repository stays small
# A pixel differs when its gray level moves by more than this (anti-aliasing noise stays below it);
# a page differs when more than MAX_DIFFERING of its pixels do.
PIXEL_TOLERANCE = 48
MAX_DIFFERING = 0.002


def artifacts_dir() -> Path:
    root = Path(os.environ.get("TEST_ARTIFACTS_DIR", Path(__file__).parents[3] / "test-artifacts"))
    path = root / "visual"
    path.mkdir(parents=True, exist_ok=True)
    return path


def page_png(pdf: Path, page: int, out: Path, *, dpi: int = DPI) -> Path:
    """One page as an 8-bit grayscale PNG (pdftoppm -gray; anti-aliasing on, deterministic)."""
    stem = out.with_suffix("")
    subprocess.run(
        [
            "pdftoppm",
            "-gray",
            "-png",
            "-r",
            str(dpi),
            "-f",
            str(page),
            "-l",
            str(page),
            "-singlefile",
            str(pdf),
            str(stem),
        ],
        check=True,
    )
    return stem.with_suffix(".png")


def compare(actual: Path, reference: Path) -> tuple[float, Image.Image | None]:
    """Share of differing pixels, and a diff image (differing pixels black on white) if any."""
    a = Image.open(actual).convert("L")
    b = Image.open(reference).convert("L")
    if a.size != b.size:
        return 1.0, None
    diff = ImageChops.difference(a, b).point(lambda v: 255 if v > PIXEL_TOLERANCE else 0)
    differing = diff.histogram()[255]
    share = differing / (a.size[0] * a.size[1])
    image = None
    if differing:
        image = ImageChops.invert(diff)
    return share, image


def updating() -> bool:
    """UPDATE_VISUAL_REFERENCES=1 (scripts/update_visual_references.sh): write, do not compare."""
    return os.environ.get("UPDATE_VISUAL_REFERENCES") == "1"


def check_page(pdf: Path, page: int, name: str, tmp_path: Path) -> None:
    """Compare page `page` of `pdf` with the reference `name`.png; with UPDATE_VISUAL_REFERENCES=1
    write the reference instead (and skip). On a difference the actual page and the diff image are
    kept in test-artifacts/visual/."""
    actual = page_png(pdf, page, tmp_path / f"{name}.png")
    reference = REFERENCES / f"{name}.png"
    if updating():
        shutil.copyfile(actual, reference)
        pytest.skip(f"reference written: {reference.name}")
    assert reference.exists(), (
        f"no reference {reference.name}: run scripts/update_visual_references.sh"
    )
    share, diff = compare(actual, reference)
    if share > MAX_DIFFERING:
        out = artifacts_dir()
        shutil.copyfile(actual, out / f"{name}-actual.png")
        if diff is not None:
            diff.save(out / f"{name}-diff.png")
        pytest.fail(
            f"{name}: {share:.2%} of the pixels differ from {reference.name} "
            f"(actual and diff in {out})"
        )
