"""Browser tests: Playwright for Python driving Debian's headless chromium (never a downloaded
browser) against pytest-django's live server, with a real Celery worker behind it (fixtures in
tests/support/fixtures.py). Screenshots go to $TEST_ARTIFACTS_DIR/screenshots (gitignored); the
README's three (docs/screenshot-*.png) are taken by the tests through readme_screenshot."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.fixtures import *  # noqa: F403
from tests.support.fixtures import missing
from tests.support.processes import ROOT

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not os.path.exists(path):
        missing(f"needs Debian's chromium at {path} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django would then refuse ORM calls
    # from the test body ("async context"), although they are plain synchronous calls.
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            chromium = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@pytest.fixture
def screenshots() -> Path:
    base = Path(os.environ.get("TEST_ARTIFACTS_DIR") or ROOT / "test-artifacts")
    path = base / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


# The README's pictures (home page, 加入者カルテ, run in progress): each is taken by the browser test
# that drives that screen, always into test-artifacts/screenshots/readme-<name>.png, and written over
# docs/screenshot-<name>.png only when asked (UPDATE_README_SCREENSHOTS=1), so that a test run does
# not rewrite tracked files. README_SCREENSHOTS names them once (the test fails on another name).
README_SCREENSHOTS = ("home", "karte", "run")


@pytest.fixture
def readme_screenshot(screenshots):
    def take(page, name: str) -> Path:
        assert name in README_SCREENSHOTS, name
        path = screenshots / f"readme-{name}.png"
        page.screenshot(path=path, full_page=True)
        if os.environ.get("UPDATE_README_SCREENSHOTS") == "1":
            shutil.copyfile(path, ROOT / "docs" / f"screenshot-{name}.png")
        return path

    return take
