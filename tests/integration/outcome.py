"""What "nothing lost, nothing twice" means for a bulk run, checked from the database, the files
under MEDIA_ROOT and the text of the PDFs themselves."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import date
from pathlib import Path

from django.core.management import call_command
from django.db.models import Count

from certificates.models import Certificate, IssuanceRun, RunState, RunTarget
from certificates.services import run_approve, run_create
from documents.models import DocumentState, GeneratedDocument
from tests.support.pdfs import certificate_card_count

STATUS_DATE = date(2025, 11, 1)
ISSUE_DATE = date(2025, 12, 1)
VALID_UNTIL = date(2027, 11, 30)


def seed_society(persons: int) -> None:
    """The demo society (members/management/commands/seed_demo.py): about a third of the people
    lack a usable マイナ保険証 and become targets of a run."""
    call_command(
        "seed_demo", "--persons", str(persons), "--seed", "7", "--as-of", STATUS_DATE.isoformat()
    )


def approved_run(clerk, supervisor) -> IssuanceRun:
    run = run_create(
        status_date=STATUS_DATE, issue_date=ISSUE_DATE, valid_until=VALID_UNTIL, acting_user=clerk
    )
    return run_approve(run=run, acting_user=supervisor)


def chunk_states(run_id: int) -> Counter:
    return Counter(GeneratedDocument.objects.filter(run_id=run_id).values_list("state", flat=True))


def assert_run_complete(run_id: int, media_root: Path) -> dict:
    """The run is 完了; every target has exactly one certificate; every chunk is stored once, its
    file is there with the recorded sha256; every certificate is printed on exactly one card across
    all files and no other card is printed. Returns a few numbers for the test's own checks."""
    run = IssuanceRun.objects.get(pk=run_id)
    assert run.state == RunState.DONE, (run.state, run.error, chunk_states(run_id))

    targets = RunTarget.objects.filter(run=run)
    certs = Certificate.objects.filter(run=run)
    assert run.target_count == targets.count() > 0
    per_person = Counter(
        dict(certs.values("person_id").annotate(n=Count("pk")).values_list("person_id", "n"))
    )
    assert set(per_person) == set(targets.values_list("person_id", flat=True)), (
        "a target has no certificate"
    )
    assert set(per_person.values()) == {1}, "a target has more than one certificate"
    assert run.issued_count == certs.count() == targets.count()
    numbers = list(certs.values_list("number", flat=True))
    assert len(set(numbers)) == len(numbers)

    docs = list(GeneratedDocument.objects.filter(run=run).order_by("chunk_no"))
    assert docs, "no chunk was planned"
    assert [d.chunk_no for d in docs] == list(range(1, len(docs) + 1))
    assert {d.state for d in docs} == {DocumentState.STORED}
    files = []
    for d in docs:
        assert d.file.name, f"chunk {d.chunk_no} has no file"
        path = media_root / d.file.name
        assert path.is_file(), f"chunk {d.chunk_no}: {path} is missing"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == d.sha256, f"chunk {d.chunk_no}"
        assert d.skipped == [], f"chunk {d.chunk_no} left holders out: {d.skipped}"
        files.append(path)
    # No stray file of an earlier attempt next to the stored ones (it could be printed as well).
    on_disk = sorted((media_root / "documents" / "runs" / str(run.pk)).iterdir())
    assert on_disk == sorted(files)

    # Each chunk's targets are its own: no target is planned into two chunks.
    planned = [i for d in docs for i in d.item_ids]
    assert len(planned) == len(set(planned)) == targets.count()

    printed = certificate_card_count(files)
    assert set(printed) == set(numbers), "printed numbers differ from the issued ones"
    twice = {n: c for n, c in printed.items() if c != 1}
    assert not twice, f"certificates printed more than once: {twice}"
    assert sum(d.certificate_pages for d in docs) == len(numbers)
    return {
        "certificates": len(numbers),
        "chunks": len(docs),
        "attempts": [d.attempts for d in docs],
    }
