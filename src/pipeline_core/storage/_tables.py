"""The table specs: which record fields every store keeps as indexed columns, and the documents.

Each record kind is one :class:`Table`: the record class, its collection name, and the
:class:`Column` s (with the getter that reads each from a record) that the SQL stores index and
that :meth:`~pipeline_core.storage._base.Backend.columns` returns; :func:`dump_doc` and
:func:`load_doc` turn a record into its stored JSON document and back (validated).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import pydantic
import pydantic_core

from pipeline_core import facts
from pipeline_core import records as rec
from pipeline_core._interrupts import reraise_interrupt
from pipeline_core._model import Record, problems_from_pydantic, record_adapter
from pipeline_core.errors import StorageError, ValidationError

__all__ = [
    "ACCOUNTS",
    "ACTIVITIES",
    "CONTACTS",
    "JOURNAL",
    "LEADS",
    "OPPORTUNITIES",
    "SLA_OUTCOMES",
    "STAGE_EVENTS",
    "TABLES",
    "TABLES_BY_CLASS",
    "TABLES_BY_KIND",
    "TEAMS",
    "USERS",
    "Column",
    "ColumnType",
    "Table",
    "column_rows",
    "dump_doc",
    "load_doc",
    "serialising",
]

R = TypeVar("R", bound=Record)


ColumnType = Literal["text", "int", "real", "bool", "ts", "dec"]


@dataclass(frozen=True, slots=True)
class Column:
    """One indexed column: its name, SQL-neutral type and how to read it from a record."""

    name: str
    type: ColumnType
    get: Callable[[Any], Any]
    attr: str | None = None
    """The record attribute holding the value, when it is a plain attribute (fast path)."""
    since: int = 1
    """The schema version that added the column (see ``storage._sql.MIGRATIONS``)."""


@dataclass(frozen=True, slots=True)
class Table:
    """How one record type is stored: a table of ``id``, ``version``, the query columns and the
    full JSON document (``doc``); plus a ``<name>_tags`` side table when the record has tags."""

    name: str
    kind: str
    cls: type[Record]
    columns: tuple[Column, ...]
    versioned: bool
    tags: bool
    indexes: tuple[tuple[str, ...], ...] = ()
    partial_indexes: tuple[tuple[tuple[str, ...], str], ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        """``id``, ``version``, the query columns and ``doc``, in table order."""
        return ("id", "version", *(c.name for c in self.columns), "doc")

    def column(self, name: str) -> Column:
        """The query column called ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _attr(name: str) -> Callable[[Any], Any]:
    def get(r: Any) -> Any:
        return getattr(r, name)

    return get


def _enum(name: str) -> Callable[[Any], Any]:
    def get(r: Any) -> Any:
        v = getattr(r, name)
        return None if v is None else str(v)

    return get


def _due(r: Any) -> Any:
    step = r.next_step
    return None if step is None else step.due_at


def _amount(name: str) -> Callable[[Any], Any]:
    def get(r: Any) -> Any:
        m = getattr(r, name)
        return None if m is None else m.amount

    return get


def _currency(name: str) -> Callable[[Any], Any]:
    def get(r: Any) -> Any:
        m = getattr(r, name)
        return None if m is None else m.currency

    return get


def _c(
    name: str, type_: ColumnType, get: Callable[[Any], Any] | None = None, since: int = 1
) -> Column:
    if get is None:
        return Column(name, type_, _attr(name), name, since)
    return Column(name, type_, get, None, since)


LEADS = Table(
    "leads",
    "lead",
    rec.Lead,
    (
        _c("created_at", "ts"),
        _c("source", "text"),
        _c("owner_id", "text"),
        _c("status", "text", _enum("status")),
        _c("due_at", "ts", _due),
        _c("account_id", "text"),
        _c("opportunity_id", "text"),
        _c("company", "text"),
    ),
    versioned=True,
    tags=True,
    indexes=(("owner_id",), ("due_at",)),
)

OPPORTUNITIES = Table(
    "opportunities",
    "opportunity",
    rec.Opportunity,
    (
        _c("name", "text"),
        _c("created_at", "ts"),
        _c("owner_id", "text"),
        _c("team_id", "text"),
        _c("stage", "text"),
        _c("stage_entered_at", "ts"),
        _c("pipeline", "text"),
        _c("lead_id", "text"),
        _c("account_id", "text"),
        _c("source", "text"),
        _c("expected_amount", "dec", _amount("expected_amount")),
        _c("currency", "text", _currency("expected_amount")),
        _c("probability", "real"),
        _c("due_at", "ts", _due),
        _c("closed_at", "ts"),
        _c("merged_into", "text", facts.merged_into, since=2),  # the frame cell of facts.is_merged
    ),
    versioned=True,
    tags=True,
    indexes=(("owner_id",), ("team_id",), ("stage",)),
    partial_indexes=((("due_at", "id"), "closed_at IS NULL"),),
)

ACCOUNTS = Table(
    "accounts",
    "account",
    rec.Account,
    (
        _c("name", "text"),
        _c("created_at", "ts"),
        _c("owner_id", "text"),
        _c("industry", "text"),
        _c("region", "text"),
    ),
    versioned=True,
    tags=True,
    indexes=(("owner_id",),),
)

CONTACTS = Table(
    "contacts",
    "contact",
    rec.Contact,
    (_c("name", "text"), _c("created_at", "ts"), _c("account_id", "text")),
    versioned=True,
    tags=True,
    indexes=(("account_id",),),
)

USERS = Table(
    "users",
    "user",
    rec.User,
    (
        _c("name", "text"),
        _c("role", "text", _enum("role")),
        _c("team_id", "text"),
        _c("active", "bool"),
    ),
    versioned=True,
    tags=True,
    indexes=(("team_id",),),
)

TEAMS = Table(
    "teams",
    "team",
    rec.Team,
    (_c("name", "text"), _c("parent_id", "text"), _c("manager_id", "text")),
    versioned=True,
    tags=False,
    indexes=(("parent_id",),),
)

SLA_OUTCOMES = Table(
    "sla_outcomes",
    "sla_outcome",
    rec.SlaOutcome,
    (
        _c("rule", "text"),
        _c("target", "text"),
        _c("subject_kind", "text"),
        _c("subject_id", "text"),
        _c("started_at", "ts"),
        _c("due_at", "ts"),
        _c("finished_at", "ts"),
        _c("met", "bool"),
        _c("elapsed_seconds", "real"),
        _c("owner_id", "text"),
    ),
    versioned=True,
    tags=False,
    indexes=(("subject_id", "due_at"), ("due_at",)),
)

STAGE_EVENTS = Table(
    "stage_events",
    "stage_event",
    rec.StageEvent,
    (
        _c("opportunity_id", "text"),
        _c("from_stage", "text"),
        _c("to_stage", "text"),
        _c("at", "ts"),
        _c("by", "text"),
        _c("pipeline", "text"),
        _c("seq", "int", since=2),  # facts.event_order: (at, seq)
    ),
    versioned=False,
    tags=False,
    indexes=(("opportunity_id", "at"), ("at",)),
)

ACTIVITIES = Table(
    "activities",
    "activity",
    rec.Activity,
    (
        _c("kind", "text", _enum("kind")),
        _c("at", "ts"),
        _c("owner_id", "text"),
        _c("lead_id", "text"),
        _c("opportunity_id", "text"),
        _c("account_id", "text"),
        _c("contact_id", "text"),
        _c("outcome", "text", _enum("outcome")),
        _c("replied", "bool"),
        _c("variant", "text"),
    ),
    versioned=False,
    tags=True,
    indexes=(("at",), ("owner_id", "at"), ("opportunity_id",), ("lead_id",), ("account_id",)),
)

JOURNAL = Table(
    "journal",
    "journal_entry",
    rec.JournalEntry,
    (_c("kind", "text"), _c("subject_id", "text"), _c("at", "ts"), _c("by", "text")),
    versioned=False,
    tags=False,
    indexes=(("subject_id", "at"), ("kind", "at")),
)

TABLES: tuple[Table, ...] = (
    USERS,
    TEAMS,
    ACCOUNTS,
    CONTACTS,
    LEADS,
    OPPORTUNITIES,
    ACTIVITIES,
    STAGE_EVENTS,
    SLA_OUTCOMES,
    JOURNAL,
)
"""Every table, in creation order."""

TABLES_BY_KIND: dict[str, Table] = {t.kind: t for t in TABLES}
TABLES_BY_CLASS: dict[type[Record], Table] = {t.cls: t for t in TABLES}


def dump_doc(record: Record) -> str:
    """The record's ``to_dict()`` as compact JSON text."""
    with serialising(type(record).__name__):
        return record_adapter(type(record)).serializer.to_json(record).decode()


@contextmanager
def serialising(what: str) -> Iterator[None]:
    """Around code turning records into JSON for a store: a ``KeyboardInterrupt`` or
    ``SystemExit`` that pydantic wrapped comes through as itself; any other serialisation failure
    becomes a :class:`~pipeline_core.errors.StorageError` naming ``what`` (a record kind)."""
    try:
        yield
    except pydantic_core.PydanticSerializationError as exc:
        reraise_interrupt(exc)
        raise StorageError(f"a {what} cannot be written as JSON: {exc}") from exc


def load_doc(cls: type[R], doc: str | bytes) -> R:
    """Parse and validate a stored document (validated: a store may be edited by other tools).

    A document today's rules refuse (written before a rule was tightened, or edited by another
    tool) raises :class:`~pipeline_core.errors.ValidationError` naming the fields;
    ``pipeline-core check`` lists every such value."""
    try:
        return record_adapter(cls).validator.validate_json(doc)  # type: ignore[no-any-return]
    except pydantic.ValidationError as exc:
        raise ValidationError(
            f"a stored {cls.__name__} (`pipeline-core check` lists stored values the current "
            "rules refuse)",
            problems_from_pydantic(exc),
        ) from None


def column_rows(
    table: Table, names: Sequence[str], records: Iterable[Record]
) -> Iterator[tuple[Any, ...]]:
    """Rows of the columns ``names`` read from records, encoded as :meth:`Backend.columns`
    gives them."""
    getters: list[Callable[[Any], Any]] = [
        _record_id if c == "id" else table.column(c).get for c in names
    ]
    kinds = ["text" if c == "id" else table.column(c).type for c in names]
    pairs = list(zip(kinds, getters, strict=True))
    for r in records:
        yield tuple(_encode_plain(k, g(r)) for k, g in pairs)


def _record_id(record: Any) -> Any:
    return record.id


def _encode_plain(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "ts":
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if kind == "dec":
        return str(value)
    return value


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
