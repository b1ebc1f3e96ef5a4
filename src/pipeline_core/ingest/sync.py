"""Sync mapped rows into a store: add new records, save changed ones as their next version.

:func:`sync` is the re-importable load of issue #19: run it twice on the same sheet and the second
run finds every row unchanged. Each row is matched to a stored record by ``id`` or by the
declared external-id column (:data:`EXTERNAL_ID_PREFIX`); a match whose owned fields differ is
saved as its next version, a row that matches nothing is added, and every row is reported
(:class:`~pipeline_core.ingest.report.RowOutcome`): added, updated, unchanged or rejected (row,
field, value, reason).

**External ids** are kept on the record itself, in the custom field
``EXTERNAL_ID_PREFIX + column`` (``"external_id:线索编号"``): they survive an export and a
restore, and two source systems with different columns never collide. The store has no query by
custom field, so a sync with ``external_id`` scans the collection once at the start and keeps a
key → id index (one entry per stored record holding that key); the per-row entries are not kept.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import attrs

from pipeline_core.errors import (
    MAX_PROBLEMS,
    ConfigError,
    Problem,
    TransitionError,
    ValidationError,
)
from pipeline_core.facts import BACKFILL_KEY
from pipeline_core.ids import IdFactory, UuidIds
from pipeline_core.ingest.report import (
    RowOutcome,
    SyncOutcome,
    SyncRejectedError,
    SyncReport,
    SyncReportWriter,
    report_writer,
)
from pipeline_core.ingest.rows import MappedRow
from pipeline_core.ingest.sync_checks import (
    EXTERNAL_ID_PREFIX,
    MOVED,
    NEVER_OWNED,
    Reject,
    check_config,
    from_validation,
    no_cycle_collection,
    plain_key,
)
from pipeline_core.records import Opportunity, StageEvent
from pipeline_core.stages import Pipeline
from pipeline_core.storage import AppendLog, Repository, Store
from pipeline_core.storage.io import RowError
from pipeline_core.storage.ports import TABLES_BY_KIND

__all__ = ["EXTERNAL_ID_PREFIX", "SYNC_KINDS", "sync"]

SYNC_KINDS: Final[Mapping[str, tuple[type[Any], str]]] = {
    kind: (TABLES_BY_KIND[kind].cls, TABLES_BY_KIND[kind].name)
    for kind in ("lead", "opportunity", "account", "contact", "user", "team", "activity")
}
"""The record kinds a sync takes: kind → (record class, store collection), read from the
storage's one table of record kinds (:data:`pipeline_core.storage.ports.TABLES_BY_KIND`)."""

DEFAULT_BATCH: Final = 10_000
"""New records (and events) written per batch: a store transaction per batch costs about as
much as a few hundred rows, so batches are large; 10,000 leads pending hold a few tens of MB."""


@attrs.define
class _Run:
    """The state of one sync: the counts, the duplicate index, the pending writes."""

    kind: str
    cls: type[Any]
    repo: Repository[Any] | AppendLog[Any]
    events_log: AppendLog[Any] | None
    owns: frozenset[str] | None
    external_id: str | None
    pipeline: Pipeline | None
    by: str
    at: datetime
    ids: IdFactory
    backfill: bool
    writing: bool
    batch_size: int
    writer: SyncReportWriter | None
    index: dict[str, str | tuple[str, ...]] = attrs.Factory(dict)
    stored_ids: set[str] | None = None
    """Every stored id when known (the collection was empty, or scanned for the external-id
    index): rows whose id is not among them are new without a lookup. ``None``: look up each."""
    seen_ids: dict[Any, int] = attrs.Factory(dict)
    seen_keys: dict[str, int] = attrs.Factory(dict)
    pending: list[Any] = attrs.Factory(list)
    pending_events: list[StageEvent] = attrs.Factory(list)
    counts: dict[str, int] = attrs.Factory(lambda: dict.fromkeys(("added", "updated",
                                           "unchanged", "rejected", "moved", "events"), 0))  # fmt: skip
    rows: int = 0
    errors: list[RowError] = attrs.Factory(list)
    error_count: int = 0

    custom_key: str | None = attrs.field(init=False)
    """The custom field holding a record's external id (``None`` without an external id)."""

    def __attrs_post_init__(self) -> None:
        self.custom_key = (
            None if self.external_id is None else EXTERNAL_ID_PREFIX + self.external_id
        )

    # -- the external-id index ------------------------------------------------------------------

    def build_index(self) -> None:
        key = self.custom_key
        if key is None:
            if self.repo.count() == 0:
                self.stored_ids = set()
            return
        ids: set[str] = set()
        for record in self.repo.all():
            ids.add(record.id)
            value = record.custom.get(key)
            if value is None:
                continue
            value = str(value)
            known = self.index.get(value)
            if known is None:
                self.index[value] = record.id
            else:
                held = known if isinstance(known, tuple) else (known,)
                self.index[value] = (*held, record.id)
        self.stored_ids = ids

    # -- one row --------------------------------------------------------------------------------

    def row(self, row: MappedRow) -> None:
        self.rows += 1
        try:
            outcome, id, entries = self._row(row)
        except Reject as rejected:
            self.counts["rejected"] += 1
            rid = rejected.id or self._id_of(row)
            for field, value, reason, code in rejected.problems:
                self.error_count += 1
                if len(self.errors) < MAX_PROBLEMS:
                    self.errors.append(RowError(row.row, field, value, reason, code))
                self._emit(RowOutcome(row.row, "rejected", rid, field, value, reason))
            return
        self.counts[outcome] += 1
        if self.writer is None:
            return
        if not entries:
            self.writer.write(RowOutcome(row.row, outcome, id))
        for name, value, reason in entries:
            self.writer.write(RowOutcome(row.row, outcome, id, name, value, reason))

    def _id_of(self, row: MappedRow) -> str | None:
        """The id a rejected row's report entries name: its ``id`` when the row mapped to one
        (text), else the stored record its external id names (one only), else ``None``."""
        rid = row.data.get("id") if row.data is not None else None
        if isinstance(rid, str) and rid:
            return rid
        if row.key is not None and self.external_id is not None:
            held = self.index.get(row.key)
            if isinstance(held, str):
                return held
        return None

    def _emit(self, entry: RowOutcome) -> None:
        if self.writer is not None:
            self.writer.write(entry)

    def _row(self, row: MappedRow) -> tuple[SyncOutcome, str, list[tuple[str | None, Any, str]]]:
        if row.problems or row.data is None:
            raise Reject(
                [(p.field, p.value, p.message, p.code) for p in row.problems]
                or [("<row>", None, "the row was rejected while mapping", "mapping")]
            )
        data = dict(row.data)
        rid = data.get("id")
        key = row.key if self.external_id is not None else None
        if rid is None and key is None:
            why = (
                f"no id and no {self.external_id!r} value"
                if self.external_id is not None
                else "no id, and the sync declares no external-id column"
            )
            raise Reject([("id", None, why + ": the row could not be matched again", "no_key")])
        self._check_duplicate(row.row, rid, key)
        stored = self._match(rid, key)
        if stored is None:
            return self._add(data, key)
        return self._update(stored, data, row.defaulted, key)

    def _check_duplicate(self, number: int, rid: Any, key: str | None) -> None:
        problems = []
        try:
            first = self.seen_ids.get(rid) if rid is not None else None
        except TypeError:  # an unhashable id: reported by the record's validation
            first = None
            rid = None
        if first is not None:
            problems.append(("id", rid, f"duplicate id: first in row {first}", "duplicate"))
        first_key = self.seen_keys.get(key) if key is not None else None
        if first_key is not None and first_key != first:  # the same first row: said once
            problems.append(
                (self.external_id or "key", key, f"duplicate external id: first in row {first_key}",
                 "duplicate")
            )  # fmt: skip
        if rid is not None and first is None:
            self.seen_ids[rid] = number
        if key is not None and first_key is None:
            self.seen_keys[key] = number
        if problems:
            raise Reject(problems)

    def _match(self, rid: Any, key: str | None) -> Any:
        stored = None
        if rid is not None and (
            self.stored_ids is None or rid in self.stored_ids or not plain_key(rid)
        ):
            try:
                stored = self.repo.find(rid)
            except ValidationError as exc:
                raise from_validation(exc) from None
        if key is None:
            return stored
        held = self.index.get(key)
        if isinstance(held, tuple):
            raise Reject(
                [(self.external_id or "key", key,
                  f"the external id is held by several records: {', '.join(held)}", "ambiguous")]
            )  # fmt: skip
        if held is not None and rid is not None and held != rid:
            raise Reject(
                [("id", rid, f"the row's external id {key!r} belongs to record {held!r}",
                  "id_mismatch")], held,
            )  # fmt: skip
        if stored is None and held is not None:
            stored = self.repo.find(held)
        return stored

    # -- a new record ---------------------------------------------------------------------------

    def _add(
        self, data: dict[str, Any], key: str | None
    ) -> tuple[SyncOutcome, str, list[tuple[str | None, Any, str]]]:
        if data.get("id") is None:
            data["id"] = self.ids.new(self.kind)
        marks: dict[str, Any] = {}
        if key is not None and self.custom_key is not None:
            marks[self.custom_key] = key
        if self.backfill and "custom" in self.cls.__pc_names__:
            marks[BACKFILL_KEY] = self.at.isoformat()
        if marks:
            custom = data.get("custom")
            data["custom"] = {**(custom if isinstance(custom, Mapping) else {}), **marks}
        if self.cls is Opportunity and self.pipeline is not None and data.get("pipeline") is None:
            data["pipeline"] = self.pipeline.id
        try:
            record = self.cls.from_dict(data)
        except ValidationError as exc:
            raise from_validation(exc) from None
        entries: list[tuple[str | None, Any, str]] = []
        if isinstance(record, Opportunity):
            event = self._placement(record)
            self.pending_events.append(event)
            self.counts["events"] += 1
            entries.append(("stage", record.stage, f"placed at {record.stage!r}"))
        self.pending.append(record)
        if len(self.pending) >= self.batch_size:
            self.flush()
        return "added", record.id, entries

    def _placement(self, opp: Opportunity) -> StageEvent:
        """The event that places a new deal at its stage, as ``stages.convert`` places a converted
        lead: entry conditions checked, ``from_stage`` ``None``, ``seq`` the first version; at
        the instant the deal entered its stage."""
        checks: tuple[str, ...] = ()
        pipeline = self.pipeline
        if pipeline is not None:
            if opp.pipeline != pipeline.id:
                raise Reject(
                    [("pipeline", opp.pipeline, f"the sync's pipeline is {pipeline.id!r}",
                      "pipeline")], opp.id,
                )  # fmt: skip
            if opp.stage not in pipeline:
                raise Reject(
                    [("stage", opp.stage, f"not a stage of pipeline {pipeline.id!r}",
                      "unknown_stage")], opp.id,
                )  # fmt: skip
            unmet = pipeline.entry_unmet(opp, opp.stage)
            if unmet:
                raise Reject(
                    [("stage", opp.stage, f"cannot place the deal at {opp.stage!r}: "
                      + "; ".join(unmet), "transition")], opp.id,
                )  # fmt: skip
            checks = pipeline.entry_checks(opp.stage)
        try:
            return StageEvent(
                id=self.ids.new("event"),
                opportunity_id=opp.id,
                to_stage=opp.stage,
                at=opp.stage_entered_at,
                by=self.by,
                from_stage=None,
                reason="imported",
                pipeline=opp.pipeline,
                checks=checks,
                seq=opp.version,
            )
        except ValidationError as exc:
            raise from_validation(exc, opp.id) from None

    # -- a stored record ------------------------------------------------------------------------

    def _update(
        self,
        stored: Any,
        data: dict[str, Any],
        defaulted: frozenset[str] = frozenset(),
        key: str | None = None,
    ) -> tuple[SyncOutcome, str, list[tuple[str | None, Any, str]]]:
        if defaulted:  # a default fills a new record only: the stored value stays
            data = {f: v for f, v in data.items() if f not in defaulted}
            custom = data.get("custom")
            if isinstance(custom, Mapping):
                data["custom"] = {k: v for k, v in custom.items() if "custom." + k not in defaulted}
        if self.owns is not None:
            owned = [f for f in self.owns if f in data]
        else:
            owned = [f for f in data if f not in NEVER_OWNED]
            if self.cls is Opportunity:
                owned = [f for f in owned if f not in MOVED]
        # the stored values as they are (no serialising round trip), the owned ones replaced
        merged = {name: getattr(stored, name) for name in self.cls.__pc_names__}
        for name in owned:
            value = data[name]
            if name == "custom" and isinstance(value, Mapping):
                value = {**stored.custom, **value}  # the sheet's custom fields over the stored
            merged[name] = value
        tag = self.custom_key
        # matched by id, its external-id tag removed elsewhere: the sync's own mark, restored
        # (an append-only entry is never changed: it stays as it is)
        if (
            tag is not None
            and key is not None
            and tag not in stored.custom
            and not isinstance(self.repo, AppendLog)
        ):
            merged["custom"] = {**merged["custom"], tag: key}
            if "custom" not in owned:
                owned.append("custom")
        try:
            candidate = self.cls.from_dict(merged)
        except ValidationError as exc:
            raise from_validation(exc, stored.id) from None
        changed = [f for f in owned if getattr(candidate, f) != getattr(stored, f)]
        if not changed:
            return "unchanged", stored.id, []
        if isinstance(self.repo, AppendLog):
            raise Reject(
                [(";".join(changed), None, f"{self.kind} entries are append-only: a stored one "
                  "is never changed", "append_only")], stored.id,
            )  # fmt: skip
        if isinstance(stored, Opportunity) and "stage" in changed:
            return self._move(stored, candidate, changed)
        record = stored.evolve(**{f: getattr(candidate, f) for f in changed})
        if self.writing:
            self.repo.save(record)
        return "updated", stored.id, [(";".join(changed), None, f"version {record.version}")]

    def _move(
        self, stored: Opportunity, candidate: Opportunity, changed: list[str]
    ) -> tuple[SyncOutcome, str, list[tuple[str | None, Any, str]]]:
        pipeline = self.pipeline
        to = candidate.stage
        if pipeline is None:
            raise Reject(
                [("stage", to, "a stage change goes through Pipeline.move: pass pipeline=",
                  "no_pipeline")], stored.id,
            )  # fmt: skip
        # the other owned changes first (the guards see them), still at the stored version
        base = Opportunity.from_dict({**candidate.to_dict(), "stage": stored.stage})
        try:
            moved, event = pipeline.move(base, to, at=self.at, by=self.by, ids=self.ids)
        except TransitionError as exc:
            raise Reject(
                [("stage", to, "; ".join(exc.unmet) or str(exc), "transition")], stored.id
            ) from None
        except ValidationError as exc:
            raise Reject(
                [("stage", to, p.message, p.code) for p in exc.problems], stored.id
            ) from None
        if "probability" in changed and moved.probability != candidate.probability:
            # the sheet owns it: the edge's default probability does not replace it
            moved = Opportunity.from_dict({**moved.to_dict(), "probability": candidate.probability})
        if self.writing:
            self.repo.save(moved)  # type: ignore[union-attr]
        self.pending_events.append(event)
        self.counts["moved"] += 1
        self.counts["events"] += 1
        return (
            "updated",
            stored.id,
            [(";".join(changed), to, f"version {moved.version}; moved {stored.stage} -> {to}")],
        )

    # -- writes ---------------------------------------------------------------------------------

    def flush(self) -> None:
        if self.writing:
            if self.pending:
                if isinstance(self.repo, Repository):
                    self.repo.bulk_add(self.pending, batch_size=self.batch_size)
                else:
                    self.repo.bulk_append(self.pending, batch_size=self.batch_size)
            if self.pending_events and self.events_log is not None:
                self.events_log.bulk_append(self.pending_events, batch_size=self.batch_size)
        self.pending.clear()
        self.pending_events.clear()

    def report(self, *, dry_run: bool, written: bool) -> SyncReport:
        c = self.counts
        return SyncReport(self.kind, self.rows, c["added"], c["updated"], c["unchanged"],
                          c["rejected"], c["moved"], c["events"], dry_run, written,
                          tuple(self.errors), self.error_count)  # fmt: skip


def sync(
    store: Store,
    kind: str,
    rows: Iterable[MappedRow],
    *,
    owns: Collection[str] | None = None,
    external_id: str | None = None,
    pipeline: Pipeline | None = None,
    by: str,
    at: datetime,
    ids: IdFactory | None = None,
    dry_run: bool = False,
    skip_invalid: bool = False,
    backfill: bool = False,
    report: SyncReportWriter | str | Path | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> SyncReport:
    """Sync ``rows`` (mapped rows of one record ``kind``, see :data:`SYNC_KINDS`) into ``store``.

    Each row is matched to a stored record by its ``id`` (in ``row.data``) or, with
    ``external_id`` (the declared external-id column), by ``row.key``, kept in the record's
    ``custom[EXTERNAL_ID_PREFIX + external_id]``. Then:

    - **added**: no match. The record is built from ``row.data`` by the record class's own
      validation (``from_dict``), with a new id from ``ids`` when the row has none, the external
      id and, with ``backfill=True``, the import instant ``at`` in
      ``custom[facts.BACKFILL_KEY]`` (its deadlines before ``at`` raise no SLA alerts, see
      :func:`pipeline_core.facts.backfilled_until`). A new opportunity gets its placement
      :class:`~pipeline_core.records.StageEvent` (``from_stage`` ``None``, at its
      ``stage_entered_at``, by ``by``; with ``pipeline``, its entry conditions checked and its
      ``pipeline`` set when the row has none).
    - **unchanged**: every owned field equal to the stored one (the records' own equality:
      money by amount and currency). Nothing is written.
    - **updated**: the stored record with the owned fields replaced, saved as its next version
      (``version + 1``); fields the sheet does not own are never overwritten. A record
      matched by id whose external-id custom field was removed gets it back (updated). ``owns``: the
      fields the sheet owns (default: the fields in each row's data, but never ``id``,
      ``version``, nor an opportunity's ``stage_entered_at``/``closed_at``, which moves set;
      nor a field a default filled, ``row.defaulted``: the stored value stays).
      Owning ``custom`` replaces the custom fields the row gives and keeps the others. A
      changed opportunity ``stage`` goes through ``pipeline.move`` at ``at`` by ``by`` (guards
      applied, a stage event appended); without ``pipeline``, or when the move is refused, the
      row is rejected with the unmet conditions. Activities are append-only: a changed one is
      rejected.
    - **rejected** (the report entries name the row's id when it has one, else the stored
      record its external id names): the row's mapping problems, a validation problem (row number, field, value,
      reason), a duplicate inside the file (the same id or external id again: every later row is
      rejected naming the first), an external id held by several stored records or by another
      record than the row's id, a refused move.

    All or nothing by default: every write is in one ``store.unit_of_work()``; if any row is
    rejected nothing is stored and :class:`~pipeline_core.ingest.report.SyncRejectedError` (an
    ``ImportRejectedError``) carries the report. ``skip_invalid=True`` stores the good rows.
    ``dry_run=True`` computes the full report, stores nothing and never raises for rejected rows.
    Python's cyclic garbage collector is paused while the rows are synced (reference counting
    still frees each row; see :func:`~pipeline_core.ingest.sync_checks.no_cycle_collection`).

    ``report``: a :class:`~pipeline_core.ingest.report.SyncReportWriter` or a ``.csv``/``.jsonl``
    path receiving every entry as it is made; only the counts and the first 1,000 problems stay in
    memory. A path's file appears only when the sync succeeds (a failed sync, including a rejected
    all-or-nothing one, leaves no new file behind: run with ``dry_run=True`` for the full report
    of a rejected file). ``batch_size``: new records and events are written in batches of this
    size. Bad arguments raise :class:`~pipeline_core.errors.ConfigError` before anything is read;
    storage errors (a concurrent writer: ``ConcurrencyError``) propagate and nothing is stored.
    """
    spec = SYNC_KINDS.get(kind)
    if spec is None:
        raise ConfigError(
            "sync",
            [Problem(("kind",), f"expected one of {', '.join(SYNC_KINDS)}", kind, "unknown_kind")],
        )
    cls, collection = spec
    check_config(kind, cls, owns, external_id, by, at, batch_size)
    writer = report_writer(report) if isinstance(report, str | Path) else report
    try:
        with no_cycle_collection():
            if dry_run:
                run = _start(store, kind, cls, collection, owns, external_id, pipeline, by, at,
                             ids, backfill, False, batch_size, writer)  # fmt: skip
                for row in rows:
                    run.row(row)
                result = run.report(dry_run=True, written=False)
            else:
                with store.unit_of_work() as uow:
                    run = _start(uow, kind, cls, collection, owns, external_id, pipeline, by, at,
                                 ids, backfill, True, batch_size, writer)  # fmt: skip
                    for row in rows:
                        if run.counts["rejected"] and not skip_invalid:
                            run.writing = False  # keep reading to report every row; keep none
                        run.row(row)
                    run.flush()
                    if run.counts["rejected"] and not skip_invalid:
                        raise SyncRejectedError(run.report(dry_run=False, written=False))
                result = run.report(dry_run=False, written=True)
    except BaseException:
        if writer is not None:
            writer.discard()
        raise
    if writer is not None:
        writer.finish()
    return result


def _start(
    repos: Any,
    kind: str,
    cls: type[Any],
    collection: str,
    owns: Collection[str] | None,
    external_id: str | None,
    pipeline: Pipeline | None,
    by: str,
    at: datetime,
    ids: IdFactory | None,
    backfill: bool,
    writing: bool,
    batch_size: int,
    writer: SyncReportWriter | None,
) -> _Run:
    run = _Run(
        kind=kind,
        cls=cls,
        repo=getattr(repos, collection),
        events_log=repos.stage_events if cls is Opportunity else None,
        owns=None if owns is None else frozenset(owns),
        external_id=external_id,
        pipeline=pipeline,
        by=by,
        at=at,
        ids=ids or (pipeline.ids if pipeline is not None else UuidIds()),
        backfill=backfill,
        writing=writing,
        batch_size=batch_size,
        writer=writer,
    )
    run.build_index()
    return run
