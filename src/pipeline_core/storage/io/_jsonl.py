"""JSON Lines files of one record kind: one record's ``to_dict()`` JSON per line, read and written.

Internal to :mod:`pipeline_core.storage.io`, which exports the public names.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO

from pipeline_core._jsonvalue import MAX_DEPTH, DuplicateKeyError, loads_unique, text_too_deep
from pipeline_core._model import Record
from pipeline_core.errors import RecordTypeError, ValidationError
from pipeline_core.storage._base import dump_doc
from pipeline_core.storage.io._shared import (
    BOM,
    RowError,
    Source,
    not_utf8,
    open_read,
    open_write,
    table_for,
)

__all__ = ["read_jsonl", "write_jsonl"]


def _lines(f: IO[str]) -> Iterator[tuple[int, str | UnicodeDecodeError]]:
    # (line number, line); a decoding failure is yielded (as the error) and ends the reading
    number = 0
    lines = iter(f)
    while True:
        number += 1
        try:
            line = next(lines)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            yield number, exc
            return
        yield number, line


def read_jsonl(kind: str, source: Source) -> Iterator[tuple[int, Record | list[RowError]]]:
    """Parse a JSON Lines file: ``(line_number, record)`` or ``(line_number, [errors])``."""
    cls = table_for(kind).cls
    f, close = open_read(source)
    try:
        for number, line in _lines(f):
            if isinstance(line, UnicodeDecodeError):
                yield number, [not_utf8(number, line)]
                return
            if number == 1 and line.startswith(BOM):
                line = line[1:]  # the file's byte-order mark is dropped
            if not line.strip():
                continue
            deep, key = text_too_deep(line)
            if deep:
                yield (
                    number,
                    [
                        RowError(
                            number,
                            key or "<line>",
                            "<nested value>",
                            f"nested deeper than {MAX_DEPTH} levels",
                            "too_deep",
                        )
                    ],
                )
                continue
            try:
                data = loads_unique(line)
            except DuplicateKeyError as exc:
                yield number, [RowError(number, exc.key, line[:200], str(exc), "duplicate_key")]
                continue
            except ValueError as exc:
                yield number, [RowError(number, "<line>", line[:200], f"not JSON: {exc}", "json")]
                continue
            if BOM in line:
                yield (
                    number,
                    [
                        RowError(
                            number,
                            "<line>",
                            line[:200],
                            "a byte-order mark (U+FEFF) inside the line (only the file's first "
                            "character may be one)",
                            "bom",
                        )
                    ],
                )
                continue
            if not isinstance(data, dict):
                yield (
                    number,
                    [RowError(number, "<line>", data, "expected a JSON object", "json_type")],
                )
                continue
            try:
                yield number, cls.from_dict(data)
            except ValidationError as exc:
                yield (
                    number,
                    [
                        RowError(
                            number,
                            p.field,
                            p.value,
                            p.message,
                            p.code,
                        )
                        for p in exc.problems
                    ],
                )
    finally:
        if close:
            f.close()


def write_jsonl(kind: str, records: Iterable[Record], dest: Source) -> int:
    """Write records as JSON Lines (each line its ``to_dict()`` JSON); returns how many."""
    table = table_for(kind)
    with open_write(dest) as f:
        n = 0
        for r in records:
            if not isinstance(r, table.cls):
                raise RecordTypeError(
                    f"expected {table.cls.__name__} records, got {type(r).__name__}"
                )
            f.write(dump_doc(r))
            f.write("\n")
            n += 1
        return n
