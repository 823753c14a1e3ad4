"""Stored files appear whole or not at all (documents.storage), and DOCUMENT_STORAGE chooses the
layout (config/storage.py). The S3 layout with a real worker: tests/integration/test_shared_storage.py."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile, File
from django.core.files.storage import storages

from config.storage import document_storage
from documents.storage import INCOMING_DIR, AtomicFileSystemStorage


class _Chunks(File):
    """Content whose chunks() runs `during` between the chunks (while the file is being written)."""

    def __init__(self, parts, during=None):
        super().__init__(None, name="x.pdf")
        self.parts = parts
        self.during = during
        self.size = sum(len(p) for p in parts)

    def chunks(self, chunk_size=None):
        for i, part in enumerate(self.parts):
            if i and self.during:
                self.during()
            yield part

    def seek(self, pos):
        pass


def test_the_default_storage_is_the_atomic_filesystem_one():
    assert type(storages["default"]) is AtomicFileSystemStorage


def test_a_file_is_not_visible_under_its_name_until_it_is_complete(tmp_path):
    storage = AtomicFileSystemStorage(location=tmp_path)
    final = tmp_path / "documents" / "runs" / "1" / "chunk.pdf"
    seen = []
    name = storage.save(
        "documents/runs/1/chunk.pdf",
        _Chunks(
            [b"%PDF-1.7 first half ", b"second half %%EOF"],
            during=lambda: seen.append(final.exists()),
        ),
    )
    assert seen == [False]  # mid-write: no file (and no partial file) under the final name
    assert name == "documents/runs/1/chunk.pdf"
    assert final.read_bytes() == b"%PDF-1.7 first half second half %%EOF"
    assert list((tmp_path / INCOMING_DIR).iterdir()) == []  # the temporary file is gone
    assert list(final.parent.iterdir()) == [final]


def test_a_write_that_fails_midway_leaves_nothing_under_the_final_name(tmp_path):
    storage = AtomicFileSystemStorage(location=tmp_path)

    def boom():
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        storage.save("documents/runs/1/chunk.pdf", _Chunks([b"half", b"rest"], during=boom))
    assert not storage.exists("documents/runs/1/chunk.pdf")
    assert list((tmp_path / "documents" / "runs" / "1").iterdir()) == []
    assert list((tmp_path / INCOMING_DIR).iterdir()) == []


def test_a_writer_killed_midway_leaves_no_file_under_the_final_name(tmp_path):
    """A real process killed with SIGKILL while writing (as a worker killed by the OOM killer or
    `docker kill`): the final name never holds a partial file; the leftover is in .incoming/."""
    ready = tmp_path / "ready"
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from django.conf import settings
        settings.configure()
        from documents.storage import AtomicFileSystemStorage
        from django.core.files.base import File

        class Slow(File):
            def __init__(self):
                super().__init__(None, name="x.pdf")
                self.size = 10
            def seek(self, pos):
                pass
            def chunks(self, chunk_size=None):
                yield b"%PDF-1.7 half"
                Path({str(ready)!r}).write_text("1")
                time.sleep(60)
                yield b"never"

        AtomicFileSystemStorage(location={str(tmp_path)!r}).save("documents/runs/1/c.pdf", Slow())
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=django_settings.BASE_DIR)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None, "the writer exited early"
            assert time.monotonic() < deadline, "the writer never started writing"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (tmp_path / "documents" / "runs" / "1" / "c.pdf").exists()
    assert [p.suffix for p in (tmp_path / INCOMING_DIR).iterdir()] == [".part"]


def test_a_taken_name_gets_another_name_and_the_first_file_is_kept(tmp_path):
    storage = AtomicFileSystemStorage(location=tmp_path)
    first = storage.save("a/doc.pdf", ContentFile(b"first"))
    second = storage.save("a/doc.pdf", ContentFile(b"second"))
    assert first == "a/doc.pdf" and second != first and second.startswith("a/doc_")
    assert (tmp_path / first).read_bytes() == b"first"
    assert (tmp_path / second).read_bytes() == b"second"


def test_file_permissions_follow_the_setting(tmp_path, settings):
    settings.FILE_UPLOAD_PERMISSIONS = 0o640
    storage = AtomicFileSystemStorage(location=tmp_path)
    name = storage.save("p.pdf", ContentFile(b"x"))
    assert (tmp_path / name).stat().st_mode & 0o777 == 0o640


# --- DOCUMENT_STORAGE ------------------------------------------------------------------------------


def test_document_storage_defaults_to_the_filesystem(monkeypatch):
    monkeypatch.delenv("DOCUMENT_STORAGE", raising=False)
    assert document_storage() == {"BACKEND": "documents.storage.AtomicFileSystemStorage"}
    monkeypatch.setenv("DOCUMENT_STORAGE", "")
    assert document_storage()["BACKEND"] == "documents.storage.AtomicFileSystemStorage"


def test_s3_storage_takes_the_bucket_and_endpoint_from_the_environment(monkeypatch):
    monkeypatch.setenv("DOCUMENT_STORAGE", "s3")
    monkeypatch.setenv("S3_BUCKET", "shikaku-documents")
    monkeypatch.setenv("S3_ENDPOINT_URL", "https://s3.example.jp")
    monkeypatch.setenv("S3_PREFIX", "prod")
    config = document_storage()
    assert config["BACKEND"] == "storages.backends.s3.S3Storage"
    options = config["OPTIONS"]
    assert options["bucket_name"] == "shikaku-documents"
    assert options["endpoint_url"] == "https://s3.example.jp"
    assert options["location"] == "prod"
    assert options["default_acl"] is None and options["file_overwrite"] is False


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DOCUMENT_STORAGE": "nfs"}, "DOCUMENT_STORAGE must be one of filesystem, s3, got 'nfs'"),
        ({"DOCUMENT_STORAGE": "s3"}, "DOCUMENT_STORAGE=s3 needs S3_BUCKET"),
    ],
)
def test_a_wrong_storage_setting_stops_the_process_naming_the_variable(monkeypatch, env, message):
    monkeypatch.delenv("S3_BUCKET", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ImproperlyConfigured, match=message):
        document_storage()
