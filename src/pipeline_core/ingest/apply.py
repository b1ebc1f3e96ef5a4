"""Applying a mapping to rows: each source row becomes a :class:`~pipeline_core.ingest.rows.MappedRow`
of plain field values (records are built by the sync, not here).

- a column's blank cell (or one of the mapping's ``missing`` texts) takes the field's first
  non-blank ``fallbacks`` cell, else the first matching ``defaults_when`` default, else the
  declared default (``"@import"``: the ``as_of`` given); else ``None`` for an optional field, the empty list for a list field, nothing for a
  field the record defaults itself, and a row problem (``"missing"``) for a required field;
- fields no column fills take their fallback cells and the declared defaults the same way (a
  required one that nothing fills is a row problem naming its fallback columns);
- owners are matched to users by id, e-mail and name (case and white space ignored); a name two
  users share is a row problem (``"ambiguous_owner"``), an owner nobody matches is a row problem
  (``"unknown_owner"``) or, with ``owners.create_missing``, a planned new user
  (:attr:`MappedRows.new_users`) whose id the row gets;
- every problem names the source column, the cell and the reason; a row with problems has
  ``data=None``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Final, NamedTuple

import attrs

from pipeline_core._fastbuild import builder
from pipeline_core.errors import ConfigError, Problem, ValidationError
from pipeline_core.facts import is_missing
from pipeline_core.ingest.cells import cell_reader, read_cell
from pipeline_core.ingest.mapping import (
    IMPORT_INSTANT,
    Column,
    DefaultValue,
    FieldSpec,
    SheetMapping,
)
from pipeline_core.ingest.parsers import ParseError, slug
from pipeline_core.ingest.readers import ROW_CELL, CellError, RowSource
from pipeline_core.ingest.rows import MappedRow, default_sources, defaulted_in
from pipeline_core.records import User

__all__ = ["CELL_CACHE_SIZE", "MappedRows", "map_rows", "normalise_name"]

_SPACE = re.compile(r"\s+")

_mapped_row: Final[Callable[[int, dict[str, Any], str | None, frozenset[str]], MappedRow]] = (
    builder(
        MappedRow,
        ("row", "data", "key", "defaulted"),
        [
            (f.name, f.name if f.name in ("row", "data", "key", "defaulted") else f"_d_{f.name}")
            for f in attrs.fields(MappedRow)
        ],
        {f"_d_{f.name}": f.default for f in attrs.fields(MappedRow)},
        name="mapped_row",
    )
)
"""``MappedRow(row, data, (), key, defaulted)`` for a row that mapped without problems, built
without the attrs constructor's per-field stores (the values are the mapper's own)."""

CELL_CACHE_SIZE: Final = 16_384
"""How many distinct cell texts each column remembers the reading of (per column; a full memo
starts again empty):
sources, owners, enum values, amounts and tags repeat down a sheet, so each distinct text is
parsed once (one :class:`~pipeline_core.records.Money` per distinct amount). Only text cells are
remembered, and only readings that succeeded (a refused cell is read again, and refused again)."""
_TEXT: Final = 0  # text kept as written (stripped)
_ALIASED_TEXT: Final = 1  # text through the column's aliases
_CACHED: Final = 2  # read by the column's parser, remembered per cell text
_OWNER: Final = 3  # text through the aliases, then matched to a user (remembered by _Owners)
_NOTHING: Final = object()  # no fallback cell nor default fills the field
_FAILED: Final = object()  # a fallback cell was refused (the row problem is listed)


class _Plan(NamedTuple):
    """How :class:`MappedRows` reads one column: ``read`` reads any non-blank cell;
    ``text_read`` what a text cell needs per ``mode`` (the remembering parser for ``_CACHED``,
    the owner lookup for ``_OWNER``); ``custom`` the custom field's name, else ``None``."""

    column: Column
    header: str
    field: str
    spec: FieldSpec | None
    custom: str | None
    mode: int
    aliases: dict[str, str]
    read: Callable[[Any], Any]
    text_read: Callable[[Any], Any]


def normalise_name(name: str) -> str:
    """A person's name as owners are compared: NFKC, case-folded, white space runs collapsed to
    one space and stripped (``" Moses  Frase"`` and ``"moses frase"`` are the same)."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", name)).strip().casefold()


class _Owners:
    """Owner lookup over the known users, and the planned new ones."""

    def __init__(self, mapping: SheetMapping, users: Iterable[User]) -> None:
        self.match = mapping.owners.match
        self.create = mapping.owners.create_missing
        self.role = mapping.owners.role
        self.by_id: dict[str, User] = {}
        self.by_email: dict[str, list[User]] = {}
        self.by_name: dict[str, list[User]] = {}
        self.planned: dict[str, User] = {}
        self._resolved: dict[str, str] = {}
        for user in users:
            self._add(user)

    def _add(self, user: User) -> None:
        self.by_id[user.id] = user
        if user.email:
            self.by_email.setdefault(user.email.casefold(), []).append(user)
        self.by_name.setdefault(normalise_name(user.name), []).append(user)

    def resolve(self, value: str) -> str:
        """The id of the one user ``value`` names (remembered per text until a user is
        planned, which can change what a text matches)."""
        known = self._resolved.get(value)
        if known is not None:
            return known
        found_id = self._resolve(value)
        if len(self._resolved) >= CELL_CACHE_SIZE:
            self._resolved.clear()
        self._resolved[value] = found_id
        return found_id

    def _resolve(self, value: str) -> str:
        found: dict[str, User] = {}
        if "id" in self.match and value in self.by_id:
            found[value] = self.by_id[value]
        if "email" in self.match:
            found.update((u.id, u) for u in self.by_email.get(value.casefold(), ()))
        if "name" in self.match:
            found.update((u.id, u) for u in self.by_name.get(normalise_name(value), ()))
        if len(found) == 1:
            return next(iter(found))
        if found:
            raise ParseError(
                f"matches more than one user ({', '.join(sorted(found))}): write the user's id",
                value,
                "ambiguous_owner",
            )
        if not self.create:
            raise ParseError(
                f"no user matches by {' or '.join(self.match)} (or let the mapping create "
                "missing owners: owners.create_missing = true)",
                value,
                "unknown_owner",
            )
        return self._plan(value)

    def _plan(self, value: str) -> str:
        is_email = "@" in value and " " not in value.strip()
        try:
            base = slug(value)
        except ParseError:
            base = "user"
        new_id, n = base, 1
        while new_id in self.by_id:
            n += 1
            new_id = f"{base}-{n}"
        try:
            user = User(
                id=new_id,
                name=value.strip(),
                role=self.role,
                email=value.strip() if is_email else None,
            )
        except ValidationError as exc:
            raise ParseError(
                f"no user matches, and none can be created from it: {exc.problems[0]}",
                value,
                "unknown_owner",
            ) from None
        self.planned[new_id] = user
        self._add(user)
        self._resolved.clear()
        return new_id


class MappedRows(Iterator[MappedRow]):
    """The rows of a source mapped one by one (an iterator of :class:`MappedRow`), and the users
    the mapping plans to create (:attr:`new_users`, complete once every row is read)."""

    def __init__(
        self,
        rows: RowSource | Iterable[tuple[int, Mapping[str, Any]]],
        mapping: SheetMapping,
        users: Iterable[User],
        as_of: datetime | None = None,
    ) -> None:
        self.mapping = mapping
        self._as_of = _import_instant(mapping, as_of)
        self._owners = _Owners(mapping, users)
        self._fields = mapping.fields
        self._kinds = {c.header: mapping.kind_of(c) for c in mapping.columns}
        self._missing = frozenset(mapping.missing)
        self._default_sources = default_sources(mapping)
        self._mapped = {c.field for c in mapping.columns}
        self._defaults = self._read_defaults(mapping.defaults, ("defaults",))
        self._cases = [
            (
                tuple((h, t.strip()) for h, t in entry.when.items()),
                self._read_defaults(entry.defaults, ("defaults_when", i, "defaults")),
            )
            for i, entry in enumerate(mapping.defaults_when)
        ]
        self._plan = [self._column_plan(c) for c in mapping.columns]
        # the per-cell loop of _map unpacks these (cheaper than a plan's attribute lookups)
        self._steps: list[
            tuple[
                str,
                int,
                dict[str, Any],
                Callable[[Any], Any],
                dict[str, str],
                str | None,
                str,
                _Plan,
            ]
        ] = [
            (p.header, p.mode, {}, p.text_read, p.aliases, p.custom, p.field, p) for p in self._plan
        ]
        self._fallbacks = {
            name: [self._column_plan(Column(h, name)) for h in headers]
            for name, headers in mapping.fallbacks.items()
        }
        self._extra = bool(self._fallbacks or self._cases)
        self._external_id = mapping.external_id
        conditional = dict.fromkeys(self._fallbacks)
        for _, values in self._cases:
            conditional.update(dict.fromkeys(values))
        # fields no column fills whose value depends on the row: resolved per row
        self._resolved_fields = [n for n in conditional if n not in self._mapped]
        self._filled = [
            (name, value)
            for name, value in self._defaults.items()
            if (name.startswith("custom.") or name not in self._mapped) and name not in conditional
        ]
        headers = getattr(rows, "headers", None)
        self._checked = headers is not None
        if headers is not None:
            self._check_headers(headers, getattr(rows, "duplicates", {}))
        self._rows = iter(rows)

    @property
    def new_users(self) -> tuple[User, ...]:
        """Users to create for owners no known user matched (``owners.create_missing``), in the
        order first met."""
        return tuple(self._owners.planned.values())

    def __iter__(self) -> MappedRows:
        return self

    def __next__(self) -> MappedRow:
        number, cells = next(self._rows)
        if not self._checked:
            self._check_headers(tuple(cells))
            self._checked = True
        return self._map(number, cells)

    def _read_defaults(
        self, table: Mapping[str, DefaultValue], path: tuple[str | int, ...]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        problems = []
        for name, value in table.items():
            spec = self._fields.get(name)
            kind = spec.kind if spec else "text"
            if value == IMPORT_INSTANT and kind == "instant":
                out[name] = self._as_of
                continue
            try:
                if kind == "owner":
                    out[name] = self._owners.resolve(str(value))
                else:
                    out[name] = read_cell(self.mapping, Column(name, name), kind, value)
            except ParseError as exc:
                problems.append(Problem((*path, name), exc.reason, value, exc.code))
        if problems:
            raise ConfigError("mapping", problems)
        return out

    def _check_headers(
        self, headers: Iterable[str], duplicates: Mapping[str, tuple[int, ...]] | None = None
    ) -> None:
        have = set(headers)
        wanted = dict.fromkeys(c.header for c in self.mapping.columns)
        for listed in self.mapping.fallbacks.values():
            wanted.update(dict.fromkeys(listed))
        for entry in self.mapping.defaults_when:
            wanted.update(dict.fromkeys(entry.when))
        if self.mapping.external_id:
            wanted.setdefault(self.mapping.external_id, ("external_id",))
        problems = [
            Problem(
                wanted[h] or ("columns", h), "the source has no such column", h, "absent_column"
            )
            for h in wanted
            if h not in have
        ]
        problems.extend(
            Problem(
                ("columns", h),
                f"the source has this header in {len(cols)} columns "
                f"({', '.join(map(str, cols))}): rename one in the file",
                h,
                "duplicate_header",
            )
            for h, cols in (duplicates or {}).items()
            if h in wanted
        )
        if problems:
            raise ConfigError("mapping", problems)

    def _blank(self, value: Any) -> bool:
        if isinstance(value, str) and value.strip() in self._missing:
            return True
        return is_missing(value)

    def _column_plan(self, column: Column) -> _Plan:
        """How one column's non-blank cells are read (see :class:`_Plan`)."""
        mapping = self.mapping
        kind = mapping.kind_of(column)  # a fallback reads its header as its own field
        owners = self._owners
        read: Callable[[Any], Any]
        if kind == "owner":

            def read(value: Any) -> Any:
                return owners.resolve(read_cell(mapping, column, "text", value))

        else:
            read = cell_reader(mapping, column, kind)
        if kind == "text":
            mode = _ALIASED_TEXT if column.aliases else _TEXT
            text_read = read
        elif kind == "owner":
            mode, text_read = _OWNER, owners.resolve
        else:
            mode, text_read = _CACHED, functools.lru_cache(maxsize=CELL_CACHE_SIZE)(read)
        custom = column.field[len("custom.") :] if column.field.startswith("custom.") else None
        return _Plan(
            column,
            column.header,
            column.field,
            self._fields.get(column.field),
            custom,
            mode,
            dict(column.aliases),
            read,
            text_read,
        )

    def _map(self, number: int, cells: Mapping[str, Any]) -> MappedRow:
        data: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        problems: list[Problem] = []
        missing = self._missing
        whole = cells.get(ROW_CELL)
        if isinstance(whole, CellError):
            problems.append(Problem(("<row>",), whole.reason, whole.raw, whole.code))
            return MappedRow(number, None, tuple(problems), self._key_of(cells))
        for header, mode, memo, text_read, aliases, custom_name, field, plan in self._steps:
            value = cells.get(header)
            if type(value) is str:
                if mode == _CACHED:
                    # a text read before: one dict lookup (blank texts are never remembered)
                    result = memo.get(value, _NOTHING)
                    if result is _NOTHING:
                        text = value.strip()
                        if not text or text in missing:
                            self._absent(
                                plan.column, plan.spec, value, cells, data, custom, problems
                            )
                            continue
                        try:
                            result = plan.read(value)
                        except ParseError as exc:
                            problems.append(Problem((header,), exc.reason, value, exc.code))
                            continue
                        if len(memo) >= CELL_CACHE_SIZE:
                            memo.clear()
                        memo[value] = result
                else:
                    text = value.strip()
                    if not text or text in missing:
                        self._absent(plan.column, plan.spec, value, cells, data, custom, problems)
                        continue
                    if mode == _TEXT:
                        result = text
                    elif mode == _ALIASED_TEXT:
                        result = aliases.get(text, text)
                    else:
                        try:
                            result = text_read(aliases.get(text, text))
                        except ParseError as exc:
                            problems.append(Problem((header,), exc.reason, value, exc.code))
                            continue
            else:
                if isinstance(value, CellError):
                    problems.append(Problem((header,), value.reason, value.raw, value.code))
                    continue
                if self._blank(value):
                    self._absent(plan.column, plan.spec, value, cells, data, custom, problems)
                    continue
                try:
                    result = plan.read(value)
                except ParseError as exc:
                    problems.append(Problem((header,), exc.reason, value, exc.code))
                    continue
            if custom_name is None:
                data[field] = result
            else:
                custom[custom_name] = result
        for name in self._resolved_fields:
            self._unmapped(name, cells, data, custom, problems)
        for name, value in self._filled:
            if name.startswith("custom."):
                custom.setdefault(name[len("custom.") :], value)
            else:
                data[name] = value
        if custom:
            data["custom"] = custom
        key = None
        external_id = self._external_id
        if external_id is not None:
            raw = cells.get(external_id)
            if type(raw) is str and (text := raw.strip()) and text not in missing:
                key = text  # the common case: what the general branch below gives a text cell
            elif isinstance(raw, CellError):
                if external_id not in self._kinds:  # else reported with its column
                    problems.append(Problem((external_id,), raw.reason, raw.raw, raw.code))
            elif self._blank(raw):
                problems.append(
                    Problem(
                        (external_id,),
                        "the external id is blank: the row cannot be matched",
                        raw,
                        "missing",
                        missing=True,
                    )
                )
            else:
                key = str(raw).strip()
        if problems:
            return MappedRow(number, None, tuple(problems), key)
        return _mapped_row(
            number, data, key, defaulted_in(self._default_sources, missing, cells, data)
        )

    def _key_of(self, cells: Mapping[str, Any]) -> str | None:
        """The external id of a row, when the mapping has one and the cell is not blank."""
        if self.mapping.external_id is None:
            return None
        raw = cells.get(self.mapping.external_id)
        if self._blank(raw) or isinstance(raw, CellError):
            return None
        return str(raw).strip()

    def _fill(self, name: str, cells: Mapping[str, Any], problems: list[Problem]) -> Any:
        """The value of field ``name`` when its own column gives none: its first non-blank
        fallback cell, else the first matching ``defaults_when`` default, else its default;
        :data:`_NOTHING` when none applies, :data:`_FAILED` when a fallback cell is refused."""
        for plan in self._fallbacks.get(name, ()):
            value = cells.get(plan.header)
            if isinstance(value, CellError):
                problems.append(Problem((plan.header,), value.reason, value.raw, value.code))
                return _FAILED
            if self._blank(value):
                continue
            try:
                if plan.mode == _CACHED and type(value) is str:
                    return plan.text_read(value)
                return plan.read(value)
            except ParseError as exc:
                problems.append(Problem((plan.header,), exc.reason, value, exc.code))
                return _FAILED
        for when, values in self._cases:
            if name in values and all(_text_of(cells.get(h)) == t for h, t in when):
                return values[name]
        return self._defaults.get(name, _NOTHING)

    def _unmapped(
        self,
        name: str,
        cells: Mapping[str, Any],
        data: dict[str, Any],
        custom: dict[str, Any],
        problems: list[Problem],
    ) -> None:
        value = self._fill(name, cells, problems)
        if value is _FAILED:
            return
        if value is not _NOTHING:
            _put(name, value, data, custom)
            return
        spec = self._fields.get(name)
        if spec is not None and spec.required:
            headers = self.mapping.fallbacks.get(name, ())
            problems.append(
                Problem(
                    (headers[0] if headers else name,),
                    f"{name} is required: "
                    + (f"its columns ({', '.join(headers)}) are blank" if headers else "")
                    + (" and " if headers else "")
                    + "no default applies to the row",
                    None,
                    "missing",
                    missing=True,
                )
            )

    def _absent(
        self,
        column: Column,
        spec: FieldSpec | None,
        value: Any,
        cells: Mapping[str, Any],
        data: dict[str, Any],
        custom: dict[str, Any],
        problems: list[Problem],
    ) -> None:
        found = self._fill(column.field, cells, problems) if self._extra else _NOTHING
        if found is _FAILED:
            return
        if found is _NOTHING and column.field in self._defaults:
            found = self._defaults[column.field]
        if found is not _NOTHING:
            _put(column.field, found, data, custom)
        elif spec is None:  # a custom field: the record does not have it
            return
        elif spec.kind == "list":
            data[column.field] = ()
        elif spec.optional:
            data[column.field] = None
        elif spec.required:
            problems.append(
                Problem(
                    (column.header,),
                    f"{column.field} is required: the cell is blank and "
                    + (
                        "neither its fallback columns nor a default fill it"
                        if column.field in self._fallbacks
                        else "the mapping declares no default"
                    ),
                    None if is_missing(value) else value,
                    "missing",
                    missing=True,
                )
            )


def _put(name: str, value: Any, data: dict[str, Any], custom: dict[str, Any]) -> None:
    if name.startswith("custom."):
        custom[name[len("custom.") :]] = value
    else:
        data[name] = value


def _text_of(value: Any) -> str:
    """A cell as ``defaults_when`` compares it: its text, stripped (``""`` for no value)."""
    if value is None or is_missing(value):
        return ""
    return str(value).strip()


def _import_instant(mapping: SheetMapping, as_of: datetime | None) -> datetime | None:
    if as_of is not None and (as_of.tzinfo is None or as_of.utcoffset() is None):
        raise ConfigError(
            "mapping",
            [Problem(("as_of",), "the import instant needs its UTC offset", as_of, "naive")],
        )
    if as_of is None and mapping.uses_import_instant:
        raise ConfigError(
            "mapping",
            [
                Problem(
                    ("defaults",),
                    f"a default is {IMPORT_INSTANT!r}: give the import instant "
                    "(map_rows(..., as_of=...), the CLI's --as-of)",
                    IMPORT_INSTANT,
                    "missing",
                    missing=True,
                )
            ],
        )
    return as_of


def map_rows(
    rows: RowSource | Iterable[tuple[int, Mapping[str, Any]]],
    mapping: SheetMapping,
    *,
    users: Iterable[User] = (),
    as_of: datetime | None = None,
) -> MappedRows:
    """Map ``rows`` (a :class:`~pipeline_core.ingest.readers.RowSource` or any
    ``(row_number, {header: cell})`` pairs) with ``mapping``: an iterator of
    :class:`~pipeline_core.ingest.rows.MappedRow` whose ``data`` holds the record's fields as
    values its ``from_dict`` accepts (aware datetimes, :class:`~pipeline_core.records.Money`,
    enum values, tuples for lists; custom fields under ``custom``), ``key`` the external id.

    ``users``: the known users owners are matched against (see the module docs). ``as_of``: the
    import instant (an aware ``datetime``), the value of every ``"@import"`` default; needed
    when the mapping has one (the core reads no clock). Raises
    :class:`~pipeline_core.errors.ConfigError` when the source lacks a mapped, fallback or
    condition column (at once for a ``RowSource``, at the first row otherwise), when ``as_of``
    is needed and missing or is naive; problems in rows are in each row's ``problems``, never
    raised."""
    return MappedRows(rows, mapping, users, as_of)
