"""The apps' import contract (pyproject.toml [tool.importlinter], README "Layout"): a lower app never
imports a higher one, not even inside a function; the few screens that show several apps are
exempt one import at a time. Run with import-linter, as part of the suite."""

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

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


def _copy(tmp_path: Path) -> Path:
    for app in APPS:
        shutil.copytree(ROOT / app, tmp_path / app, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _contract() -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = config["tool"]["importlinter"]["contracts"]
    return contract


def test_the_apps_keep_their_import_contract():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_exemptions_name_one_import_each():
    """No wildcard: an exemption names the importing and the imported module, so a new import in a
    service (or in a screen) is never covered by an entry written for another module."""
    entries = _contract()["ignore_imports"]
    assert entries
    for entry in entries:
        importer, imported = (side.strip() for side in entry.split("->"))
        assert "*" not in importer and "*" not in imported, entry
        assert importer.split(".")[0] in APPS and imported.split(".")[0] in APPS, entry


# (module file, code appended, the line import-linter names)
PROBES = {
    "module level, in a service": (
        "members/services.py",
        "\nfrom certificates import services as _certificates_services  # noqa\n",
        "members.services -> certificates.services",
    ),
    "inside a function, in a service": (
        "members/services.py",
        "\n\ndef _probe():\n    from certificates.lifecycle import certificates_expire\n\n"
        "    return certificates_expire\n",
        "members.services -> certificates.lifecycle",
    ),
    "the removed after-issue debt": (
        "certificates/returns.py",
        "\nfrom documents.models import GeneratedDocument  # noqa\n",
        "certificates.returns -> documents.models",
    ),
    "a screen, with an import not listed": (
        "members/admin.py",
        "\n\ndef _probe():\n    from fees.services import reissue_application_cancel\n\n"
        "    return reissue_application_cancel\n",
        "members.admin -> fees.services",
    ),
}


@pytest.mark.parametrize("probe", PROBES, ids=list(PROBES))
def test_an_import_against_the_layers_breaks_the_contract(tmp_path, probe):
    """The check can fail: the same tree with one upward import added is refused, and the line is
    named — in a service at module level or inside a function, and in a screen whose other
    cross-app imports are exempt."""
    path, code, line = PROBES[probe]
    tree = _copy(tmp_path)
    module = tree / path
    module.write_text(module.read_text(encoding="utf-8") + code, encoding="utf-8")
    result = _lint(tree)
    assert result.returncode != 0, result.stdout
    importer, imported = (side.strip() for side in line.split("->"))
    assert f"{importer.split('.')[0]} is not allowed to import {imported.split('.')[0]}" in (
        result.stdout
    )
    assert line in result.stdout


def test_an_exemption_without_its_import_is_refused(tmp_path):
    """A listed exemption whose import was removed does not linger: the linter refuses the entry, so
    the list stays the true list of the screens' upward imports."""
    tree = _copy(tmp_path)
    config = tree / "pyproject.toml"
    text = config.read_text(encoding="utf-8")
    stale = '    "members.services -> fees.models",\n'
    config.write_text(text.replace("ignore_imports = [\n", "ignore_imports = [\n" + stale), "utf-8")
    result = _lint(tree)
    assert result.returncode != 0, result.stdout
    assert "members.services -> fees.models" in result.stdout + result.stderr
