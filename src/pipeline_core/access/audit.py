"""The access audit: stored records that the access rules treat otherwise than their writers meant.

:func:`audit` lists them as problems to review (nothing is changed or dropped);
:func:`access_findings` gives them to ``pipeline-core check`` as findings.
"""

from __future__ import annotations

from collections.abc import Iterator

from pipeline_core._model import Record
from pipeline_core.access.subjects import (
    EXPORTABLE,
    PARENTS,
    SUBJECT_COLLECTIONS,
    UNKNOWN_KIND,
    subject_collection,
)
from pipeline_core.errors import (
    Problem,
    ValidationError,
)
from pipeline_core.records import (
    REFERENCES,
    Activity,
)
from pipeline_core.storage._base import (
    TABLES,
)
from pipeline_core.storage.check import Finding
from pipeline_core.storage.ports import Store

__all__ = ["access_findings", "audit"]


def audit(store: Store) -> list[Problem]:
    """Stored records that the access rules of :class:`ScopedStore` treat differently from what
    their writers may have meant, as problems to review (nothing is changed or dropped).

    Each problem's ``path`` is ``(collection, record id, field)``; its ``code`` is one of

    - ``"shared_id"``: the same id is used in several kinds (leads, opportunities, accounts,
      contacts); references are looked up in their own kind only;
    - ``"wrong_kind"``: a reference names an id that does not exist in the kind the field points to
      (:data:`~pipeline_core.records.REFERENCES`) but exists in another kind;
    - ``"missing_parent"``: a contact, stage event, activity, SLA outcome or journal entry whose
      parent (account, opportunity, subject) does not exist: only all-scope actors see it;
    - ``"unknown_subject_kind"``: a declared subject kind not in
      :data:`~pipeline_core.records.SUBJECT_KINDS`: only all-scope actors see it;
    - ``"ambiguous_subject"``: a journal entry declaring no subject kind whose subject id exists in
      several kinds: shown only to actors who may read every one of them;
    - ``"mixed_subjects"``: an activity about records of different owners: shown (to others than
      its author) and writable only for actors who may read, or change, all of them.

    Reads every record once (memory: one owner map of the customer kinds).
    """
    owners: dict[str, dict[str, str | None]] = {
        c: {r.id: getattr(r, "owner_id", None) for r in getattr(store, c).all()}
        for c in SUBJECT_COLLECTIONS
    }
    kinds_of: dict[str, list[str]] = {}
    for c, known in owners.items():
        for rid in known:
            kinds_of.setdefault(rid, []).append(c)
    problems: list[Problem] = []
    for rid in sorted(kinds_of):
        where = kinds_of[rid]
        if len(where) > 1:
            problems.append(
                Problem(
                    (where[0], rid, "id"),
                    f"the id is used by {', '.join(where)}; a reference finds only its own kind",
                    rid,
                    "shared_id",
                )
            )
    for collection in EXPORTABLE:  # every kind with records of customers
        for record in getattr(store, collection).all():
            problems.extend(_audit_record(collection, record, owners, kinds_of))
    return problems


def access_findings(store: Store) -> Iterator[Finding]:
    """:func:`audit` as a :data:`~pipeline_core.storage.check.Auditor` for ``pipeline-core check``:
    each problem as a :class:`~pipeline_core.storage.check.Finding` of auditor ``"access"`` (the
    record kind in the singular, as the other findings name it)."""
    kinds = {t.name: t.kind for t in TABLES}
    try:
        problems = audit(store)
    except ValidationError as exc:  # a stored record today's rules refuse: listed by stored_values
        yield Finding(
            "store",
            "",
            "<access audit>",
            None,
            f"not run: a stored record fails validation ({exc.problems[0].field if exc.problems else exc}); "
            "fix the values listed by the stored-values check first",
            "audit_not_run",
            "access",
        )
        return
    for p in problems:
        collection, rid, field = (str(part) for part in p.path)
        yield Finding(
            kinds.get(collection, collection), rid, field, p.value, p.message, p.code, "access"
        )


def _audit_record(
    collection: str,
    record: Record,
    owners: dict[str, dict[str, str | None]],
    kinds_of: dict[str, list[str]],
) -> Iterator[Problem]:
    rid = str(getattr(record, "id", "?"))
    name = type(record).__name__
    parents = PARENTS.get(type(record), ())
    for (kind, field), target in REFERENCES.items():
        value = getattr(record, field, None) if kind == name else None
        if not isinstance(value, str):
            continue
        path = (collection, rid, field)
        if target == "subject_kind":
            declared = subject_collection(record)
            if declared == UNKNOWN_KIND:
                yield Problem(
                    path, "the subject's kind is not a known kind", value, "unknown_subject_kind"
                )
                continue
            if declared is None:
                where = kinds_of.get(value, [])
                if len(where) > 1:
                    yield Problem(
                        path,
                        f"declares no subject kind and the id is used by {', '.join(where)}",
                        value,
                        "ambiguous_subject",
                    )
                elif not where:
                    yield Problem(path, "the subject does not exist", value, "missing_parent")
                continue
            target = declared
        if target not in owners or value in owners[target]:
            continue
        elsewhere = [c for c in kinds_of.get(value, []) if c != target]
        if elsewhere:
            yield Problem(
                path,
                f"points to {target}, which hold no such id ({', '.join(elsewhere)} do)",
                value,
                "wrong_kind",
            )
        elif field in parents:
            yield Problem(path, f"no such record in {target}", value, "missing_parent")
    if isinstance(record, Activity):
        subject_owners = {
            owners[c].get(s)
            for c, s in (
                ("leads", record.lead_id),
                ("opportunities", record.opportunity_id),
                ("accounts", record.account_id),
            )
            if s is not None and s in owners[c]
        }
        if len(subject_owners) > 1:
            yield Problem(
                (collection, rid, "lead_id"),
                "is about records of different owners: only actors who may read all of them see "
                "it (besides its author)",
                rid,
                "mixed_subjects",
            )
