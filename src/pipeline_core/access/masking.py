"""Masking personal data: phones, e-mails and names, in personal fields and inside free text.

For viewers whose grant masks contact details (analysts, :class:`~pipeline_core.access.policy.
Grant` ``mask_contacts``): :func:`mask_record` masks a record's personal fields
(:data:`PERSONAL_FIELDS`) and, inside its free text (:data:`FREE_TEXT_FIELDS`), every phone and
e-mail (:func:`mask_text`) and the known personal values of the records it is about
(:func:`mask_known`). A mask never leaves more than a third of a value visible.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from pipeline_core._model import Record, build_trusted, field_names
from pipeline_core._optional import require
from pipeline_core._values import deep_freeze
from pipeline_core.records import (
    Account,
    Activity,
    Contact,
    JournalEntry,
    Lead,
    NextStep,
    Opportunity,
    StageEvent,
    User,
)

__all__ = [
    "FREE_TEXT_FIELDS",
    "MASK_PHONE_REGIONS",
    "PERSONAL_FIELDS",
    "mask_email",
    "mask_known",
    "mask_name",
    "mask_phone",
    "mask_record",
    "mask_text",
]

_R = TypeVar("_R", bound=Record)


def _keep(value: str, head: int, tail: int) -> str:
    # Show at most `head` leading and `tail` trailing characters, never more than a third of the
    # value and always with at least 3 characters hidden: shrink the shown parts (tail first).
    n = len(value)
    while head + tail > 0 and (3 * (head + tail) > n or n - head - tail < 3):
        if tail > 0:
            tail -= 1
        else:
            head -= 1
    hidden = max(3, n - head - tail)
    return value[:head] + "*" * hidden + (value[n - tail :] if tail else "")


def mask_phone(phone: str) -> str:
    """Hide a phone number but its last digits: at most 4 and at most a third of it is shown.

    ``"13800138000"`` → ``"********000"`` (3 of 11 shown); ``"12345"`` → ``"****5"`` (a mask
    never leaves most of a value visible, whatever its length).
    """
    return _keep(phone, 0, 4)


def mask_email(email: str) -> str:
    """Hide an e-mail address: the first character of the local part and the top-level domain are
    kept only while they are at most a third of the address.

    ``"zhang.wei@example.com"`` → ``"z***@***.com"``; ``"joe@acme.example"`` → ``"***@***"``.
    """
    local, at, domain = email.rpartition("@")
    if not at:
        return _keep(email, 0, 0)
    tld = domain.rpartition(".")[2] if "." in domain else ""
    head = 1 if len(local) >= 4 else 0
    shown = head + (len(tld) + 1 if tld else 0)
    if 3 * shown > len(email):
        tld = ""
        shown = head
    if 3 * shown > len(email):
        head = 0
    return f"{local[:head]}***@***" + (f".{tld}" if tld else "")


def mask_name(name: str) -> str:
    """Hide a person's name but its first character when that is at most a third of it.

    ``"张伟"`` → ``"***"``; ``"欧阳娜娜"`` → ``"欧***"``; ``"Joe"`` → ``"***"`` (never more
    than a third shown, at least three characters hidden).
    """
    return _keep(name, 1, 0)


# "@" as typed by Chinese input methods too: full-width "＠" (U+FF20) and small "﹫" (U+FE6B).
_AT_SIGNS = "@\uff20\ufe6b"
_NOT_IN_EMAIL = rf"[^\s{_AT_SIGNS}<>()\[\],;:\"'，。；：、（）]+"
_EMAIL_IN_TEXT = re.compile(rf"{_NOT_IN_EMAIL}[{_AT_SIGNS}]{_NOT_IN_EMAIL}\.{_NOT_IN_EMAIL}")
# Digits (any script's, full-width included) with at most one separator between two of them:
# spaces, brackets, dots, hyphens and dashes, underscores, slashes, tildes, commas and the
# full-width and ideographic forms of these.
_DIGIT_RUN = re.compile(
    r"\+?\d(?:[\s().\-_,/~\u2010-\u2015\u2212\uff0c\uff0d\uff0e\uff3f\u3001\u3002]?\d){6,}"
)

MASK_PHONE_REGIONS: tuple[str, ...] = ("CN", "US")
"""Regions whose national phone formats :func:`mask_text` recognises (besides ``+`` numbers)."""


def mask_text(text: str, regions: tuple[str, ...] = MASK_PHONE_REGIONS) -> str:
    """Free text with every e-mail address and phone number in it masked.

    E-mail addresses (with ``@`` or the full-width ``＠``/``﹫`` of Chinese input methods) are
    found by a pattern and masked by :func:`mask_email`; phone numbers by
    ``phonenumbers``' ``PhoneNumberMatcher`` (leniency ``POSSIBLE``, national formats of
    ``regions``) and, as a safety net, any run of 7 or more digits of any script (with one space,
    dot, dash, bracket, underscore, slash, tilde or comma, ASCII, full-width or ideographic,
    between two of them), masked by :func:`mask_phone`. Without ``phonenumbers`` (extra ``team``)
    the digit-run rule alone applies. Long numbers that are not phones (an amount such as
    ``2000000``) are masked too: for a masked viewer, over-masking is the safe side.
    """
    if not text:
        return text
    spans: list[tuple[int, int]] = [m.span() for m in _EMAIL_IN_TEXT.finditer(text)]
    try:
        require("phonenumbers", "team")
        import phonenumbers
    except ImportError:  # pragma: no cover - the digit-run rule still masks numbers
        pass
    else:
        for region in regions:
            for match in phonenumbers.PhoneNumberMatcher(
                text, region, leniency=phonenumbers.Leniency.POSSIBLE
            ):
                spans.append((match.start, match.end))
    spans.extend(m.span() for m in _DIGIT_RUN.finditer(text))
    if not spans:
        return text
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, pos = [], 0
    for start, end in merged:
        piece = text[start:end]
        out.append(text[pos:start])
        at = next((c for c in _AT_SIGNS if c in piece), None)
        out.append(mask_email(piece.replace(at, "@")) if at else mask_phone(piece))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def mask_known(text: str, values: Iterable[str]) -> str:
    """``text`` with every occurrence of the given personal values (the names and WeChat ids of
    the records it is about) masked by :func:`mask_name`, longest first. Values shorter than two
    characters are left alone (they would mask ordinary words)."""
    for value in sorted({v for v in values if len(v) >= 2}, key=lambda v: (-len(v), v)):
        if value in text:
            text = text.replace(value, mask_name(value))
    return text


def _mask_free(value: Any, known: tuple[str, ...] = ()) -> Any:
    # Phones and e-mails inside free text, and the known personal values, in strings, tuples,
    # mappings and nested records.
    if isinstance(value, str):
        return mask_known(mask_text(value), known)
    if isinstance(value, tuple):
        return tuple(_mask_free(v, known) for v in value)
    if isinstance(value, list):
        return [_mask_free(v, known) for v in value]
    if isinstance(value, Mapping):
        # keys too: a spreadsheet import may turn a phone or an e-mail into a field name
        return deep_freeze({_mask_free(k, known): _mask_free(v, known) for k, v in value.items()})
    if isinstance(value, NextStep):
        action = mask_known(mask_text(value.action), known)
        return build_trusted(NextStep, {"action": action, "due_at": value.due_at})
    return value


PERSONAL_FIELDS: dict[type[Record], dict[str, Callable[[str], str]]] = {
    Lead: {"contact_name": mask_name, "phone": mask_phone, "email": mask_email},
    Contact: {"name": mask_name, "phone": mask_phone, "email": mask_email, "wechat": mask_name},
    User: {"email": mask_email},
}
"""Personal fields masked for viewers whose grant masks contact details, and how."""

FREE_TEXT_FIELDS: dict[type[Record], tuple[str, ...]] = {
    Lead: ("company", "needs", "pain_points", "next_step", "disqualified_reason", "custom"),
    Opportunity: ("name", "needs", "next_step", "lost_reason", "won_reason", "custom"),
    Account: ("name", "custom"),
    Contact: ("title", "custom"),
    Activity: ("notes", "next_action"),
    StageEvent: ("reason",),
    JournalEntry: ("reason", "payload"),
}
"""Free-text fields (and custom fields, names and values) in which phones and e-mails are
masked by :func:`mask_text` for viewers whose grant masks contact details. Deal and customer
names count as free text: reps type B2C customers' phones into them."""


def mask_record(record: _R, known: Iterable[str] = ()) -> _R:
    """A copy of ``record`` with every personal field masked (:data:`PERSONAL_FIELDS`: lead and
    contact names, phones, e-mails, WeChat ids, user e-mails) and, inside free text
    (:data:`FREE_TEXT_FIELDS`), the phones and e-mails (:func:`mask_text`) and the record's own
    personal values plus ``known`` ones (the names and WeChat ids of related records,
    :func:`mask_known`) masked, at the same version."""
    changes: dict[str, Any] = {}
    names = set(known)
    for name, how in PERSONAL_FIELDS.get(type(record), {}).items():
        value = getattr(record, name)
        if isinstance(value, str):
            changes[name] = how(value)
            names.add(value)
    known_values = tuple(sorted(names))
    for name in FREE_TEXT_FIELDS.get(type(record), ()):
        value = getattr(record, name)
        masked = _mask_free(value, known_values)
        if masked != value:
            changes[name] = masked
    if not changes:
        return record
    data = {name: getattr(record, name) for name in field_names(type(record))}
    data.update(changes)
    return build_trusted(type(record), data)
