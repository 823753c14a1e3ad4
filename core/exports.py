"""CSV exports for auditors: the machinery (encoder, Dataset, the registry, generic datasets).

Each app registers its own export kinds from its AppConfig.ready (`members/exports.py`,
`certificates/exports.py` — the certificates contract of rules.md —, `fees/exports.py`,
`elderly/exports.py`); core registers only its audit trail. One writer for every entry point: the `export_csv` command, the admin action (streamed back) and the
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


DATASETS: dict[str, Dataset] = {}
# Admin screens (proxy models) whose rows are exported in another dataset's format.
_PROXY_DATASETS: dict[str, str] = {}


def register_dataset(dataset: Dataset, *, proxies: Iterable[str] = ()) -> None:
    """An app adds its own export kind (from its AppConfig.ready, before any command parses):
    members, certificates, fees and elderly register theirs (`<app>/exports.py`); `proxies` are
    the labels of admin proxy models whose changelists export in this format."""
    DATASETS[dataset.name] = dataset
    for label in proxies:
        _PROXY_DATASETS[label] = dataset.name


def dataset_names() -> tuple[str, ...]:
    """The names `export_csv` accepts, in the order the apps registered them."""
    return tuple(DATASETS)


def get_dataset(name: str) -> Dataset:
    """The named dataset of the command line (rules.md / issue 6)."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ExportError(
            f"データ種別「{name}」はありません(選べるもの: {', '.join(dataset_names())})"
        ) from None


def dataset_for_model(model: type[models.Model]) -> Dataset:
    """The dataset an admin changelist of `model` exports: the dedicated format where one exists
    (certificates, members, runs, invoices, audit, …: whatever the apps registered), every field
    otherwise."""
    label = model._meta.label
    if label in _PROXY_DATASETS:
        return DATASETS[_PROXY_DATASETS[label]]
    # proxies (admin screens over a subset) use the format of the model they show
    label = model._meta.concrete_model._meta.label
    for ds in DATASETS.values():
        if ds.model_label == label and ds.base_filter is None:
            return ds
    return generic_dataset(model)


# core's own dataset: the audit trail.
register_dataset(
    Dataset(
        name="audit",
        label="業務イベント",
        model_label="core.AuditEvent",
        header=AUDIT_HEADER,
        rows=_audit_rows,
        order_by=("at", "pk"),
    )
)


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
