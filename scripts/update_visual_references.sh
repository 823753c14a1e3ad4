#!/usr/bin/env bash
# Re-create the reference images of the visual regression tests (tests/documents/visual/references)
# after a deliberate change to the documents' look; review the new images before committing them.
# Every kind, the 高齢受給者証 included (it is rendered through the elderly batch on a test database:
# SQLite unless DATABASE_URL is set).
set -euo pipefail
cd "$(dirname "$0")/.."
UPDATE_VISUAL_REFERENCES=1 .venv/bin/pytest tests/documents/visual -q -p no:cacheprovider -k test_page_looks_as_committed "$@" || true
git status --short tests/documents/visual/references
