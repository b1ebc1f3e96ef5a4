"""A mapping as data: which source column fills which record field, and how its cells are read.

A mapping is written once per source (a CRM's export, a team's spreadsheet) in TOML, JSON or YAML
and loaded with :func:`load_mapping`::

    record = "lead"
    currency = "CNY"
    timezone = "Asia/Shanghai"
    time_of_day = "09:00"          # date-only values are at 09:00 in that zone
    external_id = "线索编号"        # the sync matches stored records by this column

    [columns]
    "线索编号" = "id"
    "创建时间" = "created_at"
    "预算(元)" = "budget"           # the parse kind follows from the field: money here
    "决策权" = { field = "authority", aliases = { "决策人" = "decision_maker" } }
    "标签" = { field = "tags", separators = "、," }

    [defaults]
    source = "import"              # for rows (or the whole sheet) without a value

    [owners]
    match = ["id", "name", "email"]
    create_missing = false

One column may fill several fields, and a field may fall back on other columns: ``[fallbacks]``
maps a field to the headers read, in order, when no column fills it or its cell is blank
(``created_at = ["won_date"]``: the column mapped to ``stage_entered_at`` fills ``created_at``
too; ``stage_entered_at = ["engage_date"]``: the close date, else the engage date). Then
``[[defaults_when]]`` entries (defaults for the rows whose cells match ``when``, e.g. a
``lost_reason`` for the rows whose ``deal_stage`` is ``Lost`` only), then ``[defaults]``. The
default ``"@import"`` (:data:`IMPORT_INSTANT`) of an instant field is the import instant the
caller gives (``map_rows(..., as_of=...)``, the CLI's ``--as-of``), never read from a clock here.

A column is ``header = "field"`` or a table: ``field``, ``parse`` (the parse kind, default: from
the field's type), ``aliases`` (cell text → the field's value), ``format`` (a ``strptime`` format
for instants and dates), ``separators`` (for lists), ``excel_serial`` (numbers in this instant or
date column are Excel serial day numbers), ``currency`` (this column's, over the mapping's).

The mapping is an ``attrs`` definition (:mod:`pipeline_core._definition`): ``from_dict`` /
``to_dict`` / ``json_schema`` are derived from the one declaration below (only the column table's
``header = ...`` shape is added on top), and every problem is listed at once in one
:class:`~pipeline_core.errors.ConfigError`: schema problems first; then unknown target fields
(checked against the record class's own fields), fields filled twice, parse kinds that do not fit
the field, aliases onto values the field does not accept, defaults the field refuses, a missing
currency or time zone. ``attrs`` rather than pydantic models: the rest of the library's definitions
are built that way, and code builds a mapping positionally just as it builds a stage.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator, Mapping
from datetime import time
from pathlib import Path
from typing import Any, Final, Literal

import attrs

from pipeline_core._definition import definition, from_plain, plain, raise_problems, schema_of
from pipeline_core._definition import to_plain as _to_plain
from pipeline_core._optional import require
from pipeline_core.errors import ConfigError, Problem
from pipeline_core.ingest import parsers
from pipeline_core.ingest.cells import read_cell
from pipeline_core.ingest.mapping_checks import check_fields, check_required, overlaps, salvage
from pipeline_core.ingest.parsers import DateOrder, ParseError
from pipeline_core.ingest.targets import (
    CUSTOM_PREFIX,
    RECORD_KINDS,
    FieldSpec,
    ParseKind,
    RecordKind,
    has_custom,
    target_fields,
)
from pipeline_core.records import Role

__all__ = [
    "IMPORT_INSTANT",
    "RECORD_KINDS",
    "Column",
    "DefaultsWhen",
    "FieldSpec",
    "Owners",
    "ParseKind",
    "RecordKind",
    "SheetMapping",
    "load_mapping",
    "loads_mapping",
    "read_cell",
    "target_fields",
]

# --------------------------------------------------------------------------- the definition


def _encode_time(value: time | None) -> str | None:
    return None if value is None else value.isoformat("minutes" if not value.second else "seconds")


@definition("column")
@attrs.frozen
class Column:
    """One source column: its ``header``, the record ``field`` it fills (``custom.<name>`` for a
    custom field), how its cells are read (``parse``: a :data:`ParseKind`, default from the
    field), ``aliases`` (cell text → the field's value, e.g. ``决策人`` → ``decision_maker``),
    ``format`` (a ``strptime`` format for instants and dates), ``separators`` (where a list
    splits, default ``、,;，；``), ``excel_serial`` (numbers here are Excel serial day numbers),
    ``currency`` (this column's ISO 4217 code, over the mapping's)."""

    header: str
    field: str
    parse: ParseKind | None = None
    aliases: Mapping[str, str] = attrs.field(factory=dict)
    format: str | None = None
    separators: str | None = None
    excel_serial: bool = False
    currency: str | None = None


@definition("owners")
@attrs.frozen
class Owners:
    """How owner cells find users: ``match`` (by ``"id"``, ``"name"`` and/or ``"email"``; names
    compared case-insensitively with white space collapsed), ``create_missing`` (an owner no user
    matches becomes a planned new user with ``role``, instead of a row problem)."""

    match: tuple[Literal["id", "name", "email"], ...] = ("id", "name", "email")
    create_missing: bool = False
    role: Role = Role.AE


DefaultValue = str | int | float | bool | list[str]

IMPORT_INSTANT: Final = "@import"
"""A default meaning "the import instant" (instant fields only): the aware ``datetime`` given as
``map_rows(..., as_of=...)`` (the CLI's ``--as-of``, else the instant the command started)."""


@definition("defaults_when")
@attrs.frozen
class DefaultsWhen:
    """Defaults for some rows only: ``when`` (source header → cell text; a row matches when each
    of its cells, stripped, equals the text) and ``defaults`` (field → value, read as
    :attr:`SheetMapping.defaults` are). For a blank or unmapped field, the first matching entry
    that defaults it wins over the mapping's plain ``defaults``."""

    when: Mapping[str, str]
    defaults: Mapping[str, DefaultValue]


@definition("mapping")
@attrs.frozen
class SheetMapping:
    """A mapping from a source's columns to one kind of record (see the module docs).

    ``record``: the :data:`RecordKind`; ``columns``: the :class:`Column` s; ``defaults``: field →
    value for fields no column fills or whose cell is blank (read like a cell of that field);
    ``currency`` (ISO 4217) for money columns; ``timezone`` (IANA) for wall times;
    ``time_of_day`` for date-only values; ``date_order`` (``"DMY"``/``"MDY"``) for dates like
    ``03/04/2025``; ``external_id``: the header whose value keys each row (``MappedRow.key``);
    ``owns``: the fields the sheet owns (default: the mapped and defaulted ones, see
    :attr:`owned_fields`); ``owners``: how owners are matched (:class:`Owners`); ``backfill``:
    imported history whose past deadlines raise no alerts; ``missing``: cell texts that mean "no
    value" (e.g. ``"-"``, ``"无"``; blank cells always do); ``fallbacks``: field → headers read in
    order when no column fills the field or its cell is blank (each read as the field's value);
    ``defaults_when``: the :class:`DefaultsWhen` entries, defaults for matching rows only. A
    field's value is its column's cell, else its first non-blank fallback cell, else the first
    matching ``defaults_when`` entry's default, else its ``defaults`` value.

    Raises :class:`~pipeline_core.errors.ConfigError` listing every problem."""

    record: RecordKind
    columns: tuple[Column, ...] = ()
    defaults: Mapping[str, DefaultValue] = attrs.field(factory=dict)
    currency: str | None = None
    timezone: str | None = None
    time_of_day: time | None = attrs.field(default=None, metadata=plain(encode=_encode_time))
    date_order: DateOrder | None = None
    external_id: str | None = None
    owns: tuple[str, ...] | None = None
    owners: Owners = attrs.field(factory=Owners)
    backfill: bool = False
    missing: tuple[str, ...] = ()
    fallbacks: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    defaults_when: tuple[DefaultsWhen, ...] = ()

    def __attrs_post_init__(self) -> None:
        try:
            raise_problems("mapping", self, _CHECKS)
        except ConfigError as exc:
            raise _CheckProblems("mapping", exc.problems) from None

    @property
    def fields(self) -> Mapping[str, FieldSpec]:
        """The record kind's fields (:func:`target_fields`)."""
        return target_fields(self.record)

    @property
    def owned_fields(self) -> tuple[str, ...]:
        """The fields the sheet owns: ``owns`` when given, else every mapped and defaulted field
        (the sync never overwrites the others)."""
        if self.owns is not None:
            return self.owns
        seen = dict.fromkeys(c.field for c in self.columns)
        seen.update(dict.fromkeys(self.fallbacks))
        for entry in self.defaults_when:
            seen.update(dict.fromkeys(entry.defaults))
        seen.update(dict.fromkeys(self.defaults))
        return tuple(seen)

    @property
    def uses_import_instant(self) -> bool:
        """True when a default is :data:`IMPORT_INSTANT` (mapping rows then needs ``as_of``)."""
        tables = [self.defaults, *(e.defaults for e in self.defaults_when)]
        return any(v == IMPORT_INSTANT for t in tables for v in t.values())

    def kind_of(self, column: Column) -> str:
        """The parse kind of ``column``: its own ``parse``, else its field's natural kind."""
        if column.parse is not None:
            return column.parse
        if column.field.startswith(CUSTOM_PREFIX):
            return "text"
        spec = self.fields.get(column.field)
        return spec.kind if spec else "text"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SheetMapping:
        """Build a mapping from plain data (parsed TOML/JSON/YAML); ``columns`` may be a table of
        ``header = "field"`` or ``header = {field = ..., ...}``, or a list of column tables with
        a ``header`` each. Raises :class:`ConfigError` listing every problem."""
        data = dict(data) if isinstance(data, Mapping) else data
        headers: list[str] = []
        columns = data.get("columns") if isinstance(data, dict) else None
        if isinstance(columns, Mapping):
            listed = []
            for header, value in columns.items():
                headers.append(header)
                body = dict(value) if isinstance(value, Mapping) else {"field": value}
                listed.append({"header": header, **body})
            data["columns"] = listed
        try:
            return from_plain(cls, data)
        except _CheckProblems as exc:
            problems = list(exc.problems)
        except ConfigError as exc:  # schema problems: the semantic checks have not run
            problems = list(exc.problems)
            try:
                from_plain(cls, salvage(data, problems))
            except _CheckProblems as more:  # listed too, unless where a schema problem is
                seen = [p.path for p in problems]
                problems.extend(p for p in more.problems if not overlaps(p.path, seen))
            except ConfigError:
                pass
        if headers:
            problems = [_column_path(p, headers) for p in problems]
        raise ConfigError("mapping", problems) from None

    def to_dict(self) -> dict[str, Any]:
        """The plain form: ``columns`` as a table keyed by header (``header = "field"`` when only
        the field is set); what :meth:`from_dict` reads back to an equal mapping."""
        out = _to_plain(self)
        table: dict[str, Any] = {}
        for column in out.get("columns", []):
            header = column.pop("header")
            table[header] = column["field"] if list(column) == ["field"] else column
        if "columns" in out:
            out["columns"] = table
        return out

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema of the plain form (``columns`` keyed by header)."""
        schema = schema_of(cls)
        column = json.loads(json.dumps(schema["$defs"]["Column"]))
        column["properties"].pop("header")
        column["required"] = [r for r in column.get("required", []) if r != "header"]
        column["title"] = "ColumnSpec"
        schema["$defs"]["ColumnSpec"] = column
        schema["properties"]["columns"] = {
            "type": "object",
            "additionalProperties": {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/ColumnSpec"}]},
        }
        return schema


class _CheckProblems(ConfigError):
    """The semantic checks' problems (the schema was met), told apart from schema problems."""


def _column_path(problem: Problem, headers: list[str]) -> Problem:
    path = problem.path
    if (
        len(path) >= 2
        and path[0] == "columns"
        and isinstance(path[1], int)
        and path[1] < len(headers)
    ):
        new = ("columns", headers[path[1]], *path[2:])
        return Problem(new, problem.message, problem.value, problem.code, problem.missing)
    return problem


# --------------------------------------------------------------------------- named checks


def _check_aliases(m: SheetMapping) -> Iterator[Problem]:
    """Aliases point at values the field accepts."""
    fields = m.fields
    for column in m.columns:
        spec = fields.get(column.field)
        kind = m.kind_of(column)
        for alias, value in column.aliases.items():
            where = ("columns", column.header, "aliases", alias)
            if kind == "enum" and spec is not None and spec.allowed is not None:
                if value not in spec.allowed:
                    yield Problem(
                        where,
                        f"{column.field} accepts only: {', '.join(sorted(spec.allowed))}",
                        value,
                        "alias_value",
                    )
            elif kind == "bool" and value.casefold() not in parsers.BOOLEAN_WORDS:
                yield Problem(where, "a yes/no field accepts true or false", value, "alias_value")


def _check_context(m: SheetMapping) -> Iterator[Problem]:
    """Money needs a known currency, wall times a known zone; owned fields exist."""
    kinds = {m.kind_of(c) for c in m.columns if c.currency is None}
    kinds |= {m.fields[f].kind for f in m.defaults if f in m.fields}
    kinds |= {m.fields[f].kind for f in m.fields.keys() & set(m.fallbacks)}
    for entry in m.defaults_when:
        kinds |= {m.fields[f].kind for f in entry.defaults if f in m.fields}
    for where, code in [(("currency",), m.currency)] + [
        (("columns", c.header, "currency"), c.currency) for c in m.columns if c.currency
    ]:
        if code is not None:
            try:
                parsers.parse_money("0", code)
            except ParseError as exc:
                yield Problem(where, exc.reason, code, "currency")
    if "money" in kinds and m.currency is None:
        yield Problem(
            ("currency",), "money columns need the mapping's currency (e.g. 'CNY')", None, "missing"
        )
    if m.timezone is not None:
        try:
            parsers.zone_named(m.timezone)
        except ParseError as exc:
            yield Problem(("timezone",), exc.reason, m.timezone, "timezone")
    elif kinds & {"instant"}:
        yield Problem(
            ("timezone",),
            "instant columns need the time zone their wall times are in (e.g. 'Asia/Shanghai')",
            None,
            "missing",
        )
    fields = m.fields
    for i, name in enumerate(m.owns or ()):
        if name not in fields and not name.startswith(CUSTOM_PREFIX):
            yield Problem(("owns", i), f"a {m.record} has no such field", name, "unknown_field")


def _check_defaults(m: SheetMapping) -> Iterator[Problem]:
    """Every default names a field and is a value that field accepts (``"@import"`` an instant
    field's); every ``defaults_when`` entry has a condition and defaults."""
    yield from _check_default_table(m, m.defaults, ("defaults",))
    for i, entry in enumerate(m.defaults_when):
        where = ("defaults_when", i)
        if not entry.when:
            yield Problem((*where, "when"), "a condition needs a header and its text", {}, "empty")
        if not entry.defaults:
            yield Problem((*where, "defaults"), "an entry needs one default or more", {}, "empty")
        yield from _check_default_table(m, entry.defaults, (*where, "defaults"))


def _check_default_table(
    m: SheetMapping, table: Mapping[str, DefaultValue], path: tuple[str | int, ...]
) -> Iterator[Problem]:
    fields = m.fields
    for name, value in table.items():
        where = (*path, name)
        if name.startswith(CUSTOM_PREFIX) and has_custom(m.record):
            continue
        spec = fields.get(name)
        if spec is None:
            yield Problem(where, f"a {m.record} has no such field", name, "unknown_field")
            continue
        if value == IMPORT_INSTANT:
            if spec.kind != "instant":
                yield Problem(
                    where,
                    f"only an instant field takes the import instant; {name} holds {spec.kind} "
                    "values",
                    value,
                    "import_instant",
                )
            continue
        if spec.kind in ("owner", "nested"):
            if spec.kind == "nested":
                yield Problem(
                    where, "this field is not filled from one value", name, "nested_field"
                )
            continue
        column = Column(name, name)
        try:
            read_cell(m, column, spec.kind, value)
        except ParseError as exc:
            if exc.code != "timezone":  # a bad zone is listed once, under ``timezone``
                yield Problem(where, exc.reason, value, exc.code)


def _check_fallbacks(m: SheetMapping) -> Iterator[Problem]:
    """Each fallback names a field one cell fills and one or more headers, none twice, none the
    field's own column."""
    fields = m.fields
    own = {c.field: c.header for c in m.columns}
    for name, headers in m.fallbacks.items():
        where = ("fallbacks", name)
        if name.startswith(CUSTOM_PREFIX):
            if not has_custom(m.record) or not name[len(CUSTOM_PREFIX) :]:
                yield Problem(
                    where, f"a {m.record} has no such custom field", name, "unknown_field"
                )
        elif name not in fields:
            yield Problem(
                where,
                f"a {m.record} has no such field; its fields are: {', '.join(fields)}",
                name,
                "unknown_field",
            )
            continue
        elif fields[name].kind == "nested":
            yield Problem(where, "this field is not filled from one cell", name, "nested_field")
        if not headers:
            yield Problem(where, "a fallback needs one header or more", [], "empty")
        seen: set[str] = set()
        for i, header in enumerate(headers):
            if header in seen:
                yield Problem((*where, i), "the header is listed twice", header, "duplicate_header")
            seen.add(header)
            if own.get(name) == header:
                yield Problem(
                    (*where, i),
                    f"the column already fills {name}: a fallback is another column",
                    header,
                    "duplicate_header",
                )


_CHECKS: Final = (
    check_fields,
    _check_aliases,
    _check_context,
    _check_defaults,
    _check_fallbacks,
    check_required,
)


# --------------------------------------------------------------------------- loading


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} appears twice")
        out[key] = value
    return out


def loads_mapping(text: str, format: Literal["toml", "json", "yaml"]) -> SheetMapping:
    """A mapping from ``text`` in ``format``. Raises :class:`ConfigError`: the text does not
    parse (the parser's message, with its line), or the mapping has problems (every one)."""
    try:
        if format == "toml":
            data: Any = tomllib.loads(text)
        elif format == "json":
            data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
        else:
            yaml: Any = require("yaml", "ingest", "reading YAML mappings")
            data = yaml.safe_load(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            "mapping", [Problem((), f"not valid {format.upper()}: {exc}", None, "syntax")]
        ) from None
    except Exception as exc:  # yaml.YAMLError (the module is optional)
        if type(exc).__module__.startswith("yaml"):
            raise ConfigError(
                "mapping", [Problem((), f"not valid YAML: {exc}", None, "syntax")]
            ) from None
        raise
    if not isinstance(data, dict):
        raise ConfigError("mapping", [Problem((), "expected a table of settings", data, "type")])
    return SheetMapping.from_dict(data)


def load_mapping(path: str | Path) -> SheetMapping:
    """The mapping in the file ``path``: ``.toml`` (``tomllib``), ``.json``, ``.yaml``/``.yml``
    (needs PyYAML, the ``ingest`` extra). Raises :class:`ConfigError` (every problem at once) or
    ``OSError``."""
    p = Path(path)
    formats: dict[str, Literal["toml", "json", "yaml"]] = {
        ".toml": "toml",
        ".json": "json",
        ".yaml": "yaml",
        ".yml": "yaml",
    }
    fmt = formats.get(p.suffix.lower())
    if fmt is None:
        raise ConfigError(
            "mapping",
            [
                Problem(
                    ("<file>",),
                    "a mapping file ends in .toml, .json, .yaml or .yml",
                    str(p),
                    "format",
                )
            ],
        )
    return loads_mapping(p.read_text(encoding="utf-8"), fmt)
