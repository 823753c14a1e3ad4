"""A run rendered end to end: execute → schedule → Celery task (eager) → stored PDFs, read back."""

from datetime import date

import pytest
from pypdf import PdfReader

from certificates.models import Certificate, RunState
from documents.models import DocumentState, GeneratedDocument
from documents.selectors import run_progress
from members.models import Employer

from .conftest import execute_run, make_dependent, make_member, pdf_text, set_status

pytestmark = pytest.mark.django_db


@pytest.fixture
def population(db):
    e1 = Employer.objects.create(code="E001", name="株式会社テスト")
    e2 = Employer.objects.create(code="E002", name="テスト工業株式会社")
    yoshida = make_member(name="𠮷田 太郎", kana="ヨシダ タロウ", employer=e1)
    takahashi = make_dependent(yoshida, name="髙橋 花子", kana="タカハシ ハナコ")
    yamada = make_member(name="山田 一郎", kana="ヤマダ イチロウ", employer=e1)
    sato = make_member(name="佐藤 次郎", kana="サトウ ジロウ", employer=e2)
    # 70–74: 高齢受給者 from 2025-07-01 (70th birthday 2025-06-15), 3割 (標準報酬月額 ≥ 280,000)
    elder = make_member(
        name="﨑山 三郎", kana="サキヤマ サブロウ", employer=e2, birth_date=date(1955, 6, 15)
    )
    suzuki = make_member(
        name="鈴木 四郎",
        kana="スズキ シロウ",
        voluntary_until=date(2026, 9, 30),
        postal_code="1500001",
        address="東京都渋谷区神宮前一丁目2番3号 髙木マンション101",
    )
    set_status(
        [
            (yoshida, "未登録", None),
            (yamada, "電子証明書失効", date(2025, 6, 30)),
            (sato, "登録解除", None),
            (elder, "未登録", None),
            (suzuki, "カード返納", None),
        ]
    )
    # takahashi has no status on file: 登録状況不明 → no valid card → 1→2
    return {
        "yoshida": yoshida,
        "takahashi": takahashi,
        "yamada": yamada,
        "sato": sato,
        "elder": elder,
        "suzuki": suzuki,
    }


def _stored(run):
    return list(GeneratedDocument.objects.filter(run=run).order_by("chunk_no"))


def test_eager_path_completes_the_run_with_one_certificate_per_target(
    population, clerk, supervisor, media_root, tmp_path
):
    run = execute_run(clerk, supervisor)
    assert run.state == RunState.DONE, run.error
    assert run.finished_at is not None
    certs = list(Certificate.objects.filter(run=run))
    assert len(certs) == 6
    docs = _stored(run)
    assert [d.state for d in docs] == [DocumentState.STORED] * len(docs)
    # E001, E002, then one 自宅 chunk
    assert [d.employer.code if d.employer else None for d in docs] == ["E001", "E002", None]
    assert sum(d.certificate_pages for d in docs) == 6
    progress = run_progress(run)
    assert progress == {
        "total": 3,
        "stored": 3,
        "failed": 0,
        "rendering": 0,
        "pending": 0,
        "skipped": 0,
        "certificate_pages": 6,
    }
    pages_with = {}
    for doc in docs:
        data = doc.file.read()
        doc.file.close()
        assert PdfReader(doc.file.path).pages.__len__() == doc.page_count
        for i, page in enumerate(pdf_text(data, tmp_path)):
            for cert in certs:
                if f"証明書番号 {cert.number}" in page:
                    pages_with.setdefault(cert.number, []).append((doc.pk, i))
    # each certificate is printed on exactly one page of exactly one stored file
    assert sorted(pages_with) == sorted(c.number for c in certs)
    assert all(len(v) == 1 for v in pages_with.values()), pages_with
