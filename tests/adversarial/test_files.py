"""Hostile CSV and JSON Lines files: broken structure, hostile cells, encodings, depth, size."""

from __future__ import annotations

import io
import reprlib
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hostile import TEXT

from pipeline_core import storage
from pipeline_core.storage.io import export_records, import_records

HEADER = "id,created_at,source,company,budget.amount,budget.currency\n"
GOOD = "lead-1,2025-01-06T09:00:00+08:00,website,ACME,100,CNY\n"


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def test_hostile_cells_are_refused_or_kept(tally: Any) -> None:
    t = tally("files: CSV cells (lead import)")
    columns = {"id": 0, "created_at": 1, "source": 2, "company": 3, "budget.amount": 4}
    for column, index in columns.items():
        for value in TEXT:
            cells = GOOD.rstrip("\n").split(",")
            cells[index] = _csv_cell(value)
            body = HEADER + ",".join(cells) + "\n"
            store = storage.open("memory://")

            def check(
                _report: Any, column: str = column, value: str = value, store: Any = store
            ) -> str | None:
                got = store.leads.get(next(iter(store.leads.all())).id).to_dict()
                if column == "budget.amount":
                    out = (got["budget"] or {}).get("amount")
                else:
                    out = got[column]
                if value == "" and out in (None, ""):
                    return None  # documented: an empty cell is "no value"
                if column == "created_at":
                    back, want = datetime.fromisoformat(out), datetime.fromisoformat(value)
                    ok = back == want and back.utcoffset() == want.utcoffset()
                    return None if ok else f"{value!r} came back as {out!r}"
                return (
                    None
                    if out == value
                    else f"{column} {reprlib.repr(value)} came back as {reprlib.repr(out)}"
                )

            t.attempt(
                f"{column}={reprlib.repr(value)}",
                lambda body=body, store=store: import_records(
                    store, "lead", io.StringIO(body), format="csv"
                ),
                check,
            )


BROKEN_CSV = {
    "unclosed quote": HEADER + 'lead-1,2025-01-06T09:00:00+08:00,website,"ACME\n' + GOOD,
    "text after a closing quote": HEADER
    + 'lead-1,2025-01-06T09:00:00+08:00,website,"AC"ME,100,CNY\n',
    "too many cells": HEADER + GOOD.rstrip("\n") + ",extra\n",
    "too few cells": HEADER + "lead-1,2025-01-06T09:00:00+08:00,website\n",
    "BOM in a body cell": HEADER + "\ufeff" + GOOD,
    "BOM in the middle of a header": "id,\ufeffcreated_at,source\n" + GOOD,
    "duplicate column": "id,id,created_at,source\nx,x,2025-01-06T09:00:00+08:00,web\n",
    "unknown column": "id,created_at,source,evil\nx,2025-01-06T09:00:00+08:00,web,1\n",
    "NUL in a cell": HEADER + "lead-1,2025-01-06T09:00:00+08:00,website,AC\x00ME,100,CNY\n",
    "deep payload cell": "id,kind,subject_id,at,by,payload\n"
    + 'j1,note,l1,2025-01-06T09:00:00+08:00,u1,"'
    + "[" * 5000
    + "]" * 5000
    + '"\n',
    "numeric instant": HEADER + "lead-1,45663,website,ACME,100,CNY\n",
    "full-width amount": HEADER + "lead-1,2025-01-06T09:00:00+08:00,website,ACME,１２３,CNY\n",
    "minus zero amount": HEADER + "lead-1,2025-01-06T09:00:00+08:00,website,ACME,-0,CNY\n",
    "offset +16:00": HEADER + "lead-1,2025-01-06T09:00:00+16:00,website,ACME,100,CNY\n",
    "ESC in the id": HEADER + "lead\x1b[2J,2025-01-06T09:00:00+08:00,website,ACME,100,CNY\n",
}

BROKEN_JSONL = {
    "deep line": '{"id": "j1", "payload": ' + "[" * 5000 + "]" * 5000 + "}\n",
    "deep payload": '{"id":"j1","kind":"note","subject_id":"l1","at":"2025-01-06T09:00:00Z","by":"u1",'
    '"payload":{"x":' + "[" * 100 + "]" * 100 + "}}\n",
    "NaN in payload": '{"id":"j1","kind":"note","subject_id":"l1","at":"2025-01-06T09:00:00Z","by":"u1",'
    '"payload":{"x":NaN}}\n',
    "Infinity in payload": '{"id":"j1","kind":"note","subject_id":"l1","at":"2025-01-06T09:00:00Z",'
    '"by":"u1","payload":{"x":Infinity}}\n',
    "not JSON": "{not json\n",
    "a list line": "[1, 2]\n",
    "BOM inside a line": '{"id": "j1",\ufeff "kind": "note"}\n',
    "numeric instant": '{"id":"j1","kind":"note","subject_id":"l1","at":"1736125200","by":"u1"}\n',
}


def test_broken_files_are_refused_with_a_typed_error(tally: Any) -> None:
    t = tally("files: broken CSV / JSON Lines")
    for name, body in BROKEN_CSV.items():
        kind = "journal_entry" if "payload" in name else "lead"
        store = storage.open("memory://")
        t.attempt(
            f"csv {name}",
            lambda b=body, s=store, k=kind: import_records(s, k, io.StringIO(b), format="csv"),
            lambda report, n=name: f"csv {n} accepted: {report}",
        )
    for name, body in BROKEN_JSONL.items():
        store = storage.open("memory://")
        t.attempt(
            f"jsonl {name}",
            lambda b=body, s=store: import_records(
                s, "journal_entry", io.StringIO(b), format="jsonl"
            ),
            lambda report, n=name: f"jsonl {n} accepted: {report}",
        )


def test_files_that_are_not_utf8(tally: Any, tmp_path: Path) -> None:
    t = tally("files: encodings")
    for i, raw in enumerate(
        [
            b"\xff\xfe" + HEADER.encode("utf-16-le"),
            HEADER.encode() + b"lead-1,\xff\xff,web\n",
            HEADER.encode("latin-1")
            + "lead-é,2025-01-06T09:00:00+08:00,w,Café,1,CNY\n".encode("latin-1"),
        ]
    ):
        for fmt in ("csv", "jsonl"):
            path = tmp_path / f"bad{i}.{fmt}"
            path.write_bytes(raw)
            store = storage.open("memory://")
            t.attempt(
                f"{fmt} encoding {i}",
                lambda p=path, s=store, f=fmt: import_records(s, "lead", p, format=f),
                lambda report: f"accepted {report}",
            )


def test_a_failed_export_leaves_no_file(tmp_path: Path) -> None:
    from pipeline_core.records import Lead

    store = storage.open("memory://")
    store.leads.add(
        Lead.from_dict({"id": "lead-1", "created_at": "2025-01-06T09:00:00+08:00", "source": "web"})
    )
    original = store.leads.all

    def failing_all(*a: Any, **kw: Any) -> Any:
        yield from original(*a, **kw)
        raise OSError("disk full")  # the store fails after the first record was written out

    store.leads.all = failing_all  # type: ignore[method-assign]
    for fmt in ("jsonl", "csv"):
        with pytest.raises(OSError, match="disk full"):
            export_records(store, "lead", tmp_path / f"out.{fmt}", format=fmt)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []  # no partial file, no temporary file
