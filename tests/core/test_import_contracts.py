"""The apps' import contract (pyproject.toml [tool.importlinter], README "Layout"): a lower app never
imports a higher one, not even inside a function. Run with import-linter, as part of the suite."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("core", "members", "certificates", "documents", "fees", "elderly")
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [LINT_IMPORTS, "--config", str(cwd / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_apps_keep_their_import_contract():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_a_function_level_import_against_the_layers_breaks_the_contract(tmp_path):
    """The check can fail: the same tree with one import of certificates hidden inside a function
    of members.services (the kind of cycle issue 13 removed) is refused, and the line is named."""
    for app in APPS:
        shutil.copytree(ROOT / app, tmp_path / app, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    services = tmp_path / "members" / "services.py"
    services.write_text(
        services.read_text(encoding="utf-8")
        + "\n\ndef _probe():\n    from certificates.lifecycle import certificates_expire\n\n"
        "    return certificates_expire\n",
        encoding="utf-8",
    )
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "members is not allowed to import certificates" in result.stdout
    assert "members.services -> certificates.lifecycle" in result.stdout
