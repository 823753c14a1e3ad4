"""CSV exports for auditors (and the certificates contract of rules.md).

One writer for every entry point: the `export_csv` command, the admin action (streamed back) and the
background ExportJob. Rows are read with `.values_list().iterator(chunk_size=…)` and written one at a
time, so memory does not grow with the number of rows (1.2 million certificates must never be built
in memory).

Encodings: UTF-8 with BOM (default, opens in Excel) or CP932 on request. A character CP932 cannot
hold is written as 〓 and reported through `on_substitution(row_no, column, kind)` — row number and
column only, never the value (the value is personal data). Nothing is ever replaced silently by `?`.

Cells starting with = + - @ (and tab / CR, which Excel also treats as formula starts) get a leading
single quote, so a name or address cannot become a formula in the auditor's spreadsheet.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Q, QuerySet
from django.utils import timezone

from members.formats import MEMBER_COLUMNS

from .roles import is_history_model

ENCODINGS = ("utf-8-sig", "cp932")
DEFAULT_ENCODING = "utf-8-sig"
CHUNK_SIZE = 1000
GETA = "〓"  # 下駄記号: the conventional mark for a character that cannot be represented

SubstitutionCallback = Callable[[int, str, str], None]


class ExportError(Exception):
    """A dataset cannot be exported (unknown, or its model is not installed yet)."""


# --- cells -----------------------------------------------------------------------------------------

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# Same JIS X 0208 code point, different Unicode mapping: Python's cp932 codec knows only one of the
# pair. Mapping these is not a loss of information, so it is not reported.
_CP932_EQUIVALENTS = str.maketrans({"\u2014": "\u2015"})  # EM DASH → HORIZONTAL BAR (0x815C)


def _is_variation_selector(ch: str) -> bool:
    cp = ord(ch)
    return 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF


def to_cell(value) -> str:
    """A Python value as CSV text: dates YYYY-MM-DD, datetimes in local time, empty for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def escape_formula(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def cp932_safe(text: str) -> tuple[str, list[str]]:
    """`text` made encodable in CP932, and what had to be changed (kinds, for the report)."""
    text = text.translate(_CP932_EQUIVALENTS)
    try:
        text.encode("cp932")
        return text, []
    except UnicodeEncodeError:
        pass
    out: list[str] = []
    kinds: list[str] = []
    for ch in text:
        if _is_variation_selector(ch):
            # An IVS selects a glyph variant of the preceding base character, which is kept.
            if "異体字セレクタを除去" not in kinds:
                kinds.append("異体字セレクタを除去")
            continue
        try:
            ch.encode("cp932")
            out.append(ch)
        except UnicodeEncodeError:
            out.append(GETA)
            if "〓に置換" not in kinds:
                kinds.append("〓に置換")
    return "".join(out), kinds


# --- writer ----------------------------------------------------------------------------------------


@dataclass
class ExportResult:
    row_count: int = 0
    substitution_count: int = 0
    completed: bool = False


@dataclass
class CsvEncoder:
    """Turns rows into encoded CSV bytes, one row at a time."""

    header: tuple[str, ...]
    encoding: str = DEFAULT_ENCODING
    on_substitution: SubstitutionCallback | None = None
    result: ExportResult = field(default_factory=ExportResult)

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            raise ExportError(
                f"文字コード「{self.encoding}」には対応していません({' / '.join(ENCODINGS)})"
            )
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def _line(self, cells: Iterable[str]) -> bytes:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow(cells)
        codec = "utf-8" if self.encoding == "utf-8-sig" else self.encoding
        # strict: after cp932_safe nothing unencodable is left; an error here is a bug, not a "?"
        return self._buffer.getvalue().encode(codec)

    def header_bytes(self) -> bytes:
        bom = codecs.BOM_UTF8 if self.encoding == "utf-8-sig" else b""
        return bom + self._line(self.header)

    def row_bytes(self, values: Iterable) -> bytes:
        self.result.row_count += 1
        row_no = self.result.row_count
        cells = []
        for column, value in zip(self.header, values, strict=True):
            text = escape_formula(to_cell(value))
            if self.encoding == "cp932":
                text, kinds = cp932_safe(text)
                for kind in kinds:
                    self.result.substitution_count += 1
                    if self.on_substitution is not None:
                        self.on_substitution(row_no, column, kind)
            cells.append(text)
        return self._line(cells)


# --- datasets --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    name: str
    label: str
    model_label: str  # "app_label.ModelName"
    header: tuple[str, ...]
    # queryset of the model → rows (lists of Python values in header order)
    rows: Callable[[QuerySet], Iterator[list]]
    base_filter: Q | None = None
    order_by: tuple[str, ...] = ("pk",)

    @property
    def model(self) -> type[models.Model]:
        try:
            return apps.get_model(self.model_label)
        except LookupError:
            raise ExportError(
                f"「{self.name}」は利用できません: {self.model_label} がまだありません"
                f" (dataset {self.name!r} not available: model {self.model_label} is not installed)"
            ) from None

    def base_queryset(self) -> QuerySet:
        qs = self.model._default_manager.all()
        if self.base_filter is not None:
            qs = qs.filter(self.base_filter)
        return qs.order_by(*self.order_by)


def _today() -> date:
    return timezone.localdate()


CERTIFICATE_HEADER = (
    "証明書番号",
    "記号",
    "番号",
    "枝番",
    "氏名",
    "氏名カナ",
    "交付年月日",
    "有効期限",
    "交付事由",
    "状態",
    "送付先",
    "高齢受給者証発効日",
    "一部負担金割合",
    "一括交付ID",
)


def _effective_state_of():
    """Certificate.effective_state (the single source of the "as of today" rule) applied to plain
    values, through one reused unsaved instance instead of a model instance per row."""
    Certificate = apps.get_model("certificates", "Certificate")
    probe = Certificate()
    today = _today()

    def state(stored: str, valid_until: date) -> str:
        probe.state = stored
        probe.valid_until = valid_until
        return probe.effective_state(today)

    return state


def _certificate_rows(qs: QuerySet) -> Iterator[list]:
    state = _effective_state_of()
    values = qs.values_list(
        "number",
        "person__kigo",
        "person__bango",
        "person__edaban",
        "printed_name",
        "printed_name_kana",
        "issue_date",
        "valid_until",
        "reason",
        "state",
        "route",
        "elderly_start",
        "copay_ratio",
        "run_id",
    )
    for (
        number,
        kigo,
        bango,
        edaban,
        name,
        kana,
        issue_date,
        valid_until,
        reason,
        stored_state,
        route,
        elderly_start,
        copay_ratio,
        run_id,
    ) in values.iterator(chunk_size=CHUNK_SIZE):
        yield [
            number,
            kigo,
            bango,
            edaban,
            name,
            kana,
            issue_date,
            valid_until,
            reason,
            state(stored_state, valid_until),
            route,
            elderly_start,  # as stored: the issuing rules already left it empty when out of range
            copay_ratio,
            run_id,
        ]


RETURNS_HEADER = (
    "証明書番号",
    "記号",
    "番号",
    "枝番",
    "氏名",
    "交付年月日",
    "有効期限",
    "状態",
    "状態の理由",
    "返却期限",
    "返却経路",
    "返却日",
    "期限超過",
)


def _returns_rows(qs: QuerySet) -> Iterator[list]:
    state = _effective_state_of()
    today = _today()
    values = qs.values_list(
        "number",
        "person__kigo",
        "person__bango",
        "person__edaban",
        "printed_name",
        "issue_date",
        "valid_until",
        "state",
        "state_note",
        "return_due",
        "return_route",
        "returned_on",
    )
    for (
        number,
        kigo,
        bango,
        edaban,
        name,
        issue_date,
        valid_until,
        stored_state,
        note,
        due,
        route,
        returned_on,
    ) in values.iterator(chunk_size=CHUNK_SIZE):
        # Overdue (施行規則§51: within 5 days of the loss): still pending after the due date, or
        # received after it.
        if returned_on is not None:
            overdue = due is not None and returned_on > due
        else:
            overdue = stored_state == "返却待ち" and due is not None and today > due
        yield [
            number,
            kigo,
            bango,
            edaban,
            name,
            issue_date,
            valid_until,
            state(stored_state, valid_until),
            note,
            due,
            route,
            returned_on,
            overdue,
        ]


def _members_rows(qs: QuerySet) -> Iterator[list]:
    values = qs.values_list(
        "employer__code",
        "employer__name",
        "kigo",
        "bango",
        "edaban",
        "relationship",
        "insured_type",
        "name",
        "name_kana",
        "birth_date",
        "sex",
        "postal_code",
        "address",
        "acquired_on",
        "lost_on",
        "voluntary_until",
        "standard_remuneration",
        "needs_consideration",
    )
    for row in values.iterator(chunk_size=CHUNK_SIZE):
        yield list(row)


RUNS_HEADER = (
    "一括交付ID",
    "状態",
    "基準日",
    "交付年月日",
    "有効期限",
    "作成者",
    "作成日時",
    "承認者",
    "承認日時",
    "実行者",
    "実行開始",
    "完了日時",
    "対象者数",
    "交付数",
)


def _runs_rows(qs: QuerySet) -> Iterator[list]:
    values = qs.values_list(
        "pk",
        "state",
        "status_date",
        "issue_date",
        "valid_until",
        "created_by__username",
        "created_at",
        "approved_by__username",
        "approved_at",
        "executed_by__username",
        "started_at",
        "finished_at",
        "target_count",
        "issued_count",
    )
    for row in values.iterator(chunk_size=CHUNK_SIZE):
        yield list(row)


AUDIT_HEADER = ("ID", "日時", "実行者", "操作", "対象種別", "対象ID", "詳細")


def _audit_rows(qs: QuerySet) -> Iterator[list]:
    values = qs.values_list(
        "pk", "at", "actor__username", "action", "object_type", "object_id", "detail"
    )
    for row in values.iterator(chunk_size=CHUNK_SIZE):
        yield list(row)


# Fields never exported, whatever the model (password hashes, session contents).
_NEVER_EXPORTED = {"password", "session_data", "session_key"}


def _generic_columns(model: type[models.Model]) -> list[tuple[str, str]]:
    """(header, values_list path) for every concrete field; a foreign key as its id, plus the
    username for users so that "who" is readable."""
    user_model = get_user_model()
    columns = []
    for f in model._meta.concrete_fields:
        if f.name in _NEVER_EXPORTED:
            continue
        label = str(f.verbose_name)
        if f.is_relation:
            columns.append((f"{label}(ID)", f.attname))
            if f.related_model is user_model:
                columns.append((f"{label}(ユーザー名)", f"{f.name}__username"))
        else:
            columns.append((label, f.attname))
    return columns


def _path_to_person(model: type[models.Model], depth: int = 3) -> str | None:
    """The shortest chain of foreign keys from `model` to members.Person (e.g. an invoice →
    its application → the certificate → the person), so that generic exports say whose row it is."""
    frontier: list[tuple[type[models.Model], str]] = [(model, "")]
    for _ in range(depth):
        next_frontier = []
        for current, prefix in frontier:
            for f in current._meta.concrete_fields:
                if not f.is_relation or f.related_model is None:
                    continue
                path = f"{prefix}__{f.name}" if prefix else f.name
                if f.related_model._meta.label == "members.Person":
                    return path
                if f.related_model is not get_user_model() and f.related_model is not current:
                    next_frontier.append((f.related_model, path))
        frontier = next_frontier
    return None


def generic_dataset(
    model: type[models.Model], *, name: str | None = None, label: str = ""
) -> Dataset:
    """Every concrete field of `model` (admin exports of models without a dedicated format)."""
    columns = _generic_columns(model)
    # History rows and persons carry their own key; other rows say whose they are.
    person_path = None if is_history_model(model) else _path_to_person(model)
    if person_path:
        taken = {h for h, _ in columns}
        extra = [("記号", "kigo"), ("番号", "bango"), ("枝番", "edaban"), ("氏名", "name")]
        columns += [
            (h if h not in taken else f"対象者{h}", f"{person_path}__{path}") for h, path in extra
        ]
    paths = [path for _, path in columns]

    def rows(qs: QuerySet) -> Iterator[list]:
        for row in qs.values_list(*paths).iterator(chunk_size=CHUNK_SIZE):
            yield list(row)

    return Dataset(
        name=name or model._meta.label_lower,
        label=label or str(model._meta.verbose_name),
        model_label=model._meta.label,
        header=tuple(h for h, _ in columns),
        rows=rows,
    )


DATASETS: dict[str, Dataset] = {
    "certificates": Dataset(
        name="certificates",
        label="資格確認書",
        model_label="certificates.Certificate",
        header=CERTIFICATE_HEADER,
        rows=_certificate_rows,
        order_by=("number",),
    ),
    "members": Dataset(
        name="members",
        label="加入者",
        model_label="members.Person",
        header=MEMBER_COLUMNS,
        rows=_members_rows,
        order_by=("kigo", "bango", "edaban"),
    ),
    "runs": Dataset(
        name="runs",
        label="一括職権交付",
        model_label="certificates.IssuanceRun",
        header=RUNS_HEADER,
        rows=_runs_rows,
    ),
    "returns": Dataset(
        name="returns",
        label="返却管理",
        model_label="certificates.Certificate",
        header=RETURNS_HEADER,
        rows=_returns_rows,
        # Certificates that are or were 返却待ち: a due date is set when the return is required and
        # kept after receipt.
        base_filter=Q(state="返却待ち") | Q(return_due__isnull=False),
        order_by=("return_due", "number"),
    ),
    "audit": Dataset(
        name="audit",
        label="業務イベント",
        model_label="core.AuditEvent",
        header=AUDIT_HEADER,
        rows=_audit_rows,
        order_by=("at", "pk"),
    ),
}
DATASET_NAMES = (*DATASETS, "invoices")


def register_dataset(dataset: Dataset) -> None:
    """An app adds its own export kind (from its AppConfig.ready, before any command parses)."""
    global DATASET_NAMES
    DATASETS[dataset.name] = dataset
    DATASET_NAMES = (*DATASETS, "invoices")


# Admin screens whose rows are best exported in another dataset's format.
_PROXY_DATASETS = {"certificates.ReturnPendingCertificate": "returns"}


def get_dataset(name: str) -> Dataset:
    """The named dataset of the command line (rules.md / issue 6)."""
    if name == "invoices":
        try:
            model = apps.get_model("fees", "Invoice")
        except LookupError:
            raise ExportError(
                "「invoices」は利用できません: 請求書(fees.Invoice)がまだありません"
                " (dataset 'invoices' not available)"
            ) from None
        return generic_dataset(model, name="invoices", label="請求書")
    try:
        return DATASETS[name]
    except KeyError:
        raise ExportError(
            f"データ種別「{name}」はありません(選べるもの: {', '.join(DATASET_NAMES)})"
        ) from None


def dataset_for_model(model: type[models.Model]) -> Dataset:
    """The dataset an admin changelist of `model` exports: the dedicated format where one exists
    (certificates, members, runs, invoices, audit), every field otherwise."""
    label = model._meta.label
    if label in _PROXY_DATASETS:
        return DATASETS[_PROXY_DATASETS[label]]
    # proxies (admin screens over a subset) use the format of the model they show
    label = model._meta.concrete_model._meta.label
    for ds in DATASETS.values():
        if ds.model_label == label and ds.base_filter is None:
            return ds
    if label == "fees.Invoice":
        return get_dataset("invoices")
    return generic_dataset(model)


def export_bytes(
    dataset: Dataset,
    queryset: QuerySet,
    *,
    encoding: str = DEFAULT_ENCODING,
    on_substitution: SubstitutionCallback | None = None,
    result: ExportResult | None = None,
) -> Iterator[bytes]:
    """The CSV as a stream of byte chunks (header first, then one chunk per row). `result` is
    filled in as rows are produced; `completed` is set after the last row."""
    encoder = CsvEncoder(
        header=dataset.header,
        encoding=encoding,
        on_substitution=on_substitution,
        result=result if result is not None else ExportResult(),
    )
    yield encoder.header_bytes()
    # Rows are read as plain values: an admin screen's prefetches (for its own columns) serve
    # nothing here, so they are dropped rather than attempted on every chunk.
    queryset = queryset.prefetch_related(None)
    for row in dataset.rows(queryset):
        yield encoder.row_bytes(row)
    encoder.result.completed = True


def export_to_file(
    dataset: Dataset,
    queryset: QuerySet,
    fh,
    *,
    encoding: str = DEFAULT_ENCODING,
    on_substitution: SubstitutionCallback | None = None,
) -> ExportResult:
    """Write the CSV to a binary file object, row by row."""
    result = ExportResult()
    for chunk in export_bytes(
        dataset, queryset, encoding=encoding, on_substitution=on_substitution, result=result
    ):
        fh.write(chunk)
    return result
