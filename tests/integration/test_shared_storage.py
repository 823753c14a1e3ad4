"""Workers on several hosts: DOCUMENT_STORAGE=s3 puts the stored PDFs in an S3-compatible bucket.

A local S3 server (moto's server mode, on 127.0.0.1, started by the test) stands in for the bucket;
a real prefork Celery worker process, configured only through the environment as on another host
(DOCUMENT_STORAGE=s3, S3_*), renders a bulk run and writes every chunk into the bucket; the test
process, the web side, serves the permission-checked download from there. Nothing lands in
MEDIA_ROOT."""

from __future__ import annotations

import hashlib
import socket

import pytest

from certificates.models import Certificate, IssuanceRun
from certificates.services import run_execute
from config.storage import document_storage
from documents.models import DocumentState, GeneratedDocument
from tests.support.pdfs import certificate_card_count
from tests.support.processes import wait_for

from .outcome import approved_run, seed_society

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

BUCKET = "shikaku-documents"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_server():
    moto_server = pytest.importorskip("moto.server")
    import boto3

    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="ap-northeast-1",
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",  # noqa: S106 - moto accepts any
    )
    client.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
    )
    try:
        yield endpoint, client
    finally:
        server.stop()


def test_a_worker_writes_the_run_into_the_bucket_and_the_web_serves_it_with_the_permission_check(
    settings,
    monkeypatch,
    clerk,
    supervisor,
    outsider,
    media_root,
    celery_to_redis,
    start_worker,
    s3_server,
    client,
):
    endpoint, s3 = s3_server
    env = {
        "DOCUMENT_STORAGE": "s3",
        "S3_BUCKET": BUCKET,
        "S3_PREFIX": "prod",
        "S3_ENDPOINT_URL": endpoint,
        "S3_REGION": "ap-northeast-1",
        "S3_ACCESS_KEY_ID": "test-key",
        "S3_SECRET_ACCESS_KEY": "test-secret",
    }
    # The web side reads the same environment as the worker (config/storage.py), here in-process.
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings.STORAGES = {**settings.STORAGES, "default": document_storage()}
    settings.PDF_CHUNK_HOUSEHOLDS = 10

    seed_society(60)
    worker = start_worker("s3-host", **env)  # another host: nothing shared but the bucket
    run = approved_run(clerk, supervisor)
    run_execute(run=run, acting_user=supervisor)

    def finished():
        run.refresh_from_db()
        return run.state in ("完了", "失敗")

    wait_for(finished, timeout=240, interval=0.5, what="the run to finish")
    assert IssuanceRun.objects.get(pk=run.pk).state == "完了", run.error
    assert worker.log_text().count("documents.tasks.render_run_chunk") >= 1

    docs = list(GeneratedDocument.objects.filter(run=run).order_by("chunk_no"))
    assert docs and {d.state for d in docs} == {DocumentState.STORED}
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="prod/")
    keys = sorted(o["Key"] for o in listed.get("Contents", []))
    assert keys == sorted(f"prod/{d.file.name}" for d in docs)  # one object per chunk, no stray
    assert not [p for p in media_root.rglob("*") if p.is_file()]  # nothing on the local disk

    pdf_dir = media_root.parent / "from-bucket"
    pdf_dir.mkdir()
    files = []
    for d in docs:
        body = s3.get_object(Bucket=BUCKET, Key=f"prod/{d.file.name}")["Body"].read()
        assert hashlib.sha256(body).hexdigest() == d.sha256
        path = pdf_dir / f"{d.chunk_no}.pdf"
        path.write_bytes(body)
        files.append(path)
    printed = certificate_card_count(files)
    assert set(printed.values()) == {1}
    assert sum(printed.values()) == Certificate.objects.filter(run=run).count() == run.target_count

    # The web process serves it from the bucket, to a user with the download permission only.
    doc = docs[0]
    url = f"/documents/{doc.pk}/download/"
    client.force_login(supervisor)
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert hashlib.sha256(b"".join(response.streaming_content)).hexdigest() == doc.sha256
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    client.logout()
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
