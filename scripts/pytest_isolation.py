"""pytest plugin loaded by scripts/test.sh (`-p pytest_isolation`): gives each pytest-xdist worker
its own MEDIA_ROOT, so two workers rendering "the first run's first chunk" never write the same file.

It runs at import, before pytest-django imports the settings; xdist sets PYTEST_XDIST_WORKER before
the worker parses its arguments. Worker subprocesses that tests start inherit the same environment.
"""

import os
from pathlib import Path

_base = os.environ.get("TEST_MEDIA_BASE")
if _base:
    _worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    _media = Path(_base) / _worker
    _media.mkdir(parents=True, exist_ok=True)
    os.environ["MEDIA_ROOT"] = str(_media)
