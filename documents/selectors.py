"""Reads for documents: the rows a chunk prints (as plain render data) and a run's progress."""

from __future__ import annotations

from typing import NamedTuple

from django.db.models import Count, Q

from certificates.models import Certificate, CertificateState, IssuanceRun, Route, RunTarget
from certificates.rules import Status, checklist_step
from members.models import Employer, Person

from .models import DocumentKind, DocumentState, GeneratedDocument
from .render import BundleCover, CertificateCard, ChecklistEntry, Chunk, Household


class MissingCertificate(LookupError):
    """A planned target has no certificate of the run (the chunk cannot be printed as planned)."""


class PlanningTarget(NamedTuple):
    """What planning needs of a RunTarget. A run holds up to 400,000 targets: full RunTarget rows
    with their person, household and employers took gigabytes and minutes (issue 8)."""

    pk: int
    household_id: int
    route: str
    employer: Employer | None  # the 事業所 whose bundle carries it (事業主経由 only)


def run_targets_for_planning(*, run_id: int) -> list[PlanningTarget]:
    """Targets of a run in print order: 事業所 bundles (by 事業所記号), then 自宅; households by
    記号・番号, the 被保険者 (枝番 00) first. Sorted in Python: the database's collation of
    Japanese text is not something the print order should depend on."""
    rows = list(
        # targets skipped when executing (no longer qualified) get no certificate and no page
        RunTarget.objects.filter(run_id=run_id, skip_reason="").values_list(
            "pk",
            "household_id",
            "route",
            "employer_id",
            "household__employer_id",
            "household__kigo",
            "household__bango",
            "person__edaban",
        )
    )
    wanted = {e for row in rows for e in row[3:5] if e is not None}
    employers = {e.pk: e for e in Employer.objects.filter(pk__in=wanted)} if wanted else {}
    keyed = []
    for pk, household_id, route, employer_id, household_employer_id, kigo, bango, edaban in rows:
        employer = None
        if route == Route.EMPLOYER:
            employer = employers.get(employer_id or household_employer_id)
        keyed.append(
            (
                (
                    0 if route == Route.EMPLOYER else 1,
                    employer.code if employer else "",
                    kigo,
                    bango,
                    edaban,
                    pk,
                ),
                PlanningTarget(pk, household_id, route, employer),
            )
        )
    keyed.sort(key=lambda k: k[0])
    return [t for _, t in keyed]


def bundle_employer(target: RunTarget | PlanningTarget):
    """The 事業所 whose bundle carries this target (事業主経由 only; a dependent's is their member's)."""
    if target.route != Route.EMPLOYER:
        return None
    if isinstance(target, PlanningTarget):
        return target.employer
    return target.employer or target.household.employer


def _status_of(cert: Certificate) -> Status | None:
    if not cert.registration_status:
        return None
    return Status(status=cert.registration_status, ec_expiry=cert.ec_expiry)


def certificate_card(cert: Certificate, *, item_id: int) -> CertificateCard:
    person = cert.person
    return CertificateCard(
        item_id=item_id,
        number=cert.number,
        relationship=person.relationship,
        # The snapshot taken at issue: a later name change does not rewrite a printed certificate.
        name=cert.printed_name,
        name_kana=cert.printed_name_kana,
        birth_date=person.birth_date,
        sex=person.sex,
        kigo=person.kigo,
        bango=person.bango,
        edaban=person.edaban,
        issue_date=cert.issue_date,
        valid_until=cert.valid_until,
        acquired_on=person.acquired_on,
        reason=cert.reason,
        elderly_start=cert.elderly_start,
        copay_ratio=cert.copay_ratio,
        sex_on_back=person.sex_on_back,
    )


def household_data(
    household: Person,
    certs: list[tuple[Certificate, int]],
    *,
    route: str,
    letter_date,
    reprint: bool = False,
) -> Household:
    """One envelope: the letter to the 被保険者 `household` and the cards of `certs`."""
    employer = household.employer
    return Household(
        kigo=household.kigo,
        bango=household.bango,
        addressee_name=household.name,
        addressee_kana=household.name_kana,
        route=route,
        letter_date=letter_date,
        cards=tuple(certificate_card(c, item_id=i) for c, i in certs),
        checklist=tuple(
            ChecklistEntry(name=c.printed_name, step=checklist_step(_status_of(c)))
            for c, _ in certs
        ),
        postal_code=household.postal_code,
        address=household.address,
        employer_name=employer.name if employer and route == Route.EMPLOYER else "",
        reprint=reprint,
    )


def chunk_render_data(document: GeneratedDocument) -> Chunk:
    """The plain data a run chunk prints, in the order its item_ids were planned."""
    run = document.run
    ids = list(document.item_ids)
    targets = {
        t.pk: t
        for t in RunTarget.objects.filter(pk__in=ids, run=run).select_related(
            "household", "household__employer", "employer"
        )
    }
    missing = [i for i in ids if i not in targets]
    if missing:
        raise MissingCertificate(f"交付対象者(RunTarget) {missing[:10]} が見つかりません")
    certs = {
        c.person_id: c
        for c in Certificate.objects.filter(
            run=run, person_id__in=[t.person_id for t in targets.values()]
        ).select_related("person")
    }
    without = [targets[i].person_id for i in ids if targets[i].person_id not in certs]
    if without:
        keys = ", ".join(
            p.key for p in Person.objects.filter(pk__in=without[:10]).order_by("kigo", "bango")
        )
        raise MissingCertificate(
            f"一括交付 #{run.pk} の資格確認書が交付されていない対象者がいます: {keys}"
        )
    groups: dict[int, list[tuple[Certificate, int]]] = {}
    heads: dict[int, RunTarget] = {}
    for i in ids:
        t = targets[i]
        groups.setdefault(t.household_id, []).append((certs[t.person_id], i))
        heads.setdefault(t.household_id, t)
    households = tuple(
        household_data(
            heads[hid].household, group, route=heads[hid].route, letter_date=run.issue_date
        )
        for hid, group in groups.items()
    )
    cover = None
    if document.employer_id is not None:
        employer = document.employer
        cover = BundleCover(
            employer_code=employer.code,
            employer_name=employer.name,
            issue_date=run.issue_date,
            part=document.part_no,
            parts=document.part_count,
            employer_postal_code=employer.postal_code,
            employer_address=employer.address,
        )
    return Chunk(households=households, cover=cover)


def current_certificate(person: Person) -> Certificate | None:
    """The person's latest certificate that is 有効 today (an expired one never is)."""
    for cert in Certificate.objects.filter(person=person, state=CertificateState.ACTIVE).order_by(
        "-issue_date", "-pk"
    ):
        if cert.effective_state() == CertificateState.ACTIVE:
            return cert
    return None


def run_progress(run: IssuanceRun) -> dict:
    """Progress of a run's PDF chunks, from our own rows (never Celery's result backend):
    total/stored/failed/rendering/pending chunks, skipped = holders not printed (no glyph),
    certificate_pages = certificate cards printed so far."""
    docs = GeneratedDocument.objects.filter(run=run, kind=DocumentKind.BUNDLE)
    counts = docs.aggregate(
        total=Count("pk"),
        stored=Count("pk", filter=Q(state=DocumentState.STORED)),
        failed=Count("pk", filter=Q(state=DocumentState.FAILED)),
        rendering=Count("pk", filter=Q(state=DocumentState.RENDERING)),
        pending=Count("pk", filter=Q(state=DocumentState.PENDING)),
    )
    skipped = 0
    certificate_pages = 0
    for items, pages in docs.values_list("skipped", "certificate_pages"):
        skipped += len({s.get("item_id") for s in items or []})
        certificate_pages += pages or 0
    return {**counts, "skipped": skipped, "certificate_pages": certificate_pages}


def run_documents_done(run: IssuanceRun) -> tuple[int, int]:
    """(stored documents, all documents) of a run, every kind (the run's progress bar in the
    admin)."""
    counts = dict(
        GeneratedDocument.objects.filter(run=run)
        .order_by()  # the model's default ordering would split the GROUP BY
        .values("state")
        .annotate(n=Count("pk"))
        .values_list("state", "n")
    )
    return counts.get(DocumentState.STORED, 0), sum(counts.values())


def skipped_items(run: IssuanceRun) -> list[dict]:
    """Every holder of the run left out of the PDFs, with the reason (admin, run summary)."""
    out: list[dict] = []
    for doc_id, items in GeneratedDocument.objects.filter(run=run).values_list("pk", "skipped"):
        out += [{**s, "document_id": doc_id} for s in items or []]
    return out
